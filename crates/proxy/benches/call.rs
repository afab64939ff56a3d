//! What one call costs the proxy core: a whole call through `Proxy` on one thread, no sockets.
//!
//! Each call is the flow of `benches/sip-vs-kamailio.sh`: the caller's INVITE (answered 100
//! Trying, forwarded to a member of a round-robin set of two), the member's 180 and 200
//! (forwarded to the caller), the caller's ACK and BYE along the Record-Route (forwarded to the
//! member), and the member's 200 to the BYE. Simulated time moves 1 ms per call, so the
//! transaction and dialog tables hold what 1000 calls per second leave behind (Timers H, J, K,
//! L, M at 64*T1 = 32 s, dialogs until BYE + 32 s), and `handle_timeout` runs whenever it is
//! due. Only the proxy's own work is timed: `handle_message`, `handle_timeout` and draining
//! `poll_transmit`; building the peers' messages is not.
//!
//! The figure is nanoseconds per call (best and median of several rounds, each on a fresh
//! proxy). Run: `cargo bench -p proxy --bench call` (`-- --quick` for a short run;
//! `PROXY_CALL_ITERS=N` sets the calls per round).
#![allow(missing_docs)]

use proxy::{Proxy, ProxyConfig, Transmit, Transport};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[interface]]
name = "external"
address = "127.0.0.1"
port_min = 30000
port_max = 30999
[sip]
listen = ["127.0.0.1:5060"]
transports = ["udp"]
# The one caller sends 3,000 messages a second of simulated time, beyond the default limit:
# the flood guard checks every message, at a rate that lets them all through.
[sip.flood]
rate = 1000000
[[set]]
name = "pool"
algorithm = "round_robin"
[set.health]
interval_secs = 3600
[[set.member]]
uri = "sip:127.0.0.20:5060"
[[set.member]]
uri = "sip:127.0.0.21:5060"
"#;

const PROXY: &str = "127.0.0.1:5060";
const CALLER: &str = "127.0.0.10:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| panic!("address {s}"))
}

/// The caller's INVITE for call `n`.
fn invite(n: u64) -> Vec<u8> {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-i{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.10>;tag=c{n}\r\n\
         To: <sip:1000@127.0.0.1>\r\n\
         Call-ID: bench-{n}@127.0.0.10\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.10:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The caller's ACK or BYE for call `n`, along the Record-Route.
fn in_dialog(method: &str, n: u64, cseq: u32, member: SocketAddr) -> Vec<u8> {
    format!(
        "{method} sip:fs@{member} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-{method}{n};rport\r\n\
         Route: <sip:127.0.0.1:5060;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.10>;tag=c{n}\r\n\
         To: <sip:1000@127.0.0.1>;tag=m{n}\r\n\
         Call-ID: bench-{n}@127.0.0.10\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The member's response to a request it received.
fn answer(req: &[u8], code: u16, n: u64, member: SocketAddr) -> Vec<u8> {
    let msg = sip::parse(req).unwrap_or_else(|e| panic!("forwarded request: {e}"));
    let contact = format!("<sip:fs@{member}>");
    let rr: Vec<String> = msg
        .headers_named("Record-Route")
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
        .collect();
    let mut extra = vec![("Contact", contact.as_str())];
    extra.extend(rr.iter().map(|r| ("Record-Route", r.as_str())));
    let tag = format!("m{n}");
    sip::response_with(&msg, code, "X", Some(&tag), &extra)
}

/// The proxy under test, its clock and the time spent in it.
struct Bench {
    proxy: Proxy,
    now: Instant,
    spent: Duration,
    out: Vec<Transmit>,
}

impl Bench {
    fn new(cfg: &config::Config) -> Self {
        let now = Instant::now();
        let pc = ProxyConfig::from_config(cfg);
        let rng = Box::new(proxy::deterministic_rng(1));
        let proxy = Proxy::new(pc, &cfg.sets, &cfg.routes, now, rng);
        Bench {
            proxy,
            now,
            spent: Duration::ZERO,
            out: Vec::new(),
        }
    }

    /// Feeds one message and collects what the proxy sends; fails when `expect` transmits
    /// did not come out to `to`, so a broken flow cannot look fast.
    fn feed(&mut self, from: SocketAddr, bytes: &[u8], to: SocketAddr, expect: usize) {
        self.out.clear();
        let t0 = Instant::now();
        self.proxy
            .handle_message(self.now, Transport::Udp, addr(PROXY), from, bytes);
        while let Some(t) = self.proxy.poll_transmit() {
            self.out.push(t);
        }
        self.spent += t0.elapsed();
        let n = self.out.iter().filter(|t| t.dst == to).count();
        assert_eq!(n, expect, "transmits to {to} after a message from {from}");
    }

    /// Moves the clock and fires what is due.
    fn tick(&mut self, step: Duration) {
        self.now += step;
        let t0 = Instant::now();
        if self.proxy.poll_timeout().is_some_and(|t| t <= self.now) {
            self.proxy.handle_timeout(self.now);
        }
        while let Some(t) = self.proxy.poll_transmit() {
            black_box(t);
        }
        self.spent += t0.elapsed();
    }

    /// One whole call.
    fn call(&mut self, n: u64) {
        let caller = addr(CALLER);
        self.feed(caller, &invite(n), caller, 1);
        let Some(fwd) = self.out.iter().find(|t| t.dst != caller).cloned() else {
            panic!("the INVITE was not forwarded");
        };
        let member = fwd.dst;
        self.feed(member, &answer(&fwd.bytes, 180, n, member), caller, 1);
        self.feed(member, &answer(&fwd.bytes, 200, n, member), caller, 1);
        self.feed(caller, &in_dialog("ACK", n, 1, member), member, 1);
        self.feed(caller, &in_dialog("BYE", n, 2, member), member, 1);
        let Some(bye) = self.out.first().cloned() else {
            panic!("the BYE was not forwarded");
        };
        self.feed(member, &answer(&bye.bytes, 200, n, member), caller, 1);
        self.tick(Duration::from_millis(1));
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters: u64 = std::env::var("PROXY_CALL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 100_000 });
    let rounds = if quick { 3 } else { 7 };
    let cfg = config::parse(CONFIG).unwrap_or_else(|e| panic!("bench config: {e}"));
    println!(
        "proxy call: the proxy core's cost per call (INVITE, 180, 200, ACK, BYE, 200), one thread"
    );
    println!("conditions: {iters} calls per round, 1 ms of simulated time per call, best and median of {rounds} rounds");
    let mut figures: Vec<f64> = (0..rounds)
        .map(|_| {
            let mut b = Bench::new(&cfg);
            for n in 0..iters {
                b.call(n);
            }
            let (server, client, ctxs, dialogs) = b.proxy.sizes();
            black_box((server, client, ctxs, dialogs));
            b.spent.as_nanos() as f64 / iters as f64
        })
        .collect();
    figures.sort_by(f64::total_cmp);
    let best = figures.first().copied().unwrap_or_default();
    let median = figures.get(figures.len() / 2).copied().unwrap_or_default();
    println!("per call: best {best:.0} ns, median {median:.0} ns");
}
