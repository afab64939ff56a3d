//! `rtp-hold`: RTP on calls a SIP proxy anchored, while something else loads the proxy.
//!
//! `benches/sip-vs-kamailio.sh` (`MEDIA_CALLS`) sets calls up with sipp through the proxy
//! under test; the caller's SDP names this tool's caller socket and each member's SDP its
//! member socket, and the caller scenario logs each call's relay port from the 200's SDP
//! (`call-id m=audio port` lines). This tool reads those lines and, for every call:
//!
//! 1. latches: sends caller → relay until a packet of that call reaches the member socket,
//!    and takes the relay port it came from as the call's member-facing port (the relays
//!    send symmetric RTP from the port they receive on);
//! 2. sends RTP both ways at `--pps` packets per second per direction, paced evenly over all
//!    streams, and counts every packet back by its tag (`benches::rtp`), by the wall-clock
//!    second it was sent in.
//!
//! It prints one line per second once that second's packets have had `--grace` seconds to
//! arrive: `second <unix s> sent <n> received <n> wrong <n> late <n>` (wrong: on the wrong
//! socket or from a relay port not the call's; late: arrived after its second was printed).
//! The script sums the lines inside each step's window. Loopback only: the relay address
//! must be in 127.0.0.0/8.
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use benches::rtp::{self, Phase, RtpStream, Tag};
use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "rtp-hold --calls FILE --expect N --relay IP --caller ADDR --member ADDR \
[--pps N] [--seconds N] [--wait N] [--grace N] [--size N]";

/// The command line.
struct Opts {
    calls: String,
    expect: usize,
    relay: IpAddr,
    caller: SocketAddr,
    member: SocketAddr,
    pps: u32,
    seconds: u64,
    wait: u64,
    grace: u64,
    size: usize,
}

fn parse_opts() -> Result<Opts> {
    let mut args = std::env::args().skip(1);
    let mut kv = HashMap::new();
    while let Some(k) = args.next() {
        if k == "--help" || k == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = args
            .next()
            .with_context(|| format!("{k} needs a value; {USAGE}"))?;
        kv.insert(k, v);
    }
    let get = |k: &str| {
        kv.get(k)
            .with_context(|| format!("{k} is required; {USAGE}"))
    };
    let or = |k: &str, d: &str| kv.get(k).cloned().unwrap_or_else(|| d.to_string());
    let relay: IpAddr = get("--relay")?.parse().context("--relay")?;
    if !relay.is_loopback() {
        bail!("--relay {relay}: only loopback relays are driven");
    }
    Ok(Opts {
        calls: get("--calls")?.clone(),
        expect: get("--expect")?.parse().context("--expect")?,
        relay,
        caller: get("--caller")?.parse().context("--caller")?,
        member: get("--member")?.parse().context("--member")?,
        pps: or("--pps", "5").parse().context("--pps")?,
        seconds: or("--seconds", "600").parse().context("--seconds")?,
        wait: or("--wait", "120").parse().context("--wait")?,
        grace: or("--grace", "2").parse().context("--grace")?,
        size: or("--size", "172").parse().context("--size")?,
    })
}

/// One anchored call: the relay ports facing the caller and (once latched) the member.
struct Call {
    to_caller_side: SocketAddr,
    to_member_side: Option<SocketAddr>,
    streams: [RtpStream; 2],
}

