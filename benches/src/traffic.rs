//! The per-thread traffic engine: paces RTP out of every endpoint at a share of the aggregate
//! rate with UDP GSO sends or `sendmmsg`, and busy-polls every endpoint with epoll +
//! `recvmmsg`, attributing each received packet by its tag.

use crate::calls::Call;
use crate::latency::LatencyHist;
use crate::rtp::{self, Phase, RtpStream, Tag};
use crate::sys::{self, Epoll, RecvBatch, SendBatch, MAX_BATCH};
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Bursts sent per loop pass at most, so receiving is serviced between them.
const BURSTS_PER_PASS: u64 = 32;
/// Longest sending stall that is caught up afterwards.
const MAX_CATCH_UP: Duration = Duration::from_millis(5);

/// One endpoint: the sender of one stream and the receiver of its peer's.
#[derive(Debug)]
struct Endpoint {
    sock: UdpSocket,
    rtp: RtpStream,
    /// Id of the stream this endpoint sends.
    stream: u32,
    /// Id of the stream it must receive (its peer's).
    expect: u32,
    /// Measured packets sent / received this step.
    sent: u64,
    received: u64,
}

/// What one step does: warm-up, then the measured window, then a drain with no sending.
#[derive(Debug, Clone, Copy)]
pub struct StepPlan {
    /// Step number carried in every packet's tag.
    pub step: u32,
    /// This engine's share of the aggregate rate, packets per second.
    pub rate_pps: u64,
    /// When sending starts.
    pub start: Instant,
    /// Sending whose packets are not counted.
    pub warmup: Duration,
    /// The measured window.
    pub measure: Duration,
    /// Receive-only time after sending stops, for packets still in flight.
    pub drain: Duration,
}

/// Counters of one step (of one engine, or merged).
#[derive(Debug, Clone, Default)]
pub struct StepCounts {
    /// Measured-window packets the kernel accepted.
    pub sent: u64,
    /// Measured-window packets received on the right endpoint.
    pub received: u64,
    /// Warm-up packets accepted by the kernel.
    pub warmup_sent: u64,
    /// Packets of warm-up or of an earlier step received (not counted).
    pub stale: u64,
    /// Our packets received on an endpoint that is not their stream's peer.
    pub misrouted: u64,
    /// Datagrams of the wrong size or without our tag.
    pub foreign: u64,
    /// Packets the kernel would not take (send buffer full): neither sent nor lost.
    pub send_full: u64,
    /// Failed sends (e.g. ICMP port unreachable reported on the socket).
    pub send_errors: u64,
    /// The first send error seen, for the report.
    pub first_error: Option<String>,
    /// Streams that sent in the measured window and of which nothing arrived.
    pub dead_streams: u64,
    /// Streams in the run.
    pub streams: u64,
    /// Send time to receive time of measured packets (tool -> relay -> tool).
    pub latency: LatencyHist,
    /// Engines merged into these counters.
    pub engines: u64,
    /// Packets never sent because the engine fell more than its catch-up allowance behind
    /// (it was stalled or too slow), over the whole step.
    pub skipped: u64,
    /// Longest gap between two passes of an engine's loop while sending.
    pub longest_pass: Duration,
}

impl StepCounts {
    /// Adds another engine's counters.
    pub fn merge(&mut self, o: &StepCounts) {
        self.sent += o.sent;
        self.received += o.received;
        self.warmup_sent += o.warmup_sent;
        self.stale += o.stale;
        self.misrouted += o.misrouted;
        self.foreign += o.foreign;
        self.send_full += o.send_full;
        self.send_errors += o.send_errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
        self.dead_streams += o.dead_streams;
        self.streams += o.streams;
        self.latency.merge(&o.latency);
        self.engines += o.engines;
        self.skipped += o.skipped;
        self.longest_pass = self.longest_pass.max(o.longest_pass);
    }
}

/// Sends and receives the streams of a set of calls from one thread.
#[derive(Debug)]
pub struct Engine {
    endpoints: Vec<Endpoint>,
    epoll: Epoll,
    tx: SendBatch,
    rx: RecvBatch,
    packet_len: usize,
    burst: usize,
    cursor: usize,
    epoch: Instant,
    gso: bool,
}

