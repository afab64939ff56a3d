//! Text output: a table row per step, a summary, and one `RESULT key=value ...` line that
//! scripts parse.

use crate::runner::StepReport;
use crate::search::{SearchOutcome, Verdict};
use std::fmt::Write;

/// What the columns of [`step_header`] mean.
pub const LEGEND: &str = "\
columns: target/offered/relayed = packets per second asked for / sent / received back in the
measured window; relay% = relay CPU time as a share of one core; pps/core = relayed packets per
relay CPU-second; tool% = the tool's CPU share of its core (it busy-polls: well under 100 means
it was preempted by other work); rly-drop/tool-drop = receive-queue drops on the relay's / the
tool's sockets; lat = send-to-receive time through the relay. A tool that cannot keep up shows
as offered < target (verdict tool-limited) and as a note of skipped packets.";

/// Column headings matching [`step_row`].
pub fn step_header() -> String {
    format!(
        "{:>4} {:>10} {:>10} {:>10} {:>8} {:>7} {:>11} {:>7} {:>8} {:>8} {:>15}  {}",
        "step",
        "target",
        "offered",
        "relayed",
        "loss%",
        "relay%",
        "pps/core",
        "tool%",
        "rly-drop",
        "tool-drop",
        "lat p50/p99 us",
        "verdict"
    )
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |s| format!("{:.1}", s * 100.0))
}

fn opt_num(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// One table row for a step.
pub fn step_row(r: &StepReport, verdict: Option<Verdict>) -> String {
    let lat = &r.counts.latency;
    let mut row = format!(
        "{:>4} {:>10} {:>10.0} {:>10.0} {:>8.3} {:>7} {:>11} {:>7} {:>8} {:>8} {:>7}/{:<7}  {}",
        r.step,
        r.target_pps,
        r.offered_pps(),
        r.relayed_pps(),
        r.loss_pct(),
        opt_pct(r.relay_core_share()),
        r.per_core_pps()
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}")),
        opt_pct(r.tool_core_share()),
        opt_num(r.relay_drops),
        opt_num(r.tool_drops),
        lat.quantile(0.5) / 1000,
        lat.quantile(0.99) / 1000,
        match verdict {
            Some(Verdict::Pass) => "pass",
            Some(Verdict::Fail) => "FAIL",
            Some(Verdict::ToolLimited) => "tool-limited",
            None => "",
        }
    );
    let c = &r.counts;
    let mut notes = Vec::new();
    if c.dead_streams > 0 {
        notes.push(format!(
            "{} of {} streams got nothing",
            c.dead_streams, c.streams
        ));
    }
    if c.misrouted > 0 {
        notes.push(format!("{} misrouted", c.misrouted));
    }
    if c.foreign > 0 {
        notes.push(format!("{} foreign datagrams", c.foreign));
    }
    if c.skipped > 0 {
        notes.push(format!(
            "{} packets skipped after stalls, longest loop pass {:.1} ms",
            c.skipped,
            c.longest_pass.as_secs_f64() * 1000.0
        ));
    }
    if c.send_full > 0 {
        notes.push(format!("{} not sent (buffer full)", c.send_full));
    }
    if c.send_errors > 0 {
        notes.push(format!(
            "{} send errors, first: {}",
            c.send_errors,
            c.first_error.as_deref().unwrap_or("?")
        ));
    }
    if !notes.is_empty() {
        let _ = write!(row, "\n     note: {}", notes.join("; "));
    }
    row
}

/// One `STEP key=value ...` line for scripts: the step's own figures, whatever its verdict
/// (the `RESULT` line names only a passing step).
pub fn step_line(r: &StepReport) -> String {
    let c = &r.counts;
    format!(
        "STEP step={} target_pps={} offered_pps={:.0} relayed_pps={:.0} loss_pct={:.4} sent={} received={} relay_core_share={} tool_core_share={} skipped={} dead_streams={}",
        r.step,
        r.target_pps,
        r.offered_pps(),
        r.relayed_pps(),
        r.loss_pct(),
        c.sent,
        c.received,
        r.relay_core_share()
            .map_or_else(|| "na".to_owned(), |p| format!("{p:.3}")),
        r.tool_core_share()
            .map_or_else(|| "na".to_owned(), |p| format!("{p:.3}")),
        c.skipped,
        c.dead_streams
    )
}

