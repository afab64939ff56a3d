//! `ferrovoxctl top`: a live view of the daemon, redrawn every interval with plain ANSI
//! (clear screen, home): the members with their state, calls in progress and calls/s, and per
//! worker the packets/s, relayed/s and drops. Rates are the change of the daemon's counters
//! (members' `calls_total`, workers' `rx`, `relayed`, drops) between two refreshes, so the
//! first frame shows none. Each refresh is two or three requests on one connection.

use std::io::Write;
use std::time::{Duration, Instant};

use admin::Client;
use serde_json::Value;

use crate::show::{duration, table, text};
use crate::show_calls::drops;
use crate::Failure;

/// What one refresh read.
struct Sample {
    at: Instant,
    uptime: f64,
    /// Members (every page), or why there are none.
    members: Result<Vec<Value>, String>,
    workers: Value,
}

fn sample(c: &mut Client) -> Result<Sample, Failure> {
    let uptime = crate::call(c, "uptime", Value::Null)?["seconds"]
        .as_f64()
        .unwrap_or(0.0);
    let members = match crate::list_all(c, None, admin::method::MAX_PAGE) {
        Ok(m) => Ok(m),
        Err(Failure::Daemon(e)) => Err(e.message),
        Err(other) => return Err(other),
    };
    let workers = crate::call(c, "workers", Value::Null)?;
    Ok(Sample {
        at: Instant::now(),
        uptime,
        members,
        workers,
    })
}

/// Runs until Ctrl-C (or `count` refreshes), one refresh every `every`.
pub fn run(c: &mut Client, every: Duration, count: Option<u64>) -> Result<(), Failure> {
    let mut prev: Option<Sample> = None;
    let mut done = 0u64;
    let mut next = Instant::now();
    loop {
        let s = sample(c)?;
        let frame = render(&s, prev.as_ref());
        let mut out = std::io::stdout().lock();
        // Home, clear the screen, then the frame.
        let _ = write!(out, "\x1b[H\x1b[2J{frame}");
        let _ = out.flush();
        drop(out);
        prev = Some(s);
        done += 1;
        if count.is_some_and(|n| done >= n) {
            return Ok(());
        }
        next += every;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// The change of `now - before` per second, as text (`-` without a previous sample).
fn rate(now: u64, before: Option<u64>, secs: f64) -> String {
    match before {
        Some(b) if secs > 0.0 => format!("{:.1}", now.saturating_sub(b) as f64 / secs),
        _ => "-".into(),
    }
}

fn find<'a>(list: &'a [Value], key: &str, id: &Value) -> Option<&'a Value> {
    list.iter().find(|x| &x[key] == id)
}

/// One frame.
fn render(s: &Sample, prev: Option<&Sample>) -> String {
    let secs = prev.map_or(0.0, |p| s.at.duration_since(p.at).as_secs_f64());
    let none: Vec<Value> = Vec::new();
    let members = s.members.as_deref().unwrap_or(&none);
    let prev_members = prev.and_then(|p| p.members.as_deref().ok());
    let total = |l: &[Value], k: &str| l.iter().filter_map(|m| m[k].as_u64()).sum::<u64>();
    let calls_now = total(members, "calls_total");
    let calls_rate = rate(
        calls_now,
        prev_members.map(|l| total(l, "calls_total")),
        secs,
    );
    let w = &s.workers;
    let mut out = format!(
        "ferrovox top: up {}, refreshed every second (Ctrl-C quits)\n\
         calls: {} in progress, {} calls/s | media sessions: {} | port pairs: {} | fast path: {}\n\n",
        duration(s.uptime),
        total(members, "active_calls"),
        calls_rate,
        text(&w["sessions"]),
        text(&w["port_pairs"]),
        if w["fastpath"].as_bool() == Some(true) { "yes" } else { "no" },
    );
    match &s.members {
        Ok(_) => {
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    let before = prev_members
                        .and_then(|l| find(l, "id", &m["id"]))
                        .and_then(|p| p["calls_total"].as_u64());
                    let now = m["calls_total"].as_u64().unwrap_or(0);
                    vec![
                        text(&m["set"]),
                        text(&m["uri"]),
                        text(&m["state"]),
                        text(&m["active_calls"]),
                        rate(now, before, secs),
                        m["probe_rtt_ms"]
                            .as_f64()
                            .map_or("-".into(), |ms| format!("{ms:.1}ms")),
                    ]
                })
                .collect();
            let head = ["SET", "MEMBER", "STATE", "CALLS", "CALLS/S", "RTT"];
            out.push_str(&table(&head, &rows));
        }
        Err(why) => out.push_str(&format!("members: {why}\n")),
    }
    out.push('\n');
    out.push_str(&workers(w, prev.map(|p| &p.workers), secs));
    out
}

fn workers(w: &Value, prev: Option<&Value>, secs: f64) -> String {
    let list = w["workers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let prev_list = prev.and_then(|p| p["workers"].as_array().map(Vec::as_slice));
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|x| {
            let before = prev_list.and_then(|l| find(l, "worker", &x["worker"]));
            let of = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
            vec![
                text(&x["worker"]),
                rate(of(x, "rx"), before.map(|b| of(b, "rx")), secs),
                rate(of(x, "relayed"), before.map(|b| of(b, "relayed")), secs),
                drops(x).to_string(),
                rate(drops(x), before.map(drops), secs),
                text(&x["streams"]),
            ]
        })
        .collect();
    let head = [
        "WORKER",
        "PACKETS/S",
        "RELAYED/S",
        "DROPS",
        "DROPS/S",
        "STREAMS",
    ];
    table(&head, &rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(at: Instant, calls: u64, rx: u64) -> Sample {
        Sample {
            at,
            uptime: 65.0,
            members: Ok(vec![
                json!({"id": 1, "set": "pool", "uri": "sip:127.0.0.1:5081",
                "state": "active", "active_calls": 3, "calls_total": calls, "probe_rtt_ms": 0.5}),
            ]),
            workers: json!({"fastpath": false, "sessions": 3, "port_pairs": 6, "workers": [
                {"worker": 0, "rx": rx, "relayed": rx, "streams": 6,
                 "drops": {"unknown_port": 2, "not_owner": 0}}]}),
        }
    }

    #[test]
    fn rates_come_from_two_samples() {
        let t0 = Instant::now();
        let first = render(&sample(t0, 10, 1000), None);
        assert!(first.contains("3 in progress, - calls/s"), "{first}");
        let second = render(
            &sample(t0 + Duration::from_secs(2), 14, 1500),
            Some(&sample(t0, 10, 1000)),
        );
        assert!(second.contains("2.0 calls/s"), "{second}");
        let worker = second.lines().last().unwrap();
        assert!(worker.starts_with("0       250.0"), "{second}");
        assert!(second.contains("sip:127.0.0.1:5081  active"), "{second}");
    }
}
