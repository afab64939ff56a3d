//! SIP over TCP at the edge, against the real `ferrovox` binary on 127.0.0.1 and ::1: connect
//! and close floods and idle connections leave no descriptor behind, slowloris headers are
//! cut off by the message timeout, the per-source and total caps refuse connections, a member
//! that resets its connection fails the INVITE over at once, and all along the daemon answers
//! OPTIONS over UDP and TCP.
//!
//! Every loop is bounded in count and time; the descriptor count is read from
//! `/proc/<pid>/fd`.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::ports::{PortBlock, LOOPBACK};

/// Descriptors the daemon may hold beyond its starting count once the connections are gone
/// (timers, a DNS socket opened late, the log file rotating...).
const FD_SLACK: usize = 4;
/// How long the daemon may take to close what it should have closed.
const SETTLE: Duration = Duration::from_secs(10);
/// How long any one SIP answer may take.
const ANSWER: Duration = Duration::from_secs(3);

/// A running daemon with its SIP proxy on the block's proxy port (UDP and TCP, 127.0.0.1 and
/// ::1), one set whose only member port nobody listens on, and `sip` added to `[sip]`.
struct Edge {
    daemon: Daemon,
    ports: PortBlock,
    pid: u32,
}

impl Edge {
    /// On a block of its own, with a set whose one member is never there.
    fn start(sip: &str) -> Edge {
        let ports = PortBlock::take().unwrap();
        let set = format!(
            "[[set]]\nname = \"pool\"\n[set.health]\ninterval_secs = 3600\n\
             [[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
            ports.uas_sip()
        );
        Edge::start_on(ports, sip, &set)
    }

    /// On `ports`, with `set` as the `[[set]]` section.
    fn start_on(ports: PortBlock, sip: &str, set: &str) -> Edge {
        let p = ports.proxy_sip();
        let toml = format!(
            "[sip]\nlisten = [\"127.0.0.1:{p}\", \"[::1]:{p}\"]\ntransports = [\"udp\", \"tcp\"]\n{sip}\n\n{set}"
        );
        let relay = ports.relay_external();
        let cfg = DaemonConfig::new(ports.ng())
            .interface("external", *relay.start(), *relay.end())
            .raw(&toml);
        let mut daemon = Daemon::start(&cfg).unwrap();
        let pid = daemon.process().pid();
        Edge { daemon, ports, pid }
    }

