//! Media anchoring at its edges, end to end: the real `ferrovox` binary anchors sipp calls on
//! its own relay in-process while tcpdump records every datagram of the run's port block on
//! `lo`. Each test reads the capture (and asks the daemon over ng) for what its edge must
//! show: failover keeps the media plan, a silent call is ended with a BYE and a Reason to both
//! sides, a call the relay cannot take is refused before any member sees it, the pool-to-carrier
//! route anchors with the interfaces swapped, and ng calls live beside anchored ones without
//! sharing a port or a key. After every call the relay holds no session and its ports are free.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::analysis::{self, Expect, Report, Roles};
use e2e::capture::Capture;
use e2e::daemon::{int_at, Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::netns::Netns;
use e2e::ng::CallState;
use e2e::pcap::Datagram;
use e2e::peer::{self, Anchored, Peer};
use e2e::ports::{busy_ports, PortBlock, LOOPBACK};
use e2e::process::{tail, wait_for, Process};
use e2e::rtp::{frames, ulaw_tone, RtpView};
use e2e::sip::{SipMessage, StartLine};
use e2e::tools::{self, SIPP, TCPDUMP};
use ng::{Command as NgCommand, OwnedValue, RequestBuilder};

const TEST: &str = "anchored_edges";

/// Tone the callers stream (Hz; prime to 50, see `ulaw_tone`).
const UAC_TONE: f64 = 443.0;
/// Tone the members stream.
const UAS_TONE: f64 = 1009.0;
/// How long sipp waits for anything before it gives up on its own.
const SIPP_TIMEOUT: Duration = Duration::from_secs(25);
/// How long a test waits for one sipp side to end.
const SIDE_LIMIT: Duration = Duration::from_secs(30);

/// INVITE with SDP, 200, ACK, G.711 from `tone.pcmu` for the hold time, BYE.
const UAC_RTP: &str = include_str!("../sipp/uac.xml");
/// 180, 200 with SDP, ACK, G.711 from `tone.pcmu` until the BYE.
const UAS_RTP: &str = include_str!("../sipp/uas.xml");
/// One final refusal (`-set code`).
const UAS_REJECT: &str = include_str!("../sipp/uas_reject.xml");
/// 100, 180, 200 with SDP, ACK, BYE; no RTP.
const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");
/// An answered call held for the hold time; no RTP.
const UAC_CALL: &str = include_str!("../sipp/uac_call.xml");
/// A call that must be refused with 503.
const UAC_EXPECT_503: &str = include_str!("../sipp/uac_expect_503.xml");
/// A call whose SDP has an unreadable m= line; it must be refused with 488.
const UAC_BAD_SDP: &str = include_str!("../sipp/uac_bad_sdp.xml");
/// An answered call with no RTP that waits for the proxy's BYE with its Reason.
const UAC_TIMEOUT: &str = include_str!("../sipp/uac_media_timeout.xml");
/// A member answering a call with no RTP that waits for the proxy's BYE with its Reason.
const UAS_TIMEOUT: &str = include_str!("../sipp/uas_media_timeout.xml");

/// The Reason of a BYE the proxy sends when the relay ended the call for lack of RTP.
const NO_RTP_REASON: &str = "Q.850;cause=102;text=\"timeout_no_rtp\"";

/// One test's setting: its port block, its directory and the capture of the block.
struct Bed {
    sipp: PathBuf,
    ports: PortBlock,
    dir: Option<tempfile::TempDir>,
    capture: Option<Capture>,
}

impl Bed {
    /// Takes a port block and starts the capture; `None` when a need is opted out.
    fn new(name: &str) -> Option<Bed> {
        if !need::met(TEST, &[Need::Sipp, Need::Tcpdump]) {
            return None;
        }
        let sipp = tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"));
        let tcpdump = tools::find(TCPDUMP).unwrap_or_else(|e| panic!("{e}"));
        let ports = PortBlock::take().unwrap();
        let dir = tempfile::Builder::new()
            .prefix(&format!("anchored-edges-{name}."))
            .tempdir()
            .unwrap();
        let capture = Capture::start(&tcpdump, ports.all(), dir.path(), secs(5)).unwrap();
        Some(Bed {
            sipp,
            ports,
            dir: Some(dir),
            capture: Some(capture),
        })
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// A SIP address of the block on 127.0.0.1 (`offset` from its base, below 100).
    fn sip(&self, offset: u16) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ports.base() + offset))
    }

    fn proxy(&self) -> SocketAddr {
        self.sip(0)
    }

    /// The daemon: relay interfaces `external` and `internal` on 127.0.0.1 with these ports,
    /// `[media]` keys, and `sip` (the `[sip]`, `[[set]]` and `[[route]]` sections).
    fn daemon(
        &self,
        ext: RangeInclusive<u16>,
        int: RangeInclusive<u16>,
        media: &[(&str, &str)],
        sip: &str,
    ) -> Daemon {
        let mut cfg = DaemonConfig::new(self.ports.ng())
            .interface("external", *ext.start(), *ext.end())
            .interface("internal", *int.start(), *int.end());
        for (k, v) in media {
            cfg = cfg.media(k, v);
        }
        Daemon::start(&cfg.raw(sip)).unwrap()
    }

    /// Starts a sipp side in its own directory under the bed's.
    fn side(&self, spec: SideSpec) -> Side {
        Side::start(&self.sipp, self.dir(), spec)
    }

    /// Stops the capture once the last packets have landed; every datagram it saw.
    fn datagrams(&mut self) -> Vec<Datagram> {
        std::thread::sleep(Duration::from_millis(300));
        self.capture.take().unwrap().stop(secs(5)).unwrap()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("E2E_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("anchored_edges: run files kept in {}", dir.keep().display());
            }
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One sipp process of a test.
struct SideSpec {
    /// Its name (directory and files).
    name: &'static str,
    /// The scenario text.
    xml: &'static str,
    /// Its address (SIP and media).
    ip: Ipv4Addr,
    /// Its SIP port.
    port: u16,
    /// Its media port (`-mp`).
    media_port: u16,
    /// The tone written to `tone.pcmu` in its directory.
    tone: f64,
    /// More sipp arguments.
    args: Vec<String>,
    /// A caller: where its one call goes and how long it is held. `None`: a member (UAS).
    call: Option<(SocketAddr, Duration)>,
}

impl SideSpec {
    /// A member on 127.0.0.1:`port` playing `xml`, taking one call.
    fn member(name: &'static str, xml: &'static str, port: u16, media_port: u16) -> SideSpec {
        SideSpec {
            name,
            xml,
            ip: Ipv4Addr::LOCALHOST,
            port,
            media_port,
            tone: UAS_TONE,
            args: Vec::new(),
            call: None,
        }
    }

    /// A caller on 127.0.0.1:`port` placing one call of `xml` to `target`, held `hold`.
    fn caller(
        name: &'static str,
        xml: &'static str,
        (port, media_port): (u16, u16),
        target: SocketAddr,
        hold: Duration,
    ) -> SideSpec {
        SideSpec {
            tone: UAC_TONE,
            call: Some((target, hold)),
            ..SideSpec::member(name, xml, port, media_port)
        }
    }
}

/// A running sipp process, killed (with its group) on drop.
struct Side {
    name: &'static str,
    process: Process,
    dir: PathBuf,
}

impl Side {
    /// Starts `spec` in `root/<name>`; a member is waited for until its SIP port is bound.
    fn start(sipp: &Path, root: &Path, spec: SideSpec) -> Side {
        let dir = root.join(spec.name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tone.pcmu"), ulaw_tone(spec.tone, 8000.0)).unwrap();
        let xml = dir.join(format!("{}.xml", spec.name));
        std::fs::write(&xml, spec.xml).unwrap();
        let ip = spec.ip.to_string();
        let mut cmd = Command::new(sipp);
        cmd.current_dir(&dir)
            .arg("-sf")
            .arg(&xml)
            .args(["-i", &ip, "-mi", &ip, "-nostdin", "-aa", "-m", "1"])
            .args(["-p", &spec.port.to_string()])
            .args(["-mp", &spec.media_port.to_string()])
            .args(["-timeout", &format!("{}s", SIPP_TIMEOUT.as_secs())])
            .args(["-timeout_error", "-trace_err", "-trace_msg", "-trace_logs"])
            .args(["-error_file", "errors.log", "-message_file", "messages.log"])
            .args(["-log_file", "calls.log"])
            .args(&spec.args);
        if let Some((target, hold)) = spec.call {
            cmd.args(["-r", "1", "-rp", "1000", "-l", "1", "-s", "edges"])
                .args(["-d", &hold.as_millis().to_string()])
                .arg(target.to_string());
        }
        let name = format!("sipp {}", spec.name);
        let mut process = Process::spawn(&name, cmd, &dir.join("out.log")).unwrap();
        if spec.call.is_none() {
            let bound = SocketAddr::from((spec.ip, spec.port));
            wait_for(&format!("{name} to listen on {bound}"), secs(5), || {
                process.ensure_running()?;
                Ok(UdpSocket::bind(bound).is_err().then_some(()))
            })
            .unwrap();
        }
        Side {
            name: spec.name,
            process,
            dir,
        }
    }

    /// Waits at most `limit` for sipp to exit; `Err` with its output unless it exited 0
    /// (every call of its scenario succeeded).
    fn finish(&mut self, limit: Duration) -> Result<(), String> {
        match self.process.wait_timeout(limit) {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("sipp {} failed ({s})\n{}", self.name, self.tail())),
            Err(e) => Err(format!("sipp {}: {e}\n{}", self.name, self.tail())),
        }
    }

    /// The end of its output and error log.
    fn tail(&self) -> String {
        format!(
            "--- {0}/out.log:\n{1}\n--- {0}/errors.log:\n{2}",
            self.dir.display(),
            tail(&self.dir.join("out.log"), 20),
            tail(&self.dir.join("errors.log"), 15)
        )
    }
}

/// Waits for every side in order; panics with the failures, the daemon's log tail included.
fn finish_all(sides: &mut [&mut Side], d: &Daemon) {
    let failures: Vec<String> = sides
        .iter_mut()
        .filter_map(|s| s.finish(SIDE_LIMIT).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n--- ferrovox log:\n{}",
        failures.join("\n"),
        d.log_tail(40)
    );
}

/// A SIP message of the capture, with its text.
struct Sip<'a> {
    d: &'a Datagram,
    msg: SipMessage,
    text: &'a str,
}

