//! Runs steps: splits the calls over engine threads, starts them together, samples the relay's
//! and the tool's CPU time at the edges of the measured window, and reads socket drops.

use crate::calls::Call;
use crate::procstat;
use crate::search::{Measured, Probe};
use crate::traffic::{Engine, StepCounts, StepPlan};
use std::collections::HashSet;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Lead time between planning a step and its first packet, so every thread starts together.
const START_LEAD: Duration = Duration::from_millis(20);

/// Why a step could not be run.
#[derive(Debug, Error)]
pub enum RunError {
    /// An engine's socket or epoll call failed.
    #[error("traffic engine: {0}")]
    Engine(#[from] io::Error),
    /// An engine thread panicked (a bug in the tool).
    #[error("a traffic thread panicked")]
    ThreadPanicked,
    /// The relay's `/proc/<pid>/stat` could not be read: it has most likely exited.
    #[error("relay process {pid}: {source} (has it exited?)")]
    RelayGone {
        /// The relay's process id.
        pid: u32,
        /// The read error.
        source: io::Error,
    },
}

/// Timing and shape of every step.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Bytes per RTP packet (header included).
    pub packet_len: usize,
    /// Packets per send to one stream at most.
    pub burst: usize,
    /// Send each burst as one UDP GSO send instead of one `sendmmsg`.
    pub gso: bool,
    /// Warm-up per step (sent, not counted).
    pub warmup: Duration,
    /// Measured window per step.
    pub measure: Duration,
    /// Receive-only time after each step.
    pub drain: Duration,
    /// Process whose CPU time is charged to the relay, if any.
    pub relay_pid: Option<u32>,
}

/// The outcome of one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Step number.
    pub step: u32,
    /// Aggregate rate asked for, packets per second.
    pub target_pps: u64,
    /// Length of the measured window.
    pub window: Duration,
    /// Merged engine counters.
    pub counts: StepCounts,
    /// Relay CPU time used in the measured window.
    pub relay_cpu: Option<Duration>,
    /// The tool's CPU time (all threads) in the measured window.
    pub tool_cpu: Option<Duration>,
    /// Receive-queue drops on the relay's sockets during the step (relayed runs only).
    pub relay_drops: Option<u64>,
    /// Receive-queue drops on the tool's endpoint sockets during the step.
    pub tool_drops: Option<u64>,
}

