//! ng as rtpengine speaks it, against the real daemon on loopback: Debian's
//! `rtpengine-ng-client` (package rtpengine-utils) drives a call over UDP in bencode and with
//! `--json`; a TCP client of the test (rtpengine-ng-client speaks UDP only) drives one over
//! `[ng] listen_tcp` in both encodings; then the abuse: malformed and deeply nested JSON, a
//! huge TCP message, a slow TCP client and a TCP source outside `[ng] allow`, each while the
//! daemon keeps answering.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::daemon::{Daemon, DaemonConfig, RawNg};
use e2e::peer::audio_sdp;
use e2e::ports::PortBlock;
use e2e::tools::{self, Tool};
use ng::{Encoding, OwnedValue, StreamFramer};

/// Debian's ng client.
const NG_CLIENT: Tool = Tool {
    name: "rtpengine-ng-client",
    hint: "install it: apt-get install rtpengine-utils (deploy/install-deps.sh --test)",
};

/// How long one client run or one reply may take.
const LIMIT: Duration = Duration::from_secs(10);

fn start(block: &PortBlock, extra: &[(&str, &str)]) -> Daemon {
    let r = block.relay_external();
    let tcp = format!("\"127.0.0.1:{}\"", block.ng());
    let mut cfg = DaemonConfig::new(block.ng())
        .interface("external", *r.start(), *r.end())
        .ng("listen_tcp", tcp)
        .ng("tcp_message_timeout_secs", 1)
        .ng("tcp_max_message_bytes", 65_536);
    for (k, v) in extra {
        cfg = cfg.ng(k, v);
    }
    Daemon::start(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// The ng client, or the test's verdict when it is missing (see `testkit::need`).
fn ng_client(test: &str) -> Option<std::path::PathBuf> {
    match tools::find(NG_CLIENT) {
        Ok(path) => Some(path),
        Err(e) => {
            testkit::need::unmet(test, "rtpengine-utils", &e.to_string());
            None
        }
    }
}

/// One run of `rtpengine-ng-client`: (exit success, stdout and stderr).
fn run_client(
    client: &std::path::Path,
    ng: SocketAddr,
    json: bool,
    args: &[String],
) -> (bool, String) {
    let mut cmd = Command::new(client);
    cmd.arg(format!("--proxy-address={}", ng.ip()))
        .arg(format!("--proxy-port={}", ng.port()));
    if json {
        cmd.arg("--json");
    }
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let end = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("rtpengine-ng-client {args:?} got no reply within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The "New SDP" the client printed.
fn new_sdp(output: &str) -> &str {
    let start = output
        .find("New SDP:\n")
        .unwrap_or_else(|| panic!("no New SDP in:\n{output}"));
    let body = &output[start..];
    let open = body.find("8<-----\n").unwrap() + "8<-----\n".len();
    let close = body.find("\n----->8").unwrap();
    &body[open..close]
}

/// The audio port an SDP announces, checked to be 127.0.0.1 and inside `range`.
fn relay_port(sdp: &str, range: &RangeInclusive<u16>) -> u16 {
    assert!(
        sdp.contains("c=IN IP4 127.0.0.1"),
        "not the relay address:\n{sdp}"
    );
    let port: u16 = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no audio port in:\n{sdp}"));
    assert!(
        range.contains(&port),
        "port {port} outside {range:?}:\n{sdp}"
    );
    port
}

/// ping, offer, answer, query, delete (and query again) with `rtpengine-ng-client`.
fn client_call(client: &std::path::Path, d: &Daemon, block: &PortBlock, json: bool) {
    let tag = if json { "json" } else { "bencode" };
    let call = format!("ng-client-{tag}@e2e");
    let media = block.uac_media();
    let run = |args: &[String]| run_client(client, d.ng_addr(), json, args);
    let s = |v: &str| v.to_owned();

    let (ok, out) = run(&[s("ping")]);
    assert!(ok && out.contains("pong"), "{tag} ping:\n{out}");

    let offer_sdp = audio_sdp(*media.start(), 1);
    let (ok, out) = run(&[
        s("offer"),
        format!("--call-id={call}"),
        s("--from-tag=caller"),
        format!("--sdp={offer_sdp}"),
    ]);
    assert!(ok, "{tag} offer:\n{out}");
    let to_callee = relay_port(new_sdp(&out), &block.relay_external());

    let answer_sdp = audio_sdp(*media.start() + 2, 2);
    let (ok, out) = run(&[
        s("answer"),
        format!("--call-id={call}"),
        s("--from-tag=caller"),
        s("--to-tag=callee"),
        format!("--sdp={answer_sdp}"),
    ]);
    assert!(ok, "{tag} answer:\n{out}");
    let to_caller = relay_port(new_sdp(&out), &block.relay_external());
    assert_ne!(to_caller, to_callee, "{tag}: one relay port for both sides");

    let (ok, out) = run(&[s("query"), format!("--call-id={call}")]);
    assert!(ok, "{tag} query:\n{out}");
    for word in ["created", "caller", "callee", &to_caller.to_string()] {
        assert!(out.contains(word), "{tag} query reply lacks {word}:\n{out}");
    }

    let (ok, out) = run(&[
        s("delete"),
        format!("--call-id={call}"),
        s("--from-tag=caller"),
    ]);
    assert!(ok, "{tag} delete:\n{out}");
    let (ok, out) = run(&[s("query"), format!("--call-id={call}")]);
    assert!(
        !ok && out.contains("Error reason"),
        "{tag} query after delete:\n{out}"
    );
    eprintln!("{tag}: offer -> {to_callee}, answer -> {to_caller}, deleted");
}

#[test]
fn rtpengine_ng_client_drives_a_call_in_bencode_and_in_json() {
    let Some(client) = ng_client("rtpengine_ng_client_drives_a_call_in_bencode_and_in_json") else {
        return;
    };
    let block = PortBlock::take().unwrap();
    let d = start(&block, &[]);
    client_call(&client, &d, &block, false);
    client_call(&client, &d, &block, true);
}

/// A TCP connection to the daemon's ng listener, reading replies with the ng framer.
struct Tcp {
    stream: TcpStream,
    framer: StreamFramer,
    next: u32,
}

impl Tcp {
    fn connect(to: SocketAddr) -> Tcp {
        Tcp::from(TcpStream::connect_timeout(&to, LIMIT).unwrap())
    }

    fn from(stream: TcpStream) -> Tcp {
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        Tcp {
            stream,
            framer: StreamFramer::new(1 << 20),
            next: 0,
        }
    }

    /// Sends `body` in `enc` under a fresh cookie and returns the reply's body, decoded.
    fn ask(&mut self, enc: Encoding, body: &OwnedValue) -> OwnedValue {
        self.next += 1;
        let cookie = format!("tcp-{}", self.next);
        self.stream
            .write_all(&ng::frame_as(enc, cookie.as_bytes(), body))
            .unwrap();
        let reply = self
            .read_message()
            .expect("a reply before the connection closed");
        let (got, body) = ng::split_cookie(&reply).unwrap();
        assert_eq!(got, cookie.as_bytes());
        assert_eq!(
            Encoding::of(body),
            enc,
            "reply in another encoding: {reply:?}"
        );
        ng::decode_any(body).unwrap().1
    }

    /// The next whole message; `None` when the daemon closed the connection first.
    fn read_message(&mut self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(m) = self.framer.next_message().unwrap() {
                return Some(m);
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.framer.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading the ng connection: {e}"),
            }
        }
    }

    /// True when the daemon closes the connection within `limit` (what it sends is read
    /// and dropped).
    fn closed_within(&mut self, limit: Duration) -> bool {
        self.stream.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 8192];
        let end = Instant::now() + limit;
        while Instant::now() < end {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

fn request(pairs: &[(&str, OwnedValue)]) -> OwnedValue {
    OwnedValue::Dict(
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect(),
    )
}

fn text(v: &OwnedValue, key: &str) -> String {
    v.get(key)
        .and_then(OwnedValue::as_str)
        .unwrap_or_else(|| panic!("no {key} in {v:?}"))
        .to_owned()
}

/// ping, offer, answer, query, delete over one TCP connection in `enc`.
fn tcp_call(tcp: &mut Tcp, block: &PortBlock, enc: Encoding) {
    let call = OwnedValue::from(format!("tcp-{enc:?}@e2e"));
    let s = |v: &str| OwnedValue::from(v);
    let ping = tcp.ask(enc, &request(&[("command", s("ping"))]));
    assert_eq!(text(&ping, "result"), "pong");
    let media = block.uac_media();
    let offer = tcp.ask(
        enc,
        &request(&[
            ("command", s("offer")),
            ("call-id", call.clone()),
            ("from-tag", s("caller")),
            ("sdp", s(audio_sdp(*media.start() + 4, 3).as_str())),
        ]),
    );
    assert_eq!(text(&offer, "result"), "ok", "{offer:?}");
    let to_callee = relay_port(&text(&offer, "sdp"), &block.relay_external());
    let answer = tcp.ask(
        enc,
        &request(&[
            ("command", s("answer")),
            ("call-id", call.clone()),
            ("from-tag", s("caller")),
            ("to-tag", s("callee")),
            ("sdp", s(audio_sdp(*media.start() + 6, 4).as_str())),
        ]),
    );
    let to_caller = relay_port(&text(&answer, "sdp"), &block.relay_external());
    assert_ne!(to_callee, to_caller);
    let query = tcp.ask(
        enc,
        &request(&[("command", s("query")), ("call-id", call.clone())]),
    );
    assert_eq!(text(&query, "result"), "ok", "{query:?}");
    assert!(
        query.get("created").and_then(OwnedValue::as_int).is_some(),
        "{query:?}"
    );
    let delete = tcp.ask(
        enc,
        &request(&[("command", s("delete")), ("call-id", call.clone())]),
    );
    assert_eq!(text(&delete, "result"), "ok", "{delete:?}");
    let gone = tcp.ask(enc, &request(&[("command", s("query")), ("call-id", call)]));
    assert_eq!(text(&gone, "result"), "error", "{gone:?}");
    eprintln!("TCP {enc:?}: offer -> {to_callee}, answer -> {to_caller}, deleted");
}

#[test]
fn a_call_over_ng_tcp_in_bencode_and_in_json() {
    let block = PortBlock::take().unwrap();
    let d = start(&block, &[]);
    let mut tcp = Tcp::connect(d.ng_addr());
    tcp_call(&mut tcp, &block, Encoding::Bencode);
    tcp_call(&mut tcp, &block, Encoding::Json);
    // A request repeated on a new connection (a client that reconnected) is answered from
    // the cookie cache, byte for byte, and runs nothing twice.
    let ping = br#"again {"command":"list"}"#;
    let mut first = Tcp::connect(d.ng_addr());
    first.stream.write_all(ping).unwrap();
    let a = first.read_message().unwrap();
    let mut second = Tcp::connect(d.ng_addr());
    second.stream.write_all(ping).unwrap();
    assert_eq!(second.read_message().unwrap(), a);
}

/// One UDP datagram to the daemon and its reply.
fn udp_ask(d: &Daemon, datagram: &[u8]) -> Vec<u8> {
    let s = RawNg::new(d.ng_addr()).unwrap();
    s.send(datagram).unwrap();
    s.recv(LIMIT).unwrap().expect("a reply")
}

#[test]
fn malformed_and_deeply_nested_json_get_json_errors_and_the_daemon_carries_on() {
    let block = PortBlock::take().unwrap();
    let d = start(&block, &[]);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "trailing comma",
            br#"m1 {"command":"ping",}"#.to_vec(),
            "invalid JSON: unexpected byte",
        ),
        (
            "a float",
            br#"m2 {"command":"ping","TOS":1.5}"#.to_vec(),
            "is not an integer",
        ),
        (
            "true",
            br#"m3 {"command":"ping","x":true}"#.to_vec(),
            "no ng meaning",
        ),
        (
            "nesting 10,000 deep",
            format!("m4 {{\"a\":{}", "[".repeat(10_000)).into_bytes(),
            "nesting deeper than 32",
        ),
    ];
    for (what, datagram, reason) in cases {
        let reply = udp_ask(&d, &datagram);
        let (cookie, body) = ng::split_cookie(&reply).unwrap();
        assert_eq!(cookie, &datagram[..2], "{what}");
        let (enc, v) = ng::decode_any(body).unwrap();
        assert_eq!(enc, Encoding::Json, "{what}: {reply:?}");
        assert_eq!(text(&v, "result"), "error", "{what}");
        let got = text(&v, "error-reason");
        assert!(got.contains(reason), "{what}: {got}");
    }
    // Over TCP the deep document cannot even be framed: the connection is closed.
    let mut tcp = Tcp::connect(d.ng_addr());
    tcp.stream
        .write_all(format!("deep {{\"a\":{}", "[".repeat(10_000)).as_bytes())
        .unwrap();
    assert!(tcp.closed_within(Duration::from_secs(2)));
    d.ng().ping().unwrap();
}

#[test]
fn a_huge_tcp_message_and_a_slow_tcp_client_are_cut_off() {
    let block = PortBlock::take().unwrap();
    let d = start(&block, &[]);
    // 2 MB announced in one string, far over tcp_max_message_bytes (64 KiB).
    let mut huge = Tcp::connect(d.ng_addr());
    let _ = huge.stream.write_all(b"huge d3:sdp2000000:");
    let _ = huge.stream.write_all(&vec![b'v'; 256 * 1024]);
    assert!(
        huge.closed_within(Duration::from_secs(2)),
        "huge message kept"
    );
    // Half a message, then nothing: closed after tcp_message_timeout_secs (1 s), not before.
    let mut slow = Tcp::connect(d.ng_addr());
    slow.stream.write_all(b"slow d7:command4:pi").unwrap();
    let t0 = Instant::now();
    assert!(
        slow.closed_within(Duration::from_secs(3)),
        "slow client kept"
    );
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    // Meanwhile, and after, other clients are served on both transports.
    let mut ok = Tcp::connect(d.ng_addr());
    let pong = ok.ask(Encoding::Bencode, &request(&[("command", "ping".into())]));
    assert_eq!(text(&pong, "result"), "pong");
    d.ng().ping().unwrap();
    eprintln!("slow client closed after {took:?}");
}

#[test]
fn a_tcp_source_outside_the_allow_list_is_closed_unanswered() {
    let block = PortBlock::take().unwrap();
    let d = start(&block, &[("allow", r#"["127.0.0.1/32"]"#)]);
    let outsider = connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), d.ng_addr());
    let mut tcp = Tcp::from(outsider);
    let _ = tcp.stream.write_all(b"out d7:command4:pinge");
    assert!(tcp.closed_within(Duration::from_secs(2)), "outsider kept");
    // The allowed client is answered; nothing of the outsider's request ran.
    let mut inside = Tcp::connect(d.ng_addr());
    let pong = inside.ask(Encoding::Json, &request(&[("command", "ping".into())]));
    assert_eq!(text(&pong, "result"), "pong");
}

/// A TCP connection to `to` from the loopback address `ip` (each address of 127.0.0.0/8 is
/// a source of its own).
fn connect_from(ip: IpAddr, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(ip, 0).into()).unwrap();
    s.connect_timeout(&to.into(), LIMIT).unwrap();
    s.into()
}
