//! The anchored soak: the real `ferrovox` binary routes [`CALLS`] sipp calls with SDP at
//! [`RATE`] calls/s to a least-calls pool of three sipp members and anchors the media of every
//! one on its relay, while one member is killed with SIGKILL and started again. Each call
//! draws its own fate in `sipp/uac_soak.xml`: a random hold time, three in ten a hold and an
//! unhold re-INVITE, one in ten G.711 RTP, which the members (`sipp/uas_soak.xml`, sipp
//! `-rtp_echo`) send back.
//!
//! What it shows:
//! - every second, the proxy's anchored dialogs (the members' active calls, admin socket
//!   `members.list`) and the relay's media sessions (ng `statistics`) agree: the dialog count,
//!   read between two session reads, lies within the first session count minus the sessions
//!   released and plus the sessions created between the two reads (the calls set up or torn
//!   down while the three reads ran, counted by the relay itself); nothing else is tolerated;
//! - at the end: no call in progress (no member has an active call, `calls.list` holds no
//!   early or confirmed dialog), no media session, no port pair in use, `ng list` empty, and
//!   every port of both relay ranges can be bound again;
//! - each RTP call's stream (its own SSRC) reached only the member that answered it (its
//!   `ACK` line), and its echo came back to the caller only from the relay port the caller's
//!   SDP answer named: a capture of the members' and the caller's media ports proves it;
//! - the only failed calls are calls that were in progress on the killed member (its INVITE
//!   taken there and no BYE).
//!
//! The relay's two interfaces sit on loopback addresses of their own (127.77.x.1 outside,
//! 127.77.x.2 inside, x from the run's port block) with [`RELAY_PORTS`] ports each, so the
//! few hundred calls up at once never run out of ports. Everything stays on 127.0.0.0/8;
//! every wait is bounded, and the whole test takes about a minute.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use e2e::capture::Capture;
use e2e::daemon::{int_at, Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ng::NgClient;
use e2e::pcap::Datagram;
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::process::wait_for;
use e2e::rtp::{ulaw_tone, RtpView};
use e2e::sipp_pool::{
    CallScenario, MemberCalls, MemberScenario, MemberSpec, Pool, Uac, UacReport, UacSpec,
};
use e2e::tools::{self, SIPP, TCPDUMP};
use ng::OwnedValue;
use serde_json::{json, Value};

const TEST: &str = "anchored_soak";
/// Calls placed.
const CALLS: u32 = 10_000;
/// New calls a second.
const RATE: u32 = 250;
/// Pool members.
const MEMBERS: usize = 3;
/// The member killed (SIGKILL) and started again.
const VICTIM: usize = 1;
/// When it is killed and when it is started again, from the first call.
const KILL_AT: Duration = Duration::from_secs(12);
const RESTART_AT: Duration = Duration::from_secs(24);
/// Ports of each relay interface (half as many port pairs).
const RELAY_PORTS: u16 = 2000;
/// First relay port of each interface.
const RELAY_PORT_MIN: u16 = 20000;
/// How often the dialogs and the sessions are compared.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The longest the caller may run (sipp gives up on its own before: `-timeout`).
const CALLER_LIMIT: Duration = Duration::from_secs(90);
/// The longest the relay may take to be empty after the last call.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The caller's scenario: random hold time, hold/unhold for some calls, RTP for a sample.
const UAC_SOAK: &str = include_str!("../sipp/uac_soak.xml");
/// The members' scenario: answer with SDP, take re-INVITEs, echo RTP (`-rtp_echo`).
const UAS_SOAK: &str = include_str!("../sipp/uas_soak.xml");

/// The test's setting: its port block and directory, the relay's two addresses, the pool and
/// the daemon.
struct Bed {
    sipp: PathBuf,
    ports: PortBlock,
    dir: Option<tempfile::TempDir>,
    /// The relay's outside (caller side) and inside (member side) addresses.
    outside: Ipv4Addr,
    inside: Ipv4Addr,
    pool: Pool,
    daemon: Daemon,
}

impl Bed {
    fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn proxy(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ports.proxy_sip()))
    }

    /// The caller's media port (sipp `-mp`: every RTP stream leaves from it).
    fn caller_media(&self) -> u16 {
        *self.ports.uac_media().start()
    }

    /// Member `i`'s media port (where `-rtp_echo` listens).
    fn member_media(&self, i: usize) -> u16 {
        *self.ports.uas_media().start() + 10 * u16::try_from(i).unwrap()
    }

    fn relay_ports() -> RangeInclusive<u16> {
        RELAY_PORT_MIN..=RELAY_PORT_MIN + (RELAY_PORTS - 1)
    }

    /// The admin socket, connected.
    fn admin(&self) -> Admin {
        Admin::connect(&self.daemon.admin_socket())
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("E2E_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("{TEST}: run files kept in {}", dir.keep().display());
            }
        }
    }
}