impl Engine {
    /// An engine for `calls`, sending `packet_len`-byte packets (at least [`rtp::MIN_PACKET`])
    /// in bursts of up to `burst` per stream, timestamps relative to `epoch`. With `gso` each
    /// burst is one UDP GSO send (segmented by the kernel into separate datagrams), else one
    /// `sendmmsg`.
    pub fn new(
        calls: Vec<Call>,
        packet_len: usize,
        burst: usize,
        gso: bool,
        epoch: Instant,
    ) -> io::Result<Self> {
        let packet_len = packet_len.max(rtp::MIN_PACKET);
        let mut endpoints = Vec::with_capacity(calls.len() * 2);
        for call in calls {
            let a_id = call.index.saturating_mul(2);
            let b_id = a_id.saturating_add(1);
            for (sock, stream, expect) in [(call.a, a_id, b_id), (call.b, b_id, a_id)] {
                endpoints.push(Endpoint {
                    sock,
                    rtp: RtpStream::new(stream),
                    stream,
                    expect,
                    sent: 0,
                    received: 0,
                });
            }
        }
        let epoll = Epoll::new(endpoints.len().min(1024))?;
        for (i, ep) in endpoints.iter().enumerate() {
            epoll.add(ep.sock.as_fd(), i as u64)?;
            if gso {
                sys::set_udp_segment(ep.sock.as_fd(), packet_len).map_err(|e| {
                    io::Error::new(e.kind(), format!("enabling UDP GSO (try --gso off): {e}"))
                })?;
            }
        }
        Ok(Engine {
            endpoints,
            epoll,
            tx: SendBatch::new(packet_len),
            rx: RecvBatch::new(),
            packet_len,
            burst: burst.clamp(1, MAX_BATCH),
            cursor: 0,
            epoch,
            gso,
        })
    }

    /// Number of streams (endpoints) this engine drives.
    pub fn streams(&self) -> usize {
        self.endpoints.len()
    }

