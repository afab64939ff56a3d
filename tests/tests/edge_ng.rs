//! Attacks on the real daemon's ng socket, all on loopback: sources outside `[ng] allow`, a
//! cookie replayed from another address, one source flooding past `[ng] rate`, and a SIP
//! flood on the proxy while ng `ping` is timed from another socket (ng runs on a thread of
//! its own, so the flood must not delay it). Each loopback address of 127.0.0.0/8 is its own
//! source. Every loop is bounded in count and time.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use e2e::daemon::{decode_reply, int_at, str_at, Daemon, DaemonConfig, RawNg};
use e2e::ng::CallState;
use e2e::peer::{audio_sdp, offer_request};
use e2e::ports::PortBlock;
use ng::{Command, OwnedValue, RequestBuilder};

/// How long a reply that should come may take.
const ARRIVAL: Duration = Duration::from_secs(2);
/// How long the tests listen to be sure no reply comes.
const SILENCE: Duration = Duration::from_millis(500);
/// The bound every ng ping must meet during the SIP flood.
const PING_BOUND: Duration = Duration::from_millis(10);

/// The isolation test measures latency: the other tests of this file, which load the machine
/// too, wait while it runs (and it waits for them).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn start(config: &DaemonConfig) -> Daemon {
    Daemon::start(config).unwrap_or_else(|e| panic!("{e}"))
}

/// A config with one interface on the block's external range.
fn one_interface(block: &PortBlock) -> DaemonConfig {
    let r = block.relay_external();
    DaemonConfig::new(block.ng()).interface("external", *r.start(), *r.end())
}

/// A UDP socket on one loopback address (its own source), talking to the daemon's ng port.
struct Source(RawNg);

