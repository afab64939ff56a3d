//! The destination set members as metric families: one series per member (labels `set`,
//! `member` its URI and `address` where it is reached; never a call's identifier), its state
//! as one series per state (1 for the current one), calls, probes and transitions.

use std::collections::HashSet;

use dispatch::MemberState;
use metrics::{num, Exposition};

use crate::metrics_driver::MemberSample;
use crate::metrics_media::Counter;

/// The members' families. A member whose labels repeat an earlier one's (it cannot happen
/// with the dispatcher's own duplicate check) is left out rather than breaking the scrape.
pub fn member_families(members: &[MemberSample], e: &mut Exposition) {
    let mut seen = HashSet::new();
    let members: Vec<&MemberSample> = members
        .iter()
        .filter(|m| seen.insert((&m.set, &m.uri, &m.address)))
        .collect();
    let mut f = e.gauge(
        "ferrovox_member_state",
        "A member's state: 1 for the state it is in, 0 for the others (active, suspect, \
         down, busy, disabled, draining).",
    );
    for m in &members {
        let [a, b, c] = base(m);
        for st in MemberState::ALL {
            let v = if m.state == st { 1.0 } else { 0.0 };
            f.sample(&[a, b, c, ("state", st.as_str())], v);
        }
    }
    gauge(
        e,
        &members,
        "ferrovox_member_active_calls",
        "Calls in progress on the member.",
        |m| Some(f64::from(m.active_calls)),
    );
    gauge(
        e,
        &members,
        "ferrovox_member_max_calls",
        "The member's max_calls (members with one only).",
        |m| m.max_calls.map(f64::from),
    );
    gauge(
        e,
        &members,
        "ferrovox_member_probe_rtt_seconds",
        "Round trip of the member's last answered OPTIONS probe.",
        |m| m.probe_rtt.map(|d| d.as_secs_f64()),
    );
    gauge(
        e,
        &members,
        "ferrovox_member_consecutive_failures",
        "Probe or call failures in a row now (DOWN at the set's down_after).",
        |m| Some(f64::from(m.consecutive_failures)),
    );
    counters(e, &members);
    let mut f = e.counter(
        "ferrovox_member_transitions_total",
        "State changes of the member, by the state it went into.",
    );
    for m in &members {
        let [a, b, c] = base(m);
        for st in MemberState::ALL {
            f.sample(
                &[a, b, c, ("to", st.as_str())],
                num(m.counters.transitions(st)),
            );
        }
    }
}

/// A gauge with one sample per member that has a value.
fn gauge(
    e: &mut Exposition,
    members: &[&MemberSample],
    name: &str,
    help: &str,
    value: impl Fn(&MemberSample) -> Option<f64>,
) {
    let mut f = e.gauge(name, help);
    for m in members {
        if let Some(v) = value(m) {
            f.sample(&base(m), v);
        }
    }
}

fn base(m: &MemberSample) -> [(&str, &str); 3] {
    [("set", &m.set), ("member", &m.uri), ("address", &m.address)]
}

/// The members' monotonic counters.
fn counters(e: &mut Exposition, members: &[&MemberSample]) {
    let plain: [Counter<MemberSample>; 6] = [
        (
            "ferrovox_member_calls_total",
            "Calls started on the member (first attempts and failovers).",
            |m| m.counters.calls,
        ),
        (
            "ferrovox_member_selected_total",
            "Times the member was picked by its set's algorithm.",
            |m| m.counters.selected,
        ),
        (
            "ferrovox_member_probes_sent_total",
            "OPTIONS probes sent to the member.",
            |m| m.counters.probes_sent,
        ),
        (
            "ferrovox_member_passive_failures_total",
            "Call failures counted against the member (INVITE timeouts, transport errors, \
             503 without Retry-After).",
            |m| m.counters.passive_failures,
        ),
        (
            "ferrovox_member_passive_busy_total",
            "Calls answered 503 with Retry-After that made the member BUSY.",
            |m| m.counters.passive_busy,
        ),
        (
            "ferrovox_member_calls_without_rtp_total",
            "Answered anchored calls that had brought no RTP from the member at the RTP check.",
            |m| m.counters.calls_without_rtp,
        ),
    ];
    for (name, help, value) in plain {
        let mut f = e.counter(name, help);
        for m in members {
            f.sample(&base(m), num(value(m)));
        }
    }
    let mut f = e.counter(
        "ferrovox_member_probes_total",
        "OPTIONS probes of the member by result: answered with an accepted code (ok), \
         failed (timeout, transport error, other code), answered 503 with Retry-After (busy).",
    );
    for m in members {
        let [a, b, c] = base(m);
        let c_ = &m.counters;
        for (r, n) in [
            ("ok", c_.probes_ok),
            ("failed", c_.probes_failed),
            ("busy", c_.probes_busy),
        ] {
            f.sample(&[a, b, c, ("result", r)], num(n));
        }
    }
}