/// The relay's two loopback addresses for the block: 127.77.x.1 and 127.77.x.2, x the
/// block's number, so that parallel runs (each with a block of its own) never share one.
fn relay_addresses(ports: &PortBlock) -> (Ipv4Addr, Ipv4Addr) {
    let x = u8::try_from((ports.base() / e2e::ports::BLOCK) % 256).unwrap();
    (Ipv4Addr::new(127, 77, x, 1), Ipv4Addr::new(127, 77, x, 2))
}

/// The ports of `range` that cannot be bound on `ip` right now.
fn busy_on(ip: Ipv4Addr, range: RangeInclusive<u16>) -> Vec<u16> {
    range
        .filter(|p| UdpSocket::bind(SocketAddr::from((ip, *p))).is_err())
        .collect()
}

/// The daemon's config: UDP SIP on the block's proxy port, one least-calls set of `members`
/// anchored from `outside` (callers) to `inside` (members), probed every second.
fn config(ports: &PortBlock, outside: Ipv4Addr, inside: Ipv4Addr, members: &[String]) -> String {
    let range = Bed::relay_ports();
    let mut toml = String::new();
    for (name, ip) in [("outside", outside), ("inside", inside)] {
        toml.push_str(&format!(
            "[[interface]]\nname = \"{name}\"\naddress = \"{ip}\"\nport_min = {}\nport_max = {}\n\n",
            range.start(),
            range.end()
        ));
    }
    // A member that dies after its 180 leaves its call waiting for Timer C: 5 s, not 120.
    // T1 = 2 s: a proxy held up for more than 500 ms on this shared box retransmits the
    // INVITE after the member's 200, and sipp takes that copy for an unexpected message and
    // drops the call (a real UA absorbs it, RFC 3261 17.2.1). down_after = 3: one timed-out
    // request to a live member does not take it out of the pool.
    toml.push_str(&format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\"]\nfr_inv_timeout_secs = 5\n\
         t1_ms = 2000\n\n\
         [sip.flood]\nenabled = false\n\n\
         [[set]]\nname = \"pool\"\nalgorithm = \"least_calls\"\n\n\
         [set.media]\ncaller_interface = \"outside\"\nmember_interface = \"inside\"\n\n\
         [set.health]\ninterval_secs = 1\ntimeout_ms = 500\ndown_after = 3\nup_after = 1\n",
        ports.proxy_sip()
    ));
    for m in members {
        toml.push_str(&format!("\n[[set.member]]\nuri = \"{m}\"\n"));
    }
    toml
}