impl Source {
    fn bind(ip: [u8; 4], peer: SocketAddr) -> Source {
        Source(RawNg::bind(Ipv4Addr::from(ip), peer).unwrap())
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    fn send(&self, datagram: &[u8]) {
        self.0.send(datagram).unwrap();
    }

    /// The next datagram from the daemon within `limit`.
    fn recv(&self, limit: Duration) -> Option<Vec<u8>> {
        self.0.recv(limit).unwrap()
    }

    /// Sends `datagram` and returns the reply's cookie and body, failing after [`ARRIVAL`].
    fn ask(&self, datagram: &[u8], what: &str) -> (Vec<u8>, OwnedValue) {
        self.send(datagram);
        let reply = self
            .recv(ARRIVAL)
            .unwrap_or_else(|| panic!("{what}: no reply to {}", self.addr()));
        decode_reply(&reply).unwrap()
    }
}

fn ping(cookie: &str) -> Vec<u8> {
    RequestBuilder::new(Command::Ping).to_datagram(cookie.as_bytes())
}

/// The daemon's `totalstatistics.ngdatagrams.<key>`.
fn ng_count(d: &Daemon, key: &str) -> i64 {
    let s = d.statistics().unwrap();
    int_at(&s, &["totalstatistics", "ngdatagrams", key])
        .unwrap_or_else(|| panic!("no ngdatagrams.{key} in {s:?}"))
}

/// With `allow = ["127.0.0.1/32"]`, a client on 127.0.0.2 gets no reply to anything, its
/// offer creates no call and takes no port, and the refusals are counted.
#[test]
fn a_source_outside_the_allow_list_gets_nothing_and_creates_nothing() {
    let _serial = serial();
    let block = PortBlock::take().unwrap();
    let d = start(&one_interface(&block).ng("allow", r#"["127.0.0.1/32"]"#));
    let outsider = Source::bind([127, 0, 0, 2], d.ng_addr());
    let offer = offer_request("outsider@e2e", "outsider-a", &audio_sdp(40_000, 1));
    outsider.send(&offer.to_datagram(b"edge-offer"));
    outsider.send(&ping("edge-ping"));
    outsider.send(&RequestBuilder::new(Command::List).to_datagram(b"edge-list"));
    assert_eq!(outsider.recv(SILENCE), None, "the outsider got a reply");

    // The allowed client (127.0.0.1) sees nothing of it.
    assert_eq!(d.ng().list(100).unwrap(), Vec::<String>::new());
    assert!(matches!(
        d.ng().query("outsider@e2e").unwrap(),
        CallState::Unknown(_)
    ));
    let s = d.statistics().unwrap();
    assert_eq!(int_at(&s, &["totalstatistics", "managedsessions"]), Some(0));
    assert_eq!(
        int_at(&s, &["currentstatistics", "portpairsinuse"]),
        Some(0)
    );
    assert_eq!(
        int_at(&s, &["totalstatistics", "ngdatagrams", "notallowed"]),
        Some(3),
        "{s:?}"
    );
    println!(
        "allow-list: 3 datagrams from 127.0.0.2 dropped unanswered (notallowed = 3), 0 sessions"
    );
}

/// SIGHUP re-reads `[ng] allow`: a host added to the file is answered from then on, without
/// a restart (the calls held stay); SIGTERM then stops both control threads, exit 0.
#[test]
fn sighup_opens_the_allow_list_and_sigterm_stops_cleanly() {
    let _serial = serial();
    let block = PortBlock::take().unwrap();
    let mut d = start(&one_interface(&block).ng("allow", r#"["127.0.0.1/32"]"#));
    let caller = "127.0.0.1:40004".parse().unwrap();
    e2e::peer::Anchored::offer_only(d.ng(), "held@e2e", caller).unwrap();
    let newcomer = Source::bind([127, 0, 0, 7], d.ng_addr());
    newcomer.send(&ping("before"));
    assert_eq!(newcomer.recv(SILENCE), None);

    let path = d.config_path();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        r#"allow = ["127.0.0.1/32"]"#,
        r#"allow = ["127.0.0.1/32", "127.0.0.7/32"]"#,
    );
    std::fs::write(&path, text).unwrap();
    d.reload().unwrap();
    let deadline = Instant::now() + ARRIVAL;
    let mut n = 0;
    let reply = loop {
        n += 1;
        newcomer.send(&ping(&format!("after-{n}")));
        if let Some(r) = newcomer.recv(Duration::from_millis(100)) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "127.0.0.7 still refused after SIGHUP"
        );
    };
    let (_, body) = decode_reply(&reply).unwrap();
    assert_eq!(str_at(&body, &["result"]), Some("pong"));
    assert_eq!(d.ng().list(100).unwrap(), vec!["held@e2e".to_owned()]);

    let (status, took) = d.terminate(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "exit status {status:?}");
    println!("SIGHUP: 127.0.0.7 answered after the reload; SIGTERM: exit 0 in {took:.2?}");
}

/// A cached reply goes only to the address that sent the original request: the same cookie
/// from another allowed address is a new request, and from a refused address gets nothing.
#[test]
fn a_replayed_cookie_from_another_source_does_not_get_the_cached_reply() {
    let _serial = serial();
    let block = PortBlock::take().unwrap();
    let allow = r#"["127.0.0.1/32", "127.0.0.3/32"]"#;
    let d = start(&one_interface(&block).ng("allow", allow));
    let owner = Source::bind([127, 0, 0, 1], d.ng_addr());
    let other = Source::bind([127, 0, 0, 3], d.ng_addr());
    let outsider = Source::bind([127, 0, 0, 2], d.ng_addr());
    let cookie = b"edge-secret-cookie";
    let offer = offer_request("replay@e2e", "replay-a", &audio_sdp(40_002, 1)).to_datagram(cookie);

    owner.send(&offer);
    let first = owner.recv(ARRIVAL).expect("the owner's offer is answered");
    let (_, body) = decode_reply(&first).unwrap();
    assert_eq!(str_at(&body, &["result"]), Some("ok"), "{body:?}");
    assert!(str_at(&body, &["sdp"]).is_some_and(|s| s.contains("m=audio")));
    owner.send(&offer);
    assert_eq!(
        owner.recv(ARRIVAL).as_deref(),
        Some(first.as_slice()),
        "the owner's retransmission is answered from the cache"
    );

    // Another allowed address with the same cookie: its own command runs and is answered,
    // never with the owner's reply (which names the call's relay ports).
    let query = RequestBuilder::new(Command::Query).call_id("nobody@e2e");
    let (c, body) = other.ask(&query.to_datagram(cookie), "query");
    assert_eq!(c, cookie);
    assert_eq!(str_at(&body, &["result"]), Some("error"), "{body:?}");
    assert!(str_at(&body, &["sdp"]).is_none());
    // Another port of the owner's own host is another address too.
    let owner2 = Source::bind([127, 0, 0, 1], d.ng_addr());
    let (_, body) = owner2.ask(&ping(std::str::from_utf8(cookie).unwrap()), "ping");
    assert_eq!(str_at(&body, &["result"]), Some("pong"));

    // A refused address replaying the whole datagram gets nothing at all.
    outsider.send(&offer);
    assert_eq!(outsider.recv(SILENCE), None);
    assert_eq!(d.ng().list(100).unwrap(), vec!["replay@e2e".to_owned()]);
    assert_eq!(ng_count(&d, "notallowed"), 1);
    println!("cookie replay: 127.0.0.3 and a second port of 127.0.0.1 got their own replies, 127.0.0.2 none");
}

/// Reads the kernel's drop count of the UDP socket bound to `local` (`/proc/net/udp`), so a
/// datagram lost in the daemon's receive buffer is told apart from one the daemon dropped.
fn socket_drops(local: SocketAddr) -> u64 {
    let SocketAddr::V4(v4) = local else {
        panic!("{local} is not IPv4")
    };
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    table
        .lines()
        .skip(1)
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(1) == Some(&want.as_str())).then(|| cols.last()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no socket {want} in /proc/net/udp"))
}

/// One source flooding pings far beyond `rate = 200, burst = 100` gets about the burst plus
/// the rate's worth of replies; another source is answered every time meanwhile.
#[test]
fn a_flooding_source_is_limited_and_another_source_is_still_answered() {
    let _serial = serial();
    let block = PortBlock::take().unwrap();
    let d = start(&one_interface(&block).ng("rate", 200).ng("burst", 100));
    let flood = Arc::new(Source::bind([127, 0, 0, 2], d.ng_addr()));
    let quiet = Source::bind([127, 0, 0, 3], d.ng_addr());
    let drops_before = socket_drops(d.ng_addr());

    let answered = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // Counts the flood's replies and returns when the last one came.
    let reader = {
        let (flood, answered, done) = (flood.clone(), answered.clone(), done.clone());
        thread::spawn(move || {
            let mut last = start;
            while !done.load(Ordering::Relaxed) {
                if flood.recv(Duration::from_millis(100)).is_some() {
                    answered.fetch_add(1, Ordering::Relaxed);
                    last = Instant::now();
                }
            }
            last
        })
    };
    // 4,000 pings in 2 s (20 every 10 ms: 10x the rate), with the quiet source's every 100 ms.
    let mut sent = 0u64;
    let mut quiet_answered = 0;
    for round in 0..200u32 {
        for _ in 0..20 {
            flood.send(&ping(&format!("flood-{sent}")));
            sent += 1;
        }
        if round.is_multiple_of(10) {
            let (_, body) = quiet.ask(&ping(&format!("quiet-{round}")), "quiet ping");
            assert_eq!(str_at(&body, &["result"]), Some("pong"));
            quiet_answered += 1;
        }
        let next = start + Duration::from_millis(10) * (round + 1);
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let elapsed = start.elapsed();
    thread::sleep(SILENCE);
    done.store(true, Ordering::Relaxed);
    // Every reply was made between the first ping and the last reply: the bucket cannot
    // have granted more than the burst plus the rate over that window.
    let window = reader.join().unwrap().duration_since(start);
    let answered = answered.load(Ordering::Relaxed);
    let limited = ng_count(&d, "ratelimited") as u64;
    let kernel_drops = socket_drops(d.ng_addr()) - drops_before;
    let bound = 100 + (200.0 * window.as_secs_f64()).ceil() as u64;
    println!(
        "rate limit: 127.0.0.2 sent {sent} pings in {elapsed:.2?}, {answered} answered within \
         {window:.2?} (bound {bound} = burst 100 + 200/s), ratelimited = {limited}, kernel \
         drops {kernel_drops}; 127.0.0.3 answered {quiet_answered}/20"
    );
    assert!(
        answered >= 100,
        "not even the burst was answered: {answered}"
    );
    assert!(answered <= bound, "{answered} answered, more than {bound}");
    assert!(
        limited + answered <= sent && limited + answered + kernel_drops >= sent,
        "sent {sent}: answered {answered} + rate-limited {limited} (kernel drops {kernel_drops})"
    );
    assert_eq!(quiet_answered, 20);
}

/// How long the SIP flood lasts.
const FLOOD: Duration = Duration::from_secs(4);
/// SIP messages per flood batch; one batch every [`FLOOD_TICK`].
const FLOOD_BATCH: u64 = 100;
const FLOOD_TICK: Duration = Duration::from_millis(5);

/// The SIP proxy on the block's SIP port with one pool member: a socket of the test that
/// reads nothing (so forwarded INVITEs keep the proxy retransmitting). The flood guard is off:
/// the point is a SIP core kept busy, which the guard would prevent by banning the flooder
/// (tested in edge_flood).
fn sip_section(block: &PortBlock) -> String {
    format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\"]\n\n\
         [sip.flood]\nenabled = false\n\n\
         [[set]]\nname = \"pool\"\n\n[[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
        block.proxy_sip(),
        block.uas_sip()
    )
}

/// Flood message `n` from `from` to the proxy at `proxy`: nine OPTIONS to the proxy itself
/// (answered 200 by it) for every INVITE (routed to the member), each a new transaction.
fn flood_message(n: u64, from: SocketAddr, proxy: u16) -> String {
    let (method, ruri) = if n.is_multiple_of(10) {
        ("INVITE", format!("sip:flood{n}@127.0.0.1:{proxy}"))
    } else {
        ("OPTIONS", format!("sip:127.0.0.1:{proxy}"))
    };
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKedge{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:flood@{ip}>;tag=f{n}\r\nTo: <{ruri}>\r\n\
         Call-ID: flood{n}@{ip}\r\nCSeq: 1 {method}\r\nContact: <sip:flood@{from}>\r\n\
         Content-Length: 0\r\n\r\n",
        ip = from.ip()
    )
}

/// What the flood did.
struct FloodReport {
    sent: u64,
    elapsed: Duration,
}

/// Sends [`FLOOD_BATCH`] messages every [`FLOOD_TICK`] from 127.0.0.5 for [`FLOOD`] (built
/// beforehand, so the sender costs little CPU); `running` is set while the flood is on. The
/// proxy's answers are left unread.
fn sip_flood(proxy: u16, running: Arc<AtomicBool>) -> thread::JoinHandle<FloodReport> {
    thread::spawn(move || {
        let socket = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 5), 0)).unwrap();
        let from = socket.local_addr().unwrap();
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, proxy));
        let batches = (FLOOD.as_millis() / FLOOD_TICK.as_millis()) as u64;
        let messages: Vec<Vec<u8>> = (0..batches * FLOOD_BATCH)
            .map(|n| flood_message(n, from, proxy).into_bytes())
            .collect();
        let start = Instant::now();
        running.store(true, Ordering::Relaxed);
        let mut sent = 0u64;
        for (tick, batch) in (1u32..).zip(messages.chunks(FLOOD_BATCH as usize)) {
            for m in batch {
                // A full socket buffer is part of a flood: the datagram is lost, not an error.
                let _ = socket.send_to(m, to);
                sent += 1;
            }
            let next = start + FLOOD_TICK * tick;
            thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let elapsed = start.elapsed();
        running.store(false, Ordering::Relaxed);
        FloodReport { sent, elapsed }
    })
}