    fn proxy(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ports.proxy_sip()))
    }

    fn proxy6(&self) -> SocketAddr {
        SocketAddr::from((Ipv6Addr::LOCALHOST, self.ports.proxy_sip()))
    }

    /// The daemon's open descriptors now.
    fn fds(&self) -> usize {
        self.fd_targets().len()
    }

    /// What each of the daemon's descriptors is (`socket:[inode]`, a path...), sorted.
    fn fd_targets(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fd", self.pid);
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| {
                std::fs::read_link(e.path())
                    .map(|t| t.display().to_string())
                    .unwrap_or_else(|_| "(gone)".into())
            })
            .collect();
        out.sort();
        out
    }

    /// The kinds of descriptor (`socket`, `anon_inode:[eventfd]`, a path) held now and not in
    /// `before`, with how many more of each.
    fn new_fds(&self, before: &[String]) -> Vec<(String, usize)> {
        let kind = |t: &str| t.split(":[").next().unwrap_or(t).to_owned();
        let mut count = std::collections::BTreeMap::<String, i64>::new();
        for t in self.fd_targets() {
            *count.entry(kind(&t)).or_default() += 1;
        }
        for t in before {
            *count.entry(kind(t)).or_default() -= 1;
        }
        count
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k, n as usize))
            .collect()
    }

    /// Waits (at most [`SETTLE`]) until the daemon holds at most `target` descriptors;
    /// returns the count then and how long it took (the callers allow [`FD_SLACK`] more).
    fn settle(&self, target: usize) -> (usize, Duration) {
        let start = Instant::now();
        loop {
            let n = self.fds();
            if n <= target || start.elapsed() >= SETTLE {
                return (n, start.elapsed());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// OPTIONS to the proxy over UDP and over TCP (v4), each answered 200.
    fn answers_options(&self, what: &str) {
        options_udp(self.proxy()).unwrap_or_else(|e| panic!("{what}: OPTIONS over UDP: {e}"));
        options_tcp(self.proxy()).unwrap_or_else(|e| panic!("{what}: OPTIONS over TCP: {e}"));
    }

    /// The daemon's starting descriptor count, once it has answered on both transports.
    fn baseline(&self) -> usize {
        self.answers_options("at start");
        thread::sleep(Duration::from_millis(300));
        self.fds()
    }

    /// Lines of the daemon's log that contain every one of `words`, once at least `n` of
    /// them are there (the log is written a little after the event) or [`SETTLE`] has passed.
    fn log_lines(&self, words: &[&str], n: usize) -> usize {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(self.daemon.log()).unwrap_or_default();
            let got = text
                .lines()
                .filter(|l| words.iter().all(|w| l.contains(w)))
                .count();
            if got >= n || start.elapsed() >= SETTLE {
                return got;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(1);

/// An OPTIONS to the proxy itself, sent from `from` over `transport`.
fn options(proxy: SocketAddr, from: SocketAddr, transport: &str) -> Vec<u8> {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "OPTIONS sip:{proxy} SIP/2.0\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bKedge{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=e{n}\r\nTo: <sip:{proxy}>\r\n\
         Call-ID: edge-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The status code of a response's first line.
fn status(msg: &[u8]) -> Option<u16> {
    let line = msg.split(|&b| b == b'\r').next()?;
    let text = std::str::from_utf8(line).ok()?;
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

fn options_udp(proxy: SocketAddr) -> Result<(), String> {
    let s = UdpSocket::bind((LOOPBACK, 0)).map_err(|e| e.to_string())?;
    let from = s.local_addr().map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(ANSWER))
        .map_err(|e| e.to_string())?;
    s.send_to(&options(proxy, from, "UDP"), proxy)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + ANSWER;
    while Instant::now() < deadline {
        let n = s.recv(&mut buf).map_err(|e| format!("no answer: {e}"))?;
        match status(buf.get(..n).unwrap_or_default()) {
            Some(200) => return Ok(()),
            Some(c) if c >= 200 => return Err(format!("answered {c}")),
            _ => {}
        }
    }
    Err("no final answer".into())
}

/// OPTIONS over a new TCP connection to `proxy`; the connection is closed afterwards.
fn options_tcp(proxy: SocketAddr) -> Result<(), String> {
    let mut c = TcpStream::connect_timeout(&proxy, ANSWER).map_err(|e| e.to_string())?;
    options_on(&mut c, proxy)
}

/// OPTIONS on the open connection `c`, answered 200.
fn options_on(c: &mut TcpStream, proxy: SocketAddr) -> Result<(), String> {
    let from = c.local_addr().map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(ANSWER))
        .map_err(|e| e.to_string())?;
    c.write_all(&options(proxy, from, "TCP"))
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + ANSWER;
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        if Instant::now() >= deadline {
            return Err("no whole answer".into());
        }
        let n = c.read(&mut buf).map_err(|e| format!("no answer: {e}"))?;
        if n == 0 {
            return Err("closed without an answer".into());
        }
        got.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    match status(&got) {
        Some(200) => Ok(()),
        other => Err(format!("answered {other:?}")),
    }
}

/// Waits (at most `limit`) until the daemon closes `c`: true if it did.
fn closed_by_daemon(c: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 512];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || c.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(_) => return true,
        }
    }
    false
}

/// Whether a new connection to `to` is closed by the daemon within `limit`. The daemon
/// accepts and closes a refused connection at once, so its reset can already be the outcome
/// of the connect itself.
fn refused_by_daemon(to: SocketAddr, limit: Duration) -> bool {
    match TcpStream::connect_timeout(&to, limit) {
        Ok(mut c) => closed_by_daemon(&mut c, limit),
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::ConnectionRefused
        ),
    }
}

/// Lets this test process hold `n` more descriptors (the soft limit up to the hard one).
fn room_for(n: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let want = n + 256;
    if lim.current.is_some_and(|c| c < want) {
        let raised = Rlimit {
            current: Some(lim.maximum.map_or(want, |m| want.min(m))),
            maximum: lim.maximum,
        };
        setrlimit(Resource::Nofile, raised).unwrap();
    }
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|c| c >= want),
        "edge_tcp needs {want} open files, the hard limit allows {now:?}: raise it (ulimit -Hn)"
    );
}

