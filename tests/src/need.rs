//! What an end-to-end test needs from the machine, and the one explicit way to do without it.
//!
//! A test whose need is not met fails, with a message naming what is missing and how to get
//! it. A developer who cannot meet a need opts out by naming it in `FERROVOX_TEST_SKIP`
//! (comma-separated, e.g. `FERROVOX_TEST_SKIP=dpdk,netns`): the test then prints `SKIPPED`
//! with the reason and returns. `.ci/run` never sets it, so in CI every test runs or fails.
//! The same variable and names serve the whole workspace (`tests/README.md`).

use std::env;

use crate::netns;
use crate::tools::{self, Tool};

/// The variable listing the needs a developer does without.
pub const SKIP_VAR: &str = "FERROVOX_TEST_SKIP";

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
        }
    }
}

/// Whether the comma-separated `list` names `name`.
fn listed(list: &str, name: &str) -> bool {
    list.split(',').any(|n| n.trim().eq_ignore_ascii_case(name))
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
/// opted out; then prints `SKIPPED` and returns `false`.
pub fn unmet(test: &str, need: Need, why: &str) -> bool {
    match verdict(&env::var(SKIP_VAR).unwrap_or_default(), test, need, why) {
        Ok(skipped) => {
            eprintln!("{skipped}");
            false
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// With `FERROVOX_TEST_SKIP` = `list`: the `SKIPPED` line when `need` is opted out, else the
/// failure message.
fn verdict(list: &str, test: &str, need: Need, why: &str) -> Result<String, String> {
    let name = need.name();
    if listed(list, name) {
        Ok(format!("{test}: SKIPPED ({SKIP_VAR} names {name}): {why}"))
    } else {
        Err(format!(
            "{test}: needs {name}: {why}\n(to run without it, opt out explicitly: \
             {SKIP_VAR}={name}; see tests/README.md)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn the_skip_list_is_comma_separated_and_exact() {
        assert!(listed("dpdk,netns", "netns"));
        assert!(listed(" dpdk , NETNS ", "netns"));
        assert!(!listed("", "netns"));
        assert!(!listed("netns2,dpd", "netns"));
        assert!(!listed("dpdk", "netns"));
    }

    #[test]
    fn an_unmet_need_fails_naming_the_opt_out_unless_it_is_listed() {
        let fail = verdict("netns", "t", Need::Dpdk, "no DPDK here").unwrap_err();
        assert_eq!(
            fail,
            "t: needs dpdk: no DPDK here\n(to run without it, opt out explicitly: \
             FERROVOX_TEST_SKIP=dpdk; see tests/README.md)"
        );
        let skip = verdict("netns,dpdk", "t", Need::Dpdk, "no DPDK here").unwrap();
        assert_eq!(
            skip,
            "t: SKIPPED (FERROVOX_TEST_SKIP names dpdk): no DPDK here"
        );
    }
}
