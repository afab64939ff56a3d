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
//! Two ways in the same run: signalling only (`[set.media] anchor = false`), and anchored:
//! the media engine (no workers; its flow commands are drained and dropped) rewrites the SDP
//! of the INVITE and of the member's 200, and the BYE releases the session. The figure is
//! nanoseconds per call (best and median of several rounds, each on a fresh proxy), both ways
//! and their ratio.
//!
//! Then memory (heap counted by an instrumented global allocator, in a fresh process per
//! way): 10,000 calls set up (1 ms apart) and held until their transactions are gone
//! (64*T1 = 32 s), ended, then 10,000 more set up and held: the heap the second ones add,
//! per call, is what an established call holds in the control plane (dialog, media session;
//! the data plane's flow records are not in it); what the first ones leave after they ended
//! is the tables' capacity, grown to the set-up's peak and kept.
//!
//! Run: `cargo bench -p proxy --bench call` (`-- --quick` for a short run;
//! `PROXY_CALL_ITERS=N` sets the calls per round, `PROXY_HELD_CALLS=N` the held calls).
#![allow(missing_docs)]

use media::{AnchorError, Engine, SdpExchange, VirtualBinder};
use proxy::{MediaAnchor, Proxy, ProxyConfig, Transmit, Transport};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[interface]]
name = "external"
address = "127.0.0.1"
port_min = 10000
port_max = 30999
[[interface]]
name = "internal"
address = "127.0.0.1"
port_min = 31000
port_max = 51999
[media]
delete_delay_secs = 0
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
[set.media]
anchor = @@ANCHOR@@
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

/// The SDP a member answers with.
const MEMBER_SDP: &str = "v=0\r\no=fs 1 1 IN IP4 127.0.0.20\r\ns=fs\r\nc=IN IP4 127.0.0.20\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\n";

/// The member's response to a request it received; a 200 to an INVITE carries an SDP
/// answer.
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
    let invite = msg.request_method() == Some(sip::Method::Invite);
    if code == 200 && invite {
        extra.push(("Content-Type", "application/sdp"));
    }
    let resp = sip::response_with(&msg, code, "X", Some(&tag), &extra);
    if code != 200 || !invite {
        return resp;
    }
    let parsed = sip::parse(&resp).unwrap_or_else(|e| panic!("response: {e}"));
    sip::Editor::new(&parsed)
        .set_body(MEMBER_SDP.as_bytes())
        .and_then(|e| e.finish())
        .unwrap_or_else(|e| panic!("response body: {e}"))
}

/// The media engine behind the proxy, shared with the bench, which takes its flow commands
/// (there are no workers) as the daemon's ng thread moves them to the workers, and confirms
/// each removal as a worker would, so the ports come back.
#[derive(Debug, Clone)]
struct Relay(Arc<Mutex<Engine>>);

impl Relay {
    fn new(cfg: &config::Config, now: Instant) -> Relay {
        let ranges = cfg
            .interfaces
            .iter()
            .map(|i| dataplane::AddrRange {
                port_min: i.port_min,
                port_max: i.port_max,
            })
            .collect();
        let layout = dataplane::PortLayout::new(ranges, 1).unwrap_or_else(|e| panic!("{e}"));
        let engine = Engine::new(
            cfg.media_engine(now, false),
            Arc::new(layout),
            Box::new(VirtualBinder),
            Vec::new(),
        );
        Relay(Arc::new(Mutex::new(engine)))
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the flow commands (a removal confirmed at once) and moves the engine's timers.
    fn drain(&self, now: Instant) {
        let mut e = self.engine();
        e.handle_timeout(now);
        while let Some((w, c)) = e.poll_command() {
            if let dataplane::FlowCommand::Remove { token, .. } = c {
                let removed = dataplane::FlowEvent::Removed { token, pair: None };
                e.handle_event(now, w, removed);
            } else {
                black_box(c);
            }
        }
    }
}

impl MediaAnchor for Relay {
    fn offer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.engine().anchor_offer(now, x)
    }
    fn answer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.engine().anchor_answer(now, x)
    }
    fn delete(&mut self, now: Instant, call_id: &[u8]) -> bool {
        self.engine().anchor_delete(now, call_id)
    }
    fn poll_ended(&mut self) -> Option<(Vec<u8>, media::EndReason)> {
        self.engine().poll_anchored_end()
    }
    fn poll_silent(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        self.engine().poll_anchored_silent()
    }
}

