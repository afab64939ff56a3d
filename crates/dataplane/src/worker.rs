//! The worker loop: commands, receive burst, relay decisions, transmit, housekeeping.

use crate::command::{FlowCommand, FlowEvent, IdleReason, StreamSpec, StreamStats};
use crate::counters::{DropReason, SharedCounters, WorkerCounters};
use crate::io::{Decide, PacketIo, PortHandle, PortKey, RecordMemory, RxView};
use crate::layout::{Component, PortLayout, WorkerSlots};
use crate::record::{flag, Stream};
use crate::relay::{self, RelayCtx, Verdict};
use crate::rtpstats;
use crate::table::Table;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::Endpoint;

/// How many packets ahead of the one being decided its record is looked up and prefetched
/// (a power of two: the slots looked up ahead wait in a ring of this size).
const LOOKAHEAD: usize = 8;
/// Commands handled per loop iteration at most (keeps a command storm from starving packets).
const COMMANDS_PER_ITERATION: usize = 64;

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerParams {
    /// This worker's index (its place in the layout).
    pub id: usize,
    /// Port placement shared by all workers and the control plane.
    pub layout: Arc<PortLayout>,
    /// Heuristic learning window.
    pub learning: Duration,
    /// No-RTP timeout.
    pub timeout: Duration,
    /// No-RTP timeout while on hold.
    pub hold_timeout: Duration,
    /// Housekeeping period (idle sweep slice, counter publication).
    pub tick: Duration,
    /// The clock origin shared with the control plane (record times are ms since it).
    pub epoch: Instant,
}

/// One data-plane worker over backend `Io`.
#[derive(Debug)]
pub struct Worker<Io: PacketIo> {
    p: WorkerParams,
    io: Io,
    table: Table<Io::Memory>,
    cmds: rtrb::Consumer<FlowCommand>,
    events: rtrb::Producer<FlowEvent>,
    counters: WorkerCounters,
    shared: Arc<SharedCounters>,
    sweep_pos: u32,
    next_tick_ms: u32,
    busy: bool,
    /// The clock at the last iteration's receive (ns since the epoch): the time up to the
    /// next one counts as busy when that receive brought packets.
    last_ns: u64,
    /// Receive calls that failed as a whole (the backend counts its own per-packet errors).
    rx_failures: u64,
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX / 2)) as u32
}

impl<Io: PacketIo> Worker<Io> {
    /// A worker reading commands from `cmds` and writing events to `events`.
    pub fn new(
        p: WorkerParams,
        io: Io,
        cmds: rtrb::Consumer<FlowCommand>,
        events: rtrb::Producer<FlowEvent>,
        shared: Arc<SharedCounters>,
    ) -> Self {
        let table = Table::new(p.layout.records(p.id));
        Self {
            p,
            io,
            table,
            cmds,
            events,
            counters: WorkerCounters::default(),
            shared,
            sweep_pos: 0,
            next_tick_ms: 0,
            busy: false,
            last_ns: 0,
            rx_failures: 0,
        }
    }