/// Takes the ports, starts the capture (RTP only: the caller's and the members' media
/// ports, the first 64 bytes of each frame), the members and the daemon.
fn start() -> Option<(Bed, Capture)> {
    if !need::met(TEST, &[Need::Sipp, Need::Tcpdump]) {
        return None;
    }
    let sipp = tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"));
    let tcpdump = tools::find(TCPDUMP).unwrap_or_else(|e| panic!("{e}"));
    let ports = PortBlock::take().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("anchored-soak.")
        .tempdir()
        .unwrap();
    let (outside, inside) = relay_addresses(&ports);
    for ip in [outside, inside] {
        let busy = busy_on(ip, Bed::relay_ports());
        assert!(
            busy.is_empty(),
            "relay ports busy on {ip} before the run: {busy:?}"
        );
    }
    let media = |i: usize| *ports.uas_media().start() + 10 * u16::try_from(i).unwrap();
    let specs: Vec<MemberSpec> = (0..MEMBERS)
        .map(|i| MemberSpec {
            port: ports.base() + 10 + 2 * u16::try_from(i).unwrap(),
            media_port: Some(media(i)),
            scenario: MemberScenario::Script {
                xml: UAS_SOAK,
                args: &["-rtp_echo"],
            },
            lifetime: Duration::from_secs(300),
        })
        .collect();
    let mut filter = format!("udp and (port {}", ports.uac_media().start());
    for i in 0..MEMBERS {
        filter.push_str(&format!(" or port {}", media(i)));
    }
    filter.push(')');
    let capture = Capture::start_filter(&tcpdump, &filter, Some(64), dir.path(), secs(5)).unwrap();
    let pool = Pool::start(&sipp, &dir.path().join("pool"), &specs).unwrap();
    let uris: Vec<String> = pool.members().iter().map(|m| m.uri()).collect();
    // The relay's ranges are on addresses of their own: the interfaces are in `config`.
    let cfg = DaemonConfig::new(ports.ng()).raw(&config(&ports, outside, inside, &uris));
    let daemon = Daemon::start(&cfg).unwrap();
    let bed = Bed {
        sipp,
        ports,
        dir: Some(dir),
        outside,
        inside,
        pool,
        daemon,
    };
    Some((bed, capture))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One connection to the admin socket (one JSON request per line, one answer per line).
struct Admin {
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl Admin {
    fn connect(socket: &Path) -> Admin {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
        stream.set_read_timeout(Some(secs(5))).unwrap();
        Admin {
            reader: BufReader::new(stream),
            next_id: 1,
        }
    }

    /// The `result` of `method`; panics on an error answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.reader.get_mut().write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        let v: Value = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
        assert_eq!(v["id"], json!(id), "{method}: {reply}");
        assert!(v.get("error").is_none(), "{method}: {reply}");
        v["result"].clone()
    }

    /// The calls in progress on every member (early or confirmed anchored dialogs: what
    /// least-calls balancing counts), from one `members.list` answered on the SIP thread.
    fn active_calls(&mut self) -> i64 {
        let page = self.call("members.list", json!({"limit": 50}));
        assert!(
            page["next_cursor"].is_null(),
            "more than 50 members: {page}"
        );
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["active_calls"].as_i64().unwrap())
            .sum()
    }

    /// The dialogs `calls.list` holds that are not ended (every page).
    fn open_dialogs(&mut self) -> Vec<String> {
        let mut open = Vec::new();
        let mut cursor = Value::Null;
        for _page in 0..1000 {
            let mut params = json!({"limit": 500});
            if !cursor.is_null() {
                params["cursor"] = cursor.clone();
            }
            let page = self.call("calls.list", params);
            for c in page["items"].as_array().unwrap() {
                if c["state"] != "ended" {
                    open.push(format!("{} ({})", c["call_id"], c["state"]));
                }
            }
            cursor = page["next_cursor"].clone();
            if cursor.is_null() {
                return open;
            }
        }
        panic!("calls.list: more than 1000 pages");
    }
}

/// The relay's session counters from one ng `statistics`.
#[derive(Debug, Clone, Copy)]
struct Engine {
    /// Sessions held now.
    sessions: i64,
    /// Port pairs in use now.
    pairs: i64,
    /// Sessions created since the start.
    created: i64,
    /// Sessions gone since the start: deleted, or ended by the relay (timeouts).
    gone: i64,
}

