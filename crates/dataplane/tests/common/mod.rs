//! A worker on the memory backend with two legs installed, for relay scenario tests.
#![allow(dead_code, clippy::unwrap_used)]

use dataplane::{
    AddrRange, FlowCommand, FlowEvent, LatchMode, PortLayout, SharedCounters, StreamSpec, Worker,
    WorkerParams,
};
use pktio::memory::MemoryIo;
use pktio::{PortHandle, PortKey, RelayAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::Endpoint;

pub const RELAY: [u8; 4] = [10, 0, 0, 1];
pub const A_SDP: Endpoint = Endpoint::new_v4([192, 0, 2, 10], 5000);
pub const B_SDP: Endpoint = Endpoint::new_v4([198, 51, 100, 20], 6000);
pub const FOREIGN: Endpoint = Endpoint::new_v4([203, 0, 113, 66], 7777);
pub const PA: PortKey = PortKey {
    addr: 0,
    port: 30000,
};
pub const PB: PortKey = PortKey {
    addr: 0,
    port: 30002,
};

pub struct Rig {
    pub w: Worker<MemoryIo>,
    pub events: rtrb::Consumer<FlowEvent>,
    pub cmds: rtrb::Producer<FlowCommand>,
    pub now_ms: u64,
}

pub fn relay_ep(port: u16) -> Endpoint {
    Endpoint::new_v4(RELAY, port)
}

pub fn spec(key: PortKey, expect: Endpoint, latch: LatchMode) -> StreamSpec {
    StreamSpec {
        key,
        expect,
        expect_rtcp_port: if expect.is_unset() {
            0
        } else {
            expect.port + 1
        },
        mux: false,
        hold: false,
        clock_rate: 8000,
        latch,
        strict: false,
        handover: false,
    }
}

impl Rig {
    pub fn new() -> Self {
        let layout = Arc::new(
            PortLayout::new(
                vec![AddrRange {
                    port_min: 30000,
                    port_max: 30099,
                }],
                1,
            )
            .unwrap(),
        );
        let io = MemoryIo::new(
            vec![RelayAddr {
                ip: RELAY.into(),
                mac: [2, 0, 0, 0, 0, 9],
            }],
            [2, 0, 0, 0, 0, 1],
            32,
        );
        let (cmds, cmd_rx) = rtrb::RingBuffer::new(64);
        let (ev_tx, events) = rtrb::RingBuffer::new(64);
        let params = WorkerParams {
            id: 0,
            layout,
            learning: Duration::from_secs(3),
            timeout: Duration::from_secs(60),
            hold_timeout: Duration::from_secs(3600),
            tick: Duration::from_millis(20),
            epoch: Instant::now(),
        };
        let w = Worker::new(
            params,
            io,
            cmd_rx,
            ev_tx,
            Arc::new(SharedCounters::default()),
        );
        Rig {
            w,
            events,
            cmds,
            now_ms: 1_000,
        }
    }

    /// Installs A (facing PA) and B (facing PB).
    pub fn install(&mut self, a: StreamSpec, b: StreamSpec) {
        let h = || PortHandle::Virtual;
        self.w.command(
            FlowCommand::Install {
                a,
                b,
                handles: [h(), h(), h(), h()],
            },
            self.now_ms as u32,
        );
    }

    pub fn standard(latch: LatchMode) -> Self {
        let mut r = Rig::new();
        r.install(spec(PA, A_SDP, latch), spec(PB, B_SDP, latch));
        r
    }

    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Runs one loop iteration at the current time (with whatever was injected).
    pub fn poll(&mut self) -> usize {
        let now = self.now_ms * 1_000_000;
        self.w.iterate(|| now)
    }

    /// Sends one datagram and runs one loop iteration at the current time.
    pub fn send(
        &mut self,
        src: Endpoint,
        dst_port: u16,
        payload: &[u8],
    ) -> Vec<(Endpoint, Endpoint, Vec<u8>)> {
        self.w.io().inject_udp(src, relay_ep(dst_port), payload);
        let now = self.now_ms * 1_000_000;
        self.w.iterate(|| now);
        self.w
            .io()
            .take_sent()
            .into_iter()
            .map(|f| {
                let p = wire::frame::parse_udp(&f).expect("sent frame parses");
                assert!(
                    wire::frame::verify_udp_checksum(&f, &p),
                    "sent frame has a valid UDP checksum"
                );
                (
                    p.src,
                    p.dst,
                    f[p.payload..p.payload + p.payload_len].to_vec(),
                )
            })
            .collect()
    }

    pub fn events(&mut self) -> Vec<FlowEvent> {
        let mut v = Vec::new();
        while let Ok(e) = self.events.pop() {
            v.push(e);
        }
        v
    }
}

/// An RTP packet (RFC 3550 §5.1) with a 160-byte payload.
pub fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// An RTCP receiver report without blocks (RFC 3550 §6.4.2).
pub fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}
