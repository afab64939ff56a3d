//! Members named by host name: RFC 3263 location against a zone on the simulated network,
//! SRV priority and weight, re-resolution after the TTL.

use super::*;
use std::net::Ipv4Addr;

/// Answers DNS queries from a zone that the test can swap.
pub(crate) struct DnsServer {
    pub addr: SocketAddr,
    pub zone: dns::zone::Zone,
    pub queries: usize,
    out: VecDeque<Datagram>,
}

impl Node for DnsServer {
    fn owns(&self, a: SocketAddr) -> bool {
        a == self.addr
    }
    fn receive(&mut self, _now: Instant, d: Datagram) {
        self.queries += 1;
        if let Some(r) = self.zone.answer(&d.bytes) {
            self.out.push_back(Datagram::udp(self.addr, d.from, r));
        }
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        self.out.pop_front()
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

fn zone(weights: [(u16, u16); 3], ttl: u32) -> dns::zone::Zone {
    let mut z = dns::zone::Zone::new();
    for (i, (prio, weight)) in weights.iter().enumerate() {
        let host = format!("fs{i}.pool.test");
        z = z
            .srv("_sip._udp.pool.test", *prio, *weight, 5060, &host, ttl)
            .unwrap()
            .a(&host, Ipv4Addr::new(127, 0, 0, 20 + i as u8), ttl)
            .unwrap();
    }
    z
}

fn srv_bed(z: dns::zone::Zone) -> (Bed, usize) {
    let text = config_text("algorithm = \"srv\"", &["uri = \"sip:pool.test\""])
        + "[dns]\nservers = [\"127.0.0.53:53\"]\nmin_ttl_secs = 5\n";
    let mut bed = Bed::from_config(&text, vec![Answer::Ok, Answer::Ok, Answer::Ok]);
    let i = bed.sim.add(Box::new(DnsServer {
        addr: addr("127.0.0.53:53"),
        zone: z,
        queries: 0,
        out: VecDeque::new(),
    }));
    // The first lookup starts at the first timeout.
    let now = bed.sim.now();
    bed.proxy_mut().handle_timeout(now);
    bed.run_ms(100);
    (bed, i)
}

#[test]
fn srv_members_are_used_by_priority_then_weight() {
    let (mut bed, dns_node) = srv_bed(zone([(10, 60), (10, 20), (20, 50)], 300));
    assert_eq!(bed.proxy().dispatcher().snapshot().count(), 3);
    for i in 0..80 {
        bed.call(&format!("srv{i}"));
        bed.run_ms(5);
    }
    let counts: Vec<usize> = (0..3).map(|m| bed.member(m).count("INVITE")).collect();
    assert_eq!(counts, vec![60, 20, 0]);
    // NAPTR (none) then SRV, with the A records in the additional section.
    let q = bed.sim.node::<DnsServer>(dns_node).unwrap().queries;
    assert!((2..=4).contains(&q), "{q} queries");
}

#[test]
fn the_answer_is_looked_up_again_after_its_ttl() {
    let (mut bed, dns_node) = srv_bed(zone([(10, 50), (10, 50), (20, 50)], 30));
    assert_eq!(bed.proxy().dispatcher().snapshot().count(), 3);
    // The zone changes: fs0 leaves.
    bed.sim.node_mut::<DnsServer>(dns_node).unwrap().zone = {
        let mut z = dns::zone::Zone::new();
        for i in 1..3u8 {
            let host = format!("fs{i}.pool.test");
            z = z
                .srv("_sip._udp.pool.test", 10, 50, 5060, &host, 30)
                .unwrap()
                .a(&host, Ipv4Addr::new(127, 0, 0, 20 + i), 30)
                .unwrap();
        }
        z
    };
    bed.run_ms(20_000);
    assert_eq!(
        bed.proxy().dispatcher().snapshot().count(),
        3,
        "not before the TTL"
    );
    bed.run_ms(11_000);
    let targets: Vec<SocketAddr> = bed
        .proxy()
        .dispatcher()
        .snapshot()
        .map(|v| v.member.target())
        .collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(!targets.contains(&member_addr(0)));
}