/// Waits until the log names `expect` calls (each `call-id m=audio port`), or `wait` seconds pass.
fn read_calls(o: &Opts) -> Result<Vec<Call>> {
    let deadline = Instant::now() + Duration::from_secs(o.wait);
    loop {
        let text = std::fs::read_to_string(&o.calls).unwrap_or_default();
        let mut ports = BTreeMap::new();
        for line in text.lines() {
            // `call-id m=audio port`: the Call-ID first, the port last.
            let mut f = line.split_whitespace();
            if let (Some(id), Some(port)) = (f.next(), f.last().and_then(|p| p.parse().ok())) {
                ports.insert(id.to_string(), port);
            }
        }
        if ports.len() >= o.expect {
            let calls = ports
                .into_values()
                .enumerate()
                .map(|(i, port): (usize, u16)| {
                    let id = u32::try_from(i).unwrap_or(u32::MAX);
                    Call {
                        to_caller_side: SocketAddr::new(o.relay, port),
                        to_member_side: None,
                        streams: [RtpStream::new(2 * id), RtpStream::new(2 * id + 1)],
                    }
                });
            return Ok(calls.collect());
        }
        if Instant::now() > deadline {
            bail!(
                "{}: {} calls logged of {} after {} s",
                o.calls,
                ports.len(),
                o.expect,
                o.wait
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn socket(addr: SocketAddr) -> Result<UdpSocket> {
    let s = UdpSocket::bind(addr).with_context(|| format!("bind {addr}"))?;
    s.set_nonblocking(true)?;
    benches::sys::set_buffers(s.as_fd(), 16 << 20)?;
    Ok(s)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() -> Result<()> {
    let o = parse_opts()?;
    if o.size < rtp::MIN_PACKET || o.size > 1400 {
        bail!("--size {}: {}..=1400 bytes", o.size, rtp::MIN_PACKET);
    }
    let mut calls = read_calls(&o)?;
    let caller = socket(o.caller)?;
    let member = socket(o.member)?;
    let latched = latch(&o, &mut calls, &caller, &member)?;
    println!("latched {latched} of {} calls", calls.len());
    std::io::stdout().flush()?;
    run(&o, &mut calls, [&caller, &member])
}

/// Sends caller → relay for every call not latched yet (every 200 ms) and learns the member
/// facing relay port from what reaches the member socket; gives up after 10 s.
fn latch(o: &Opts, calls: &mut [Call], caller: &UdpSocket, member: &UdpSocket) -> Result<usize> {
    let mut buf = vec![0u8; o.size];
    let mut rx = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut done = 0;
    while done < calls.len() && Instant::now() < deadline {
        for (i, c) in calls.iter_mut().enumerate() {
            if c.to_member_side.is_none() {
                let tag = tag(0, Phase::Warmup, 2 * i, 0);
                c.streams[0].write_next(&mut buf, &tag);
                send(caller, &buf, c.to_caller_side)?;
            }
        }
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            match member.recv_from(&mut rx) {
                Ok((n, from)) => {
                    let Some(t) = rx.get(..n).and_then(rtp::read_tag) else {
                        continue;
                    };
                    let call = calls.get_mut(t.stream as usize / 2);
                    if let Some(c) = call.filter(|c| c.to_member_side.is_none()) {
                        c.to_member_side = Some(from);
                        done += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(done)
}

fn tag(second: u64, phase: Phase, stream: usize, sent_ns: u64) -> Tag {
    Tag {
        step: u32::try_from(second).unwrap_or(u32::MAX),
        phase,
        stream: u32::try_from(stream).unwrap_or(u32::MAX),
        sent_ns,
    }
}

/// A full send buffer or a refused port is not fatal here: the packet counts as lost.
fn send(sock: &UdpSocket, buf: &[u8], to: SocketAddr) -> Result<bool> {
    match sock.send_to(buf, to) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Per wall-clock second: packets sent, and of those, received right, wrong, late.
#[derive(Default, Clone, Copy)]
struct Second {
    sent: u64,
    received: u64,
    wrong: u64,
    late: u64,
}

/// The run: paced sends over all latched streams, receives on both sockets, a line per
/// second once `grace` seconds have passed since it ended.
fn run(o: &Opts, calls: &mut [Call], socks: [&UdpSocket; 2]) -> Result<()> {
    let streams: Vec<(usize, usize)> = (0..calls.len())
        .filter(|&i| calls.get(i).is_some_and(|c| c.to_member_side.is_some()))
        .flat_map(|i| [(i, 0), (i, 1)])
        .collect();
    if streams.is_empty() {
        bail!("no call latched: nothing to send");
    }
    let rate = f64::from(o.pps) * streams.len() as f64;
    let start = Instant::now();
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    let mut printed = 0u64;
    let (mut sent, mut next) = (0u64, 0usize);
    let mut buf = vec![0u8; o.size];
    while start.elapsed().as_secs() < o.seconds {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        let now = unix_secs();
        while sent < due {
            let (i, dir) = streams[next % streams.len()];
            next += 1;
            sent += 1;
            let Some(c) = calls.get_mut(i) else { continue };
            let to = if dir == 0 {
                Some(c.to_caller_side)
            } else {
                c.to_member_side
            };
            let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            c.streams[dir].write_next(&mut buf, &tag(now, Phase::Measure, 2 * i + dir, ns));
            if let Some(to) = to {
                send(socks[dir], &buf, to)?;
            }
            seconds.entry(now).or_default().sent += 1;
        }
        let got = receive(calls, socks, &mut seconds, printed)?;
        printed = report(&mut seconds, now.saturating_sub(o.grace), printed)?;
        if got == 0 {
            std::thread::sleep(Duration::from_micros(250));
        }
    }
    Ok(())
}

/// Drains both sockets; returns how many packets were read.
fn receive(
    calls: &[Call],
    socks: [&UdpSocket; 2],
    seconds: &mut BTreeMap<u64, Second>,
    printed: u64,
) -> Result<usize> {
    let mut rx = [0u8; 2048];
    let mut got = 0;
    // Socket 0 is the caller's: it receives direction 1 (member → caller), and back.
    for (at, sock) in socks.iter().enumerate() {
        loop {
            let (n, from) = match sock.recv_from(&mut rx) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            };
            got += 1;
            let Some(t) = rx.get(..n).and_then(rtp::read_tag) else {
                continue;
            };
            if t.phase != Phase::Measure {
                continue;
            }
            let (i, dir) = (t.stream as usize / 2, t.stream as usize % 2);
            let right = calls.get(i).is_some_and(|c| {
                let expected = if dir == 0 {
                    c.to_member_side
                } else {
                    Some(c.to_caller_side)
                };
                dir != at && expected == Some(from)
            });
            let s = seconds.entry(u64::from(t.step)).or_default();
            if !right {
                s.wrong += 1;
            } else if u64::from(t.step) <= printed {
                s.late += 1;
            } else {
                s.received += 1;
            }
        }
    }
    Ok(got)
}

/// Prints (and forgets) every second up to `upto`; returns the last second printed.
fn report(seconds: &mut BTreeMap<u64, Second>, upto: u64, printed: u64) -> Result<u64> {
    let mut last = printed;
    let mut out = std::io::stdout().lock();
    while let Some((&sec, s)) = seconds.first_key_value() {
        if sec > upto {
            break;
        }
        writeln!(
            out,
            "second {sec} sent {} received {} wrong {} late {}",
            s.sent, s.received, s.wrong, s.late
        )?;
        seconds.pop_first();
        last = last.max(sec);
    }
    out.flush()?;
    Ok(last)
}