#[test]
fn ten_thousand_connect_close_cycles_leave_the_descriptor_count_where_it_started() {
    let edge = Edge::start("");
    edge.baseline();
    let before = edge.fd_targets();
    let start = before.len();
    let proxy = edge.proxy();
    let began = Instant::now();
    let mut peak = start;
    for i in 0..10_000u32 {
        assert!(
            began.elapsed() < Duration::from_secs(240),
            "cycle {i}: too slow"
        );
        let mut c = TcpStream::connect_timeout(&proxy, ANSWER).unwrap();
        match i % 4 {
            // Connect and close.
            0 => {}
            // A whole OPTIONS, its answer, close.
            1 => options_on(&mut c, proxy).unwrap_or_else(|e| panic!("cycle {i}: {e}")),
            // Half a header, close.
            2 => c
                .write_all(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TC")
                .unwrap(),
            // A keep-alive ping, close before reading the pong.
            _ => c.write_all(b"\r\n\r\n").unwrap(),
        }
        drop(c);
        if i % 1000 == 999 {
            peak = peak.max(edge.fds());
            edge.answers_options(&format!("after {} cycles", i + 1));
        }
    }
    let elapsed = began.elapsed();
    let (end, took) = edge.settle(start);
    println!(
        "edge_tcp: 10000 connect/close cycles in {elapsed:.1?}: daemon descriptors {start} before, \
         {peak} at most during, {end} after ({took:.1?} to settle; new: {:?})",
        edge.new_fds(&before)
    );
    assert!(
        end <= start + FD_SLACK,
        "descriptors {start} -> {end}: connections leak"
    );
    edge.answers_options("at the end");
}

#[test]
fn a_thousand_idle_connections_are_closed_by_the_idle_timeout() {
    const N: usize = 1000;
    room_for(N as u64);
    let edge = Edge::start("tcp_idle_timeout_secs = 2\ntcp_max_connections_per_source = 2000");
    let start = edge.baseline();
    let proxy = edge.proxy();
    // Each sends one OPTIONS (so the first-message timeout is over), then sits idle.
    let mut conns = Vec::with_capacity(N);
    let opened = Instant::now();
    for i in 0..N {
        let mut c = TcpStream::connect_timeout(&proxy, ANSWER).unwrap();
        options_on(&mut c, proxy).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        conns.push(c);
    }
    let held = edge.fds();
    println!(
        "edge_tcp: {N} idle connections opened in {:.1?}",
        opened.elapsed()
    );
    assert!(
        held >= start + N,
        "the daemon holds {held} descriptors for {N} connections"
    );
    edge.answers_options("with 1000 idle connections");
    let last = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        assert!(
            closed_by_daemon(c, Duration::from_secs(6)),
            "connection {i} still open"
        );
    }
    let closed_in = last.elapsed();
    let (end, took) = edge.settle(start);
    println!(
        "edge_tcp: {N} idle connections closed by the 2 s idle timeout within {closed_in:.1?} of \
         the last one's answer; daemon descriptors {start} before, {held} with them open, {end} \
         after ({took:.1?} to settle)"
    );
    assert!(end <= start + FD_SLACK, "descriptors {start} -> {end}");
    let idle = edge.log_lines(&["SIP TCP connection closed", "reason=\"idle\""], N);
    assert_eq!(idle, N, "connections closed as idle");
    drop(conns);
    edge.answers_options("at the end");
}

/// Trickles `bytes` on `c`, one byte every `gap`, until the daemon closes it or `limit`
/// passes; how long it stayed open.
fn trickle(mut c: TcpStream, bytes: &[u8], gap: Duration, limit: Duration) -> Duration {
    let start = Instant::now();
    let _ = c.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = [0u8; 64];
    let mut sent = 0;
    let mut next = start;
    while start.elapsed() < limit {
        if Instant::now() >= next {
            let Some(b) = bytes.get(sent) else { break };
            if c.write_all(&[*b]).is_err() {
                return start.elapsed();
            }
            sent += 1;
            next += gap;
        }
        match c.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return start.elapsed()
            }
            _ => {}
        }
    }
    panic!("a trickled header stayed open {:?}", start.elapsed());
}

