//! The settings an operator changes while the engine runs (the admin socket's `params.set`
//! and a reload): the offer and final timeouts, the delete delay, the session cap and the
//! latching of new calls here, and the no-RTP timeouts the workers judge by, sent to every
//! worker as a command.

use super::Engine;
use dataplane::FlowCommand;
use std::time::Duration;

/// How many sessions the engine takes at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCap {
    /// No cap.
    Unlimited,
    /// No new session at all; calls in progress continue (rtpengine's `maxsessions 0`).
    Drain,
    /// At most this many.
    At(usize),
}

/// The engine's run-time settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunables {
    /// An ng offer without answer ends after this.
    pub offer_timeout: Duration,
    /// Cap on a call's length (`None`: none).
    pub final_timeout: Option<Duration>,
    /// Relaying goes on this long after a delete.
    pub delete_delay: Duration,
    /// The session cap.
    pub max_sessions: SessionCap,
    /// How the streams of calls offered from now on latch (calls in progress keep theirs).
    pub latching: dataplane::LatchMode,
    /// Whether calls offered from now on take media only from their latched sources.
    pub strict_source: bool,
}

impl Engine {
    /// The settings in force.
    pub fn tunables(&self) -> Tunables {
        let max_sessions = match (self.drained, self.cfg.max_sessions) {
            (true, _) => SessionCap::Drain,
            (false, 0) => SessionCap::Unlimited,
            (false, n) => SessionCap::At(n),
        };
        Tunables {
            offer_timeout: self.cfg.offer_timeout,
            final_timeout: self.cfg.final_timeout,
            delete_delay: self.cfg.delete_delay,
            max_sessions,
            latching: self.cfg.latching,
            strict_source: self.cfg.strict_source,
        }
    }

    /// Applies `t` from now on: calls in progress keep running (a lower cap or `Drain` only
    /// refuses new sessions).
    pub fn set_tunables(&mut self, t: Tunables) {
        self.cfg.offer_timeout = t.offer_timeout;
        self.cfg.final_timeout = t.final_timeout;
        self.cfg.delete_delay = t.delete_delay;
        self.cfg.latching = t.latching;
        self.cfg.strict_source = t.strict_source;
        (self.drained, self.cfg.max_sessions) = match t.max_sessions {
            SessionCap::Unlimited => (false, 0),
            SessionCap::Drain => (true, 0),
            SessionCap::At(n) => (false, n.max(1)),
        };
    }

    /// Tells every worker its new no-RTP timeouts (the commands go out with the next ones).
    pub fn set_worker_timeouts(&mut self, timeout: Duration, hold_timeout: Duration) {
        for w in 0..self.shared.len() {
            let cmd = FlowCommand::Timeouts {
                timeout,
                hold_timeout,
            };
            self.commands.push_back((w, cmd));
        }
    }

    /// Whether a new session is refused now.
    pub(super) fn at_session_cap(&self) -> bool {
        self.drained || (self.cfg.max_sessions > 0 && self.calls.len() >= self.cfg.max_sessions)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use dataplane::SharedCounters;
    use std::sync::Arc;

    fn engine(workers: usize) -> Engine {
        let shared = (0..workers)
            .map(|_| Arc::new(SharedCounters::default()))
            .collect();
        crate::engine::report::tests::engine(false, shared)
    }

    #[test]
    fn the_cap_reads_back_as_set() {
        let mut e = engine(2);
        for cap in [SessionCap::Drain, SessionCap::At(5), SessionCap::Unlimited] {
            let mut t = e.tunables();
            t.max_sessions = cap;
            t.offer_timeout = Duration::from_secs(7);
            t.latching = dataplane::LatchMode::Immediate;
            t.strict_source = !t.strict_source;
            e.set_tunables(t);
            assert_eq!(e.tunables(), t);
        }
        e.set_tunables(Tunables {
            max_sessions: SessionCap::Drain,
            ..e.tunables()
        });
        assert!(e.at_session_cap());
        e.set_worker_timeouts(Duration::from_secs(5), Duration::from_secs(50));
        let cmds: Vec<_> = std::iter::from_fn(|| e.poll_command()).collect();
        assert_eq!(cmds.len(), 2);
        assert!(
            matches!(cmds[1], (1, FlowCommand::Timeouts { timeout, .. }) if timeout.as_secs() == 5)
        );
    }
}