impl Engine {
    fn read(ng: &NgClient) -> Engine {
        let s = ng
            .request(&ng::RequestBuilder::new(ng::Command::Statistics))
            .unwrap();
        let at = |path: &[&str]| {
            int_at(&s, path).unwrap_or_else(|| panic!("statistics without {path:?}: {s:?}"))
        };
        let ended: i64 = match e2e::daemon::at(&s, &["totalstatistics", "endedsessions"]) {
            Some(OwnedValue::Dict(items)) => items
                .iter()
                .map(|(_, v)| match v {
                    OwnedValue::Int(n) => *n,
                    _ => 0,
                })
                .sum(),
            other => panic!("statistics: endedsessions is {other:?}"),
        };
        Engine {
            sessions: at(&["currentstatistics", "sessionsown"]),
            pairs: at(&["currentstatistics", "portpairsinuse"]),
            created: at(&["totalstatistics", "managedsessions"]),
            gone: at(&["totalstatistics", "deletedsessions"]) + ended,
        }
    }
}

/// One comparison of the dialogs and the sessions.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Since the first call.
    at: Duration,
    /// Calls in progress on the members (the proxy's count).
    dialogs: i64,
    /// The relay's reads before and after it.
    before: Engine,
    after: Engine,
}

impl Sample {
    /// How far the dialogs are from the sessions read before them.
    fn disagreement(&self) -> i64 {
        (self.dialogs - self.before.sessions).abs()
    }

    /// The tolerance: the sessions that could have been created and released while the three
    /// reads ran, as the relay counted them.
    fn window(&self) -> (i64, i64) {
        (
            self.before.sessions - (self.after.gone - self.before.gone),
            self.before.sessions + (self.after.created - self.before.created),
        )
    }

    /// Within the tolerance.
    fn agrees(&self) -> bool {
        let (lo, hi) = self.window();
        (lo..=hi).contains(&self.dialogs)
    }
}

/// Compares the dialogs and the sessions every [`SAMPLE_EVERY`] until `stop` (at most 200
/// times).
fn sampler(bed: &Bed, t0: Instant, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Sample>> {
    let mut admin = bed.admin();
    let ng = NgClient::new(bed.daemon.ng_addr(), secs(2)).unwrap();
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        for _ in 0..200 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let before = Engine::read(&ng);
            let dialogs = admin.active_calls();
            let after = Engine::read(&ng);
            samples.push(Sample {
                at: t0.elapsed(),
                dialogs,
                before,
                after,
            });
            std::thread::sleep(SAMPLE_EVERY);
        }
        samples
    })
}

/// One call as the caller's one-line-per-message trace shows it (Unix seconds).
#[derive(Debug, Default, Clone)]
struct Call {
    /// The first INVITE sent.
    invite: Option<f64>,
    /// The first 200 to the first INVITE.
    answered: Option<f64>,
    /// The first BYE sent.
    bye: Option<f64>,
    /// A 200 to the BYE came.
    ended: bool,
    /// Final responses other than 2xx, as "CSeq: status line".
    errors: Vec<String>,
}

impl Call {
    fn succeeded(&self) -> bool {
        self.answered.is_some() && self.ended && self.errors.is_empty()
    }
}

/// The calls of a sipp `-trace_shortmsg` file (tab-separated date, time, Unix time, S or R,
/// Call-ID, CSeq, first line), by Call-ID.
fn read_trace(path: &Path) -> BTreeMap<String, Call> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut calls: BTreeMap<String, Call> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [_, _, time, dir, call_id, cseq, first, ..] = f[..] else {
            continue;
        };
        let Ok(t) = time.parse::<f64>() else {
            continue;
        };
        let cseq = cseq.trim_start_matches("CSeq:").trim();
        let c = calls.entry(call_id.to_owned()).or_default();
        let status = first
            .strip_prefix("SIP/2.0 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok());
        match (dir, status) {
            ("S", None) if cseq == "1 INVITE" => {
                c.invite.get_or_insert(t);
            }
            ("S", None) if cseq.ends_with(" BYE") => {
                c.bye.get_or_insert(t);
            }
            ("R", Some(200)) if cseq == "1 INVITE" => {
                c.answered.get_or_insert(t);
            }
            ("R", Some(200)) if cseq.ends_with(" BYE") => c.ended = true,
            ("R", Some(code)) if code >= 300 => c.errors.push(format!("{cseq}: {first}")),
            _ => {}
        }
    }
    calls
}