/// The proxy under test, its relay (anchored runs), its clock and the time spent in them.
struct Bench {
    proxy: Proxy,
    relay: Option<Relay>,
    now: Instant,
    spent: Duration,
    out: Vec<Transmit>,
}

impl Bench {
    fn new(cfg: &config::Config, anchored: bool) -> Self {
        let now = Instant::now();
        let pc = ProxyConfig::from_config(cfg);
        let rng = Box::new(proxy::deterministic_rng(1));
        let mut proxy = Proxy::new(pc, &cfg.sets, &cfg.routes, now, rng);
        let relay = anchored.then(|| Relay::new(cfg, now));
        if let Some(r) = &relay {
            proxy.set_media_anchor(Box::new(r.clone()));
        }
        Bench {
            proxy,
            relay,
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
        // The driver logs and drops the events (one per call routed, and member changes).
        while let Some(e) = self.proxy.poll_event() {
            black_box(e);
        }
        if let Some(r) = &self.relay {
            r.drain(self.now);
        }
        self.spent += t0.elapsed();
    }

    /// A call set up and answered: INVITE, 180, 200, ACK. Returns the member.
    fn set_up(&mut self, n: u64) -> SocketAddr {
        let caller = addr(CALLER);
        self.feed(caller, &invite(n), caller, 1);
        let Some(fwd) = self.out.iter().find(|t| t.dst != caller).cloned() else {
            panic!("the INVITE was not forwarded");
        };
        let member = fwd.dst;
        self.feed(member, &answer(&fwd.bytes, 180, n, member), caller, 1);
        self.feed(member, &answer(&fwd.bytes, 200, n, member), caller, 1);
        self.feed(caller, &in_dialog("ACK", n, 1, member), member, 1);
        member
    }

    /// One whole call.
    fn call(&mut self, n: u64) {
        let caller = addr(CALLER);
        let member = self.set_up(n);
        self.feed(caller, &in_dialog("BYE", n, 2, member), member, 1);
        let Some(bye) = self.out.first().cloned() else {
            panic!("the BYE was not forwarded");
        };
        self.feed(member, &answer(&bye.bytes, 200, n, member), caller, 1);
        self.tick(Duration::from_millis(1));
    }
}

/// The config, anchored or signalling only.
fn config(anchored: bool) -> config::Config {
    let text = CONFIG.replace("@@ANCHOR@@", if anchored { "true" } else { "false" });
    config::parse(&text).unwrap_or_else(|e| panic!("bench config: {e}"))
}

/// Best and median nanoseconds per call over `rounds` rounds of `iters` calls.
fn time_calls(anchored: bool, iters: u64, rounds: usize) -> (f64, f64) {
    let cfg = config(anchored);
    let mut figures: Vec<f64> = (0..rounds)
        .map(|_| {
            let mut b = Bench::new(&cfg, anchored);
            for n in 0..iters {
                b.call(n);
            }
            black_box(b.proxy.sizes());
            b.spent.as_nanos() as f64 / iters as f64
        })
        .collect();
    figures.sort_by(f64::total_cmp);
    let best = figures.first().copied().unwrap_or_default();
    let median = figures.get(figures.len() / 2).copied().unwrap_or_default();
    (best, median)
}

/// Counts every allocation of this bench.
#[global_allocator]
static HEAP: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Bytes allocated and not freed so far.
fn heap_in_use() -> u64 {
    let s = HEAP.stats();
    let net = s.bytes_allocated as i64 - s.bytes_deallocated as i64 + s.bytes_reallocated as i64;
    net.max(0) as u64
}

/// What holding calls costs: heap per held call with its transactions gone, once the tables
/// have grown to the set-up's peak; the heap those tables keep per call after every call
/// ended (capacity, not freed); and the dialogs and media sessions held.
struct Held {
    per_call: f64,
    tables_per_call: f64,
    dialogs: usize,
    sessions: usize,
}

impl Bench {
    /// Sets up calls `ids` and moves time until their transactions are gone.
    fn hold(&mut self, ids: std::ops::Range<u64>) -> Vec<(u64, SocketAddr)> {
        let held = ids
            .map(|n| {
                let m = self.set_up(n);
                self.tick(Duration::from_millis(1));
                (n, m)
            })
            .collect();
        self.tick_for(Duration::from_secs(40));
        held
    }

