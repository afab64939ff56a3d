//! RTP both ways on every call, and the largest gap each direction of each call saw.
//!
//! Two sockets, each on a thread inside its host's namespace: the caller's (the address
//! every caller SDP names) and the member's (the address the member's SDP names). For each
//! call the caller side sends stream `2i` to the relay port the call's 200 named (on the
//! VIP); the member side learns the relay's member-facing address of call `i` from the first
//! packet of stream `2i` it receives (the relay sends symmetric RTP from the port it
//! receives on) and sends stream `2i + 1` there. Every packet is G.711-sized RTP (RFC 3550
//! §5.1, PT 0) whose payload starts with a tag naming its stream.
//!
//! Each side records, per stream it receives, the arrival of every packet; the stream's gap
//! is the longest time between two arrivals, or between the last arrival and the end of the
//! run (a stream that stopped counts until the end). A packet of a call from another source
//! than the one learnt (caller side: the relay port the 200 named) is counted as `moved` and
//! its source taken: after a takeover the relay must answer from the same ports.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// Bytes of a packet: the 12-byte RTP header and 160 bytes of payload (G.711, 20 ms).
const PACKET: usize = 172;
/// The tag at the start of the payload.
const MAGIC: [u8; 4] = *b"FVHA";

/// The gaps of one direction of every call, in call order; `None` for a stream of which
/// nothing arrived.
#[derive(Debug, Clone, Default)]
pub struct Direction {
    /// Per call: the largest gap between arrivals (the run's end counts as one).
    pub gaps: Vec<Option<Duration>>,
    /// Packets sent in this direction.
    pub sent: u64,
    /// Packets that arrived.
    pub received: u64,
    /// Packets that arrived from another source than the call's relay port learnt first.
    pub moved: u64,
}

impl Direction {
    /// The p50, p99 and largest gap over the calls (a stream with no arrival counts as
    /// `run`, the whole run).
    pub fn percentiles(&self, run: Duration) -> (Duration, Duration, Duration) {
        percentiles(self.gaps.iter().map(|g| g.unwrap_or(run)).collect())
    }
}

/// What the meter saw: caller → member (`forward`) and member → caller (`back`).
#[derive(Debug, Clone)]
pub struct GapReport {
    /// Caller → member.
    pub forward: Direction,
    /// Member → caller.
    pub back: Direction,
    /// How long it ran.
    pub run: Duration,
}

impl GapReport {
    /// p50, p99 and the largest gap over every call and both directions.
    pub fn overall(&self) -> (Duration, Duration, Duration) {
        let all = self.forward.gaps.iter().chain(&self.back.gaps);
        percentiles(all.map(|g| g.unwrap_or(self.run)).collect())
    }

    /// Calls with a direction of which nothing arrived.
    pub fn silent_calls(&self) -> usize {
        self.forward
            .gaps
            .iter()
            .zip(&self.back.gaps)
            .filter(|(f, b)| f.is_none() || b.is_none())
            .count()
    }
}

/// p50, p99 and max of `v` (nearest rank); zeros for an empty list.
pub fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    if v.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    v.sort();
    let rank = |p: usize| v[((v.len() * p).div_ceil(100)).clamp(1, v.len()) - 1];
    (rank(50), rank(99), v[v.len() - 1])
}

/// The meter while it runs.
#[derive(Debug)]
pub struct RtpMeter {
    stop: Arc<AtomicBool>,
    latched: Arc<AtomicUsize>,
    calls: usize,
    caller: JoinHandle<Result<Direction>>,
    member: JoinHandle<Result<Direction>>,
    started: Instant,
}

impl RtpMeter {
    /// Starts RTP at `pps` packets a second per direction on every call of `relay` (the
    /// caller-facing relay address of each call): the caller socket `caller` inside
    /// `caller_ns`, the member socket `member` inside `member_ns`.
    pub fn start(
        caller_ns: &Netns,
        caller: SocketAddr,
        member_ns: &Netns,
        member: SocketAddr,
        relay: Vec<SocketAddr>,
        pps: u32,
    ) -> RtpMeter {
        let stop = Arc::new(AtomicBool::new(false));
        let latched = Arc::new(AtomicUsize::new(0));
        let calls = relay.len();
        let period = Duration::from_secs(1) / pps.max(1);
        let side = |bind, targets, latch: Option<Arc<AtomicUsize>>| Side {
            bind,
            targets,
            period,
            stop: stop.clone(),
            latched: latch,
        };
        let c = side(caller, relay.into_iter().map(Some).collect(), None);
        let m = side(member, vec![None; calls], Some(latched.clone()));
        RtpMeter {
            caller: caller_ns.spawn_inside(move || c.run(0)),
            member: member_ns.spawn_inside(move || m.run(1)),
            stop,
            latched,
            calls,
            started: Instant::now(),
        }
    }

    /// Calls whose member side has learnt the relay's address (RTP flows both ways).
    pub fn latched(&self) -> usize {
        self.latched.load(Ordering::Relaxed)
    }

    /// The calls it drives.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// Stops sending and reports.
    pub fn stop(self) -> Result<GapReport> {
        self.stop.store(true, Ordering::Relaxed);
        let join = |h: JoinHandle<Result<Direction>>| {
            h.join()
                .map_err(|_| Error::io("RTP meter", std::io::Error::other("a side panicked")))?
        };
        let mut back = join(self.caller)?;
        let mut forward = join(self.member)?;
        // Each side counted what it received; the other side's counts are what was sent.
        std::mem::swap(&mut back.sent, &mut forward.sent);
        Ok(GapReport {
            forward,
            back,
            run: self.started.elapsed(),
        })
    }
}