    /// Runs until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        let epoch = self.p.epoch;
        while !stop.load(Ordering::Relaxed) {
            self.iterate(|| epoch.elapsed().as_nanos() as u64);
        }
        self.shared.publish(&self.counters);
    }

    /// One loop iteration; `clock` gives ns since the epoch and is read once per burst.
    pub fn iterate(&mut self, clock: impl Fn() -> u64) -> usize {
        let timeout = if self.busy {
            Duration::ZERO
        } else {
            self.p.tick
        };
        let n = match self.io.rx_burst(timeout) {
            Ok((n, _wake)) => n,
            Err(_) => {
                self.rx_failures += 1;
                0
            }
        };
        let now_ns = clock();
        if self.busy {
            self.counters.busy_ns += now_ns.saturating_sub(self.last_ns);
        }
        self.last_ns = now_ns;
        // Commands after the receive, before the relaying: a packet sent in response to an ng
        // reply (media right after the answer) must see the updates queued before that reply.
        self.drain_commands(now_ns);
        self.busy = n > 0;
        self.relay_burst(n, now_ns);
        let now_ms = (now_ns / 1_000_000) as u32;
        if now_ms.wrapping_sub(self.next_tick_ms) < u32::MAX / 2 {
            self.housekeeping(now_ms);
            self.next_tick_ms = now_ms.wrapping_add(ms(self.p.tick).max(1));
        }
        n
    }

    fn relay_burst(&mut self, n: usize, now_ns: u64) {
        if n == 0 {
            // An empty poll (busy-polling backends see many): only what the backend queued
            // itself (ARP answers, frames from the host) goes out.
            self.io.flush();
            return;
        }
        let now_ms = (now_ns / 1_000_000) as u32;
        let now_us = now_ns / 1_000;
        let ctx = RelayCtx {
            layout: &self.p.layout,
            worker: self.p.id,
            learning_ms: ms(self.p.learning),
        };
        // The worker's spans and stride, picked once per burst (no worker: nothing is ours).
        let slots = ctx.layout.worker(ctx.worker);
        // One pass: the record of packet i + LOOKAHEAD is looked up and prefetched while
        // packet i is decided, so the misses of a burst overlap; each packet touches one
        // record line (its own: the forward is copied there).
        let mut ahead: [Option<(u32, Component)>; LOOKAHEAD] = [None; LOOKAHEAD];
        for (j, a) in ahead.iter_mut().enumerate().take(n) {
            *a = self.io.key(j).and_then(|k| look_up(&self.table, slots, k));
        }
        // Counted per burst: every packet is received, and each one not dropped is forwarded.
        self.counters.rx += n as u64;
        let mut burst = Burst {
            table: &mut self.table,
            counters: &mut self.counters,
            ctx,
            slots,
            ahead,
            i: 0,
            dropped: 0,
            now_ms,
            now_us,
        };
        // The backend goes over its burst itself (no per-packet round trips through it).
        self.io.relay_each(n, LOOKAHEAD, &mut burst);
        let dropped = burst.dropped;
        self.counters.forwarded += n as u64 - dropped;
        self.io.flush();
    }

    fn emit(&mut self, e: FlowEvent) {
        if self.events.push(e).is_err() {
            self.counters.events_lost += 1;
        }
    }

    fn drain_commands(&mut self, now_ns: u64) {
        let now_ms = (now_ns / 1_000_000) as u32;
        for _ in 0..COMMANDS_PER_ITERATION {
            let Ok(cmd) = self.cmds.pop() else { break };
            self.counters.commands += 1;
            self.command(cmd, now_ms);
        }
    }

    /// Applies one command (also used directly by tests and benchmarks).
    pub fn command(&mut self, cmd: FlowCommand, now_ms: u32) {
        match cmd {
            FlowCommand::Install { a, b, handles } => {
                if !self.install(&a, &b, handles, now_ms) {
                    self.emit(FlowEvent::InstallFailed { key: a.key });
                }
            }
            FlowCommand::Update(spec) => self.update(&spec),
            FlowCommand::Query { token, key } => {
                let pair = self
                    .pair(key)
                    .map(|(s, t)| [self.stats_of(s), self.stats_of(t)]);
                self.emit(FlowEvent::Stats { token, pair });
            }
            FlowCommand::Remove { token, key } => {
                let pair = self.remove(key);
                self.emit(FlowEvent::Removed { token, pair });
            }
            FlowCommand::Timeouts {
                timeout,
                hold_timeout,
            } => {
                self.p.timeout = timeout;
                self.p.hold_timeout = hold_timeout;
            }
            FlowCommand::Layout(layout) => self.take_layout(layout),
        }
        self.counters.streams = self.table.installed() as u64;
    }

    /// Runs on `layout` from now on when it only adds to the running one (same workers, at
    /// least as many records here); the table grows to it (chunks are still allocated on the
    /// first install into them).
    fn take_layout(&mut self, layout: Arc<PortLayout>) {
        let records = layout.records(self.p.id);
        let old = self.p.layout.ranges();
        if layout.workers() == self.p.layout.workers()
            && records >= self.table.slots()
            && layout.ranges().get(..old.len()) == Some(old)
        {
            self.table.grow(records);
            self.p.layout = layout;
        }
    }

    fn install(
        &mut self,
        a: &StreamSpec,
        b: &StreamSpec,
        handles: [PortHandle; 4],
        now_ms: u32,
    ) -> bool {
        let l = &self.p.layout;
        let (Some((ia, _)), Some((ib, _))) = (l.slot(self.p.id, a.key), l.slot(self.p.id, b.key))
        else {
            return false;
        };
        if ia == ib || a.key.port & 1 != 0 || b.key.port & 1 != 0 {
            return false;
        }
        let keys = [a.key, rtcp_key(a.key), b.key, rtcp_key(b.key)];
        for (i, (key, h)) in keys.iter().zip(handles).enumerate() {
            if self.io.attach(*key, h).is_err() {
                for k in &keys[..i] {
                    self.io.detach(*k);
                }
                return false;
            }
        }
        let (ra, rb) = (record(a, b.key, now_ms), record(b, a.key, now_ms));
        self.table.install(ia, forwarding(ra, &rb)) && self.table.install(ib, forwarding(rb, &ra))
    }

    fn update(&mut self, spec: &StreamSpec) {
        let Some((idx, _)) = self.p.layout.slot(self.p.id, spec.key) else {
            return;
        };
        let Some(s) = self.table.get_mut(idx).filter(|s| s.in_use()) else {
            return;
        };
        let keep = flag::IN_USE
            | flag::RTP_LATCHED
            | flag::RTCP_LATCHED
            | flag::RTP_IP_MATCH
            | flag::RTCP_IP_MATCH
            | flag::STARTED
            | flag::IDLE_REPORTED
            | flag::SEQ_INIT
            | flag::SIBLING_MUX;
        let moved = s.expect != spec.expect || s.expect_rtcp_port != spec.expect_rtcp_port;
        // An address learned before the SDP gave one (early media before the answer) is kept.
        let learned_first = s.expect.is_unset() && s.has(flag::RTP_LATCHED);
        s.flags = (s.flags & keep) | spec_flags(spec);
        s.clock_div10 = clock_div10(spec.clock_rate);
        s.expect = spec.expect;
        s.expect_rtcp_port = spec.expect_rtcp_port;
        if moved && !learned_first {
            s.flags &= !(flag::RTP_LATCHED
                | flag::RTCP_LATCHED
                | flag::RTP_IP_MATCH
                | flag::RTCP_IP_MATCH
                | flag::STARTED);
            s.rtp_peer = spec.expect;
            s.rtcp_peer = s.expect_rtcp();
        }
        // The other leg keeps a copy of where this leg's media goes, and of its rtcp-mux.
        let (sibling, dst, mux) = (s.sibling, s.rtp_dst(), s.has(flag::MUX));
        if let Some(t) = (self.p.layout.slot(self.p.id, sibling))
            .and_then(|(t, _)| self.table.get_mut(t))
            .filter(|t| t.in_use())
        {
            t.fwd = dst;
            t.set(flag::SIBLING_MUX, mux);
        }
    }

    /// Slots of the pair containing `key` (either stream, RTP or RTCP port).
    fn pair(&self, key: PortKey) -> Option<(u32, u32)> {
        let (s, _) = self.p.layout.slot(self.p.id, key)?;
        let rec = self.table.get(s).filter(|r| r.in_use())?;
        let (t, _) = self.p.layout.slot(self.p.id, rec.sibling)?;
        Some((s, t))
    }

    fn remove(&mut self, key: PortKey) -> Option<[StreamStats; 2]> {
        let (s, t) = self.pair(key)?;
        let stats = [self.stats_of(s), self.stats_of(t)];
        for idx in [s, t] {
            if let Some(rec) = self.table.get(idx) {
                let sib = rec.sibling;
                // The sibling of the other record is this record's own RTP key.
                let own = self
                    .table
                    .get(self.p.layout.slot(self.p.id, sib)?.0)
                    .map(|o| o.sibling);
                if let Some(own) = own {
                    self.io.detach(own);
                    self.io.detach(rtcp_key(own));
                }
            }
        }
        self.table.remove(s);
        self.table.remove(t);
        Some(stats)
    }

    fn stats_of(&self, idx: u32) -> StreamStats {
        let Some(s) = self.table.get(idx) else {
            return StreamStats::default();
        };
        let key = self
            .p
            .layout
            .slot(self.p.id, s.sibling)
            .and_then(|(t, _)| self.table.get(t))
            .map(|t| t.sibling);
        StreamStats {
            key,
            rtp_peer: s.rtp_peer,
            rtcp_peer: s.rtcp_peer,
            latched: s.has(flag::RTP_LATCHED),
            rtp_packets: s.rtp_packets,
            rtp_bytes: s.rtp_bytes,
            rtcp_packets: u64::from(s.rtcp_packets),
            rtcp_bytes: u64::from(s.rtcp_bytes),
            drops: u64::from(s.drops),
            lost: rtpstats::lost(s),
            jitter: rtpstats::jitter(s),
            ssrc: s.ssrc,
            ssrc_changes: u32::from(s.ssrc_changes),
            last_rtp_ms: (s.rtp_packets > 0).then_some(s.last_rtp_ms),
        }
    }

    /// Idle sweep over a slice of the table (the whole table about once per second), and
    /// counter publication.
    pub fn housekeeping(&mut self, now_ms: u32) {
        let slots = self.table.slots() as u32;
        if slots > 0 {
            let per_tick =
                (u64::from(slots) * u64::from(ms(self.p.tick).max(1)) / 1000).max(256) as u32;
            for _ in 0..per_tick.min(slots) {
                let idx = self.sweep_pos;
                self.sweep_pos = if idx + 1 >= slots { 0 } else { idx + 1 };
                self.check_idle(idx, now_ms);
            }
        }
        let io = self.io.counters();
        self.counters.tx = io.tx;
        self.counters.tx_failed = io.tx_dropped;
        self.counters.rx_errors = io.rx_errors + self.rx_failures;
        self.counters.drops[DropReason::InvalidFrame as usize] = io.rx_invalid;
        self.shared.publish(&self.counters);
    }

    fn check_idle(&mut self, idx: u32, now_ms: u32) {
        let Some(s) = self.table.get(idx).filter(|s| s.in_use()) else {
            return;
        };
        let Some((t_idx, _)) = self.p.layout.slot(self.p.id, s.sibling) else {
            return;
        };
        let Some(t) = self.table.get(t_idx).filter(|t| t.in_use()) else {
            return;
        };
        let own = t.sibling;
        if own > s.sibling {
            return; // the pair is checked from its lower key
        }
        let idle = now_ms
            .wrapping_sub(s.last_rtp_ms)
            .min(now_ms.wrapping_sub(t.last_rtp_ms));
        let hold = s.has(flag::HOLD) || t.has(flag::HOLD);
        let limit = ms(if hold {
            self.p.hold_timeout
        } else {
            self.p.timeout
        });
        let reported = s.has(flag::IDLE_REPORTED);
        let event = if idle >= limit && !reported {
            Some(FlowEvent::Idle {
                key: own,
                reason: if hold {
                    IdleReason::OnHold
                } else {
                    IdleReason::NoRtp
                },
            })
        } else if idle < limit && reported {
            Some(FlowEvent::Active { key: own })
        } else {
            None
        };
        if let Some(e) = event {
            if let Some(s) = self.table.get_mut(idx) {
                s.set(flag::IDLE_REPORTED, !reported);
            }
            self.emit(e);
        }
    }

    /// The backend.
    pub fn io(&mut self) -> &mut Io {
        &mut self.io
    }

    /// The session table.
    pub fn table(&self) -> &Table<Io::Memory> {
        &self.table
    }

    /// The worker's counters (also published to its [`SharedCounters`] every tick).
    pub fn counters(&self) -> WorkerCounters {
        self.counters
    }
}

