//! The engine wired to real workers on the memory backend, stepped by hand: ng requests in,
//! replies out, RTP frames through the relay, simulated time.
#![allow(dead_code, clippy::unwrap_used)]

use dataplane::{
    AddrRange, FlowEvent, LatchMode, PortLayout, SharedCounters, Worker, WorkerParams,
};
use media::{Engine, EngineConfig, EngineEvent, GuardConfig, Interface, VirtualBinder};
use ng::bencode::{self, OwnedValue};
use ng::{Command, RequestBuilder};
use pktio::memory::MemoryIo;
use pktio::RelayAddr;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::Endpoint;

pub const EXT: [u8; 4] = [10, 0, 0, 1];
pub const INT: [u8; 4] = [10, 0, 0, 2];
/// The IPv6 relay address of the "external" interface.
pub const EXT6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const PROXY: &str = "127.0.0.1:5060";

pub struct Sim {
    pub engine: Engine,
    pub worker: Worker<MemoryIo>,
    events: rtrb::Consumer<FlowEvent>,
    _cmds: rtrb::Producer<dataplane::FlowCommand>,
    /// Time since `epoch` (the workers' clock).
    pub now: Duration,
    epoch: Instant,
    pub log: Vec<EngineEvent>,
}

pub fn config(delete_delay: Duration) -> EngineConfig {
    EngineConfig {
        interfaces: vec![
            Interface {
                name: "external".into(),
                address: IpAddr::from(EXT),
                advertised: None,
            },
            Interface {
                name: "internal".into(),
                address: IpAddr::from(INT),
                advertised: None,
            },
            Interface {
                name: "external".into(),
                address: IpAddr::from(EXT6),
                advertised: None,
            },
        ],
        latching: LatchMode::Heuristic,
        strict_source: false,
        offer_timeout: Duration::from_secs(60),
        final_timeout: Some(Duration::from_secs(7200)),
        delete_delay,
        rtp_check: None,
        max_sessions: 0,
        cookie_ttl: Duration::from_secs(30),
        guard: GuardConfig::loopback(),
        fastpath: false,
        epoch: Instant::now(),
    }
}

impl Sim {
    /// Five port pairs on each of three relay addresses: external (IPv4 and IPv6), internal.
    pub fn new(cfg: EngineConfig) -> Self {
        let ranges = vec![
            AddrRange {
                port_min: 30000,
                port_max: 30009,
            },
            AddrRange {
                port_min: 40000,
                port_max: 40009,
            },
            AddrRange {
                port_min: 50000,
                port_max: 50009,
            },
        ];
        let layout = Arc::new(PortLayout::new(ranges, 1).unwrap());
        let addrs = vec![
            RelayAddr {
                ip: EXT.into(),
                mac: [2, 0, 0, 0, 0, 1],
            },
            RelayAddr {
                ip: INT.into(),
                mac: [2, 0, 0, 0, 0, 2],
            },
            RelayAddr {
                ip: EXT6.into(),
                mac: [2, 0, 0, 0, 0, 3],
            },
        ];
        let io = MemoryIo::new(addrs, [2, 0, 0, 0, 0, 9], 32);
        let (cmds, cmd_rx) = rtrb::RingBuffer::new(1024);
        let (ev_tx, events) = rtrb::RingBuffer::new(1024);
        let shared = Arc::new(SharedCounters::default());
        let params = WorkerParams {
            id: 0,
            layout: layout.clone(),
            learning: Duration::from_secs(3),
            timeout: Duration::from_secs(60),
            hold_timeout: Duration::from_secs(3600),
            tick: Duration::from_millis(20),
            epoch: cfg.epoch,
        };
        let epoch = cfg.epoch;
        let worker = Worker::new(params, io, cmd_rx, ev_tx, shared.clone());
        let engine = Engine::new(cfg, layout, Box::new(VirtualBinder), vec![shared]);
        Sim {
            engine,
            worker,
            events,
            _cmds: cmds,
            now: Duration::from_secs(1),
            epoch,
            log: Vec::new(),
        }
    }