/// The calls that streamed RTP, from the caller's log lines
/// `RTP <Call-ID> c=IN IP4 <address> m=audio <port>`: the relay endpoint each was told.
fn read_rtp_calls(path: &Path) -> BTreeMap<String, SocketAddr> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let ["RTP", id, "c=IN", "IP4", ip, "m=audio", port] = w[..] else {
            panic!("unexpected line in the caller's log: {line:?}");
        };
        let addr = SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap());
        out.insert(id.to_owned(), addr);
    }
    out
}

/// The RTP of the capture, by where it went.
#[derive(Debug, Default)]
struct Flows {
    /// Caller to relay: per relay endpoint, (time, SSRC) of each packet.
    sent: HashMap<SocketAddr, Vec<(f64, u32)>>,
    /// Relay to members: per SSRC, packets per member.
    to_member: HashMap<u32, BTreeMap<usize, u64>>,
    /// Relay to the caller: per SSRC, packets per relay source.
    to_caller: HashMap<u32, BTreeMap<SocketAddr, u64>>,
    /// Packets in all.
    packets: usize,
}

impl Flows {
    fn new(bed: &Bed, datagrams: &[Datagram]) -> Flows {
        let caller = SocketAddr::from((LOOPBACK, bed.caller_media()));
        let member = |a: SocketAddr| {
            (0..MEMBERS).find(|i| a == SocketAddr::from((LOOPBACK, bed.member_media(*i))))
        };
        let mut f = Flows::default();
        for d in datagrams {
            let Some(rtp) = RtpView::parse(&d.payload) else {
                continue;
            };
            f.packets += 1;
            if d.src == caller {
                let at = d.ts.as_secs_f64();
                f.sent.entry(d.dst).or_default().push((at, rtp.ssrc));
            } else if d.dst == caller {
                *f.to_caller
                    .entry(rtp.ssrc)
                    .or_default()
                    .entry(d.src)
                    .or_default() += 1;
            } else if let Some(i) = member(d.dst) {
                *f.to_member
                    .entry(rtp.ssrc)
                    .or_default()
                    .entry(i)
                    .or_default() += 1;
            }
        }
        f
    }

    /// The SSRC the caller sent most to `relay` between `from` and `to` (Unix seconds).
    fn ssrc_of(&self, relay: SocketAddr, from: f64, to: f64) -> Option<u32> {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for (t, ssrc) in self.sent.get(&relay)? {
            if (from..=to).contains(t) {
                *counts.entry(*ssrc).or_default() += 1;
            }
        }
        counts.into_iter().max_by_key(|(_, n)| *n).map(|(s, _)| s)
    }
}

/// What the RTP check saw.
#[derive(Debug, Default)]
struct MediaCheck {
    /// RTP calls checked, and packets that reached a member in all.
    calls: usize,
    to_members: u64,
    /// Everything wrong, one line each.
    problems: Vec<String>,
}