/// The decision state of one burst: the look-ahead ring of record slots, and the drops.
struct Burst<'a, M: RecordMemory> {
    table: &'a mut Table<M>,
    counters: &'a mut WorkerCounters,
    ctx: RelayCtx<'a>,
    slots: Option<WorkerSlots<'a>>,
    /// The slot of packet `i + k` at `(i + k) % LOOKAHEAD`, for `k` in `0..LOOKAHEAD`.
    ahead: [Option<(u32, Component)>; LOOKAHEAD],
    /// The packet being decided.
    i: usize,
    /// Packets dropped so far.
    dropped: u64,
    now_ms: u32,
    now_us: u64,
}

impl<M: RecordMemory> Decide for Burst<'_, M> {
    #[inline(always)]
    fn decide<P: RxView>(
        &mut self,
        pkt: Option<&P>,
        next: Option<PortKey>,
    ) -> Option<(PortKey, Endpoint)> {
        let at = self.i & (LOOKAHEAD - 1);
        self.i += 1;
        let ahead = next.and_then(|k| look_up(self.table, self.slots, k));
        let slot = std::mem::replace(&mut self.ahead[at], ahead);
        let verdict = match pkt {
            Some(pkt) => {
                relay::decide_at(self.table, &self.ctx, slot, pkt, self.now_ms, self.now_us)
            }
            None => Verdict::Drop(DropReason::InvalidFrame),
        };
        match verdict {
            Verdict::Forward { egress, dst } => Some((egress, dst)),
            Verdict::Drop(r) => {
                self.dropped += 1;
                self.counters.drop(r);
                None
            }
        }
    }
}

