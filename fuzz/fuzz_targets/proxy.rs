//! The SIP proxy core fed arbitrary datagrams from a caller and two pool members, with time
//! moving between them: no input may panic it, and every transaction must end.
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
fr_timeout_ms = 500
fr_inv_timeout_secs = 2
[[set]]
name = "pool"
[set.health]
interval_secs = 1
timeout_ms = 200
[[set.member]]
uri = "sip:127.0.0.20:5060"
[[set.member]]
uri = "sip:127.0.0.21:5060"
"#;

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
    let peers: [SocketAddr; 3] = [
        "127.0.0.10:5060".parse().expect("addr"),
        "127.0.0.20:5060".parse().expect("addr"),
        "127.0.0.21:5060".parse().expect("addr"),
    ];
    // Records are: one control byte (peer, time step) then a length byte and that many bytes.
    let mut rest = data;
    while let [ctl, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len()) * 8;
        let n = n.min(tail.len());
        let (msg, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(ctl >> 2) * 20);
        proxy.handle_timeout(now);
        let from = peers[usize::from(ctl & 3) % 3];
        proxy.handle_message(now, proxy::Transport::Udp, local, from, msg);
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