/// A UDP echo on 127.0.0.1 in a thread of the test: the reference an idle thread on this
/// machine achieves, timed the same way as the daemon's ng thread. Stops with `running`.
fn echo(running: Arc<AtomicBool>) -> (SocketAddr, thread::JoinHandle<()>) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while running.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        }
    });
    (addr, handle)
}

/// Times one ng ping from `source` (a fresh cookie each); `None` when no reply within 1 s.
fn timed_ping(source: &Source, n: u64) -> Option<Duration> {
    let t = Instant::now();
    source.send(&ping(&format!("iso-{n}")));
    let reply = source.recv(Duration::from_secs(1))?;
    let rtt = t.elapsed();
    let (_, body) = decode_reply(&reply).ok()?;
    (str_at(&body, &["result"]) == Some("pong")).then_some(rtt)
}

/// Times an ng ping and a reference echo every 5 ms while `running` holds (at most 5,000
/// each); a lost one is `None`.
type Samples = Vec<Option<Duration>>;

fn ping_while(ng: &Source, reference: &Source, running: &AtomicBool) -> (Samples, Samples) {
    let (mut pings, mut echoes) = (Vec::new(), Vec::new());
    while running.load(Ordering::Relaxed) && pings.len() < 5_000 {
        pings.push(timed_ping(ng, pings.len() as u64));
        echoes.push(timed_echo(reference));
        thread::sleep(Duration::from_millis(5));
    }
    (pings, echoes)
}

