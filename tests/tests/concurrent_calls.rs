//! Ten overlapping calls through Kamailio and the relay under test.

use std::time::Duration;

use e2e::need;
use e2e::testbed::needs;
use e2e::{run, CallPath, Load, Plan, Scenario};

/// Ten calls, started at 10/s and each held 2 s, so all are up at once: every one completes,
/// carries media on all four hops through its own relay ports, and is gone afterwards with
/// every relay port free.
#[test]
fn ten_concurrent_calls() {
    if !need::met("concurrent_calls", &needs()) {
        return;
    }
    let plan = Plan {
        scenario: Scenario::Basic,
        load: Load {
            calls: 10,
            rate: 10,
            hold: Duration::from_secs(2),
        },
        path: CallPath::Kamailio,
    };
    let out = run(&plan).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", out.summary());
    assert_eq!(out.report.calls.len(), 10);
    let relay_ports: std::collections::BTreeSet<_> = out
        .report
        .calls
        .values()
        .flat_map(|c| c.relay_endpoints())
        .collect();
    assert_eq!(
        relay_ports.len(),
        20,
        "each call has its own two relay endpoints"
    );
}
