//! High availability end to end (issue 10): two Ferrovox nodes in network namespaces of
//! their own on a bridged LAN with a caller, a member and Redis (`e2e::ha_bed`). The service
//! address moves with keepalived (VRRP on the LAN, both nodes BACKUP with `nopreempt`, a
//! track file the shell supervising each node's Ferrovox sets when Ferrovox exits, notify
//! scripts that run `ferrovoxctl ha promote` and `ha demote`; `e2e::ha_bed` says why);
//! nothing in these tests moves it by hand or promotes a node itself.
//!
//! - [`calls_survive_the_active_killed_and_the_old_active_rejoins_as_standby`]: 200 calls
//!   with RTP both ways through node A; B holds them all as standby; A's process is
//!   SIGKILLed; keepalived moves the address to B, which takes the calls over: RTP resumes
//!   (the largest gap per call and direction is printed as p50/p99/max and must stay within
//!   [`MAX_GAP`]), BYEs after the takeover reach the member through B and are answered, no
//!   call is lost. Calls of a second caller end while A is away; A, started again, comes up
//!   standby holding the calls still up and none of those that ended, and takes nothing back.
//! - [`redis_lost_during_calls_is_counted_and_the_standby_catches_up_after_it_returns`]:
//!   Redis killed while calls are being set up: calls go on through the active, which counts
//!   its failed pipelines; Redis started again (empty): the active re-publishes and the
//!   standby holds every call up again; the active killed then, the standby takes every call
//!   over and each ends normally through it.
//!
//! - [`split_brain_the_older_epoch_drops_its_copies_and_relays_nothing`]: B promoted while A
//!   is still active: A drops every call B's newer epoch wrote and relays nothing more of
//!   them; B carries them to their end once the address is its own.
//!
//! The tests run one after the other (they share the machine's two cores with their daemons
//! and RTP; a gap measured under another test's load would say nothing).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use e2e::ha_bed::rtp_gap::{GapReport, RtpMeter};
use e2e::ha_bed::sipp::{Caller, Member};
use e2e::ha_bed::{HaBed, NodeRole, CALLER, MEMBER, RTP_PORT, VIP};
use e2e::need::{self, Need};
use e2e::process::wait_for;
use e2e::sipp_pool::UacReport;
use e2e::Load;
use serde_json::Value;

const TEST: &str = "ha_failover";
/// The target: media resumes within 1 s of the takeover.
const MAX_GAP: Duration = Duration::from_secs(1);
/// Calls with RTP that live through the takeover.
const CALLS: u32 = 200;
/// New calls a second (each caller).
const RATE: u32 = 50;
/// How long those calls are held.
const HOLD: Duration = Duration::from_secs(22);
/// Calls of the second caller, which end while the old active is away.
const SHORT_CALLS: u32 = 20;
const SHORT_HOLD: Duration = Duration::from_secs(10);
/// Every call of the first test.
const ALL: u32 = CALLS + SHORT_CALLS;
/// RTP packets a second per direction of each call.
const PPS: u32 = 25;

/// One test at a time (see the module's doc).
static SERIAL: Mutex<()> = Mutex::new(());

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn needs_met() -> bool {
    need::met(
        TEST,
        &[Need::Netns, Need::Sipp, Need::Redis, Need::Keepalived],
    )
}

/// Waits at most `limit` until node `i`'s `ha status` satisfies `ok`; the last answer.
fn wait_status(
    bed: &HaBed,
    i: usize,
    what: &str,
    limit: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let node = bed.node(i);
    let mut last = String::new();
    let got = wait_for(&format!("node {}: {what}", node.name()), limit, || {
        match node.ha_status() {
            Ok(v) if ok(&v) => return Ok(Some(v)),
            Ok(v) => last = v.to_string(),
            Err(e) => last = e,
        }
        Ok(None)
    });
    got.unwrap_or_else(|e| panic!("{e}; last ha status: {last}\n{}", node.log_tail(30)))
}

fn role_is(role: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["role"] == role
}

fn calls_are(n: u32) -> impl Fn(&Value) -> bool {
    move |v| v["calls"] == u64::from(n)
}

/// Starts Redis and both nodes standby; A's keepalived first, so A becomes master (and is
/// promoted by its notify script), then B's, which stays backup (`nopreempt`).
fn pair(tag: &str) -> HaBed {
    let mut bed = HaBed::new(tag).unwrap();
    bed.start_redis().unwrap();
    bed.start_node(0, NodeRole::Standby).unwrap();
    bed.start_keepalived(0).unwrap();
    wait_status(
        &bed,
        0,
        "promoted by keepalived",
        secs(10),
        role_is("active"),
    );
    assert_eq!(bed.vip_holder().unwrap(), Some(0), "A holds the VIP");
    bed.start_node(1, NodeRole::Standby).unwrap();
    bed.start_keepalived(1).unwrap();
    let b = wait_status(&bed, 1, "standby with Redis up", secs(10), |v| {
        v["role"] == "standby" && v["redis"] == "up"
    });
    assert_eq!(b["node"], "b", "{b}");
    bed
}