/// Times one datagram through the reference echo.
fn timed_echo(reference: &Source) -> Option<Duration> {
    let t = Instant::now();
    reference.send(b"echo");
    reference.recv(Duration::from_secs(1))?;
    Some(t.elapsed())
}

/// Times one OPTIONS to the proxy itself from `socket`; `None` when no 200 within 2 s.
fn timed_options(socket: &UdpSocket, proxy: u16, n: u64) -> Option<Duration> {
    let from = socket.local_addr().unwrap();
    let msg = flood_message(n * 10 + 1, from, proxy).replace("edge", "probe");
    let t = Instant::now();
    socket
        .send_to(msg.as_bytes(), (Ipv4Addr::LOCALHOST, proxy))
        .unwrap();
    let call_id = format!("Call-ID: flood{}@", n * 10 + 1);
    let mut buf = vec![0u8; 65_536];
    while t.elapsed() < Duration::from_secs(2) {
        socket
            .set_read_timeout(Some(
                Duration::from_secs(2)
                    .saturating_sub(t.elapsed())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        let Ok((len, _)) = socket.recv_from(&mut buf) else {
            return None;
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        if text.starts_with("SIP/2.0 200") && text.contains(&call_id) {
            return Some(t.elapsed());
        }
    }
    None
}

/// Median, p99 and max of the answered samples, and how many were lost.
fn distribution(samples: &[Option<Duration>]) -> (Duration, Duration, Duration, usize) {
    let mut got: Vec<Duration> = samples.iter().flatten().copied().collect();
    got.sort();
    let lost = samples.len() - got.len();
    if got.is_empty() {
        return (Duration::MAX, Duration::MAX, Duration::MAX, lost);
    }
    let at = |q: f64| got[((got.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), got[got.len() - 1], lost)
}

fn show(name: &str, samples: &[Option<Duration>]) -> String {
    let (p50, p99, max, lost) = distribution(samples);
    format!(
        "{name}: {} samples, median {p50:.2?}, p99 {p99:.2?}, max {max:.2?}, lost {lost}",
        samples.len()
    )
}

/// A SIP flood on the proxy (UDP OPTIONS and INVITEs from 127.0.0.5 at 20,000 messages/s
/// for 4 s) while ng `ping` is timed from 127.0.0.1 every 5 ms: 99% of the pings are answered
/// within 10 ms and at most one later than 10 ms beyond the worst stall the machine gave an
/// idle thread of the test meanwhile (none beyond 50 ms), because ng runs on its own thread at
/// a higher priority. The proxy's own OPTIONS latency, timed from
/// 127.0.0.6 at the same time, shows how loaded the SIP side was.
#[test]
fn a_sip_flood_does_not_delay_ng_replies() {
    let _serial = serial();
    let block = PortBlock::take().unwrap();
    let _member = UdpSocket::bind((Ipv4Addr::LOCALHOST, block.uas_sip())).unwrap();
    let d = start(&one_interface(&block).raw(&sip_section(&block)));
    let pinger = Source::bind([127, 0, 0, 1], d.ng_addr());
    let probe = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 6), 0)).unwrap();
    assert!(
        timed_options(&probe, block.proxy_sip(), 0).is_some(),
        "the SIP proxy does not answer OPTIONS before the flood"
    );
    let quiet: Vec<_> = (0..200)
        .map(|n| timed_ping(&pinger, 1_000_000 + n))
        .collect();

    let running = Arc::new(AtomicBool::new(false));
    let flood = sip_flood(block.proxy_sip(), running.clone());
    let waited = Instant::now();
    while !running.load(Ordering::Relaxed) && waited.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(1));
    }
    assert!(running.load(Ordering::Relaxed), "the flood did not start");
    // Let the proxy's queue build up before measuring.
    thread::sleep(Duration::from_millis(300));
    let sip_probe = {
        let (running, proxy) = (running.clone(), block.proxy_sip());
        thread::spawn(move || {
            let mut out = Vec::new();
            while running.load(Ordering::Relaxed) && out.len() < 100 {
                out.push(timed_options(&probe, proxy, 1 + out.len() as u64));
                thread::sleep(Duration::from_millis(50));
            }
            out
        })
    };
    let (echo_addr, echo_thread) = echo(running.clone());
    let reference = Source::bind([127, 0, 0, 1], echo_addr);
    let (during, echoes) = ping_while(&pinger, &reference, &running);
    let report = flood.join().unwrap();
    let sip = sip_probe.join().unwrap();
    echo_thread.join().unwrap();
    d.ng().ping().expect("ng answers after the flood");

    let rate = report.sent as f64 / report.elapsed.as_secs_f64();
    println!(
        "SIP flood: {} UDP messages (9 OPTIONS : 1 INVITE) in {:.2?} ({rate:.0}/s) from 127.0.0.5",
        report.sent, report.elapsed
    );
    println!("{}", show("ng ping before the flood", &quiet));
    println!("{}", show("ng ping during the flood", &during));
    println!(
        "{}",
        show(
            "reference echo thread in the test during the flood",
            &echoes
        )
    );
    println!(
        "{}",
        show("SIP OPTIONS to the proxy during the flood", &sip)
    );
    // A flood sender that ran far behind its schedule means this machine, not the daemon,
    // stalled the test: then no latency figure of it means anything.
    assert!(
        report.elapsed < FLOOD * 3 / 2,
        "the test machine stalled: the flood sender needed {:.2?} for {FLOOD:?} of sending; \
         run the test on a less loaded machine",
        report.elapsed
    );
    assert!(during.len() >= 200, "only {} pings timed", during.len());
    let (_, p99, max, lost) = distribution(&during);
    assert_eq!(lost, 0, "ng pings went unanswered during the SIP flood");
    let (_, _, reference_max, _) = distribution(&echoes);
    // Nearly every ping within the bound; the worst within the bound of what the machine did to
    // an idle thread of this test at the same time (a 2-vCPU guest stalls any thread for a few
    // ms now and then; ng must not add to that, whatever the SIP flood does).
    assert!(
        p99 <= PING_BOUND,
        "ng pings' p99 was {p99:?} during the SIP flood (bound {PING_BOUND:?})"
    );
    // One ping of the hundreds may meet a stall of the ng thread's own vCPU that the reference
    // thread, on the other one, did not see (seen once in CI: 18.9 ms while the p99 was 1.5
    // ms and the SIP side answered in 617 ms); a second such ping, or one beyond five times the
    // bound, is the ng thread waiting behind SIP.
    let late = PING_BOUND.saturating_add(reference_max);
    let over: Vec<Duration> = during
        .iter()
        .flatten()
        .copied()
        .filter(|d| *d > late)
        .collect();
    assert!(
        over.len() <= 1 && max <= PING_BOUND * 5,
        "ng pings {over:?} (worst {max:?}) during the SIP flood: more than {PING_BOUND:?} beyond \
         the reference echo thread's worst, {reference_max:?}"
    );
    let mut d = d;
    let (status, took) = d.terminate(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "exit status {status:?} after the flood");
    println!("SIGTERM after the flood: exit 0 in {took:.2?}");
}