/// The summary block and the `RESULT` line of a search (or of a single step when the outcome
/// holds one step with no verdict threshold).
pub fn summary(label: &str, mode: &str, out: &SearchOutcome<StepReport>) -> String {
    let mut s = String::new();
    let best = out.best.and_then(|i| out.steps.get(i)).map(|(_, r)| r);
    let _ = writeln!(s, "== {label} ({mode}) ==");
    match best {
        Some(r) => {
            let _ = writeln!(
                s,
                "highest rate with loss under threshold: {:.0} pps relayed (target {} pps, loss {:.3}%)",
                r.relayed_pps(),
                r.target_pps,
                r.loss_pct()
            );
            if let (Some(share), Some(pc)) = (r.relay_core_share(), r.per_core_pps()) {
                let _ = writeln!(
                    s,
                    "relay CPU at that rate: {:.1}% of one core -> {:.0} pps per core-second",
                    share * 100.0,
                    pc
                );
            }
            let lat = &r.counts.latency;
            let _ = writeln!(
                s,
                "round-trip through the relay: p50 {} us, p99 {} us, max {} us",
                lat.quantile(0.5) / 1000,
                lat.quantile(0.99) / 1000,
                lat.max() / 1000
            );
        }
        None => {
            let _ = writeln!(s, "no step passed");
        }
    }
    if out.tool_limited {
        let _ = writeln!(
            s,
            "note: the load tool could not offer some target rates; the limit may be higher"
        );
    }
    if !limit_found(out) {
        let _ = writeln!(
            s,
            "note: no step failed on loss, so the relay's limit was not reached"
        );
    }
    if out.reached_max {
        let _ = writeln!(
            s,
            "note: the highest rate allowed passed; the limit may be higher"
        );
    }
    let _ = writeln!(
        s,
        "RESULT label={} mode={} rate_pps={:.0} per_core_pps={} relay_core_share={} loss_pct={:.4} tool_limited={} reached_max={} limit_found={} steps={}",
        label.replace(char::is_whitespace, "_"),
        mode,
        best.map_or(0.0, StepReport::relayed_pps),
        best.and_then(StepReport::per_core_pps)
            .map_or_else(|| "na".to_owned(), |p| format!("{p:.0}")),
        best.and_then(StepReport::relay_core_share)
            .map_or_else(|| "na".to_owned(), |p| format!("{p:.3}")),
        best.map_or(100.0, StepReport::loss_pct),
        u8::from(out.tool_limited),
        u8::from(out.reached_max),
        u8::from(limit_found(out)),
        out.steps.len()
    );
    s
}

/// Whether some step above the best passing rate failed on loss: only then is the best rate
/// the relay's limit rather than a lower bound.
pub fn limit_found(out: &SearchOutcome<StepReport>) -> bool {
    let best = out
        .best
        .and_then(|i| out.steps.get(i))
        .map_or(0, |(_, r)| r.target_pps);
    out.steps
        .iter()
        .any(|(v, r)| *v == Verdict::Fail && r.target_pps > best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::StepCounts;
    use std::time::Duration;

    fn step(target: u64, sent: u64, received: u64) -> StepReport {
        StepReport {
            step: 1,
            target_pps: target,
            window: Duration::from_secs(1),
            counts: StepCounts {
                sent,
                received,
                ..StepCounts::default()
            },
            relay_cpu: Some(Duration::from_millis(500)),
            tool_cpu: None,
            relay_drops: Some(0),
            tool_drops: Some(0),
        }
    }

    #[test]
    fn step_line_names_a_failed_step_too() {
        let line = step_line(&step(2000, 2000, 1500));
        assert!(line.starts_with("STEP step=1 target_pps=2000 "), "{line}");
        assert!(line.contains(" loss_pct=25.0000 "), "{line}");
        assert!(line.contains(" sent=2000 received=1500 "), "{line}");
        assert!(line.contains(" relay_core_share=0.500 "), "{line}");
        assert!(line.contains(" tool_core_share=na "), "{line}");
    }

    #[test]
    fn result_line_and_limit() {
        let out = SearchOutcome {
            steps: vec![
                (Verdict::Pass, step(1000, 1000, 1000)),
                (Verdict::Fail, step(2000, 2000, 1500)),
            ],
            best: Some(0),
            tool_limited: false,
            reached_max: false,
        };
        assert!(limit_found(&out));
        let text = summary("rtp engine", "relay", &out);
        let result = text.lines().find(|l| l.starts_with("RESULT ")).unwrap();
        assert!(result.contains("label=rtp_engine"), "{result}");
        assert!(result.contains("rate_pps=1000 "), "{result}");
        assert!(result.contains("per_core_pps=2000 "), "{result}");
        assert!(result.contains("limit_found=1"), "{result}");
        let row = step_row(&out.steps[1].1, Some(Verdict::Fail));
        assert!(row.contains("FAIL") && row.contains("25.000"), "{row}");
    }

    #[test]
    fn no_failure_means_no_limit() {
        let out = SearchOutcome {
            steps: vec![(Verdict::Pass, step(1000, 1000, 1000))],
            best: Some(0),
            tool_limited: false,
            reached_max: false,
        };
        assert!(!limit_found(&out));
        assert!(summary("x", "relay", &out).contains("limit_found=0"));
        let none = SearchOutcome::<StepReport> {
            steps: vec![(Verdict::Fail, step(1000, 1000, 0))],
            best: None,
            tool_limited: false,
            reached_max: false,
        };
        assert!(summary("x", "relay", &none).contains("rate_pps=0 "));
    }
}
