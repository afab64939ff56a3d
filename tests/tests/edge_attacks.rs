//! The SIP proxy read as an attacker reads it, against the real `ferrovox` binary on
//! 127.0.0.0/8: relay attempts through a pre-loaded Route, a made-up To tag and
//! `;transport=tcp`, a forged 503 + Retry-After from another address, unknown 2xx responses
//! and guessed branches. Each is refused with the right code (or dropped, for responses) and
//! counted (one debug log line per refusal, naming its counter), and no packet reaches where
//! the attack points: a UDP socket and a TCP listener there receive nothing. A call through
//! the pool works before and after.
//!
//! The config is `config/examples/sip-pool.toml` in small: an inbound `pool` set (a sipp
//! member on 127.0.0.1) reached by `[[route]] inbound`, an outbound `carriers` set (its member
//! on 127.0.0.67, disabled so that no probe goes there) meant only for calls from the pool
//! (`source_set = "pool"`), and a `probed` set whose one member is the test's own socket (it
//! sees the probes' branches, so the forged 503 can carry a real one). Every attack comes from
//! its own loopback address.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::sipp_pool::{run_uac, MemberSpec, Pool, UacSpec};
use e2e::tools::{self, SIPP};

const TEST: &str = "edge_attacks";
/// How long an answer may take.
const ANSWER: Duration = Duration::from_secs(3);
/// How long the sinks listen after the last attack (a UDP retransmission of a forwarded
/// request would come T1 = 500 ms later).
const SINK_WAIT: Duration = Duration::from_secs(2);

/// Where the attacks point: an address no set names.
const UNLISTED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 66);
/// The carriers set's member.
const CARRIER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 67);