#[test]
fn slowloris_headers_trickled_one_byte_a_second_are_closed_by_the_message_timeout() {
    const EACH: usize = 20;
    let timeout = Duration::from_secs(3);
    let edge = Edge::start("tcp_message_timeout_secs = 3");
    let start = edge.baseline();
    let proxy = edge.proxy();
    let header = options(proxy, SocketAddr::from((LOOPBACK, 9)), "TCP");
    let mut threads = Vec::new();
    for i in 0..2 * EACH {
        let header = header.clone();
        threads.push(thread::spawn(move || {
            let mut c = TcpStream::connect_timeout(&proxy, ANSWER).unwrap();
            // Half of them first send a whole message in time: then the next one's header
            // is what trickles, and the timer starts at its first byte.
            if i % 2 == 1 {
                options_on(&mut c, proxy).unwrap();
            }
            trickle(c, &header, Duration::from_secs(1), Duration::from_secs(20))
        }));
    }
    // The daemon answers all along.
    for round in 0..3 {
        thread::sleep(Duration::from_millis(800));
        edge.answers_options(&format!("during the slowloris, round {round}"));
    }
    let times: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let longest = times.iter().max().copied().unwrap_or_default();
    let shortest = times.iter().min().copied().unwrap_or_default();
    let (end, _) = edge.settle(start);
    println!(
        "edge_tcp: {} slowloris connections (1 byte/s) closed {shortest:.2?}..{longest:.2?} after \
         their header began (message timeout {timeout:?}); daemon descriptors {start} before, \
         {end} after",
        times.len()
    );
    assert!(
        shortest >= timeout - Duration::from_millis(300),
        "closed early: {shortest:?}"
    );
    assert!(
        longest <= timeout + Duration::from_millis(1500),
        "closed late: {longest:?}"
    );
    assert!(end <= start + FD_SLACK, "descriptors {start} -> {end}");
    let cut = edge.log_lines(&["SIP TCP connection closed", "message_timeout"], 2 * EACH);
    assert_eq!(cut, 2 * EACH, "connections closed by the message timeout");
}

#[test]
fn connections_beyond_the_per_source_and_total_caps_are_refused() {
    let edge = Edge::start("tcp_max_connections = 12\ntcp_max_connections_per_source = 8");
    let start = edge.baseline();
    let (v4, v6) = (edge.proxy(), edge.proxy6());
    let open = |to: SocketAddr, n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|i| {
                let mut c = TcpStream::connect_timeout(&to, ANSWER)
                    .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
                options_on(&mut c, to).unwrap_or_else(|e| panic!("{to} #{i}: {e}"));
                c
            })
            .collect()
    };
    // 8 from 127.0.0.1 (its cap), then the 9th is refused.
    let mut kept = open(v4, 8);
    assert!(
        refused_by_daemon(v4, ANSWER),
        "a 9th connection from 127.0.0.1 stayed"
    );
    // ::1 is another source: 4 more fill the total of 12; the 13th is refused.
    kept.extend(open(v6, 4));
    assert!(refused_by_daemon(v6, ANSWER), "a 13th connection stayed");
    // UDP keeps working at the cap.
    options_udp(v4).unwrap();
    let refused = |reason: &str| edge.log_lines(&["SIP TCP connection refused", reason], 1);
    assert_eq!(
        refused("refused_source"),
        1,
        "refusals by the per-source cap"
    );
    assert_eq!(refused("refused_total"), 1, "refusals by the total cap");
    // Freed slots take new connections.
    kept.truncate(6);
    thread::sleep(Duration::from_millis(300));
    edge.answers_options("after slots were freed");
    drop(kept);
    let (end, _) = edge.settle(start);
    println!("edge_tcp: caps 8 per source, 12 in all: 9th from one source and 13th in all refused; daemon descriptors {start} before, {end} after");
    assert!(end <= start + FD_SLACK, "descriptors {start} -> {end}");
}

/// A pool member over TCP that answers OPTIONS and, when an INVITE comes, resets its
/// connection (closes it with the INVITE unread, which makes the kernel send RST).
fn resetting_member(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    invited: Arc<Mutex<Option<Instant>>>,
) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((c, _)) => {
                let invited = invited.clone();
                thread::spawn(move || serve_member(c, &invited));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_member(mut c: TcpStream, invited: &Mutex<Option<Instant>>) {
    let _ = c.set_nonblocking(false);
    let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
    loop {
        let mut head = [0u8; 6];
        match c.peek(&mut head) {
            Ok(6) if &head == b"INVITE" => {
                *invited.lock().unwrap() = Some(Instant::now());
                return; // dropped with the INVITE unread: a reset
            }
            Ok(0) | Err(_) => return,
            Ok(n) if n < 6 => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Ok(_) => {}
        }
        let Some(msg) = read_message(&mut c) else {
            return;
        };
        if msg.starts_with(b"OPTIONS") {
            let _ = c.write_all(&answer(&msg, 200, "OK"));
        }
    }
}

/// One whole message from `c`, read exactly (byte by byte up to the blank line, then the body).
fn read_message(c: &mut TcpStream) -> Option<Vec<u8>> {
    let mut msg = Vec::new();
    let mut b = [0u8; 1];
    while !msg.ends_with(b"\r\n\r\n") {
        if c.read(&mut b).ok()? == 0 {
            return None;
        }
        msg.push(b[0]);
    }
    let text = String::from_utf8_lossy(&msg).to_ascii_lowercase();
    let len: usize = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .or_else(|| l.strip_prefix("l:"))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).ok()?;
    msg.extend_from_slice(&body);
    Some(msg)
}