/// Each RTP call's stream reached only the member that answered it and its echo came back
/// only from the relay endpoint the caller was told.
fn check_media(
    flows: &Flows,
    rtp_calls: &BTreeMap<String, SocketAddr>,
    trace: &BTreeMap<String, Call>,
    answered_by: &BTreeMap<String, Vec<usize>>,
) -> MediaCheck {
    let mut out = MediaCheck::default();
    let mut owner: HashMap<u32, &str> = HashMap::new();
    for (id, relay) in rtp_calls {
        let call = trace.get(id).cloned().unwrap_or_default();
        let from = call.answered.unwrap_or(0.0);
        let to = call.bye.unwrap_or(f64::MAX);
        let Some(ssrc) = flows.ssrc_of(*relay, from, to) else {
            if call.succeeded() {
                out.problems
                    .push(format!("{id}: no RTP from the caller to {relay}"));
            }
            continue;
        };
        out.calls += 1;
        if let Some(other) = owner.insert(ssrc, id) {
            out.problems
                .push(format!("{id} and {other} share SSRC {ssrc:#x}"));
        }
        let members = answered_by.get(id).cloned().unwrap_or_default();
        let [expected] = members[..] else {
            out.problems
                .push(format!("{id}: answered by members {members:?}"));
            continue;
        };
        let reached = flows.to_member.get(&ssrc).cloned().unwrap_or_default();
        out.to_members += reached.values().sum::<u64>();
        if reached.keys().any(|m| *m != expected) || reached.is_empty() {
            out.problems.push(format!(
                "{id} (SSRC {ssrc:#x}) answered by member {expected}: its RTP reached {reached:?}"
            ));
        }
        let back = flows.to_caller.get(&ssrc).cloned().unwrap_or_default();
        if back.keys().any(|s| s != relay) || (back.is_empty() && call.succeeded()) {
            out.problems.push(format!(
                "{id} (SSRC {ssrc:#x}) told {relay}: its echo came back from {back:?}"
            ));
        }
    }
    let strays: Vec<String> = flows
        .to_member
        .iter()
        .filter(|(ssrc, _)| !owner.contains_key(ssrc))
        .map(|(ssrc, m)| format!("{ssrc:#x} -> {m:?}"))
        .collect();
    if !strays.is_empty() {
        out.problems
            .push(format!("RTP of no RTP call reached members: {strays:?}"));
    }
    out
}

/// The caller: [`CALLS`] calls at [`RATE`] from the block's UAC port, at most 3,000 at once,
/// tracing one line per message and its RTP calls.
fn caller(bed: &Bed) -> UacSpec {
    let mut spec = UacSpec::new(bed.proxy(), bed.ports.uac_sip(), CALLS);
    spec.media_port = Some(bed.caller_media());
    spec.scenario = CallScenario::Script {
        name: "uac_soak",
        xml: UAC_SOAK,
    };
    spec.rate = RATE;
    spec.limit = 3000;
    spec.timeout = CALLER_LIMIT - secs(5);
    spec.trace_short_messages = true;
    spec.trace_calls = true;
    spec
}

