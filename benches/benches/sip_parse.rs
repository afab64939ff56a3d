//! What the SIP layer costs a proxy per message: `sip::parse` of a typical carrier INVITE with
//! SDP, the same plus the typed reads a proxy makes on every request, and the same plus the
//! forwarded copy built with `sip::Editor`.
//!
//! The message (printed size, about 900 bytes) is an initial INVITE as it reaches the load
//! balancer from a carrier's edge proxy: two Via fields (the edge proxy's and the caller's),
//! one Record-Route, Max-Forwards, From with a tag, To without one, Call-ID, CSeq, Contact,
//! Allow, Supported, User-Agent, Content-Type and an SDP body with one audio m-line.
//!
//! Three figures, each in nanoseconds per message on one core:
//! - `parse`: framing, start line and the zero-copy header index (`sip::parse`);
//! - `parse + reads`: `parse`, then top Via (branch, rport), Call-ID, CSeq, From and To tags,
//!   Max-Forwards and the Route set, as a proxy reads them to match a transaction and route
//!   the request (RFC 3261 §16.3, §17.2.3);
//! - `parse + reads + forward`: all that, then the forwarded copy (RFC 3261 §16.6): a new top
//!   Via, Max-Forwards decremented, a Record-Route inserted, `Editor::finish` into a new buffer.
//!
//! Each figure is the best of several timed rounds (the machine is shared), with the median
//! beside it. Run: `cargo bench -p benches --bench sip_parse` (`-- --quick` for a short run;
//! `SIP_PARSE_ITERS=N` sets the messages per round).
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Instant;

/// The SDP body: one PCMU/PCMA/telephone-event audio stream.
const SDP: &str = "v=0\r\n\
o=carrier 1737212345 1737212345 IN IP4 192.0.2.1\r\n\
s=call\r\n\
c=IN IP4 192.0.2.1\r\n\
t=0 0\r\n\
m=audio 40118 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// The INVITE's header section; `Content-Length` is appended from the body's length.
const HEAD: &str = "INVITE sip:+4930123456@lb.ferrovox.test;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1-a5b3c1d0e9f8a7b6;rport\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.1;branch=z9hG4bK3f9a2c71d0e4\r\n\
Record-Route: <sip:192.0.2.10;lr;ftag=as5d6f7e8a>\r\n\
Max-Forwards: 69\r\n\
From: \"Alice\" <sip:+4930111222@carrier.example.net>;tag=as5d6f7e8a\r\n\
To: <sip:+4930123456@lb.ferrovox.test>\r\n\
Call-ID: 7c2e1f4a9b8d4e6f0a1b2c3d@192.0.2.1\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+4930111222@192.0.2.1:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: carrier-edge/4.2\r\n\
Content-Type: application/sdp\r\n";

/// What the proxy puts on the forwarded copy.
const OUR_VIA: &str = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-fv-0123456789abcdef;rport";
const OUR_RR: &str = "<sip:127.0.0.1:5060;lr>";

/// The INVITE as bytes on the wire.
fn invite() -> Vec<u8> {
    format!("{HEAD}Content-Length: {}\r\n\r\n{SDP}", SDP.len()).into_bytes()
}

/// The reads a proxy makes on an initial request; returns a value derived from all of them so
/// the optimiser cannot drop any.
fn reads(msg: &sip::Message<'_>) -> Result<usize, sip::SipError> {
    let via = msg.top_via()?;
    let branch = via.branch().map_or(0, str::len);
    let rport = usize::from(via.rport()?.is_some());
    let call_id = msg.call_id()?.len();
    let cseq = msg.cseq()?;
    let from = msg.from()?;
    let from_tag = from.tag().map_or(0, str::len);
    let to = msg.to()?;
    let to_tag = to.tag().map_or(0, str::len);
    let max_forwards = usize::from(msg.max_forwards()?.unwrap_or(70));
    let routes = msg.routes()?.len();
    Ok(branch
        + rport
        + call_id
        + cseq.number as usize
        + cseq.method.len()
        + from_tag
        + to_tag
        + max_forwards
        + routes)
}

/// The forwarded copy (RFC 3261 §16.6 items 3, 4 and 8).
fn forward(msg: &sip::Message<'_>) -> Result<Vec<u8>, sip::SipError> {
    let mut ed = sip::Editor::new(msg);
    ed.insert_via(OUR_VIA);
    ed.decrement_max_forwards()?;
    ed.insert_record_route(OUR_RR);
    ed.finish()
}