/// A UDP socket and a TCP listener on one address, recording everything that reaches them.
struct Sink {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sink {
    fn start(addr: SocketAddr) -> Sink {
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("sink UDP {addr}: {e}"));
        let tcp = TcpListener::bind(addr).unwrap_or_else(|e| panic!("sink TCP {addr}: {e}"));
        udp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 65_535];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let first = String::from_utf8_lossy(&buf[..n]);
                    let line = first.lines().next().unwrap_or_default().to_owned();
                    g.lock().unwrap().push(format!("UDP from {from}: {line}"));
                }
                match tcp.accept() {
                    Ok((mut c, from)) => {
                        let mut b = [0u8; 512];
                        c.set_read_timeout(Some(Duration::from_millis(100))).ok();
                        let n = c.read(&mut b).unwrap_or(0);
                        let line = String::from_utf8_lossy(&b[..n])
                            .lines()
                            .next()
                            .map(str::to_owned);
                        g.lock().unwrap().push(format!("TCP from {from}: {line:?}"));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => g.lock().unwrap().push(format!("TCP accept error: {e}")),
                }
            }
        });
        Sink {
            addr,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The daemon, the pool, the sinks and the probed member's socket.
struct Edge {
    sipp: std::path::PathBuf,
    ports: PortBlock,
    dir: tempfile::TempDir,
    _pool: Pool,
    daemon: Daemon,
    unlisted: Sink,
    carrier: Sink,
    ghost: UdpSocket,
}

impl Edge {
    fn start() -> Edge {
        let sipp = tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"));
        let ports = PortBlock::take().unwrap();
        let dir = tempfile::Builder::new()
            .prefix("edge-attacks.")
            .tempdir()
            .unwrap();
        let mut member = MemberSpec::answering(ports.uas_sip());
        member.media_port = Some(*ports.uas_media().start());
        let pool = Pool::start(&sipp, dir.path(), &[member]).unwrap();
        let unlisted = Sink::start(SocketAddr::from((UNLISTED, ports.base() + 40)));
        let carrier = Sink::start(SocketAddr::from((CARRIER, ports.base() + 42)));
        let ghost = UdpSocket::bind((LOOPBACK, ports.base() + 30)).unwrap();
        let toml = format!(
            "[sip]\nlisten = [\"127.0.0.1:{p}\"]\ntransports = [\"udp\", \"tcp\"]\nfr_timeout_ms = 1000\n\n\
             [[set]]\nname = \"pool\"\n[[set.member]]\nuri = \"sip:127.0.0.1:{uas}\"\n\n\
             [[set]]\nname = \"carriers\"\n[[set.member]]\nuri = \"sip:{carrier}\"\nstate = \"disabled\"\n\n\
             [[set]]\nname = \"probed\"\n[set.health]\ninterval_secs = 2\ntimeout_ms = 1500\n\
             [[set.member]]\nuri = \"sip:{ghost}\"\n\n\
             [[route]]\nname = \"inbound\"\nsource_networks = [\"0.0.0.0/0\"]\nruri_user_prefix = \"pool\"\nset = \"pool\"\n\n\
             [[route]]\nname = \"outbound\"\nsource_set = \"pool\"\nset = \"carriers\"\n",
            p = ports.proxy_sip(),
            uas = ports.uas_sip(),
            carrier = carrier.addr,
            ghost = ghost.local_addr().unwrap(),
        );
        let relay = ports.relay_external();
        let cfg = DaemonConfig::new(ports.ng())
            .interface("external", *relay.start(), *relay.end())
            .raw(&toml);
        let daemon = Daemon::start(&cfg).unwrap();
        Edge {
            sipp,
            ports,
            dir,
            _pool: pool,
            daemon,
            unlisted,
            carrier,
            ghost,
        }
    }

    fn proxy(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ports.proxy_sip()))
    }

    /// `calls` calls from a sipp caller through the proxy to the pool: all must succeed.
    fn calls_go_through(&self, calls: u32, name: &str) {
        let mut spec = UacSpec::new(self.proxy(), self.ports.uac_sip(), calls);
        spec.media_port = Some(*self.ports.uac_media().start());
        let dir = self.dir.path().join(name);
        let report = run_uac(&self.sipp, &dir, &spec, Duration::from_secs(30)).unwrap();
        assert!(
            report.all_succeeded(),
            "{name}: {}\n{}",
            report.summary(),
            self.daemon.log_tail(40)
        );
    }

    /// After [`SINK_WAIT`], nothing has reached the unlisted address nor the carrier.
    fn sinks_got_nothing(&self) {
        thread::sleep(SINK_WAIT);
        for (sink, what) in [
            (&self.unlisted, "the unlisted address"),
            (&self.carrier, "the carrier"),
        ] {
            assert_eq!(sink.got(), Vec::<String>::new(), "{what}");
        }
    }

    /// Debug log lines of refusals counted under `reason`, once at least `n` are there or
    /// after a few seconds (the log is written a little after the event).
    fn refusals(&self, reason: &str, n: usize) -> usize {
        let needle = format!("reason={reason} ");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(self.daemon.log()).unwrap_or_default();
            let got = text
                .lines()
                .filter(|l| l.contains("SIP message refused") && l.contains(&needle))
                .count();
            if got >= n || Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An attacker: a UDP socket on its own loopback address.
struct Attacker {
    sock: UdpSocket,
    proxy: SocketAddr,
}

impl Attacker {
    fn new(host: u8, proxy: SocketAddr) -> Attacker {
        let sock = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, host), 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Attacker { sock, proxy }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.proxy).unwrap();
    }

    /// Sends `msg` and collects the responses to it until a final one (or [`ANSWER`]).
    fn ask(&self, msg: &str) -> Vec<(u16, String)> {
        self.send(msg);
        let mut got = Vec::new();
        let deadline = Instant::now() + ANSWER;
        let mut buf = [0u8; 65_535];
        while Instant::now() < deadline {
            let Ok(n) = self.sock.recv(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Some(code) = status(&text) else { continue };
            got.push((code, text));
            if code >= 200 {
                break;
            }
        }
        got
    }

    /// Sends `msg` and returns the status codes received, ACKing a non-2xx final to an
    /// INVITE as a UA does (RFC 3261 §17.1.1.3).
    fn codes(&self, msg: &str) -> Vec<u16> {
        let got = self.ask(msg);
        if let Some((code, resp)) = got.last() {
            if *code >= 300 && msg.starts_with("INVITE ") {
                self.send(&ack_for(msg, resp));
            }
        }
        got.iter().map(|(c, _)| *c).collect()
    }
}

