use super::*;
use std::any::Any;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Echoes every datagram back after `delay`.
struct Echo {
    addr: SocketAddr,
    delay: Duration,
    pending: Vec<(Instant, Datagram)>,
    out: Vec<Datagram>,
}

impl Node for Echo {
    fn owns(&self, addr: SocketAddr) -> bool {
        addr == self.addr
    }
    fn receive(&mut self, now: Instant, d: Datagram) {
        let back = Datagram::udp(self.addr, d.from, d.bytes);
        self.pending.push((now + self.delay, back));
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        self.out.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().map(|(t, _)| *t).min()
    }
    fn handle_timeout(&mut self, now: Instant) {
        let (due, later) = self.pending.drain(..).partition(|(t, _)| *t <= now);
        self.pending = later;
        self.out
            .extend(due.into_iter().map(|(_, d): (Instant, Datagram)| d));
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Records what it receives, with the time.
#[derive(Default)]
struct Sink {
    addr: Option<SocketAddr>,
    got: Vec<(Instant, Datagram)>,
}

impl Node for Sink {
    fn owns(&self, addr: SocketAddr) -> bool {
        Some(addr) == self.addr
    }
    fn receive(&mut self, now: Instant, d: Datagram) {
        self.got.push((now, d));
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A simulation with 1 ms latency and a [`Sink`] at `addr(2)`, whose index it returns too.
fn sim_with_sink() -> (Sim, usize) {
    let mut sim = Sim::new(Duration::from_millis(1));
    let sink = sim.add(Box::new(Sink {
        addr: Some(addr(2)),
        got: Vec::new(),
    }));
    (sim, sink)
}

/// The texts the sink received, in order.
fn received(sim: &Sim, sink: usize) -> Vec<String> {
    sim.node::<Sink>(sink)
        .unwrap()
        .got
        .iter()
        .map(|g| g.1.text())
        .collect()
}

#[test]
fn latency_and_timers_order_events_deterministically() {
    let mut sim = Sim::new(Duration::from_millis(10));
    let echo = sim.add(Box::new(Echo {
        addr: addr(1),
        delay: Duration::from_millis(100),
        pending: Vec::new(),
        out: Vec::new(),
    }));
    let sink = sim.add(Box::new(Sink {
        addr: Some(addr(2)),
        got: Vec::new(),
    }));
    let t0 = sim.now();
    sim.net
        .send(t0, Datagram::udp(addr(2), addr(1), b"ping".to_vec()));
    sim.run_for(Duration::from_secs(1));
    let got = &sim.node::<Sink>(sink).unwrap().got;
    assert_eq!(got.len(), 1);
    // 10 ms there, 100 ms in the echo, 10 ms back.
    assert_eq!(got[0].0 - t0, Duration::from_millis(120));
    assert_eq!(got[0].1.bytes, b"ping");
    assert!(sim.node::<Echo>(echo).unwrap().pending.is_empty());
    assert_eq!(sim.clock.elapsed(), Duration::from_secs(1));
}

#[test]
fn down_endpoints_and_drop_rules_lose_datagrams() {
    let (mut sim, sink) = sim_with_sink();
    let now = sim.now();
    sim.net.drop_next(addr(2), "INVITE", 1);
    sim.net
        .send(now, Datagram::udp(addr(1), addr(2), b"INVITE a".to_vec()));
    sim.net
        .send(now, Datagram::udp(addr(1), addr(2), b"INVITE b".to_vec()));
    sim.net.set_down(addr(2), true);
    sim.net
        .send(now, Datagram::udp(addr(1), addr(2), b"INVITE c".to_vec()));
    sim.net.set_down(addr(2), false);
    sim.net
        .send(now, Datagram::udp(addr(1), addr(3), b"nobody".to_vec()));
    sim.run_for(Duration::from_millis(5));
    let got = received(&sim, sink);
    assert_eq!(got, vec!["INVITE b".to_string()]);
    assert_eq!(sim.net.lost, 2);
    assert_eq!(sim.undeliverable.len(), 1);
    assert_eq!(sim.net.sent_to(addr(2), "INVITE").len(), 3);
}

#[test]
fn drop_rules_spare_the_reliable_transports() {
    let (mut sim, sink) = sim_with_sink();
    let now = sim.now();
    sim.net.drop_next(addr(2), "INVITE", 3);
    for transport in Transport::ALL {
        sim.net.send(
            now,
            Datagram {
                transport,
                from: addr(1),
                to: addr(2),
                bytes: format!("INVITE over {transport}").into_bytes(),
            },
        );
    }
    sim.run_for(Duration::from_millis(5));
    let got = received(&sim, sink);
    assert_eq!(got, vec!["INVITE over tcp", "INVITE over tls"]);
    assert_eq!(sim.net.lost, 1);
}