impl Sip<'_> {
    /// The value of the first header field `name` (case-insensitive; no compact forms).
    fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn is_request(&self, method: &str) -> bool {
        self.msg.is_request(method)
    }

    /// A response to an INVITE with this code.
    fn is_invite_response(&self, code: u16) -> bool {
        self.msg.start == StartLine::Response(code) && self.msg.cseq_method == "INVITE"
    }
}

/// The SIP messages of a capture, in order.
fn sip_messages(datagrams: &[Datagram]) -> Vec<Sip<'_>> {
    datagrams
        .iter()
        .filter_map(|d| {
            let msg = SipMessage::parse(&d.payload)?;
            let text = std::str::from_utf8(&d.payload).ok()?;
            Some(Sip { d, msg, text })
        })
        .collect()
}

/// The Call-IDs of the INVITEs sent from `src` to `dst`.
fn invites(sip: &[Sip<'_>], src: SocketAddr, dst: SocketAddr) -> BTreeSet<String> {
    sip.iter()
        .filter(|m| m.is_request("INVITE") && m.d.src == src && m.d.dst == dst)
        .map(|m| m.msg.call_id.clone())
        .collect()
}

/// The one Call-ID `caller` placed (its INVITE to the proxy).
fn call_of(sip: &[Sip<'_>], caller: SocketAddr, proxy: SocketAddr) -> String {
    let ids = invites(sip, caller, proxy);
    assert_eq!(ids.len(), 1, "INVITEs from {caller}: {ids:?}");
    ids.into_iter().next().unwrap()
}

/// The capture checks of the anchored-call harness for one call from `uac` to member `uas`
/// through `proxy`: SDP endpoints per side inside their relay ranges, RTP both ways through
/// the relay with the other side's SSRCs and payloads, nothing reaching an endpoint from
/// anywhere else.
fn check_media(
    datagrams: &[Datagram],
    roles: Roles,
    (told_uac, told_uas): (RangeInclusive<u16>, RangeInclusive<u16>),
    hold: Duration,
) -> Report {
    let expect = Expect {
        calls: 1,
        answered: true,
        early_media: false,
        // A quarter of what the hold time carries at 50 packets/s.
        min_packets: usize::try_from(hold.as_millis() / 80).unwrap(),
        external: told_uac,
        internal: told_uas,
        uac_frames: frames(&ulaw_tone(UAC_TONE, 8000.0)),
        uas_frames: frames(&ulaw_tone(UAS_TONE, 8000.0)),
    };
    let report = analysis::check(datagrams, &roles, &expect);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    for (id, c) in &report.calls {
        let h = report.hops.get(id).copied().unwrap_or_default();
        eprintln!(
            "call {id}: UAC told {:?}, UAS told {:?}; RTP uac->relay {} relay->uas {} \
             uas->relay {} relay->uac {}",
            c.uac_answer,
            c.uas_offer,
            h.uac_to_relay,
            h.relay_to_uas,
            h.uas_to_relay,
            h.relay_to_uac
        );
    }
    report
}

/// Within 5 s: ng `query` no longer finds any of the anchored `calls` (`sip <Call-ID>`), the
/// relay holds no session and no port pair, and every port of `ranges` can be bound again.
fn assert_released(d: &Daemon, calls: &[&str], ranges: &[RangeInclusive<u16>]) {
    let mut left: Vec<String> = Vec::new();
    let done = wait_for("the relay to release every call", secs(5), || {
        left.clear();
        for id in calls {
            if d.ng().query(&format!("sip {id}"))? == CallState::Present {
                left.push(format!("ng query still finds \"sip {id}\""));
            }
        }
        let s = d.statistics()?;
        for key in ["sessionsown", "portpairsinuse"] {
            let n = int_at(&s, &["currentstatistics", key]);
            if n != Some(0) {
                left.push(format!("statistics {key} = {n:?}"));
            }
        }
        let busy: Vec<u16> = ranges.iter().flat_map(|r| busy_ports(r.clone())).collect();
        if !busy.is_empty() {
            left.push(format!("relay ports still bound: {busy:?}"));
        }
        Ok(left.is_empty().then_some(()))
    });
    assert!(done.is_ok(), "{left:#?}\n{}", d.log_tail(30));
}

/// `[sip]` on the bed's proxy port (UDP) and one anchored set `pool` with these members
/// (callers told `external`, members `internal`); `set` adds keys to the set.
fn pool_config(bed: &Bed, set: &str, members: &[String]) -> String {
    let mut toml = format!(
        "[sip]\nlisten = [\"{}\"]\ntransports = [\"udp\"]\n\n\
         [[set]]\nname = \"pool\"\n{set}\n\n\
         [set.media]\ncaller_interface = \"external\"\nmember_interface = \"internal\"\n",
        bed.proxy()
    );
    for m in members {
        toml.push_str(&format!("\n[[set.member]]\n{m}\n"));
    }
    toml
}

/// Failover keeps the media plan: the first member (priority 0) refuses with 503, the proxy
/// tries the second with the same relay address and port in the INVITE's SDP, the call
/// completes with RTP both ways through the relay, and nothing but the INVITE transaction
/// ever reaches the first member.
#[test]
fn failover_after_503_offers_the_second_member_the_same_relay_endpoint() {
    let Some(mut bed) = Bed::new("failover") else {
        return;
    };
    let p = &bed.ports;
    let (uac, first, second) = (bed.sip(2), bed.sip(8), bed.sip(4));
    let first_media = *p.uas_media().start() + 50;
    let (ext, int) = (p.relay_external(), p.relay_internal());
    let members = [
        format!("uri = \"sip:{first}\"\npriority = 0"),
        format!("uri = \"sip:{second}\"\npriority = 1"),
    ];
    let sip = pool_config(&bed, "algorithm = \"priority\"", &members);
    let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
    let mut refuse = SideSpec::member("first", UAS_REJECT, first.port(), first_media);
    refuse.args = ["-set", "code", "503"].map(String::from).to_vec();
    let refuse = bed.side(refuse);
    let mut answer = bed.side(SideSpec::member(
        "second",
        UAS_RTP,
        second.port(),
        *p.uas_media().start(),
    ));
    let hold = secs(2);
    let mut caller = bed.side(SideSpec::caller(
        "caller",
        UAC_RTP,
        (uac.port(), *p.uac_media().start()),
        bed.proxy(),
        hold,
    ));
    finish_all(&mut [&mut caller, &mut answer], &d);
    drop(refuse);
    let datagrams = bed.datagrams();
    let roles = Roles {
        proxy: bed.proxy(),
        uac,
        uas: second,
    };
    let report = check_media(&datagrams, roles, (ext.clone(), int.clone()), hold);
    let (id, call) = report.calls.iter().next().unwrap();
    let sip = sip_messages(&datagrams);
    // The first member was offered exactly what the second was.
    let to_first: Vec<&Sip<'_>> = sip
        .iter()
        .filter(|m| m.is_request("INVITE") && m.d.dst == first)
        .collect();
    assert!(
        !to_first.is_empty(),
        "the first member never got the INVITE"
    );
    for m in &to_first {
        let offered: BTreeSet<SocketAddr> = m.msg.audio.iter().copied().collect();
        assert_eq!(
            offered, call.uas_offer,
            "the first member was offered {offered:?}, the second {:?}",
            call.uas_offer
        );
    }
    assert!(
        sip.iter()
            .any(|m| m.is_invite_response(503) && m.d.src == first),
        "the first member's 503 is not on the wire"
    );
    // Nothing but SIP ever went to the first member: no datagram on its media ports, and
    // only SIP on its SIP port.
    let toward_first: Vec<&Datagram> = datagrams
        .iter()
        .filter(|d| {
            let media =
                d.dst.ip() == first.ip() && (first_media..=first_media + 1).contains(&d.dst.port());
            media || (d.dst == first && SipMessage::parse(&d.payload).is_none())
        })
        .collect();
    assert!(
        toward_first.is_empty(),
        "{} datagrams other than SIP reached the first member, e.g. {:?}",
        toward_first.len(),
        toward_first.first()
    );
    assert_released(&d, &[id], &[ext, int]);
}

/// The BYEs the proxy sent to `dst` for `call_id`, with their Reason header field.
fn byes_to(sip: &[Sip<'_>], proxy: SocketAddr, dst: SocketAddr) -> Vec<(String, Option<String>)> {
    sip.iter()
        .filter(|m| m.is_request("BYE") && m.d.src == proxy && m.d.dst == dst)
        .map(|m| (m.msg.call_id.clone(), m.header("Reason").map(str::to_owned)))
        .collect()
}

/// A call with no RTP at all is ended by the relay after `[media] timeout_secs = 2`: the
/// proxy sends a BYE to the caller and to the member, each with `Reason: Q.850;cause=102;
/// text="timeout_no_rtp"` (RFC 3326), both answer 200, and the relay then holds no session
/// and no port.
#[test]
fn a_silent_call_gets_a_bye_with_a_reason_to_both_sides_after_the_media_timeout() {
    let Some(mut bed) = Bed::new("timeout") else {
        return;
    };
    let p = &bed.ports;
    let (uac, uas) = (bed.sip(2), bed.sip(4));
    let (ext, int) = (p.relay_external(), p.relay_internal());
    let sip = pool_config(&bed, "", &[format!("uri = \"sip:{uas}\"")]);
    let d = bed.daemon(ext.clone(), int.clone(), &[("timeout_secs", "2")], &sip);
    let mut member = bed.side(SideSpec::member(
        "member",
        UAS_TIMEOUT,
        uas.port(),
        *p.uas_media().start(),
    ));
    let mut caller = bed.side(SideSpec::caller(
        "caller",
        UAC_TIMEOUT,
        (uac.port(), *p.uac_media().start()),
        bed.proxy(),
        Duration::ZERO,
    ));
    finish_all(&mut [&mut caller, &mut member], &d);
    let datagrams = bed.datagrams();
    let sip = sip_messages(&datagrams);
    let id = call_of(&sip, uac, bed.proxy());
    let answered = sip
        .iter()
        .find(|m| m.is_invite_response(200) && m.d.dst == uac)
        .map(|m| m.d.ts)
        .expect("the 200 reached the caller");
    for (who, to) in [("caller", uac), ("member", uas)] {
        let byes = byes_to(&sip, bed.proxy(), to);
        assert!(!byes.is_empty(), "no BYE from the proxy reached the {who}");
        for (call, reason) in &byes {
            assert_eq!(call, &id, "a BYE to the {who} for another call");
            assert_eq!(reason.as_deref(), Some(NO_RTP_REASON), "the {who}'s BYE");
        }
        let first = sip
            .iter()
            .find(|m| m.is_request("BYE") && m.d.dst == to)
            .unwrap()
            .d
            .ts;
        let after = first.saturating_sub(answered);
        eprintln!("BYE to the {who} {after:?} after the answer");
        // timeout_secs = 2: not before it, and well before the 60 s default.
        assert!(
            after >= Duration::from_millis(1500) && after <= secs(8),
            "the {who}'s BYE came {after:?} after the answer"
        );
        assert!(
            sip.iter().any(|m| m.msg.start == StartLine::Response(200)
                && m.msg.cseq_method == "BYE"
                && m.d.src == to),
            "the {who} did not answer the BYE"
        );
    }
    assert_released(&d, &[&id], &[ext, int]);
}

/// With one port pair per interface the relay has room for one call: while it is up, the
/// next INVITE is refused with 503 and a Retry-After before anything is forwarded; an INVITE
/// whose SDP has an unreadable m= line is refused with 488 and a Warning. The member sees
/// neither.
#[test]
fn no_port_left_is_503_with_retry_after_and_a_bad_sdp_is_488_neither_reaching_the_member() {
    let Some(mut bed) = Bed::new("refusals") else {
        return;
    };
    let p = &bed.ports;
    let (uas, bad_from, first_from, second_from) =
        (bed.sip(4), bed.sip(2), bed.sip(8), bed.sip(10));
    let ext = *p.relay_external().start()..=*p.relay_external().start() + 1;
    let int = *p.relay_internal().start()..=*p.relay_internal().start() + 1;
    let sip = pool_config(&bed, "", &[format!("uri = \"sip:{uas}\"")]);
    let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
    let mut member = bed.side(SideSpec::member(
        "member",
        UAS_ANSWER,
        uas.port(),
        *p.uas_media().start(),
    ));
    let mut bad = bed.side(SideSpec::caller(
        "bad_sdp",
        UAC_BAD_SDP,
        (bad_from.port(), *p.uac_media().start()),
        bed.proxy(),
        Duration::ZERO,
    ));
    finish_all(&mut [&mut bad], &d);
    let mut first = bed.side(SideSpec::caller(
        "first",
        UAC_CALL,
        (first_from.port(), *p.uac_media().start() + 10),
        bed.proxy(),
        secs(3),
    ));
    // The first call holds the only pairs once the relay lists it.
    wait_for("the first call on the relay", secs(5), || {
        Ok(d.ng()
            .list(10)?
            .iter()
            .any(|k| k.starts_with("sip "))
            .then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    let mut second = bed.side(SideSpec::caller(
        "second",
        UAC_EXPECT_503,
        (second_from.port(), *p.uac_media().start() + 20),
        bed.proxy(),
        Duration::ZERO,
    ));
    finish_all(&mut [&mut second, &mut first, &mut member], &d);
    let datagrams = bed.datagrams();
    let sip = sip_messages(&datagrams);
    let (bad_id, first_id, second_id) = (
        call_of(&sip, bad_from, bed.proxy()),
        call_of(&sip, first_from, bed.proxy()),
        call_of(&sip, second_from, bed.proxy()),
    );
    assert_eq!(
        invites(&sip, bed.proxy(), uas),
        BTreeSet::from([first_id.clone()]),
        "the member must see the first call's INVITE only"
    );
    let final_to = |to: SocketAddr, code: u16| {
        sip.iter()
            .find(|m| m.is_invite_response(code) && m.d.src == bed.proxy() && m.d.dst == to)
            .unwrap_or_else(|| panic!("no {code} reached {to}\n{}", d.log_tail(30)))
    };
    let busy = final_to(second_from, 503);
    let retry = busy
        .header("Retry-After")
        .unwrap_or_else(|| panic!("{}", busy.text));
    assert!(retry.trim().parse::<u32>().is_ok(), "Retry-After: {retry}");
    let refused = final_to(bad_from, 488);
    let warning = refused
        .header("Warning")
        .unwrap_or_else(|| panic!("{}", refused.text));
    assert!(warning.starts_with("305 "), "Warning: {warning}");
    eprintln!("503 Retry-After: {retry}; 488 Warning: {warning}");
    // Neither refused call ever held relay ports: only the first call is keyed on the relay.
    assert!(bad_id != first_id && second_id != first_id);
    assert_released(&d, &[&bad_id, &first_id, &second_id], &[ext, int]);
}

/// The pool-to-carrier direction: a `[[route]]` with `source_set = "pool"` sends the calls of
/// a pool member (here the caller, on 127.0.0.2) to the `carriers` set, whose `[set.media]`
/// swaps the interfaces: the caller (the pool member) is told the internal relay address,
/// the carrier the external one, and RTP flows both ways through them.
#[test]
fn a_call_from_the_pool_to_a_carrier_is_anchored_with_the_interfaces_swapped() {
    let Some(mut bed) = Bed::new("carrier") else {
        return;
    };
    let p = &bed.ports;
    let pool_ip = Ipv4Addr::new(127, 0, 0, 2);
    let uac = SocketAddr::from((pool_ip, p.uac_sip()));
    let carrier = bed.sip(4);
    let (ext, int) = (p.relay_external(), p.relay_internal());
    let sip = format!(
        "[sip]\nlisten = [\"{proxy}\"]\ntransports = [\"udp\"]\n\n\
         [[set]]\nname = \"pool\"\n\
         [set.media]\ncaller_interface = \"external\"\nmember_interface = \"internal\"\n\
         [[set.member]]\nuri = \"sip:{uac}\"\n\n\
         [[set]]\nname = \"carriers\"\n\
         [set.media]\ncaller_interface = \"internal\"\nmember_interface = \"external\"\n\
         [[set.member]]\nuri = \"sip:{carrier}\"\n\n\
         [[route]]\nname = \"outbound\"\nsource_set = \"pool\"\nset = \"carriers\"\n\n\
         [[route]]\nname = \"inbound\"\nsource_networks = [\"0.0.0.0/0\"]\nset = \"pool\"\n",
        proxy = bed.proxy(),
    );
    let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
    let mut answer = bed.side(SideSpec::member(
        "carrier",
        UAS_RTP,
        carrier.port(),
        *p.uas_media().start(),
    ));
    let hold = secs(2);
    let mut spec = SideSpec::caller(
        "pool_member",
        UAC_RTP,
        (uac.port(), *p.uac_media().start()),
        bed.proxy(),
        hold,
    );
    spec.ip = pool_ip;
    let mut caller = bed.side(spec);
    finish_all(&mut [&mut caller, &mut answer], &d);
    let datagrams = bed.datagrams();
    let roles = Roles {
        proxy: bed.proxy(),
        uac,
        uas: carrier,
    };
    // The caller must be told internal ports, the carrier external ones.
    let report = check_media(&datagrams, roles, (int.clone(), ext.clone()), hold);
    let (id, c) = report.calls.iter().next().unwrap();
    assert!(
        c.uac_answer.iter().all(|a| int.contains(&a.port())),
        "{c:?}"
    );
    assert!(c.uas_offer.iter().all(|a| ext.contains(&a.port())), "{c:?}");
    assert!(
        c.uac_offer.iter().all(|a| a.ip() == IpAddr::V4(pool_ip)),
        "{c:?}"
    );
    assert_released(&d, &[id], &[ext, int]);
}

/// Every `local port` in an ng `query` reply (both legs, RTP and RTCP).
fn local_ports(v: &OwnedValue, out: &mut BTreeSet<u16>) {
    if let Some(items) = v.as_dict() {
        for (k, v) in items {
            if k.as_slice() == b"local port" {
                if let Some(p) = v.as_int().and_then(|p| u16::try_from(p).ok()) {
                    out.insert(p);
                }
            }
            local_ports(v, out);
        }
    } else if let Some(items) = v.as_list() {
        for v in items {
            local_ports(v, out);
        }
    }
}

/// RTP from `from` to the relay at `to` reaches `at`, coming from the relay.
fn relayed(from: &Peer, to: SocketAddr, at: &Peer, ssrc: u32) {
    let payload = [0xffu8; 160];
    for seq in 0..5u16 {
        from.send(&peer::rtp(seq, u32::from(seq) * 160, ssrc, &payload), to)
            .unwrap();
    }
    let got = at.expect(secs(2), "RTP of the ng call").unwrap();
    assert_eq!(RtpView::parse(&got.data).map(|r| r.ssrc), Some(ssrc));
}

/// ng beside anchoring in one daemon: while an anchored call streams, an ng offer/answer for
/// another call works (RTP relayed both ways) on ports none of which the anchored call holds;
/// an ng `delete` (and `query`) of the anchored call's plain Call-ID does not find it, and
/// the anchored call goes on undisturbed to its BYE.
#[test]
fn ng_calls_share_the_daemon_with_anchored_calls_but_no_port_and_no_key() {
    let Some(mut bed) = Bed::new("ng") else {
        return;
    };
    let p = &bed.ports;
    let (uac, uas) = (bed.sip(2), bed.sip(4));
    let (ext, int) = (p.relay_external(), p.relay_internal());
    let sip = pool_config(&bed, "", &[format!("uri = \"sip:{uas}\"")]);
    let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
    let mut member = bed.side(SideSpec::member(
        "member",
        UAS_RTP,
        uas.port(),
        *p.uas_media().start(),
    ));
    let hold = secs(4);
    let mut caller = bed.side(SideSpec::caller(
        "caller",
        UAC_RTP,
        (uac.port(), *p.uac_media().start()),
        bed.proxy(),
        hold,
    ));
    // The anchored call, once both legs have their ports.
    let (key, anchored_ports) = wait_for("the anchored call on the relay", secs(5), || {
        let Some(key) = d.ng().list(10)?.into_iter().find(|k| k.starts_with("sip ")) else {
            return Ok(None);
        };
        let reply = d
            .ng()
            .request(&RequestBuilder::new(NgCommand::Query).call_id(key.as_str()))?;
        let mut ports = BTreeSet::new();
        local_ports(&reply, &mut ports);
        Ok((ports.len() >= 4).then_some((key, ports)))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    let plain = key.strip_prefix("sip ").unwrap().to_owned();

    // An ng call beside it, with media both ways.
    let (a, b) = (
        Peer::bind("ng caller").unwrap(),
        Peer::bind("ng callee").unwrap(),
    );
    let ng_call = Anchored::call(d.ng(), "edges-ng-call", a.addr(), b.addr()).unwrap();
    ng_call.settle(d.ng()).unwrap();
    relayed(&a, ng_call.relay_for_a, &b, 0x1111_0001);
    relayed(&b, ng_call.relay_for_b, &a, 0x2222_0002);
    let ng_ports: BTreeSet<u16> = [ng_call.relay_for_a, ng_call.relay_for_b]
        .iter()
        .flat_map(|e| [e.port(), e.port() | 1])
        .collect();
    assert!(
        ng_ports.is_disjoint(&anchored_ports),
        "ng call ports {ng_ports:?} shared with the anchored call's {anchored_ports:?}"
    );

    // The plain Call-ID names no call: delete and query refuse it, the anchored call stays.
    let del = d
        .ng()
        .request(&RequestBuilder::new(NgCommand::Delete).call_id(plain.as_str()))
        .unwrap();
    let result = del.get("result").and_then(OwnedValue::as_str);
    assert_eq!(result, Some("error"), "ng delete of {plain:?}: {del:?}");
    assert!(matches!(
        d.ng().query(&plain).unwrap(),
        CallState::Unknown(_)
    ));
    assert_eq!(d.ng().query(&key).unwrap(), CallState::Present);
    let deleted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();

    finish_all(&mut [&mut caller, &mut member], &d);
    let datagrams = bed.datagrams();
    let roles = Roles {
        proxy: bed.proxy(),
        uac,
        uas,
    };
    let report = check_media(&datagrams, roles, (ext.clone(), int.clone()), hold);
    let c = report
        .calls
        .get(&plain)
        .unwrap_or_else(|| panic!("{:?}", report.calls));
    // Media kept crossing the relay both ways after the ng delete.
    let after = |from: &BTreeSet<SocketAddr>, to: &BTreeSet<SocketAddr>| {
        datagrams
            .iter()
            .filter(|x| x.ts > deleted_at && from.contains(&x.src) && to.contains(&x.dst))
            .count()
    };
    let (to_uac, to_uas) = (
        after(&c.uac_answer, &c.uac_offer),
        after(&c.uas_offer, &c.uas_answer),
    );
    assert!(
        to_uac > 25 && to_uas > 25,
        "after the ng delete: relay->uac {to_uac}, relay->uas {to_uas}"
    );
    let reply = ng_call.delete(d.ng()).unwrap();
    assert_eq!(reply.get("result").and_then(OwnedValue::as_str), Some("ok"));
    assert_released(&d, &[&plain], &[ext, int]);
}

/// A RIFF/WAVE file (PCM, 16-bit, mono, 8 kHz) of `seconds` of the very samples that
/// `ulaw_tone(freq, amp)` encodes, so that a standard G.711 encoder sends its frames.
fn tone_wav(freq: f64, amp: f64, seconds: u32) -> Vec<u8> {
    let samples = 8000 * seconds;
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16_000u32.to_le_bytes()); // bytes per second
    w.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    w.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..samples {
        let t = f64::from(n % 8000) / 8000.0;
        let s = (amp * (2.0 * std::f64::consts::PI * freq * t).sin()).round();
        #[allow(clippy::cast_possible_truncation)] // clamped to the i16 range
        let s = s.clamp(-32768.0, 32767.0) as i16;
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// Starts baresip in `root/<name>` as `edges@127.0.0.1` (the Request-URI user of every call
/// here, which baresip matches to its account when called) on `sip`, its RTP on ports from
/// `rtp`, sending the `tone` Hz tone from a WAV file (module aufile), G.711 μ-law only, no
/// registration; `account` adds account parameters, `args` command-line options.
fn baresip(
    root: &Path,
    name: &str,
    (sip, rtp): (SocketAddr, u16),
    tone: f64,
    account: &str,
    args: &[&str],
) -> Process {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("tone.wav");
    std::fs::write(&wav, tone_wav(tone, 8000.0, 30)).unwrap();
    let config = format!(
        "poll_method\tepoll\nsip_listen\t{sip}\naudio_source\taufile,{wav}\n\
         rtp_ports\t{rtp}-{}\nmodule_path\t{}\nmodule\tg711.so\nmodule\taufile.so\n\
         module_app\taccount.so\nmodule_app\tmenu.so\n",
        rtp + 9,
        tools::BARESIP_MODULES,
        wav = wav.display(),
    );
    std::fs::write(dir.join("config"), config).unwrap();
    let accounts = format!("<sip:edges@127.0.0.1>;regint=0;audio_codecs=PCMU{account}\n");
    std::fs::write(dir.join("accounts"), accounts).unwrap();
    let bin = tools::find(tools::BARESIP).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir).arg("-f").arg(&dir).args(args);
    let mut process =
        Process::spawn(&format!("baresip {name}"), cmd, &dir.join("out.log")).unwrap();
    wait_for(
        &format!("baresip {name} to listen on {sip}"),
        secs(5),
        || {
            process.ensure_running()?;
            Ok(UdpSocket::bind(sip).is_err().then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&dir.join("out.log"), 20)));
    process
}

/// Runs `body` on a thread inside a network namespace of its own holding only loopback, with
/// the default route on it: baresip writes the address of the default route's interface
/// into its SDP, and there that is 127.0.0.1 (in the root namespace it would be a real
/// interface's). Everything `body` starts (daemon, sipp, baresip, tcpdump) lives there too.
fn in_netns(name: &str, body: impl FnOnce() + Send + 'static) {
    let ns = Netns::create(&format!("fvx-{name}-{}", std::process::id())).unwrap();
    ns.exec(&["ip", "route", "add", "default", "dev", "lo"])
        .unwrap();
    let inside = ns.spawn_inside(move || {
        body();
        Ok(())
    });
    match inside.join() {
        Ok(result) => result.unwrap(),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The RTP payloads sent from `from` to `to`, and how many of them are frames of `tone`.
fn payloads(
    datagrams: &[Datagram],
    from: &BTreeSet<SocketAddr>,
    to: &BTreeSet<SocketAddr>,
    tone: f64,
) -> (std::collections::HashSet<Vec<u8>>, usize, usize) {
    let known = frames(&ulaw_tone(tone, 8000.0));
    let sent: Vec<Vec<u8>> = datagrams
        .iter()
        .filter(|d| from.contains(&d.src) && to.contains(&d.dst))
        .filter_map(|d| RtpView::parse(&d.payload).map(|r| r.payload.to_vec()))
        .collect();
    let of_tone = sent.iter().filter(|p| known.contains(*p)).count();
    let total = sent.len();
    (sent.into_iter().collect(), of_tone, total)
}

/// The capture checks of [`check_media`] for a call with baresip on one side: its frames are
/// what it was seen sending (the relay must deliver exactly those), and most of them must be
/// the tone of its WAV file, encoded.
fn check_with_baresip(
    datagrams: &[Datagram],
    roles: Roles,
    (ext, int): (RangeInclusive<u16>, RangeInclusive<u16>),
    baresip_is_caller: bool,
) -> Report {
    let calls = analysis::calls(datagrams, &roles);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = calls.values().next().unwrap();
    let (from, to, tone) = if baresip_is_caller {
        (&c.uac_offer, &c.uac_answer, UAC_TONE)
    } else {
        (&c.uas_answer, &c.uas_offer, UAS_TONE)
    };
    let (sent, of_tone, total) = payloads(datagrams, from, to, tone);
    eprintln!("baresip sent {total} RTP packets, {of_tone} of them frames of its {tone} Hz file");
    assert!(
        total > 0 && of_tone * 10 >= total * 8,
        "baresip's audio is not its file's tone: {of_tone} of {total} packets"
    );
    let hold = secs(2);
    let expect = Expect {
        calls: 1,
        answered: true,
        early_media: false,
        min_packets: usize::try_from(hold.as_millis() / 80).unwrap(),
        external: ext,
        internal: int,
        uac_frames: if baresip_is_caller {
            sent.clone()
        } else {
            frames(&ulaw_tone(UAC_TONE, 8000.0))
        },
        uas_frames: if baresip_is_caller {
            frames(&ulaw_tone(UAS_TONE, 8000.0))
        } else {
            sent
        },
    };
    let report = analysis::check(datagrams, &roles, &expect);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    for (id, h) in &report.hops {
        eprintln!("call {id}: {h:?}");
    }
    report
}

/// baresip, a real SIP user agent sending audio from a WAV file, calls through Ferrovox to a
/// sipp member streaming G.711: the call is anchored (baresip told an `external` relay port,
/// the member an `internal` one), RTP crosses the relay both ways unchanged, baresip's
/// packets carry its file's tone, and baresip's BYE releases the session and its ports.
#[test]
fn baresip_calls_a_sipp_member_through_the_relay_with_audio_from_a_file() {
    if !need::met(TEST, &[Need::Netns, Need::Baresip]) {
        return;
    }
    in_netns("bsc", || {
        let Some(mut bed) = Bed::new("baresip-caller") else {
            return;
        };
        let p = &bed.ports;
        let (ua, uas) = (bed.sip(2), bed.sip(4));
        let (ext, int) = (p.relay_external(), p.relay_internal());
        let sip = pool_config(&bed, "", &[format!("uri = \"sip:{uas}\"")]);
        let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
        let mut member = bed.side(SideSpec::member(
            "member",
            UAS_RTP,
            uas.port(),
            *p.uas_media().start(),
        ));
        let dial = format!("/dial sip:edges@{}", bed.proxy());
        // baresip quits after 4 s, hanging up (BYE) first.
        let mut caller = baresip(
            bed.dir(),
            "caller",
            (ua, *p.uac_media().start()),
            UAC_TONE,
            "",
            &["-e", &dial, "-t", "4"],
        );
        let status = caller.wait_timeout(SIDE_LIMIT).unwrap();
        assert!(
            status.success(),
            "baresip: {status}\n{}",
            tail(caller.log(), 30)
        );
        finish_all(&mut [&mut member], &d);
        let datagrams = bed.datagrams();
        let roles = Roles {
            proxy: bed.proxy(),
            uac: ua,
            uas,
        };
        let report = check_with_baresip(&datagrams, roles, (ext.clone(), int.clone()), true);
        let id = report.calls.keys().next().unwrap();
        assert_released(&d, &[id], &[ext, int]);
    });
}

/// A sipp caller streaming G.711 calls through Ferrovox to baresip as the pool member
/// (answering by itself, audio from a WAV file): anchored both ways, RTP through the relay
/// unchanged, baresip's packets carry its file's tone, and the caller's BYE releases all.
#[test]
fn a_sipp_caller_reaches_baresip_as_the_member_through_the_relay() {
    if !need::met(TEST, &[Need::Netns, Need::Baresip]) {
        return;
    }
    in_netns("bsm", || {
        let Some(mut bed) = Bed::new("baresip-member") else {
            return;
        };
        let p = &bed.ports;
        let (uac, ua) = (bed.sip(2), bed.sip(4));
        let (ext, int) = (p.relay_external(), p.relay_internal());
        let sip = pool_config(&bed, "", &[format!("uri = \"sip:{ua}\"")]);
        let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
        let member = baresip(
            bed.dir(),
            "member",
            (ua, *p.uas_media().start()),
            UAS_TONE,
            ";answermode=auto",
            &["-t", "60"],
        );
        let hold = secs(3);
        let mut caller = bed.side(SideSpec::caller(
            "caller",
            UAC_RTP,
            (uac.port(), *p.uac_media().start()),
            bed.proxy(),
            hold,
        ));
        finish_all(&mut [&mut caller], &d);
        drop(member);
        let datagrams = bed.datagrams();
        let roles = Roles {
            proxy: bed.proxy(),
            uac,
            uas: ua,
        };
        let report = check_with_baresip(&datagrams, roles, (ext.clone(), int.clone()), false);
        let id = report.calls.keys().next().unwrap();
        assert_released(&d, &[id], &[ext, int]);
    });
}

/// A redis-server of the test's own on `port` (no persistence), killed when dropped.
struct Redis {
    _proc: Process,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, port: u16) -> Redis {
        let server = tools::find(tools::REDIS_SERVER).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(server);
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"]);
        let proc = Process::spawn("redis-server", cmd, &dir.join("redis.log")).unwrap();
        let r = Redis { _proc: proc, port };
        wait_for("redis-server", secs(10), || {
            Ok(r.cli(&["PING"]).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        r
    }

    /// Runs redis-cli with `args`; whether it answered, and what (raw).
    fn cli_out(&self, args: &[&str]) -> Option<String> {
        let cli = tools::find(tools::REDIS_CLI).unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new(cli)
            .args(["-p", &self.port.to_string(), "--raw"])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn cli(&self, args: &[&str]) -> bool {
        self.cli_out(args)
            .is_some_and(|o| !o.is_empty() && !o.starts_with("ERR"))
    }
}

/// HA replication of an anchored call (`[ha]` on, a real redis-server): while the call is up,
/// Redis holds its record in the key schema, stamped with the node's epoch, naming the member
/// that took it, each party's hop and the relay ports each side was told (the ports the
/// capture shows the call's SDP used); after the BYE the record is a tombstone.
#[test]
fn an_anchored_call_is_replicated_to_redis_and_tombstoned_after_its_bye() {
    if !need::met(TEST, &[Need::Redis]) {
        return;
    }
    let Some(mut bed) = Bed::new("ha") else {
        return;
    };
    let p = &bed.ports;
    let (uas, from, redis_port) = (bed.sip(4), bed.sip(8), bed.sip(60).port());
    let (ext, int) = (p.relay_external(), p.relay_internal());
    let redis = Redis::start(bed.dir(), redis_port);
    let mut sip = pool_config(&bed, "", &[format!("uri = \"sip:{uas}\"")]);
    sip.push_str(&format!(
        "\n[ha]\nenabled = true\nnode = \"fv-a\"\nstart = \"active\"\nredis = \"redis://127.0.0.1:{redis_port}/0\"\n"
    ));
    let d = bed.daemon(ext.clone(), int.clone(), &[], &sip);
    let uas_media = *p.uas_media().start();
    let mut member = bed.side(SideSpec::member(
        "member",
        UAS_ANSWER,
        uas.port(),
        uas_media,
    ));
    let media = (from.port(), *p.uac_media().start());
    let mut caller = bed.side(SideSpec::caller(
        "caller",
        UAC_CALL,
        media,
        bed.proxy(),
        secs(3),
    ));
    let key = wait_for("the call's record in Redis", secs(5), || {
        let keys = redis.cli_out(&["KEYS", "fv:1:call:*"]).unwrap_or_default();
        Ok(keys.lines().next().map(str::to_owned))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    let rec = redis.cli_out(&["HGET", &key, "rec"]).unwrap();
    let rec = ha::CallRecord::decode(rec.as_bytes()).unwrap_or_else(|e| panic!("{e}: {rec}"));
    assert_eq!(key, ha::schema::call_key(&rec.call_id));
    assert_eq!((rec.stamp.epoch, rec.stamp.node.as_str()), (1, "fv-a"));
    assert_eq!(rec.member.uri, format!("sip:{uas}"));
    assert_eq!(rec.dialog.hops[0].0, from, "the caller's hop");
    assert_eq!(rec.dialog.hops[1].0, uas, "the member's hop");
    let legs = &rec.media[0].legs;
    assert!(
        ext.contains(&legs[0].port) && int.contains(&legs[1].port),
        "{legs:?}"
    );
    assert_eq!(
        legs[1].remote.map(|r| r.port()),
        Some(uas_media),
        "{legs:?}"
    );
    finish_all(&mut [&mut caller, &mut member], &d);
    wait_for("the tombstone", secs(5), || {
        Ok(redis.cli(&["HGET", &key, "dead"]).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    let rec_left = redis.cli_out(&["HEXISTS", &key, "rec"]);
    assert_eq!(rec_left.as_deref(), Some("0"), "the record is gone");
    // The scrape counts both writes (the answer, the end) and the node's epoch.
    let body = e2e::daemon::scrape(d.metrics_addr()).unwrap();
    for line in [
        "ferrovox_ha_writes_total{result=\"written\"} 2",
        "ferrovox_ha_writes_total{result=\"fenced\"} 0",
        "ferrovox_ha_epoch 1",
        "ferrovox_ha_failed_pipelines_total 0",
    ] {
        assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
    }
    let datagrams = bed.datagrams();
    let sipm = sip_messages(&datagrams);
    assert_eq!(call_of(&sipm, from, bed.proxy()), rec.call_id);
}

/// Shared limits across active nodes (`[ha] shared_limits`, a real redis-server): another
/// node's load key, written as that node writes it (`fv:1:load:<node>`, field `<set> <URI>`),
/// says the member holds one call there; with `max_calls = 1` the daemon counts it (members
/// list: `peer_calls`) and refuses a new call with 503 before anything reaches the member.
/// Once that key is gone (it expires when its node dies), a call goes through, and while it is
/// up the daemon's own load key counts it for the other nodes.
#[test]
fn shared_limits_count_another_nodes_calls_toward_max_calls() {
    if !need::met(TEST, &[Need::Redis]) {
        return;
    }
    let Some(mut bed) = Bed::new("shared") else {
        return;
    };
    let p = &bed.ports;
    let (uas, refused_from, from) = (bed.sip(4), bed.sip(8), bed.sip(10));
    let redis_port = bed.sip(60).port();
    let (ext, int) = (p.relay_external(), p.relay_internal());
    let redis = Redis::start(bed.dir(), redis_port);
    let field = format!("pool sip:{uas}");
    assert!(redis.cli(&["HSET", "fv:1:load:fv-b", &field, "1"]));
    let mut sip = pool_config(&bed, "", &[format!("uri = \"sip:{uas}\"\nmax_calls = 1")]);
    sip.push_str(&format!(
        "\n[ha]\nenabled = true\nnode = \"fv-a\"\nstart = \"active\"\nshared_limits = true\n\
         redis = \"redis://127.0.0.1:{redis_port}/0\"\n"
    ));
    let d = bed.daemon(ext, int, &[], &sip);
    let ctl = e2e::ctl::Ctl::new(&d.admin_socket());
    let peer_calls = |ctl: &e2e::ctl::Ctl| ctl.json(&["members", "list"])[0]["peer_calls"].as_u64();
    wait_for("the other node's call counted", secs(10), || {
        Ok((peer_calls(&ctl) == Some(1)).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    let media = *p.uac_media().start();
    let mut refused = bed.side(SideSpec::caller(
        "refused",
        UAC_EXPECT_503,
        (refused_from.port(), media),
        bed.proxy(),
        Duration::ZERO,
    ));
    finish_all(&mut [&mut refused], &d);
    // The other node is gone: its key with it.
    assert!(redis.cli(&["DEL", "fv:1:load:fv-b"]));
    wait_for("the other node's call forgotten", secs(10), || {
        Ok((peer_calls(&ctl) == Some(0)).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    let mut member = bed.side(SideSpec::member(
        "member",
        UAS_ANSWER,
        uas.port(),
        *p.uas_media().start(),
    ));
    let mut caller = bed.side(SideSpec::caller(
        "taken",
        UAC_CALL,
        (from.port(), media + 20),
        bed.proxy(),
        secs(4),
    ));
    wait_for(
        "this node's call published for the others",
        secs(10),
        || {
            let n = redis.cli_out(&["HGET", "fv:1:load:fv-a", &field]);
            Ok((n.as_deref() == Some("1")).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    finish_all(&mut [&mut caller, &mut member], &d);
    let datagrams = bed.datagrams();
    let sipm = sip_messages(&datagrams);
    assert_eq!(
        invites(&sipm, bed.proxy(), uas),
        BTreeSet::from([call_of(&sipm, from, bed.proxy())]),
        "the member saw only the call taken"
    );
}