/// Kills the victim at [`KILL_AT`] and starts it again at [`RESTART_AT`]; what it had logged
/// when it died.
fn kill_and_restart(bed: &mut Bed, t0: Instant) -> MemberCalls {
    std::thread::sleep(KILL_AT.saturating_sub(t0.elapsed()));
    let victim = bed.pool.member_mut(VICTIM).unwrap();
    victim.kill();
    let at_kill = victim.calls().unwrap();
    eprintln!(
        "{TEST}: member {VICTIM} killed at {:.1} s after {} calls",
        t0.elapsed().as_secs_f64(),
        at_kill.acks.len()
    );
    std::thread::sleep(RESTART_AT.saturating_sub(t0.elapsed()));
    bed.pool.member_mut(VICTIM).unwrap().restart().unwrap();
    eprintln!(
        "{TEST}: member {VICTIM} started again at {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    at_kill
}

/// Waits at most [`DRAIN_LIMIT`] until no member has a call, the relay holds no session and
/// no port pair, `ng list` is empty and every relay port can be bound; then `calls.list` must
/// hold no dialog that is not ended. Returns how long the relay took, or what was left.
fn drain(bed: &Bed) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    let mut admin = bed.admin();
    let ng = NgClient::new(bed.daemon.ng_addr(), secs(2)).unwrap();
    let mut left: Vec<String> = Vec::new();
    let done = wait_for("the daemon to hold no call", DRAIN_LIMIT, || {
        left.clear();
        let calls = admin.active_calls();
        let e = Engine::read(&ng);
        for (what, n) in [
            ("member calls", calls),
            ("sessions", e.sessions),
            ("port pairs", e.pairs),
        ] {
            if n != 0 {
                left.push(format!("{what}: {n}"));
            }
        }
        let listed = ng.list(1000)?;
        if !listed.is_empty() {
            left.push(format!(
                "ng list: {} calls, e.g. {:?}",
                listed.len(),
                listed.first()
            ));
        }
        for ip in [bed.outside, bed.inside] {
            let busy = busy_on(ip, Bed::relay_ports());
            if !busy.is_empty() {
                left.push(format!(
                    "{} relay ports still bound on {ip}: {busy:?}",
                    busy.len()
                ));
            }
        }
        Ok(left.is_empty().then_some(()))
    });
    let took = start.elapsed();
    if done.is_err() {
        return Err(left);
    }
    let open = admin.open_dialogs();
    if open.is_empty() {
        Ok(took)
    } else {
        Err(vec![format!(
            "calls.list: {} dialogs not ended: {open:?}",
            open.len()
        )])
    }
}

/// The calls that failed, each of which must have been in progress on the victim when it
/// died (its INVITE taken there, no BYE taken: answered, or still ringing, where a call is not
/// failed over after the 180, RFC 3261 §16.7); `Err` names the others.
fn check_failures(
    trace: &BTreeMap<String, Call>,
    at_kill: &MemberCalls,
) -> (BTreeSet<String>, Result<(), String>) {
    let taken: BTreeSet<&String> = at_kill.invites.iter().chain(&at_kill.acks).collect();
    let ended: BTreeSet<&String> = at_kill.byes.iter().collect();
    let in_progress: BTreeSet<String> = taken.difference(&ended).map(|s| (*s).clone()).collect();
    let failed: BTreeSet<String> = trace
        .iter()
        .filter(|(_, c)| !c.succeeded())
        .map(|(id, _)| id.clone())
        .collect();
    let unexplained: Vec<String> = failed
        .difference(&in_progress)
        .map(|id| format!("{id}: {:?}", trace[id]))
        .collect();
    eprintln!(
        "{TEST}: {} calls failed; {} were in progress on the killed member ({} of those \
         failed)",
        failed.len(),
        in_progress.len(),
        failed.intersection(&in_progress).count()
    );
    if unexplained.is_empty() {
        (failed, Ok(()))
    } else {
        let shown: Vec<&String> = unexplained.iter().take(20).collect();
        let msg = format!(
            "{} failed calls were not in progress on the killed member, e.g. {shown:#?}",
            unexplained.len()
        );
        (failed, Err(msg))
    }
}

/// The member that answered each call (its ACK line), over all starts.
fn answered_by(bed: &Bed) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, m) in bed.pool.calls().unwrap().members.iter().enumerate() {
        for id in &m.acks {
            out.entry(id.clone()).or_default().push(i);
        }
    }
    out
}

/// The dialog/session comparison: one line of figures, and the samples outside the
/// tolerance.
fn agreement(samples: &[Sample]) -> (String, Vec<String>) {
    let (peak, peak_at) = samples
        .iter()
        .map(|s| (s.dialogs, s.at))
        .max()
        .unwrap_or_default();
    let worst = samples.iter().map(Sample::disagreement).max().unwrap_or(0);
    let widest = samples
        .iter()
        .map(|s| s.window().1 - s.window().0)
        .max()
        .unwrap_or(0);
    let figures = format!(
        "{} samples: peak {peak} calls in progress ({:.0} s in); dialogs - sessions at most {worst} apart \
         (the widest tolerance of a sample, sessions created + released while it was read: \
         {widest})",
        samples.len(),
        peak_at.as_secs_f64()
    );
    let outside = samples
        .iter()
        .filter(|s| !s.agrees())
        .map(|s| format!("{s:?} (tolerance {:?})", s.window()))
        .collect();
    (figures, outside)
}