/// The record slot of relay port `key`, its first line prefetched.
#[inline(always)]
fn look_up<M: RecordMemory>(
    table: &Table<M>,
    slots: Option<WorkerSlots<'_>>,
    key: PortKey,
) -> Option<(u32, Component)> {
    let slot = slots?.slot(key);
    if let Some((idx, _)) = slot {
        table.prefetch(idx);
    }
    slot
}

/// The RTCP port of an RTP port key.
pub fn rtcp_key(k: PortKey) -> PortKey {
    PortKey {
        addr: k.addr,
        port: k.port | 1,
    }
}

fn clock_div10(rate: u32) -> u16 {
    (rate / 10).min(u32::from(u16::MAX)) as u16
}

fn spec_flags(spec: &StreamSpec) -> u16 {
    let mut f = spec.latch.bits() << flag::LATCH_SHIFT;
    for (on, bit) in [
        (spec.mux, flag::MUX),
        (spec.hold, flag::HOLD),
        (spec.strict, flag::STRICT),
        (spec.handover, flag::HANDOVER),
    ] {
        if on {
            f |= bit;
        }
    }
    f
}

/// Record `s` with the forward of the other leg's record `t` (its destination and rtcp-mux).
fn forwarding(mut s: Stream, t: &Stream) -> Stream {
    s.fwd = t.rtp_dst();
    s.set(flag::SIBLING_MUX, t.has(flag::MUX));
    s
}

fn record(spec: &StreamSpec, sibling: PortKey, now_ms: u32) -> Stream {
    let mut s = Stream {
        expect: spec.expect,
        expect_rtcp_port: spec.expect_rtcp_port,
        flags: flag::IN_USE | spec_flags(spec),
        clock_div10: clock_div10(spec.clock_rate),
        sibling,
        last_rtp_ms: now_ms,
        rtp_peer: spec.expect,
        ..Stream::EMPTY
    };
    s.rtcp_peer = s.expect_rtcp();
    s
}
