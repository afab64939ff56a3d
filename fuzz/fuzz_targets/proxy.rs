//! The SIP proxy core fed arbitrary messages over UDP and TCP from a caller, pool members,
//! carriers, a trusted peer and senders that belong to nothing, with routes by source set and
//! network, transport errors, and time moving between them: no input may panic it, and every
//! transaction must end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[interface]]
name = "external"
address = "127.0.0.1"
port_min = 30000
port_max = 30999
[sip]
listen = ["127.0.0.1:5060"]
transports = ["udp", "tcp"]
fr_timeout_ms = 500
fr_inv_timeout_secs = 2
tcp_connect_timeout_ms = 300
trusted = ["127.0.0.30/32"]
[[set]]
name = "pool"
register = true
register_networks = ["127.0.0.0/8"]
[set.health]
interval_secs = 1
timeout_ms = 200
[[set.member]]
uri = "sip:127.0.0.20:5060"
[[set.member]]
uri = "sip:127.0.0.21:5060;transport=tcp"
[[set]]
name = "carriers"
algorithm = "priority"
[set.health]
interval_secs = 1
timeout_ms = 200
[[set.member]]
uri = "sip:127.0.0.22:5060;transport=tcp"
priority = 0
[[set.member]]
uri = "sip:127.0.0.23:5060"
priority = 1
[[route]]
name = "outbound"
source_set = "pool"
set = "carriers"
[[route]]
name = "inbound"
source_networks = ["127.0.0.0/24"]
ruri_user_prefix = "+"
set = "pool"
[[route]]
name = "rest"
source_networks = ["127.0.0.0/8"]
set = "pool"
"#;

/// Who sends: a caller, pool members, a carrier, the trusted peer, and three non-members
/// (one outside every route's networks).
const PEERS: [&str; 8] = [
    "127.0.0.10:5060",
    "127.0.0.20:5060",
    "127.0.0.21:5060",
    "127.0.0.22:5060",
    "127.0.0.30:5060",
    "127.0.1.40:5060",
    "127.0.0.41:40123",
    "127.0.0.20:6000",
];

fn cfg() -> &'static config::Config {
    static CFG: OnceLock<config::Config> = OnceLock::new();
    CFG.get_or_init(|| config::parse(CONFIG).expect("fuzz config"))
}

fuzz_target!(|data: &[u8]| {
    let cfg = cfg();
    let mut now = Instant::now();
    let mut proxy = proxy::Proxy::new(
        proxy::ProxyConfig::from_config(cfg),
        &cfg.sets,
        &cfg.routes,
        now,
        Box::new(proxy::deterministic_rng(1)),
    );
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("addr");
    let peers: Vec<SocketAddr> = PEERS.iter().map(|p| p.parse().expect("addr")).collect();
    // Records are: one control byte (peer: 3 bits, TCP: 1 bit, time step: 4 bits) then a
    // length byte (in units of 8 bytes) and that many bytes. Time step 15 is a transport
    // error toward the peer instead of a message.
    let mut rest = data;
    while let [ctl, len, tail @ ..] = rest {
        let n = (usize::from(*len) * 8).min(tail.len());
        let (msg, next) = tail.split_at(n);
        rest = next;
        let from = peers[usize::from(ctl & 7)];
        let transport = if ctl & 8 != 0 {
            proxy::Transport::Tcp
        } else {
            proxy::Transport::Udp
        };
        let step = ctl >> 4;
        now += Duration::from_millis(u64::from(step) * 50);
        proxy.handle_timeout(now);
        if step == 15 {
            proxy.handle_transport_error(now, transport, from);
        } else {
            proxy.handle_message(now, transport, local, from, msg);
        }
        while proxy.poll_transmit().is_some() {}
        while proxy.poll_event().is_some() {}
    }
    // Everything ends within a few minutes of quiet.
    for _ in 0..40 {
        now += Duration::from_secs(10);
        proxy.handle_timeout(now);
        while proxy.poll_transmit().is_some() {}
    }
    let (server, _client, ctxs, _) = proxy.sizes();
    assert_eq!((server, ctxs), (0, 0), "transactions left after quiet");
});
