//! Simulated clock and in-memory network for Ferrovox's deterministic scenario tests.
//!
//! A [`Sim`] owns a [`Clock`], a [`Net`] and a set of sans-IO [`Node`]s (the proxy under test,
//! scripted peers). [`Sim::run_for`] delivers datagrams and fires timeouts in time order,
//! jumping the clock from one event to the next: no sleeps, no sockets, no threads, the same
//! result on every run.
#![forbid(unsafe_code)]

pub mod need;
mod net;
pub mod redis;
mod sim;

pub use net::{Datagram, Net, Transport};
pub use sim::{Node, Sim};

use std::time::{Duration, Instant};

/// A clock that moves only when told to.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    now: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose time starts at an arbitrary fixed origin.
    pub fn new() -> Self {
        let start = Instant::now();
        Clock { start, now: start }
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Time since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves time forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Moves time to `t` if it is later than now.
    pub fn advance_to(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