    /// The engine's clock: `now` after the epoch.
    pub fn at(&self) -> Instant {
        self.epoch + self.now
    }

    fn now_ms(&self) -> u32 {
        self.now.as_millis() as u32
    }

    /// Moves commands to the worker and events back until both are quiet.
    pub fn pump(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some((_, cmd)) = self.engine.poll_command() {
                self.worker.command(cmd, self.now_ms());
                moved = true;
            }
            while let Ok(ev) = self.events.pop() {
                self.engine.handle_event(self.at(), 0, ev);
                moved = true;
            }
            while let Some(e) = self.engine.poll_event() {
                self.log.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Sends a raw datagram from [`PROXY`]; returns the replies (whole datagrams).
    pub fn raw(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.raw_from(PROXY.parse().unwrap(), data)
    }

    /// Sends a raw datagram from `from`; returns the replies (whole datagrams), which must
    /// all go back to `from`.
    pub fn raw_from(&mut self, from: SocketAddr, data: &[u8]) -> Vec<Vec<u8>> {
        self.engine.handle_datagram(self.at(), from, data);
        self.pump();
        let mut out = Vec::new();
        while let Some(t) = self.engine.poll_transmit() {
            assert_eq!(t.dst, from, "a reply goes back to its request's source");
            out.push(t.bytes);
        }
        out
    }

    /// Sends a request with `cookie`; returns the one reply's dictionary.
    pub fn ng(&mut self, cookie: &str, req: &RequestBuilder) -> OwnedValue {
        let replies = self.raw(&req.to_datagram(cookie.as_bytes()));
        assert_eq!(replies.len(), 1, "one reply per request");
        let (c, body) = ng::split_cookie(&replies[0]).unwrap();
        assert_eq!(c, cookie.as_bytes());
        bencode::decode(body).unwrap().to_owned()
    }

    /// Advances time, runs worker housekeeping and engine timers.
    pub fn advance(&mut self, d: Duration) {
        let step = Duration::from_millis(500);
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + step).min(end);
            self.worker.housekeeping(self.now_ms());
            self.pump();
            self.engine.handle_timeout(self.at());
            self.pump();
        }
    }

    /// Sends an RTP datagram to relay `ip:port`; returns (src, dst) of what the relay sent.
    pub fn media(
        &mut self,
        src: Endpoint,
        relay: Endpoint,
        payload: &[u8],
    ) -> Vec<(Endpoint, Endpoint)> {
        self.worker.io().inject_udp(src, relay, payload);
        let now = self.now.as_nanos() as u64;
        self.worker.iterate(|| now);
        self.worker
            .io()
            .take_sent()
            .iter()
            .map(|f| {
                let p = wire::frame::parse_udp(f).unwrap();
                (p.src, p.dst)
            })
            .collect()
    }
}

pub fn offer(call: &str, sdp: &str) -> RequestBuilder {
    RequestBuilder::new(Command::Offer)
        .call_id(call)
        .from_tag("from1")
        .sdp(sdp)
}

pub fn answer(call: &str, sdp: &str) -> RequestBuilder {
    RequestBuilder::new(Command::Answer)
        .call_id(call)
        .from_tag("from1")
        .to_tag("to1")
        .sdp(sdp)
}

pub fn delete(call: &str) -> RequestBuilder {
    RequestBuilder::new(Command::Delete)
        .call_id(call)
        .from_tag("from1")
}

pub fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=alice 2890844526 2890844526 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\na=sendrecv\r\n"
    )
}

pub fn str_of<'a>(v: &'a OwnedValue, key: &str) -> &'a str {
    v.get(key)
        .and_then(OwnedValue::as_str)
        .unwrap_or_else(|| panic!("no {key} in {v:?}"))
}

/// (address, port) of the first m-line of an SDP.
pub fn media_of(sdp: &str) -> Endpoint {
    let sd = sdp::parse(sdp.as_bytes()).unwrap();
    let m = &sd.media[0];
    Endpoint::from_socket_addr(SocketAddr::new(
        m.effective_connection(&sd).unwrap(),
        m.port,
    ))
}

pub fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&[0xff; 160]);
    p
}