    /// Ends `calls` with a BYE from the caller and moves time until nothing is left of them.
    fn end(&mut self, calls: Vec<(u64, SocketAddr)>) {
        let caller = addr(CALLER);
        for (n, member) in calls {
            self.feed(caller, &in_dialog("BYE", n, 2, member), member, 1);
            let Some(bye) = self.out.first().cloned() else {
                panic!("the BYE was not forwarded");
            };
            self.feed(member, &answer(&bye.bytes, 200, n, member), caller, 1);
        }
        self.tick_for(Duration::from_secs(40));
    }

    /// Moves time by `d` in 100 ms steps.
    fn tick_for(&mut self, d: Duration) {
        for _ in 0..d.as_millis() / 100 {
            self.tick(Duration::from_millis(100));
        }
    }
}

/// Holds `calls` calls twice: the first round grows the tables to the set-up's peak (which
/// they keep), the second shows what a held call itself adds.
fn held_memory(anchored: bool, calls: u64) -> Held {
    let cfg = config(anchored);
    let mut b = Bench::new(&cfg, anchored);
    let start = heap_in_use();
    let first = b.hold(0..calls);
    b.end(first);
    let empty = heap_in_use();
    let second = b.hold(calls..2 * calls);
    let held = heap_in_use();
    let dialogs = b.proxy.sizes().3;
    let sessions = b.relay.as_ref().map_or(0, |r| r.engine().calls());
    b.end(second);
    let per = |bytes: u64| bytes as f64 / calls as f64;
    Held {
        per_call: per(held.saturating_sub(empty)),
        tables_per_call: per(empty.saturating_sub(start)),
        dialogs,
        sessions,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let iters = env("PROXY_CALL_ITERS", if quick { 20_000 } else { 100_000 });
    let held = env("PROXY_HELD_CALLS", 10_000);
    let rounds = if quick { 3 } else { 7 };
    if let Ok(what) = std::env::var(MEMORY_RUN) {
        return memory_run(&what, held);
    }
    println!(
        "proxy call: the proxy core's cost per call (INVITE, 180, 200, ACK, BYE, 200), one thread"
    );
    println!("conditions: {iters} calls per round, 1 ms of simulated time per call, best and median of {rounds} rounds; same run, signalling only then anchored");
    let (sb, sm) = time_calls(false, iters, rounds);
    println!("per call, signalling only: best {sb:.0} ns, median {sm:.0} ns");
    let (ab, am) = time_calls(true, iters, rounds);
    println!("per call, anchored (SDP offer and answer through the media engine): best {ab:.0} ns, median {am:.0} ns");
    println!(
        "anchored / signalling only: {:.2}x (best), {:.2}x (median)",
        ab / sb,
        am / sm
    );
    // Each memory figure in a fresh process of this bench, clear of the timing rounds.
    for what in ["signalling", "anchored"] {
        let out = std::env::current_exe()
            .and_then(|exe| {
                std::process::Command::new(exe)
                    .env(MEMORY_RUN, what)
                    .env("PROXY_HELD_CALLS", held.to_string())
                    .output()
            })
            .unwrap_or_else(|e| panic!("memory run: {e}"));
        print!("{}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "memory run {what} failed: {err}");
    }
}

/// Set in the process that measures memory: `signalling` or `anchored`.
const MEMORY_RUN: &str = "PROXY_BENCH_MEMORY";

/// The memory run (a process of its own).
fn memory_run(what: &str, held: u64) {
    let anchored = what == "anchored";
    let h = held_memory(anchored, held);
    let what = if anchored {
        "anchored"
    } else {
        "signalling only"
    };
    println!(
        "memory, {what}: {held} calls held, transactions gone: {:.0} bytes of heap per held call \
         ({} dialogs, {} media sessions); tables grown by setting up that many calls in {} s keep \
         {:.0} bytes per call after they all ended",
        h.per_call,
        h.dialogs,
        h.sessions,
        held / 1000,
        h.tables_per_call
    );
}