/// The caller-facing relay address of each call the caller logged, once `n` are logged.
fn relay_addresses(caller: &Caller, n: usize, limit: Duration) -> Vec<SocketAddr> {
    let ports = wait_for("the calls to be answered", limit, || {
        let p = caller.relay_ports();
        Ok((p.len() >= n).then_some(p))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", caller.tail()));
    ports
        .iter()
        .map(|(_, port)| SocketAddr::from((VIP, *port)))
        .collect()
}

/// RTP both ways on the first `n` calls of `caller`, once they are answered; returns when
/// every call's RTP has come through the relay both ways.
fn rtp_on(bed: &HaBed, caller: &Caller, n: u32) -> RtpMeter {
    let relay = relay_addresses(caller, n as usize, secs(20));
    let meter = RtpMeter::start(
        bed.caller().ns(),
        SocketAddr::from((CALLER, RTP_PORT)),
        bed.member().ns(),
        SocketAddr::from((MEMBER, RTP_PORT)),
        relay,
        PPS,
    );
    wait_for("RTP both ways on every call", secs(10), || {
        Ok((meter.latched() == meter.calls()).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}: {} of {} latched", meter.latched(), meter.calls()));
    meter
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Prints the gaps: per direction and over both.
fn print_gaps(r: &GapReport) {
    for (name, d) in [
        ("caller -> member", &r.forward),
        ("member -> caller", &r.back),
    ] {
        let (p50, p99, max) = d.percentiles(r.run);
        println!(
            "ha_failover: RTP {name}: largest gap per call p50 {} p99 {} max {}; sent {} \
             received {} from another port {}",
            ms(p50),
            ms(p99),
            ms(max),
            d.sent,
            d.received,
            d.moved
        );
    }
    let (p50, p99, max) = r.overall();
    let silent = r.silent_calls();
    println!(
        "ha_failover: media gap over {} calls, both directions, {:.1} s of RTP: p50 {} p99 {} \
         max {}; calls with a silent direction: {silent}",
        r.forward.gaps.len(),
        r.run.as_secs_f64(),
        ms(p50),
        ms(p99),
        ms(max)
    );
}

/// Every call heard both ways, no gap above [`MAX_GAP`], every packet from the relay port
/// the call started on.
fn check_gaps(r: &GapReport) {
    let max = r.overall().2;
    assert_eq!(r.silent_calls(), 0, "calls without RTP in a direction");
    assert!(
        max <= MAX_GAP,
        "the largest media gap {} is above {}",
        ms(max),
        ms(MAX_GAP)
    );
    assert_eq!(
        (r.forward.moved, r.back.moved),
        (0, 0),
        "RTP from another relay port"
    );
}

/// Waits at most `limit` for `caller` to end; every one of its calls must have succeeded.
fn finish(caller: &mut Caller, limit: Duration) -> UacReport {
    let r = caller.wait(limit).unwrap();
    assert!(
        r.all_succeeded(),
        "calls: {}\n{}",
        r.summary(),
        caller.tail()
    );
    r
}

/// The first test's calls: the member, both callers and the RTP on the long calls.
struct Calls {
    member: Member,
    short: Caller,
    long: Caller,
    meter: RtpMeter,
    /// When the long calls started.
    t0: Instant,
}

/// Places the short and the long calls and starts their RTP; returns once every long call
/// has RTP both ways and B holds every call.
fn place_calls(bed: &HaBed) -> Calls {
    let member = Member::start(bed.member(), &bed.dir().join("member")).unwrap();
    let dir = bed.dir().join("caller");
    let caller = |name, port, calls, hold| {
        let load = Load {
            calls,
            rate: RATE,
            hold,
        };
        Caller::start(bed.caller(), &dir, name, port, bed.service(), load).unwrap()
    };
    let short = caller("short", 5070, SHORT_CALLS, SHORT_HOLD);
    let t0 = Instant::now();
    let long = caller("caller", 5060, CALLS, HOLD);
    let meter = rtp_on(bed, &long, CALLS);
    wait_status(bed, 1, "holding every call", secs(10), calls_are(ALL));
    assert!(
        t0.elapsed() < SHORT_HOLD - secs(2),
        "set-up too slow: the short calls would end before the kill"
    );
    Calls {
        member,
        short,
        long,
        meter,
        t0,
    }
}

/// SIGKILL to A; keepalived moves the VIP to B and promotes it: one takeover, every record
/// held in full.
fn kill_the_active(bed: &mut HaBed) {
    let killed = Instant::now();
    bed.kill_node(0).unwrap();
    let b = wait_status(bed, 1, "promoted", secs(5), role_is("active"));
    let promoted = killed.elapsed();
    assert_eq!(bed.vip_holder().unwrap(), Some(1), "B holds the VIP");
    println!(
        "ha_failover: node B active {} after node A was killed: {b}",
        ms(promoted)
    );
    assert_eq!(sample(bed, 1, "ferrovox_ha_takeovers_total"), 1.0);
    let failed = "ferrovox_ha_records_total{result=\"failed\"}";
    assert_eq!(
        sample(bed, 1, failed),
        0.0,
        "B could not hold some calls in full"
    );
}

/// A started again: standby, holding the long calls (still up) and none of the short ones
/// (ended while it was away).
fn restart_the_old_active(bed: &mut HaBed) {
    bed.start_node(0, NodeRole::Standby).unwrap();
    let a = wait_status(bed, 0, "standby holding the calls up", secs(8), |v| {
        v["role"] == "standby" && v["calls"] == u64::from(CALLS)
    });
    println!("ha_failover: node A back as standby: {a}");
}

/// B kept the VIP and its role; A, back, relayed nothing and took nothing over.
fn check_no_call_taken_back(bed: &HaBed) {
    assert_eq!(bed.vip_holder().unwrap(), Some(1), "B kept the VIP");
    wait_status(bed, 1, "still active", secs(1), role_is("active"));
    let relayed = "ferrovox_media_packets_relayed_total";
    assert_eq!(
        sample(bed, 0, relayed),
        0.0,
        "A relayed media after its return"
    );
    assert_eq!(sample(bed, 0, "ferrovox_ha_takeovers_total"), 0.0);
    assert_eq!(sample(bed, 0, "ferrovox_ha_active"), 0.0);
}

/// Scenarios 1, 2 and 4 of issue 10 in one run (one bed, one set of calls).
#[test]
fn calls_survive_the_active_killed_and_the_old_active_rejoins_as_standby() {
    if !needs_met() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut bed = pair("fvha1");
    let mut c = place_calls(&bed);
    kill_the_active(&mut bed);
    // The short calls end while A is away: their BYEs go through B.
    let short = finish(&mut c.short, secs(30));
    restart_the_old_active(&mut bed);
    assert!(
        c.t0.elapsed() < HOLD - secs(1),
        "A's return took until the BYEs"
    );
    std::thread::sleep((HOLD - secs(1)).saturating_sub(c.t0.elapsed()));
    let gaps = c.meter.stop().unwrap();
    print_gaps(&gaps);
    check_no_call_taken_back(&bed);

    let r = c.long.wait(secs(40)).unwrap();
    let calls = c.member.calls();
    println!(
        "ha_failover: calls lost: {}; the member answered {} BYEs of {} calls",
        u64::from(ALL).saturating_sub(r.stats.successful + short.stats.successful),
        calls.byes.len(),
        calls.invites.len()
    );
    let tails = format!("{}\n{}", c.long.tail(), c.member.tail());
    assert!(r.all_succeeded(), "calls: {}\n{tails}", r.summary());
    assert_eq!(calls.byes.len(), ALL as usize, "{tails}");
    check_gaps(&gaps);
    wait_status(&bed, 0, "no call left", secs(5), |v| {
        v["role"] == "standby" && v["calls"] == 0
    });
    wait_status(&bed, 1, "no call left", secs(5), |v| {
        v["role"] == "active" && v["calls"] == 0
    });
}

/// Scenario 3 of issue 10.
#[test]
fn redis_lost_during_calls_is_counted_and_the_standby_catches_up_after_it_returns() {
    if !needs_met() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: u32 = 100;
    let mut bed = pair("fvha2");
    let _member = Member::start(bed.member(), &bed.dir().join("member")).unwrap();
    let load = Load {
        calls: N,
        rate: RATE,
        hold: secs(12),
    };
    let mut caller = Caller::start(
        bed.caller(),
        &bed.dir().join("caller"),
        "caller",
        5060,
        bed.service(),
        load,
    )
    .unwrap();
    relay_addresses(&caller, (N / 4) as usize, secs(10));
    bed.stop_redis();
    relay_addresses(&caller, N as usize, secs(15));
    let failed = wait_for("failed pipelines counted", secs(5), || {
        let body = bed.scrape(0)?;
        Ok(family_sum(&body, "ferrovox_ha_failed_pipelines_total").filter(|&n| n > 0.0))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", bed.node(0).log_tail(30)));
    wait_status(&bed, 0, "Redis down", secs(5), |v| {
        v["redis"] == "down" && v["role"] == "active"
    });
    println!("ha_failover: Redis down: {failed} failed pipelines on the active; every call set up");

    bed.start_redis().unwrap();
    let caught_up = Instant::now();
    wait_status(&bed, 1, "caught up", secs(10), |v| {
        v["redis"] == "up" && v["calls"] == u64::from(N)
    });
    println!(
        "ha_failover: standby holds all {N} calls {} after Redis returned",
        ms(caught_up.elapsed())
    );
    // A reconnects on its own schedule (a backoff of up to 2 s), which may come after B is
    // already back to every call (when B held them all before Redis went).
    wait_for("A's re-publish", secs(10), || {
        let n = sample(&bed, 0, "ferrovox_ha_republished_total");
        Ok((n >= 1.0).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", bed.node(0).log_tail(30)));
    // What B caught up on is enough to take every call over.
    bed.kill_node(0).unwrap();
    wait_status(&bed, 1, "promoted with every call", secs(5), |v| {
        v["role"] == "active" && v["calls"] == u64::from(N)
    });
    finish(&mut caller, secs(30));
    wait_status(&bed, 1, "no call left", secs(5), calls_are(0));
}

/// Split brain (issue 10, item 4): with calls up through A, B is promoted by hand while A is
/// alive and still holds the service address, so both believe they are active. B's new
/// epoch wins: A sees B's writes of its calls, drops every copy without a word (counted,
/// `lost_to_newer`) and relays nothing more of them, though their media still reaches it.
/// Then A goes, keepalived moves the address to B, and B, which took the calls over, carries
/// their media and BYEs to the end: no call is lost and no call's media stays silent.
#[test]
fn split_brain_the_older_epoch_drops_its_copies_and_relays_nothing() {
    if !needs_met() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: u32 = 20;
    let mut bed = pair("fvha3");
    let member = Member::start(bed.member(), &bed.dir().join("member")).unwrap();
    let load = Load {
        calls: N,
        rate: RATE,
        hold: secs(14),
    };
    let dir = bed.dir().join("caller");
    let mut caller =
        Caller::start(bed.caller(), &dir, "caller", 5060, bed.service(), load).unwrap();
    let meter = rtp_on(&bed, &caller, N);
    wait_status(&bed, 1, "holding every call", secs(10), calls_are(N));

    let b = bed.node(1).ctl().json(&["ha", "promote"]);
    assert_eq!(b["role"], "active", "{b}");
    let a = wait_status(&bed, 0, "its copies dropped", secs(5), |v| {
        v["role"] == "active" && v["lost_to_newer"] == u64::from(N) && v["calls"] == 0
    });
    println!("ha_failover: split brain: A after B's promotion: {a}");
    assert_eq!(
        bed.vip_holder().unwrap(),
        Some(0),
        "the media still reaches A"
    );
    let relayed = "ferrovox_media_packets_relayed_total";
    // The copies' flows leave A's workers a few milliseconds after the decision, and the
    // workers publish their counters on their tick: the count is read after both.
    std::thread::sleep(Duration::from_millis(500));
    let before = sample(&bed, 0, relayed);
    std::thread::sleep(secs(1));
    assert_eq!(
        sample(&bed, 0, relayed),
        before,
        "A relayed media of calls it lost"
    );

    bed.kill_node(0).unwrap();
    wait_for("the VIP on B", secs(5), || {
        Ok((bed.vip_holder()? == Some(1)).then_some(()))
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}
{}",
            bed.node(1).log_tail(30)
        )
    });
    let r = finish(&mut caller, secs(30));
    let gaps = meter.stop().unwrap();
    print_gaps(&gaps);
    assert_eq!(
        gaps.silent_calls(),
        0,
        "every call's media came back through B"
    );
    assert_eq!(r.stats.successful, u64::from(N));
    assert_eq!(member.calls().byes.len(), N as usize, "{}", member.tail());
    wait_status(&bed, 1, "no call left", secs(5), calls_are(0));
}

/// The sum of every sample of `family` in an exposition (its labelled samples, or its one
/// unlabelled sample); `None` if it has none.
fn family_sum(body: &str, family: &str) -> Option<f64> {
    let values: Vec<f64> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(family)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// `family`'s sum on node `i` now; panics if the node does not expose it.
fn sample(bed: &HaBed, i: usize, family: &str) -> f64 {
    let body = bed.scrape(i).unwrap();
    family_sum(&body, family).unwrap_or_else(|| panic!("node {i}: no {family} in\n{body}"))
}

#[test]
fn family_sums_add_labelled_samples_and_read_plain_ones() {
    let body = "# HELP x_total x\nx_total{r=\"a\"} 2\nx_total{r=\"b\"} 3\nx_totals 9\ny 1.5\n";
    assert_eq!(family_sum(body, "x_total"), Some(5.0));
    assert_eq!(family_sum(body, "y"), Some(1.5));
    assert_eq!(family_sum(body, "z"), None);
}
