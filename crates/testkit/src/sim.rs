//! The event loop of a simulation.

use crate::{Clock, Datagram, Net};
use std::any::Any;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A sans-IO participant of a simulation.
pub trait Node: Any {
    /// True when datagrams to `addr` are for this node.
    fn owns(&self, addr: SocketAddr) -> bool;
    /// Delivers a datagram.
    fn receive(&mut self, now: Instant, d: Datagram);
    /// The next datagram the node wants to send.
    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram>;
    /// When the node next wants [`Node::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
    /// Fires due timers.
    fn handle_timeout(&mut self, now: Instant);
    /// For typed access from the test.
    fn as_any(&self) -> &dyn Any;
    /// For typed access from the test.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Steps taken by one `run_*` call at most (a runaway loop ends the test, not the machine).
const MAX_STEPS: u64 = 10_000_000;

/// A clock, a network and the nodes on it.
pub struct Sim {
    /// The simulated clock.
    pub clock: Clock,
    /// The network.
    pub net: Net,
    nodes: Vec<Box<dyn Node>>,
    /// Datagrams addressed to no node.
    pub undeliverable: Vec<Datagram>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("clock", &self.clock)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl Sim {
    /// A simulation with the given one-way network latency.
    pub fn new(latency: Duration) -> Self {
        Sim {
            clock: Clock::new(),
            net: Net::new(latency),
            nodes: Vec::new(),
            undeliverable: Vec::new(),
        }
    }

    /// Adds a node; returns its index.
    pub fn add(&mut self, node: Box<dyn Node>) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Typed access to node `i`.
    pub fn node<T: Node>(&self, i: usize) -> Option<&T> {
        self.nodes.get(i)?.as_any().downcast_ref()
    }

    /// Typed mutable access to node `i`.
    pub fn node_mut<T: Node>(&mut self, i: usize) -> Option<&mut T> {
        self.nodes.get_mut(i)?.as_any_mut().downcast_mut()
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Moves every node's pending transmits onto the network.
    fn flush(&mut self) {
        let now = self.clock.now();
        for n in &mut self.nodes {
            while let Some(d) = n.poll_transmit(now) {
                self.net.send(now, d);
            }
        }
    }

    /// Handles everything due now: deliveries and timeouts, until quiet at this instant.
    fn settle(&mut self) {
        let now = self.clock.now();
        for _ in 0..MAX_STEPS {
            self.flush();
            let mut did = false;
            if let Some(d) = self.net.pop_due(now) {
                did = true;
                match self.nodes.iter_mut().find(|n| n.owns(d.to)) {
                    Some(n) => n.receive(now, d),
                    None => self.undeliverable.push(d),
                }
            }
            for n in &mut self.nodes {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                    did = true;
                }
            }
            if !did {
                self.flush();
                if self.net.pop_due_peek(now) {
                    continue;
                }
                return;
            }
        }
    }

    /// Runs until `d` of simulated time has passed.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.clock.now() + d;
        self.run_until_time(end);
    }

    /// Runs until the clock reaches `end`.
    pub fn run_until_time(&mut self, end: Instant) {
        for _ in 0..MAX_STEPS {
            self.settle();
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.poll_timeout())
                .chain(self.net.next_delivery())
                .min();
            match next {
                Some(t) if t <= end => self.clock.advance_to(t),
                _ => {
                    self.clock.advance_to(end);
                    self.settle();
                    return;
                }
            }
        }
    }
}

impl Net {
    /// True when a datagram is due at or before `now`.
    fn pop_due_peek(&self, now: Instant) -> bool {
        self.next_delivery().is_some_and(|t| t <= now)
    }
}
