//! Answers as text for people: aligned tables and `key: value` lines.

use serde_json::Value;

/// Which answer is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `version`.
    Version,
    /// `uptime`.
    Uptime,
    /// `health`.
    Health,
    /// `params.get`.
    Params,
    /// `reload`.
    Reload,
    /// `members.list` (every page, as one array).
    Members,
    /// One member (`set_state`, `add`).
    Member,
    /// `members.remove`.
    Removed,
    /// `calls.list` (every page, as one array).
    Calls,
    /// `calls.show`.
    Call,
    /// `calls.terminate`.
    Terminated,
    /// `workers`.
    Workers,
    /// `params.set`.
    ParamSet,
    /// `params.diff` and `params.revert`.
    ParamDiff,
    /// `ha.status`, `ha.promote`, `ha.demote`.
    Ha,
}

/// The text for `value`, ending with a newline.
pub fn render(kind: Kind, v: &Value) -> String {
    match kind {
        Kind::Version => format!(
            "{} {} (admin protocol {})\n",
            text(&v["name"]),
            text(&v["version"]),
            text(&v["protocol"])
        ),
        Kind::Uptime => format!("up {}\n", duration(v["seconds"].as_f64().unwrap_or(0.0))),
        Kind::Health => health(v),
        Kind::Params => pairs(v["params"].as_object().into_iter().flatten()),
        Kind::Reload => reload(v),
        Kind::Members => members(v.as_array().map(Vec::as_slice).unwrap_or_default()),
        Kind::Member => members(std::slice::from_ref(v)),
        Kind::Calls => {
            crate::show_calls::calls(v.as_array().map(Vec::as_slice).unwrap_or_default())
        }
        Kind::Call => crate::show_calls::call(v),
        Kind::Terminated => crate::show_calls::terminated(v),
        Kind::Workers => crate::show_calls::workers(v),
        Kind::ParamSet => format!(
            "{}: {} -> {}\n",
            text(&v["key"]),
            text(&v["old"]),
            text(&v["new"])
        ),
        Kind::ParamDiff => crate::show_calls::param_diff(v),
        Kind::Ha => pairs(v.as_object().into_iter().flatten()),
        Kind::Removed => format!(
            "removed member {} {} from {} ({} calls in progress)\n",
            text(&v["id"]),
            text(&v["uri"]),
            text(&v["set"]),
            text(&v["active_calls"])
        ),
    }
}

/// A JSON value as plain text: strings without quotes, null as `-`.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Seconds as `3d 4h`, `5h 2m`, `7m 3s` or `12s`.
pub(crate) fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{}s", s % 60),
        (0, 0, _) => format!("{m}m {}s", s % 60),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn pairs<'a>(items: impl Iterator<Item = (&'a String, &'a Value)>) -> String {
    let items: Vec<_> = items.collect();
    let w = items.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    items
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {}\n", text(v)))
        .collect()
}

fn health(v: &Value) -> String {
    let mut out = format!("status: {}\nsip: {}\n", text(&v["status"]), text(&v["sip"]));
    if v["draining"].as_bool() == Some(true) {
        out.push_str("draining: yes (OPTIONS to the proxy answered 503)\n");
    }
    if let Some(m) = v["members"].as_object() {
        let counts: Vec<String> = m
            .iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(k, n)| format!("{} {k}", text(n)))
            .collect();
        out.push_str(&format!(
            "members: {}\n",
            if counts.is_empty() {
                "none".into()
            } else {
                counts.join(", ")
            }
        ));
    }
    for p in v["problems"].as_array().into_iter().flatten() {
        out.push_str(&format!("problem: {}\n", text(p)));
    }
    out
}

fn reload(v: &Value) -> String {
    let changes = v["changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if changes.is_empty() {
        return format!("reloaded {}: no change\n", text(&v["file"]));
    }
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            let applied = if c["applied"].as_bool() == Some(true) {
                "applied".to_owned()
            } else if c["reason"].is_string() {
                text(&c["reason"])
            } else {
                "needs restart".to_owned()
            };
            vec![text(&c["key"]), text(&c["change"]), applied]
        })
        .collect();
    format!(
        "reloaded {}:\n{}",
        text(&v["file"]),
        table(&["KEY", "CHANGE", ""], &rows)
    )
}

fn members(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list.iter().map(member_row).collect();
    let head = [
        "ID",
        "SET",
        "URI",
        "STATE",
        "CALLS",
        "MAX",
        "WEIGHT",
        "PRIO",
        "RTT",
        "FAILS",
        "LAST CHANGE",
    ];
    table(&head, &rows)
}

fn member_row(m: &Value) -> Vec<String> {
    let rtt = m["probe_rtt_ms"]
        .as_f64()
        .map_or("-".into(), |ms| format!("{ms:.1}ms"));
    let last = match m.get("last_change") {
        Some(c) if !c.is_null() => format!(
            "{} -> {} ({}) {} ago",
            text(&c["from"]),
            text(&c["to"]),
            text(&c["reason"]),
            duration(c["secs_ago"].as_f64().unwrap_or(0.0))
        ),
        _ => "-".into(),
    };
    let mut state = text(&m["state"]);
    if m["last_resort"].as_bool() == Some(true) {
        state.push_str(" (last resort)");
    }
    vec![
        text(&m["id"]),
        text(&m["set"]),
        text(&m["uri"]),
        state,
        text(&m["active_calls"]),
        m.get("max_calls").map_or("-".into(), text),
        text(&m["weight"]),
        text(&m["priority"]),
        rtt,
        text(&m["consecutive_failures"]),
        last,
    ]
}

/// Rows under a header, each column as wide as its widest cell.
pub(crate) fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s: String = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}  "))
            .collect();
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_member_table_lines_up_and_shows_the_last_change() {
        let m = json!([{"id": 1, "set": "pool", "uri": "sip:127.0.0.1:5081", "state": "draining",
            "active_calls": 3, "weight": 1, "priority": 0, "probe_rtt_ms": 0.42,
            "consecutive_failures": 0, "last_resort": false,
            "last_change": {"from": "active", "to": "draining", "reason": "admin", "secs_ago": 75.0}}]);
        let out = render(Kind::Members, &m);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID  SET   URI"));
        assert!(lines[1].contains("draining"));
        assert!(lines[1].contains("0.4ms"));
        assert!(lines[1].contains("active -> draining (admin) 1m 15s ago"));
        assert_eq!(lines[0].find("STATE"), lines[1].find("draining"));
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(5.2), "5s");
        assert_eq!(duration(125.0), "2m 5s");
        assert_eq!(duration(7300.0), "2h 1m");
        assert_eq!(duration(90_000.0), "1d 1h");
    }
}