    /// Runs one step to its end (start + warm-up + measure + drain); bounded by that time.
    pub fn run_step(&mut self, plan: &StepPlan) -> io::Result<StepCounts> {
        for ep in &mut self.endpoints {
            ep.sent = 0;
            ep.received = 0;
        }
        let mut counts = StepCounts {
            streams: self.endpoints.len() as u64,
            engines: 1,
            ..StepCounts::default()
        };
        let measure_start = plan.start + plan.warmup;
        let send_end = measure_start + plan.measure;
        let hard_end = send_end + plan.drain;
        let now = Instant::now();
        if plan.start > now {
            std::thread::sleep(plan.start - now);
        }
        let mut attempted: u64 = 0;
        let mut in_measure = false;
        let max_per_pass = self.burst as u64 * BURSTS_PER_PASS;
        let max_lag = max_lag(plan.rate_pps, max_per_pass);
        let mut last_pass: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if now >= hard_end {
                break;
            }
            if let Some(last) = last_pass {
                counts.longest_pass = counts.longest_pass.max(now.saturating_duration_since(last));
            }
            last_pass = (now < send_end).then_some(now);
            let sending = now < send_end && !self.endpoints.is_empty();
            if sending {
                let elapsed = now.saturating_duration_since(plan.start).as_nanos();
                let target = elapsed.saturating_mul(u128::from(plan.rate_pps)) / 1_000_000_000;
                let target = u64::try_from(target).unwrap_or(u64::MAX);
                if target.saturating_sub(attempted) > max_lag {
                    counts.skipped += target - max_lag - attempted;
                    attempted = target - max_lag;
                }
                if !in_measure && now >= measure_start {
                    // Whatever warm-up still owes is forgiven, so catching up on it cannot
                    // push the measured window above the target rate.
                    in_measure = true;
                    let at_start =
                        u128::from(plan.rate_pps) * plan.warmup.as_nanos() / 1_000_000_000;
                    attempted = attempted.max(u64::try_from(at_start).unwrap_or(u64::MAX));
                }
                let due = target.saturating_sub(attempted).min(max_per_pass);
                let phase = if now < measure_start {
                    Phase::Warmup
                } else {
                    Phase::Measure
                };
                let sent_ns = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
                    .unwrap_or(u64::MAX);
                self.send_due(due, plan.step, phase, sent_ns, &mut counts)?;
                attempted += due;
            }
            self.receive(plan.step, &mut counts, if sending { 0 } else { 1 })?;
        }
        counts.dead_streams = self.dead_streams();
        Ok(counts)
    }

    /// Streams that sent while their peer (the other end of the call) received nothing.
    fn dead_streams(&self) -> u64 {
        self.endpoints
            .iter()
            .enumerate()
            .filter(|(i, ep)| {
                ep.sent > 0
                    && self
                        .endpoints
                        .get(i ^ 1)
                        .is_some_and(|peer| peer.received == 0)
            })
            .count() as u64
    }

    /// Sends `due` packets in per-stream bursts, round robin over the streams.
    fn send_due(
        &mut self,
        mut due: u64,
        step: u32,
        phase: Phase,
        sent_ns: u64,
        counts: &mut StepCounts,
    ) -> io::Result<()> {
        let len = self.endpoints.len();
        while due > 0 && len > 0 {
            let n = due.min(self.burst as u64) as usize;
            due -= n as u64;
            self.cursor = (self.cursor + 1) % len;
            let Some(ep) = self.endpoints.get_mut(self.cursor) else {
                continue;
            };
            let tag = Tag {
                step,
                phase,
                stream: ep.stream,
                sent_ns,
            };
            let before = ep.rtp.clone();
            for i in 0..n {
                if let Some(buf) = self.tx.packet_mut(i) {
                    ep.rtp.write_next(buf, &tag);
                }
            }
            let result = if self.gso {
                self.tx.send_segmented(&ep.sock, n)
            } else {
                self.tx.send(ep.sock.as_fd(), n)
            };
            let accepted = match result {
                Ok(k) => k,
                Err(e) => {
                    counts.send_errors += n as u64;
                    if counts.first_error.is_none() {
                        counts.first_error =
                            Some(format!("send to {:?}: {e}", ep.sock.peer_addr()));
                    }
                    0
                }
            };
            if accepted < n {
                // Unsent packets did not happen: rewind so the stream shows no sequence gap.
                ep.rtp = before;
                ep.rtp.advance(accepted);
                counts.send_full += (n - accepted) as u64;
            }
            match phase {
                Phase::Warmup => counts.warmup_sent += accepted as u64,
                Phase::Measure => {
                    counts.sent += accepted as u64;
                    ep.sent += accepted as u64;
                }
            }
        }
        Ok(())
    }

    /// Drains one batch from every ready endpoint; returns how many datagrams were read.
    fn receive(
        &mut self,
        step: u32,
        counts: &mut StepCounts,
        timeout_ms: i32,
    ) -> io::Result<usize> {
        let ready = self.epoll.wait(timeout_ms)?;
        let mut total = 0;
        for r in 0..ready {
            let Some(idx) = self.epoll.token(r).and_then(|t| usize::try_from(t).ok()) else {
                continue;
            };
            let Some(ep) = self.endpoints.get_mut(idx) else {
                continue;
            };
            let n = self.rx.recv(ep.sock.as_fd())?;
            if n == 0 {
                continue;
            }
            total += n;
            let now_ns = u64::try_from(
                Instant::now()
                    .saturating_duration_since(self.epoch)
                    .as_nanos(),
            )
            .unwrap_or(u64::MAX);
            for i in 0..n {
                let tag = match self.rx.packet(i) {
                    Some(p) if p.len() == self.packet_len => rtp::read_tag(p),
                    _ => None,
                };
                let Some(tag) = tag else {
                    counts.foreign += 1;
                    continue;
                };
                if tag.step != step || tag.phase != Phase::Measure {
                    counts.stale += 1;
                } else if tag.stream != ep.expect {
                    counts.misrouted += 1;
                } else {
                    counts.received += 1;
                    ep.received += 1;
                    counts.latency.record(now_ns.saturating_sub(tag.sent_ns));
                }
            }
        }
        Ok(total)
    }
}

/// How far behind its schedule a step may fall before the rest is dropped: a stall
/// (descheduled, a slow pass) is caught up for at most [`MAX_CATCH_UP`], so the offered rate
/// never exceeds the target and a tool that cannot keep up shows as offered < target instead
/// of as bursts.
fn max_lag(rate_pps: u64, max_per_pass: u64) -> u64 {
    (u128::from(rate_pps) * MAX_CATCH_UP.as_nanos() / 1_000_000_000)
        .try_into()
        .unwrap_or(u64::MAX)
        .max(max_per_pass)
}