/// The IPv4 address of `addr`, if it is one (the tool's endpoints and relay targets are).
fn v4(addr: SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

impl StepReport {
    /// Measured packets sent per second.
    pub fn offered_pps(&self) -> f64 {
        per_sec(self.counts.sent, self.window)
    }

    /// Measured packets that came back per second: the relayed rate.
    pub fn relayed_pps(&self) -> f64 {
        per_sec(self.counts.received, self.window)
    }

    /// Lost share of the measured packets, percent.
    pub fn loss_pct(&self) -> f64 {
        if self.counts.sent == 0 {
            return 100.0;
        }
        self.counts.sent.saturating_sub(self.counts.received) as f64 * 100.0
            / self.counts.sent as f64
    }

    /// Relay CPU use in the window, as a share of one core (1.0 = one core busy throughout).
    pub fn relay_core_share(&self) -> Option<f64> {
        self.relay_cpu
            .map(|c| c.as_secs_f64() / self.window.as_secs_f64().max(1e-9))
    }

    /// Tool CPU use in the window per engine thread, as a share of one core. The engines
    /// busy-poll, so well under 1 means they were preempted: something else ran on the tool's
    /// core and the figures are suspect.
    pub fn tool_core_share(&self) -> Option<f64> {
        let engines = self.counts.engines.max(1) as f64;
        self.tool_cpu
            .map(|c| c.as_secs_f64() / self.window.as_secs_f64().max(1e-9) / engines)
    }

    /// Relayed packets per second of relay CPU time: the per-core rate.
    pub fn per_core_pps(&self) -> Option<f64> {
        self.relay_cpu.and_then(|c| {
            let secs = c.as_secs_f64();
            (secs > 0.0).then(|| self.counts.received as f64 / secs)
        })
    }
}

impl Measured for StepReport {
    fn probe(&self) -> Probe {
        Probe {
            target_pps: self.target_pps,
            offered_pps: self.offered_pps(),
            loss_pct: self.loss_pct(),
        }
    }
}

/// Drives the calls' traffic step by step.
#[derive(Debug)]
pub struct Runner {
    engines: Vec<Engine>,
    tool_ports: HashSet<SocketAddrV4>,
    relay_ports: Option<HashSet<SocketAddrV4>>,
    cfg: RunConfig,
}

impl Runner {
    /// Spreads `calls` round robin over `threads` engines. `relayed` says whether the targets
    /// are relay ports (their socket drops are then reported as the relay's).
    pub fn new(
        calls: Vec<Call>,
        threads: usize,
        relayed: bool,
        cfg: RunConfig,
    ) -> io::Result<Self> {
        let threads = threads.clamp(1, calls.len().max(1));
        let mut tool_ports = HashSet::new();
        let mut relay_ports = HashSet::new();
        let mut groups: Vec<Vec<Call>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, call) in calls.into_iter().enumerate() {
            for addr in [call.a.local_addr()?, call.b.local_addr()?] {
                tool_ports.extend(v4(addr));
            }
            relay_ports.extend(v4(call.a_target));
            relay_ports.extend(v4(call.b_target));
            if let Some(g) = groups.get_mut(i % threads) {
                g.push(call);
            }
        }
        let epoch = Instant::now();
        let engines = groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(|g| Engine::new(g, cfg.packet_len, cfg.burst, cfg.gso, epoch))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Runner {
            engines,
            tool_ports,
            relay_ports: relayed.then_some(relay_ports),
            cfg,
        })
    }

    /// The run's configuration.
    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// Runs step number `step` at `rate_pps` aggregate (both directions of every call
    /// together). Packets are tagged with `step`, so copies left over from another step with a
    /// different number are never counted.
    pub fn step(&mut self, step: u32, rate_pps: u64) -> Result<StepReport, RunError> {
        let total_streams: u64 = self.engines.iter().map(|e| e.streams() as u64).sum();
        let tool_drops_before = procstat::udp_drops(&self.tool_ports).ok().flatten();
        let relay_drops_before = self
            .relay_ports
            .as_ref()
            .and_then(|p| procstat::udp_drops(p).ok().flatten());

        let start = Instant::now() + START_LEAD;
        let measure_start = start + self.cfg.warmup;
        let measure_end = measure_start + self.cfg.measure;
        let plans: Vec<StepPlan> = self
            .engines
            .iter()
            .map(|e| StepPlan {
                step,
                rate_pps: share(rate_pps, e.streams() as u64, total_streams),
                start,
                warmup: self.cfg.warmup,
                measure: self.cfg.measure,
                drain: self.cfg.drain,
            })
            .collect();
        let relay_pid = self.cfg.relay_pid;
        let (results, cpu) = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .engines
                .iter_mut()
                .zip(&plans)
                .map(|(engine, plan)| s.spawn(move || engine.run_step(plan)))
                .collect();
            let cpu = sample_window(relay_pid, measure_start, measure_end);
            let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
            (results, cpu)
        });
        let mut counts = StepCounts::default();
        for r in results {
            counts.merge(&r.map_err(|_| RunError::ThreadPanicked)??);
        }
        let (relay_cpu, tool_cpu) = cpu?;
        let tool_drops = procstat::udp_drops(&self.tool_ports)
            .ok()
            .flatten()
            .zip(tool_drops_before)
            .map(|(after, before)| after.saturating_sub(before));
        let relay_drops = self
            .relay_ports
            .as_ref()
            .and_then(|p| procstat::udp_drops(p).ok().flatten())
            .zip(relay_drops_before)
            .map(|(after, before)| after.saturating_sub(before));
        Ok(StepReport {
            step,
            target_pps: rate_pps,
            window: self.cfg.measure,
            counts,
            relay_cpu,
            tool_cpu,
            relay_drops,
            tool_drops,
        })
    }
}

/// Relay and tool CPU time inside a window.
type WindowCpu = (Option<Duration>, Option<Duration>);

/// Sleeps to the window's edges and returns the relay's and the tool's CPU time inside it.
fn sample_window(
    relay_pid: Option<u32>,
    from: Instant,
    to: Instant,
) -> Result<WindowCpu, RunError> {
    let relay = |pid: u32| {
        procstat::cpu_time(&pid.to_string()).map_err(|source| RunError::RelayGone { pid, source })
    };
    sleep_until(from);
    let relay_before = relay_pid.map(relay).transpose()?;
    let tool_before = procstat::cpu_time("self").ok();
    sleep_until(to);
    let relay_after = relay_pid.map(relay).transpose()?;
    let tool_after = procstat::cpu_time("self").ok();
    let diff = |a: Option<Duration>, b: Option<Duration>| {
        a.zip(b).map(|(after, before)| after.saturating_sub(before))
    };
    Ok((
        diff(relay_after, relay_before),
        diff(tool_after, tool_before),
    ))
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// `total * part / whole`, rounded down, 0 when `whole` is 0.
fn share(total: u64, part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    let v = u128::from(total) * u128::from(part) / u128::from(whole);
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