/// One socket of the meter.
struct Side {
    bind: SocketAddr,
    /// Per call, where this side sends (`None`: not learnt yet).
    targets: Vec<Option<SocketAddr>>,
    period: Duration,
    stop: Arc<AtomicBool>,
    /// The member side counts the calls it has learnt here.
    latched: Option<Arc<AtomicUsize>>,
}

/// Arrivals of one received stream.
#[derive(Debug, Clone, Copy, Default)]
struct Arrivals {
    last: Option<Instant>,
    gap: Duration,
}

impl Side {
    /// Sends stream `2i + parity` of every call `i` with a target and receives the other
    /// streams until stopped; returns what it received (and, in `sent`, what it sent).
    fn run(mut self, parity: usize) -> Result<Direction> {
        let sock =
            UdpSocket::bind(self.bind).map_err(|e| Error::io(format!("bind {}", self.bind), e))?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::io("non-blocking", e))?;
        let n = self.targets.len();
        let start = Instant::now();
        // Spread the calls' sends evenly over one period.
        let mut next: Vec<Instant> = (0..n)
            .map(|i| start + self.period.mul_f64(i as f64 / n as f64))
            .collect();
        let mut seq = vec![0u16; n];
        let mut arrivals = vec![Arrivals::default(); n];
        let mut out = Direction::default();
        let mut buf = [0u8; 2048];
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            for i in 0..n {
                let Some(to) = self.targets[i] else { continue };
                if next[i] > now {
                    continue;
                }
                // A stream just learnt, or a side held up, starts again on time: no burst.
                if now - next[i] > self.period {
                    next[i] = now;
                }
                next[i] += self.period;
                let stream = 2 * i + parity;
                seq[i] = seq[i].wrapping_add(1);
                packet(&mut buf[..PACKET], stream, seq[i]);
                // A refused or full send is a lost packet, as on a real link.
                let _ = sock.send_to(&buf[..PACKET], to);
                out.sent += 1;
            }
            self.receive(&sock, &mut buf, parity, &mut arrivals, &mut out)?;
            std::thread::sleep(Duration::from_micros(500));
        }
        let end = Instant::now();
        out.gaps = arrivals
            .iter()
            .map(|a| a.last.map(|l| a.gap.max(end - l)))
            .collect();
        Ok(out)
    }

    /// Drains the socket: each packet of the other parity is an arrival of its call.
    fn receive(
        &mut self,
        sock: &UdpSocket,
        buf: &mut [u8],
        parity: usize,
        arrivals: &mut [Arrivals],
        out: &mut Direction,
    ) -> Result<()> {
        loop {
            let (len, from) = match sock.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(Error::io(format!("receive on {}", self.bind), e)),
            };
            let now = Instant::now();
            let Some(stream) = buf.get(..len).and_then(stream_of) else {
                continue;
            };
            let i = stream / 2;
            if stream % 2 == parity || i >= arrivals.len() {
                continue;
            }
            out.received += 1;
            let a = &mut arrivals[i];
            if let Some(last) = a.last {
                a.gap = a.gap.max(now - last);
            }
            a.last = Some(now);
            match self.targets[i] {
                Some(t) if t == from => {}
                Some(_) => {
                    out.moved += 1;
                    self.targets[i] = Some(from);
                }
                None => {
                    self.targets[i] = Some(from);
                    if let Some(l) = &self.latched {
                        l.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// Writes packet `seq` of `stream`: RTP header (RFC 3550 §5.1: V=2, PT=0, SSRC from the
/// stream), then the tag and μ-law silence.
fn packet(buf: &mut [u8], stream: usize, seq: u16) {
    let id = u32::try_from(stream).unwrap_or(u32::MAX);
    buf.fill(0xFF);
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    buf[8..12].copy_from_slice(&(id.wrapping_mul(0x9E37_79B1) ^ 0x5EED).to_be_bytes());
    buf[12..16].copy_from_slice(&MAGIC);
    buf[16..20].copy_from_slice(&id.to_be_bytes());
}

/// The stream a packet of ours belongs to.
fn stream_of(p: &[u8]) -> Option<usize> {
    if p.len() < 20 || p[0] >> 6 != 2 || p[12..16] != MAGIC {
        return None;
    }
    let id = u32::from_be_bytes(p[16..20].try_into().ok()?);
    usize::try_from(id).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn a_packet_names_its_stream_and_nothing_else_does() {
        let mut buf = [0u8; PACKET];
        packet(&mut buf, 401, 7);
        assert_eq!(stream_of(&buf), Some(401));
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 7);
        buf[13] = b'X';
        assert_eq!(stream_of(&buf), None);
        assert_eq!(stream_of(&[0x80; 12]), None);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ms = |n: u64| Duration::from_millis(n);
        let v: Vec<Duration> = (1..=200).map(ms).collect();
        assert_eq!(percentiles(v), (ms(100), ms(198), ms(200)));
        assert_eq!(percentiles(vec![ms(5)]), (ms(5), ms(5), ms(5)));
        assert_eq!(percentiles(Vec::new()).2, Duration::ZERO);
    }
}
