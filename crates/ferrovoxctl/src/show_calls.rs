//! Calls, workers and run-time params as text for people.

use serde_json::Value;

use crate::show::{duration, table, text};

/// The relay ports of a call as `30000/30100` per stream (toward the caller / the member).
fn ports(c: &Value) -> String {
    let list: Vec<String> = c["relay_ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}/{}", text(&p[0]), text(&p[1])))
        .collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join(" ")
    }
}

/// `calls list`.
pub fn calls(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                text(&c["call_id"]),
                text(&c["state"]),
                duration(c["age_secs"].as_f64().unwrap_or(0.0)),
                c.get("member_uri").map_or("-".into(), text),
                ports(c),
            ]
        })
        .collect();
    let mut out = table(&["CALL-ID", "STATE", "AGE", "MEMBER", "RELAY PORTS"], &rows);
    out.push_str(&format!("{} calls\n", list.len()));
    out
}

fn party(name: &str, p: &Value) -> String {
    let mut s = format!(
        "{name}: tag {} via {} {}",
        text(&p["tag"]),
        text(&p["transport"]),
        text(&p["hop"])
    );
    if let Some(c) = p.get("contact").filter(|c| !c.is_null()) {
        s.push_str(&format!(", contact {}", text(c)));
    }
    if let Some(i) = p.get("interface").filter(|i| !i.is_null()) {
        s.push_str(&format!(", relay interface {}", text(i)));
    }
    s.push('\n');
    s
}

/// `calls show`.
pub fn call(v: &Value) -> String {
    let mut out = format!(
        "call {}\nstate: {}, age {}\n",
        text(&v["call_id"]),
        text(&v["state"]),
        duration(v["age_secs"].as_f64().unwrap_or(0.0))
    );
    match v.get("member").filter(|m| !m.is_null()) {
        Some(m) => out.push_str(&format!(
            "member: {} {} (set {})\n",
            text(&m["id"]),
            text(&m["uri"]),
            text(&m["set"])
        )),
        None => out.push_str("member: -\n"),
    }
    out.push_str(&party("caller", &v["caller"]));
    out.push_str(&party("callee", &v["callee"]));
    let Some(m) = v.get("media").filter(|m| !m.is_null()) else {
        out.push_str("media: not anchored here\n");
        return out;
    };
    out.push_str(&format!(
        "media: {}, fast path {}{}\n",
        text(&m["state"]),
        if m["fastpath"].as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        },
        if m["stats_complete"].as_bool() == Some(true) {
            ""
        } else {
            " (some workers did not answer in time)"
        }
    ));
    let mut rows = Vec::new();
    for s in m["streams"].as_array().into_iter().flatten() {
        for (i, side) in ["caller", "callee"].iter().enumerate() {
            let l = &s["legs"][i];
            rows.push(vec![
                text(&s["index"]),
                text(&s["media"]),
                text(&s["worker"]),
                side.to_string(),
                text(&l["relay_port"]),
                text(&l["source"]),
                if l["latched"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                text(&l["rtp_packets"]),
                text(&l["rtp_bytes"]),
                text(&l["lost"]),
                text(&l["drops"]),
            ]);
        }
    }
    let head = [
        "STREAM", "MEDIA", "WORKER", "FROM", "PORT", "SOURCE", "LATCHED", "PACKETS", "BYTES",
        "LOST", "DROPS",
    ];
    out.push_str(&table(&head, &rows));
    out
}

/// `calls terminate`.
pub fn terminated(v: &Value) -> String {
    let mut out = String::new();
    for c in v["terminated"].as_array().into_iter().flatten() {
        out.push_str(&format!("terminated {} (BYE to both parties)\n", text(c)));
    }
    for s in v["skipped"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "skipped {}: {}\n",
            text(&s["call_id"]),
            text(&s["reason"])
        ));
    }
    if out.is_empty() {
        out.push_str("no call to terminate\n");
    }
    out
}

/// The sum of a worker's drops.
pub fn drops(w: &Value) -> u64 {
    w["drops"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, n)| n.as_u64())
        .sum()
}

/// `workers`.
pub fn workers(v: &Value) -> String {
    let mut out = format!(
        "fast path: {}, sessions: {}, port pairs in use: {}\n",
        if v["fastpath"].as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        },
        text(&v["sessions"]),
        text(&v["port_pairs"])
    );
    let list = v["workers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            let by_reason: Vec<String> = w["drops"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
                .map(|(k, n)| format!("{k}={}", text(n)))
                .collect();
            vec![
                text(&w["worker"]),
                text(&w["rx"]),
                text(&w["relayed"]),
                text(&w["tx"]),
                text(&w["tx_failed"]),
                text(&w["streams"]),
                text(&w["queue_depth"]),
                busy_secs(&w["busy_ms"]),
                drops(w).to_string(),
                if by_reason.is_empty() {
                    "-".into()
                } else {
                    by_reason.join(" ")
                },
            ]
        })
        .collect();
    let head = [
        "WORKER",
        "RX",
        "RELAYED",
        "TX",
        "TX FAILED",
        "STREAMS",
        "QUEUED",
        "BUSY S",
        "DROPS",
        "BY REASON",
    ];
    out.push_str(&table(&head, &rows));
    out
}

/// A worker's busy time in seconds, from its `busy_ms` ("-" when the daemon gave none).
fn busy_secs(ms: &Value) -> String {
    ms.as_u64()
        .map_or_else(|| "-".to_owned(), |ms| format!("{:.1}", ms as f64 / 1000.0))
}

/// `params diff` and `params revert`.
pub fn param_diff(v: &Value) -> String {
    let list = v["changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        return "every setting is the config file's\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| vec![text(&d["key"]), text(&d["file"]), text(&d["running"])])
        .collect();
    table(&["KEY", "FILE", "RUNNING"], &rows)
}
