//! The sipp pool helpers on their own, without a proxy: a sipp caller straight to sipp members
//! on 127.0.0.1. What the proxy tests count on must hold here first: every call a caller
//! reports as successful shows up in exactly one member's log, with its BYE at the same member,
//! a refused call meets the code the member was told to send, and a killed member can be
//! started again on its port with its earlier calls still counted.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use e2e::need::{self, Need};
use e2e::ports::PortBlock;
use e2e::sipp_pool::{run_uac, CallScenario, MemberSpec, Pool, UacSpec};
use e2e::tools::{self, SIPP};

const TEST: &str = "sipp_pool_selftest";

/// The longest any caller here may take.
const WAIT: Duration = Duration::from_secs(30);

fn sipp() -> PathBuf {
    tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"))
}

fn dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sipp-pool-selftest.")
        .tempdir()
        .unwrap()
}

/// 40 calls at 40/s held 200 ms: the caller reports all 40 successful, the member logged 40
/// distinct INVITEs and the 40 BYEs of the same calls.
#[test]
fn caller_to_member_counts_match() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let sipp = sipp();
    let ports = PortBlock::take().unwrap();
    let dir = dir();
    let mut member = MemberSpec::answering(ports.uas_sip());
    member.media_port = Some(*ports.uas_media().start());
    let pool = Pool::start(&sipp, dir.path(), &[member]).unwrap();
    let target = pool.members()[0].addr();

    let mut uac = UacSpec::new(target, ports.uac_sip(), 40);
    uac.media_port = Some(*ports.uac_media().start());
    uac.rate = 40;
    uac.hold = Duration::from_millis(200);
    let report = run_uac(&sipp, &dir.path().join("uac"), &uac, WAIT).unwrap();
    assert!(
        report.all_succeeded(),
        "{}\n{}",
        report.summary(),
        pool.tails()
    );
    assert_eq!(report.stats.successful, 40);

    let calls = pool.calls().unwrap();
    assert_eq!(calls.invites_per_member(), [40]);
    assert_eq!(calls.byes_per_member(), [40]);
    let invites: BTreeSet<_> = calls.members[0].invites.iter().collect();
    let byes: BTreeSet<_> = calls.members[0].byes.iter().collect();
    assert_eq!(invites.len(), 40, "every INVITE logged once");
    assert_eq!(
        invites, byes,
        "every call's BYE reached the member that took it"
    );
    assert!(calls.misrouted_byes().is_empty());
    assert_eq!(calls.bye_members(calls.members[0].byes[0].as_str()), [0]);
}

/// A member refusing with 503 + Retry-After and a caller expecting 503: every call succeeds as
/// a scenario, the member logged each INVITE and no BYE. Then the member is killed (its port
/// is free at once), started again, and takes five more; all ten stay counted.
#[test]
fn refusing_member_and_kill_restart() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let sipp = sipp();
    let ports = PortBlock::take().unwrap();
    let dir = dir();
    let mut spec = MemberSpec::rejecting(ports.uas_sip(), 503, Some(30));
    spec.media_port = Some(*ports.uas_media().start());
    let mut pool = Pool::start(&sipp, dir.path(), &[spec]).unwrap();
    let target = pool.members()[0].addr();

    let mut uac = UacSpec::new(target, ports.uac_sip(), 5);
    uac.media_port = Some(*ports.uac_media().start());
    uac.scenario = CallScenario::Refused(503);
    uac.rate = 50;
    let first = run_uac(&sipp, &dir.path().join("uac1"), &uac, WAIT).unwrap();
    assert!(
        first.all_succeeded(),
        "{}\n{}",
        first.summary(),
        pool.tails()
    );

    let member = pool.member_mut(0).unwrap();
    member.kill();
    assert!(!member.is_running().unwrap());
    assert!(
        e2e::ports::port_is_free(ports.uas_sip()),
        "a killed member frees its port"
    );
    member.restart().unwrap();
    assert!(member.is_running().unwrap());

    let second = run_uac(&sipp, &dir.path().join("uac2"), &uac, WAIT).unwrap();
    assert!(
        second.all_succeeded(),
        "{}\n{}",
        second.summary(),
        pool.tails()
    );

    let calls = pool.calls().unwrap();
    assert_eq!(calls.invites_per_member(), [10]);
    assert_eq!(calls.byes_per_member(), [0]);
    // A caller that expects another code fails every call: the helpers do see a refusal.
    uac.scenario = CallScenario::Refused(486);
    uac.calls = 2;
    uac.timeout = Duration::from_secs(10);
    let wrong = run_uac(&sipp, &dir.path().join("uac3"), &uac, WAIT).unwrap();
    assert!(!wrong.all_succeeded());
    assert_eq!(wrong.stats.failed, 2, "{}", wrong.summary());
    assert_eq!(wrong.stats.failed_unexpected, 2, "{}", wrong.summary());
}
