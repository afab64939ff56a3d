//! What an end-to-end test needs from the machine, and the one explicit way to do without it.
//!
//! A test whose need is not met fails, with a message naming what is missing and how to get
//! it. A developer who cannot meet a need opts out by naming it in `FERROVOX_TEST_SKIP`
//! (comma-separated, e.g. `FERROVOX_TEST_SKIP=dpdk,netns`): the test then prints `SKIPPED`
//! with the reason and returns. `.ci/run` never sets it, so in CI every test runs or fails.
//! The same variable and names serve the whole workspace (`tests/README.md`); the opt-out
//! itself is `testkit::need`.

use crate::netns;
use crate::tools::{self, Tool};

pub use testkit::need::SKIP_VAR;

/// Something a test needs from the machine it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Root (network namespaces, raw capture, the DPDK EAL).
    Root,
    /// Network namespaces: root and a working `ip netns`.
    Netns,
    /// A DPDK build: the system DPDK and a daemon built with `--features dpdk`.
    Dpdk,
    /// sipp (Debian `sip-tester`).
    Sipp,
    /// Kamailio.
    Kamailio,
    /// tcpdump.
    Tcpdump,
    /// rtpengine, the reference relay (`E2E_RELAY=rtpengine`).
    Rtpengine,
    /// baresip, a real SIP user agent (Debian `baresip-core`).
    Baresip,
    /// tmux (a terminal for `ferrovoxctl top`).
    Tmux,
    /// promtool (Debian `prometheus`), to check the `/metrics` exposition.
    Promtool,
    /// redis-server and redis-cli (Debian `redis-server`), for HA replication.
    Redis,
    /// keepalived (Debian `keepalived`), which moves the service address in the HA test.
    Keepalived,
}

impl Need {
    /// The name used in `FERROVOX_TEST_SKIP`.
    pub fn name(self) -> &'static str {
        match self {
            Need::Root => "root",
            Need::Netns => "netns",
            Need::Dpdk => "dpdk",
            Need::Sipp => "sipp",
            Need::Kamailio => "kamailio",
            Need::Tcpdump => "tcpdump",
            Need::Rtpengine => "rtpengine",
            Need::Baresip => "baresip",
            Need::Tmux => "tmux",
            Need::Promtool => "promtool",
            Need::Redis => "redis",
            Need::Keepalived => "keepalived",
        }
    }

    /// Why this machine does not meet the need, with how to meet it; `None` when it does.
    /// [`Need::Dpdk`] is only known once the daemon starts: callers report it with
    /// [`unmet`].
    pub fn check(self) -> Option<String> {
        let tool = |t: Tool| tools::find(t).err().map(|e| e.to_string());
        match self {
            Need::Root => (!rustix::process::geteuid().is_root())
                .then(|| "not root: run the tests as root (sudo -E cargo test ...)".to_owned()),
            Need::Netns => netns::unavailable(),
            Need::Dpdk => None,
            Need::Sipp => tool(tools::SIPP),
            Need::Kamailio => tool(tools::KAMAILIO),
            Need::Tcpdump => tool(tools::TCPDUMP),
            Need::Rtpengine => tool(tools::RTPENGINE),
            Need::Baresip => tool(tools::BARESIP),
            Need::Tmux => tool(tools::TMUX),
            Need::Promtool => tool(tools::PROMTOOL),
            Need::Redis => tool(tools::REDIS_SERVER).or_else(|| tool(tools::REDIS_CLI)),
            Need::Keepalived => tool(tools::KEEPALIVED),
        }
    }
}

/// Checks every need of `test`: `true` when all are met. An unmet need panics with its
/// reason, unless it is opted out: then `SKIPPED` is printed and the result is `false`, and
/// the test returns.
pub fn met(test: &str, needs: &[Need]) -> bool {
    needs.iter().all(|&need| match need.check() {
        None => true,
        Some(why) => unmet(test, need, &why),
    })
}

/// Reports that `test` cannot meet `need` because of `why`: panics, unless the need is
/// opted out; then prints `SKIPPED` and returns `false` (the workspace's one convention,
/// `testkit::need`).
pub fn unmet(test: &str, need: Need, why: &str) -> bool {
    testkit::need::unmet(test, need.name(), why)
}
