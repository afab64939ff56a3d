//! The in-memory network: datagrams with a fixed one-way latency, endpoints that can be taken
//! down, and targeted losses.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The transport a datagram travels on. TCP and TLS are modelled as an ordered, lossless
/// datagram stream between the two addresses: drop rules apply to UDP only, an endpoint that is
/// down loses everything.
pub use sip::Transport;

/// One message on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Transport.
    pub transport: Transport,
    /// Sender address.
    pub from: SocketAddr,
    /// Destination address.
    pub to: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

impl Datagram {
    /// A UDP datagram.
    pub fn udp(from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) -> Self {
        Datagram {
            transport: Transport::Udp,
            from,
            to,
            bytes,
        }
    }

    /// The payload as text (lossy), for assertions and failure messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A loss rule: drop the next `count` UDP datagrams to `to` whose text contains `needle`.
#[derive(Debug, Clone)]
struct DropRule {
    to: SocketAddr,
    needle: String,
    count: u32,
}

/// Datagrams in flight, delivered in (time, send order).
#[derive(Debug, Default)]
pub struct Net {
    latency: Duration,
    seq: u64,
    in_flight: BTreeMap<(Instant, u64), Datagram>,
    down: HashSet<SocketAddr>,
    rules: Vec<DropRule>,
    /// Every datagram sent, with its send time (including lost ones).
    pub log: Vec<(Instant, Datagram)>,
    /// Datagrams lost (down endpoint or drop rule).
    pub lost: u64,
}

impl Net {
    /// A network with the given one-way latency.
    pub fn new(latency: Duration) -> Self {
        Net {
            latency,
            ..Net::default()
        }
    }

    /// Sends `d` at `now`; it arrives after the latency unless lost.
    pub fn send(&mut self, now: Instant, d: Datagram) {
        self.log.push((now, d.clone()));
        if self.down.contains(&d.to) {
            self.lost += 1;
            return;
        }
        if !d.transport.is_reliable() {
            let text = d.text();
            if let Some(rule) = self
                .rules
                .iter_mut()
                .find(|r| r.to == d.to && r.count > 0 && text.contains(&r.needle))
            {
                rule.count -= 1;
                self.lost += 1;
                return;
            }
        }
        self.seq += 1;
        self.in_flight.insert((now + self.latency, self.seq), d);
    }

    /// The earliest pending delivery time.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(t, _)| *t)
    }

    /// Takes the next datagram due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        let key = *self.in_flight.keys().next()?;
        if key.0 > now {
            return None;
        }
        self.in_flight.remove(&key)
    }

    /// Takes an endpoint down (everything sent to it is lost) or brings it back.
    pub fn set_down(&mut self, addr: SocketAddr, down: bool) {
        if down {
            self.down.insert(addr);
        } else {
            self.down.remove(&addr);
        }
    }

    /// Loses the next `count` UDP datagrams to `to` whose text contains `needle`.
    pub fn drop_next(&mut self, to: SocketAddr, needle: &str, count: u32) {
        self.rules.push(DropRule {
            to,
            needle: needle.to_string(),
            count,
        });
    }

    /// Datagrams sent to `to` whose text contains `needle`, in send order.
    pub fn sent_to(&self, to: SocketAddr, needle: &str) -> Vec<&Datagram> {
        self.log
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d.to == to && d.text().contains(needle))
            .collect()
    }
}