/// One step of each measured operation.
#[derive(Clone, Copy)]
enum Op {
    Parse,
    ParseReads,
    ParseReadsForward,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::Parse => "parse",
            Op::ParseReads => "parse + reads",
            Op::ParseReadsForward => "parse + reads + forward",
        }
    }

    fn run(self, bytes: &[u8]) -> Result<usize, sip::SipError> {
        let msg = sip::parse(bytes)?;
        match self {
            Op::Parse => Ok(msg.headers().len()),
            Op::ParseReads => reads(&msg),
            Op::ParseReadsForward => Ok(reads(&msg)? + forward(&msg)?.len()),
        }
    }
}

/// Nanoseconds per message over `iters` runs of `op`.
fn time(op: Op, bytes: &[u8], iters: u64) -> Result<f64, sip::SipError> {
    let mut acc = 0usize;
    let t0 = Instant::now();
    for _ in 0..iters {
        acc = acc.wrapping_add(op.run(black_box(bytes))?);
    }
    let ns = t0.elapsed().as_nanos() as f64 / iters as f64;
    black_box(acc);
    Ok(ns)
}

/// Checks that the message parses to what the figures claim, so a silent parse error or a
/// short cut cannot make them look fast.
fn check(bytes: &[u8]) -> Result<(), String> {
    let msg = sip::parse(bytes).map_err(|e| format!("parse: {e}"))?;
    let fail = |what: &str| Err(format!("unexpected {what}"));
    if msg.method() != Some("INVITE") || msg.body() != SDP.as_bytes() {
        return fail("start line or body");
    }
    let vias = msg.vias().map_err(|e| e.to_string())?;
    if vias.len() != 2 || vias[0].branch() != Some("z9hG4bK-524287-1-a5b3c1d0e9f8a7b6") {
        return fail("Via");
    }
    if msg.from().map_err(|e| e.to_string())?.tag() != Some("as5d6f7e8a")
        || msg.to().map_err(|e| e.to_string())?.tag().is_some()
        || msg.max_forwards().map_err(|e| e.to_string())? != Some(69)
        || msg.record_routes().map_err(|e| e.to_string())?.len() != 1
    {
        return fail("From, To, Max-Forwards or Record-Route");
    }
    let out = forward(&msg).map_err(|e| format!("forward: {e}"))?;
    let fwd = sip::parse(&out).map_err(|e| format!("forwarded copy: {e}"))?;
    let vias = fwd.vias().map_err(|e| e.to_string())?;
    if vias.len() != 3
        || vias[0].host != "127.0.0.1"
        || fwd.max_forwards().map_err(|e| e.to_string())? != Some(68)
        || fwd.record_routes().map_err(|e| e.to_string())?.len() != 2
        || fwd.body() != SDP.as_bytes()
    {
        return fail("forwarded copy");
    }
    Ok(())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters: u64 = std::env::var("SIP_PARSE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let rounds = if quick { 3 } else { 7 };
    let bytes = invite();
    if let Err(e) = check(&bytes) {
        eprintln!("sip_parse: the benchmark message is not handled as expected: {e}");
        std::process::exit(1);
    }
    let headers = sip::parse(&bytes).map_or(0, |m| m.headers().len());
    println!("sip_parse: SIP message layer cost per message, one thread");
    println!(
        "conditions: {} | INVITE of {} bytes ({} header fields, {}-byte SDP body) | {iters} messages per round | best and median of {rounds} rounds",
        cpu_model(),
        bytes.len(),
        headers,
        SDP.len(),
    );
    println!(
        "{:<26} {:>10} {:>10} {:>14}",
        "operation", "best ns", "median ns", "msgs/s (best)"
    );
    let mut best = Vec::new();
    for op in [Op::Parse, Op::ParseReads, Op::ParseReadsForward] {
        // Warm-up round (caches, allocator), not counted.
        let warm = time(op, &bytes, iters / 10 + 1);
        let mut ns = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            match time(op, &bytes, iters) {
                Ok(v) => ns.push(v),
                Err(e) => {
                    eprintln!("sip_parse: {}: {e}", op.label());
                    std::process::exit(1);
                }
            }
        }
        if let Err(e) = warm {
            eprintln!("sip_parse: {}: {e}", op.label());
            std::process::exit(1);
        }
        ns.sort_by(f64::total_cmp);
        let (lo, median) = (ns[0], ns[ns.len() / 2]);
        println!(
            "{:<26} {lo:>10.1} {median:>10.1} {:>14.0}",
            op.label(),
            1e9 / lo
        );
        best.push(lo);
    }
    println!(
        "reads alone: {:.1} ns; forward alone (Via + Max-Forwards + Record-Route + finish): {:.1} ns",
        best[1] - best[0],
        best[2] - best[1]
    );
    println!("parse: framing + start line + header index; reads: top Via (branch, rport), Call-ID, CSeq,");
    println!(
        "From/To tags, Max-Forwards, Route set; forward: sip::Editor building the forwarded copy."
    );
}