/// A response to `req` with `code`: its Via, From, To (tagged), Call-ID and CSeq copied.
fn answer(req: &[u8], code: u16, reason: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(req);
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in text.split("\r\n").skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" if !line.contains(";tag=") => {
                out.push_str(line);
                out.push_str(";tag=member\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// A UDP pool member that answers OPTIONS 200 and INVITE 486 (relayed to the caller as is).
fn busy_member(s: UdpSocket, stop: Arc<AtomicBool>) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            continue;
        };
        let msg = buf.get(..n).unwrap_or_default();
        let reply = if msg.starts_with(b"INVITE") {
            answer(msg, 486, "Busy Here")
        } else if msg.starts_with(b"OPTIONS") {
            answer(msg, 200, "OK")
        } else {
            continue;
        };
        let _ = s.send_to(&reply, from);
    }
}

#[test]
fn a_member_resetting_its_tcp_connection_fails_the_invite_over_at_once() {
    let ports = PortBlock::take().unwrap();
    let (tcp_port, udp_port) = (ports.uas_sip(), ports.uas_sip() + 4);
    let set = format!(
        "[[set]]\nname = \"pool\"\nalgorithm = \"priority\"\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{tcp_port};transport=tcp\"\npriority = 0\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{udp_port}\"\npriority = 1\n"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let invited = Arc::new(Mutex::new(None));
    let listener = TcpListener::bind((LOOPBACK, tcp_port)).unwrap();
    let udp = UdpSocket::bind((LOOPBACK, udp_port)).unwrap();
    let members = [
        thread::spawn({
            let (stop, invited) = (stop.clone(), invited.clone());
            move || resetting_member(listener, stop, invited)
        }),
        thread::spawn({
            let stop = stop.clone();
            move || busy_member(udp, stop)
        }),
    ];
    let edge = Edge::start_on(ports, "fr_timeout_ms = 5000", &set);
    edge.answers_options("at start");
    let (code, took) = call(edge.proxy());
    stop.store(true, Ordering::Relaxed);
    for m in members {
        m.join().unwrap();
    }
    let reset_at = invited.lock().unwrap().take();
    println!(
        "edge_tcp: the TCP member reset the INVITE; the caller had the other member's {code:?} \
         {took:.0?} after sending (fr_timeout 5 s)"
    );
    assert!(
        reset_at.is_some(),
        "the INVITE never reached the TCP member"
    );
    assert_eq!(
        code,
        Some(486),
        "the call was not failed over to the UDP member"
    );
    assert!(
        took < Duration::from_millis(1000),
        "failover took {took:?}: not at once"
    );
    edge.answers_options("after the reset");
}

/// An INVITE from a UDP caller through `proxy`: the final status and how long it took.
fn call(proxy: SocketAddr) -> (Option<u16>, Duration) {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let me = s.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:callee@{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKedgecall;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=caller\r\nTo: <sip:callee@{proxy}>\r\n\
         Call-ID: edge-call@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{me}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let sent = Instant::now();
    s.send_to(invite.as_bytes(), proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 8192];
    while sent.elapsed() < Duration::from_secs(10) {
        let Ok(n) = s.recv(&mut buf) else { continue };
        let msg = buf.get(..n).unwrap_or_default();
        match status(msg) {
            Some(code) if code >= 200 => {
                let took = sent.elapsed();
                let _ = s.send_to(&ack_for(&invite, msg), proxy);
                return (Some(code), took);
            }
            _ => {}
        }
    }
    (None, sent.elapsed())
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's Via, From,
/// Call-ID and Request-URI, the response's To, CSeq method ACK.
fn ack_for(invite: &str, resp: &[u8]) -> Vec<u8> {
    let resp = String::from_utf8_lossy(resp);
    let to = resp
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap_or("To: <sip:callee@127.0.0.1>");
    let mut out = invite
        .lines()
        .next()
        .unwrap_or_default()
        .replacen("INVITE", "ACK", 1);
    out.push_str("\r\n");
    for line in invite.split("\r\n").skip(1) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("max-forwards:")
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(to);
    out.push_str("\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}