/// The figures of the whole run.
fn summary(report: &UacReport, trace: &BTreeMap<String, Call>, failed: usize, took: Duration) {
    let answered = trace.values().filter(|c| c.answered.is_some()).count();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for c in trace.values().filter(|c| !c.succeeded()) {
        let why = c
            .errors
            .first()
            .cloned()
            .unwrap_or_else(|| match (c.answered, c.ended) {
                (None, _) => "no answer".to_owned(),
                (Some(_), false) => "no 200 to the BYE".to_owned(),
                (Some(_), true) => "?".to_owned(),
            });
        *reasons.entry(why).or_default() += 1;
    }
    eprintln!(
        "{TEST}: {} calls placed, {answered} answered, {} completed, {failed} failed {reasons:?}; \
         sipp: {}; {:.1} s in all",
        trace.len(),
        trace.values().filter(|c| c.succeeded()).count(),
        report.summary(),
        took.as_secs_f64()
    );
}

#[test]
fn ten_thousand_anchored_calls_with_a_member_killed_leave_no_call_no_session_no_port() {
    let begun = Instant::now();
    let Some((mut bed, capture)) = start() else {
        return;
    };
    let uac_dir = bed.dir().join("uac");
    std::fs::create_dir_all(&uac_dir).unwrap();
    std::fs::write(uac_dir.join("tone.pcmu"), ulaw_tone(443.0, 8000.0)).unwrap();
    let mut uac = Uac::start(&bed.sipp, &uac_dir, &caller(&bed)).unwrap();
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = sampler(&bed, t0, Arc::clone(&stop));
    let at_kill = kill_and_restart(&mut bed, t0);
    let report = uac.wait(CALLER_LIMIT).unwrap();
    stop.store(true, Ordering::Relaxed);
    let samples = sampling.join().unwrap();
    let drained = drain(&bed);
    let datagrams = capture.stop(secs(10)).unwrap();
    bed.daemon.process().ensure_running().unwrap();

    let trace = read_trace(uac.short_messages().unwrap());
    let rtp_calls = read_rtp_calls(uac.calls_log().unwrap());
    let (failed, failures) = check_failures(&trace, &at_kill);
    let (figures, disagreements) = agreement(&samples);
    let flows = Flows::new(&bed, &datagrams);
    let media = check_media(&flows, &rtp_calls, &trace, &answered_by(&bed));
    let misrouted = bed.pool.calls().unwrap().misrouted_byes();
    summary(&report, &trace, failed.len(), begun.elapsed());
    eprintln!("{TEST}: {figures}");
    eprintln!(
        "{TEST}: {} RTP calls checked on {} captured packets, {} reached members; relay \
         empty {drained:?}",
        media.calls, flows.packets, media.to_members
    );

    assert_eq!(
        trace.len(),
        CALLS as usize,
        "every call placed is in the trace"
    );
    assert_eq!(
        report.stats.failed,
        failed.len() as u64,
        "{}",
        report.summary()
    );
    assert!(
        disagreements.is_empty(),
        "dialogs and sessions disagree: {disagreements:#?}"
    );
    if let Err(left) = drained {
        panic!(
            "after the last call: {left:#?}\n{}",
            bed.daemon.log_tail(30)
        );
    }
    assert!(media.problems.is_empty(), "{:#?}", media.problems);
    assert!(
        media.calls >= CALLS as usize / 20,
        "only {} RTP calls",
        media.calls
    );
    assert!(
        misrouted.is_empty(),
        "BYEs reached members that never took the call: {misrouted:?}"
    );
    if let Err(unexplained) = failures {
        panic!("{unexplained}");
    }
}