/// The status code of a response.
fn status(text: &str) -> Option<u16> {
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// A header's value (the first one), by its full name.
fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

/// A request from `from` (Via, Contact), with `to_tag` and `extra` header lines.
fn request(
    method: &str,
    ruri: &str,
    from: SocketAddr,
    call_id: &str,
    to_tag: Option<&str>,
    extra: &str,
) -> String {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}-{method};rport\r\n\
         {extra}Max-Forwards: 70\r\nFrom: <sip:attacker@{ip}>;tag=a-{call_id}\r\n\
         To: <sip:pool@127.0.0.1>{tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n\
         Contact: <sip:attacker@{from}>\r\nContent-Length: 0\r\n\r\n",
        ip = from.ip(),
    )
}

/// The ACK of a non-2xx final to `invite` (same branch, the response's To).
fn ack_for(invite: &str, resp: &str) -> String {
    let line_end = invite.find("\r\n").unwrap();
    let ruri = invite[..line_end].split(' ').nth(1).unwrap();
    let via = header(invite, "Via").unwrap();
    let from = header(invite, "From").unwrap();
    let to = header(resp, "To").unwrap();
    let call_id = header(invite, "Call-ID").unwrap();
    format!(
        "ACK {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A response to the request `req` (its Vias, From, To, Call-ID and CSeq), with `extra`
/// header lines.
fn response_to(req: &str, code: u16, reason: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in req.lines() {
        let name = line.split(':').next().unwrap_or_default();
        if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        } else if name == "To" {
            out.push_str(line);
            out.push_str(";tag=forged\r\n");
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[test]
fn relay_attempts_are_refused_counted_and_reach_nothing() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let e = Edge::start();
    e.calls_go_through(3, "before");
    let proxy = e.proxy();
    let (unlisted, carrier) = (e.unlisted.addr, e.carrier.addr);
    let us = format!("<sip:{proxy};lr>");
    // The Request-URI names a domain, as a caller's does (one naming the proxy's own address
    // would read as coming from a strict router, RFC 3261 §16.4).
    let invite_to_pool = "sip:pool@lb.example.net";
    // Pre-loaded Routes: to an unlisted address, to the carrier (the reviewer's relay to
    // the outbound set), beyond our own Route, and over TCP.
    let routes = [
        format!("Route: <sip:{unlisted};lr>\r\n"),
        format!("Route: <sip:{carrier};lr>\r\n"),
        format!("Route: {us}, <sip:{unlisted};lr>\r\n"),
        format!("Route: <sip:{unlisted};transport=tcp;lr>\r\n"),
    ];
    for (i, route) in routes.iter().enumerate() {
        let a = Attacker::new(10 + i as u8, proxy);
        let msg = request(
            "INVITE",
            invite_to_pool,
            a.addr(),
            &format!("route{i}"),
            None,
            route,
        );
        assert_eq!(a.codes(&msg), vec![100, 403], "{route}");
    }
    // Made-up To tags, the Request-URI naming the target (over TCP too).
    let a = Attacker::new(20, proxy);
    let ruri = format!("sip:carrier@{carrier}");
    let msg = request("INVITE", &ruri, a.addr(), "tag1", Some("made-up"), "");
    assert_eq!(a.codes(&msg), vec![100, 481]);
    let ruri = format!("sip:x@{unlisted};transport=tcp");
    let route = format!("Route: {us}\r\n");
    let msg = request("BYE", &ruri, a.addr(), "tag2", Some("made-up"), &route);
    assert_eq!(a.codes(&msg), vec![481]);
    let msg = request("ACK", &ruri, a.addr(), "tag3", Some("made-up"), &route);
    a.send(&msg);
    // `;transport=tcp` in the Request-URI of a new call: it goes by [[route]] to the pool
    // member, never to the address or transport the URI names.
    let a = Attacker::new(21, proxy);
    let ruri = format!("sip:pool@{unlisted};transport=tcp");
    let invite = request("INVITE", &ruri, a.addr(), "tcp1", None, "");
    let got = a.ask(&invite);
    assert_eq!(got.last().map(|(c, _)| *c), Some(200), "{got:?}");
    end_call(&a, &invite, &got.last().unwrap().1);

    e.sinks_got_nothing();
    assert_eq!(e.refusals("route_refused", 4), 4);
    assert_eq!(e.refusals("dialog_refused", 2), 2);
    assert_eq!(e.refusals("ack_unmatched", 1), 1);
    e.calls_go_through(3, "after");
}

/// ACK and BYE for the call `invite` that `ok` answered, along its Record-Route.
fn end_call(a: &Attacker, invite: &str, ok: &str) {
    let to = header(ok, "To").unwrap();
    let contact = header(ok, "Contact").unwrap();
    let target = contact.trim_start_matches('<').split('>').next().unwrap();
    let rr = header(ok, "Record-Route").unwrap();
    let via = header(invite, "Via").unwrap();
    let from = header(invite, "From").unwrap();
    let call_id = header(invite, "Call-ID").unwrap();
    for (method, cseq, branch) in [("ACK", 1, "ack"), ("BYE", 2, "bye")] {
        let via = via.replace("-INVITE;", &format!("-{branch};"));
        let msg = format!(
            "{method} {target} SIP/2.0\r\nVia: {via}\r\nRoute: {rr}\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        if method == "ACK" {
            a.send(&msg);
        } else {
            let got = a.ask(&msg);
            assert_eq!(got.last().map(|(c, _)| *c), Some(200), "BYE: {got:?}");
        }
    }
}

#[test]
fn forged_responses_unknown_2xx_and_guessed_branches_change_nothing() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let e = Edge::start();
    let proxy = e.proxy();
    let ghost_uri = format!("sip:{}", e.ghost.local_addr().unwrap());
    // A probe of the probed member, as the member sees it: its branch is real.
    e.ghost
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 65_535];
    let (n, from) = e.ghost.recv_from(&mut buf).expect("a probe within 5 s");
    let probe = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(probe.starts_with("OPTIONS "), "{probe}");
    assert_eq!(from, proxy);
    // The forged 503 + Retry-After: 3600 from another address would make it BUSY for an hour.
    let busy = response_to(&probe, 503, "Service Unavailable", "Retry-After: 3600\r\n");
    let forger = Attacker::new(30, proxy);
    forger.send(&busy);
    assert_eq!(e.refusals("responses_wrong_source", 1), 1);
    // An unknown 2xx whose next Via names the unlisted address, and guessed branches.
    let stray = |branch: &str, second: SocketAddr| {
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {proxy};branch={branch}\r\n\
             Via: SIP/2.0/UDP {second};branch=z9hG4bKsink;rport\r\n\
             From: <sip:a@{second}>;tag=a\r\nTo: <sip:pool@127.0.0.1>;tag=b\r\n\
             Call-ID: stray@{second}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let a = Attacker::new(31, proxy);
    a.send(&stray(
        "z9hG4bKfvx00000000deadbeefdeadbeef",
        e.unlisted.addr,
    ));
    for i in 0..50u64 {
        let guess = format!(
            "z9hG4bKfvx{:08x}{:016x}",
            i,
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        a.send(&stray(&guess, e.carrier.addr));
    }
    assert_eq!(e.refusals("stray_responses", 51), 51);
    e.sinks_got_nothing();
    let log = std::fs::read_to_string(e.daemon.log()).unwrap();
    let busy_line = |l: &&str| l.contains("member state changed") && l.contains(&ghost_uri);
    assert!(
        !log.lines().any(|l| busy_line(&l) && l.contains("busy")),
        "the forged 503 made the member BUSY:\n{}",
        e.daemon.log_tail(30)
    );
    // The same 503 from the member itself, for its next probe, counts: the check is on the
    // source, not on the message.
    let first = header(&probe, "Call-ID").unwrap().to_owned();
    let probe = loop {
        // Retransmissions of the first probe come too; the next one has a Call-ID of its own.
        let (n, _) = e
            .ghost
            .recv_from(&mut buf)
            .expect("the next probe within 5 s");
        let p = String::from_utf8_lossy(&buf[..n]).into_owned();
        if header(&p, "Call-ID") != Some(first.as_str()) {
            break p;
        }
    };
    let busy = response_to(&probe, 503, "Service Unavailable", "Retry-After: 3600\r\n");
    e.ghost.send_to(busy.as_bytes(), proxy).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(e.daemon.log()).unwrap();
        if log.lines().any(|l| busy_line(&l) && l.contains("busy")) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", e.daemon.log_tail(30));
        thread::sleep(Duration::from_millis(100));
    }
    e.calls_go_through(3, "after");
}
