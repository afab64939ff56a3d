//! In-memory frame backend: Ethernet/IP/UDP frames are parsed and rewritten in place exactly as a
//! NIC backend does, without a NIC. Tests inject frames and read what was sent; benchmarks replay
//! a set of template frames.

use crate::{IoCounters, IoError, PacketIo, PortHandle, PortKey, RelayAddr, RxPacket, Wake};
use std::collections::VecDeque;
use std::time::Duration;
use wire::frame::{self, UdpFrame};
use wire::Endpoint;

/// Where received frames come from.
#[derive(Debug)]
enum Source {
    /// Frames injected by a test, received once each.
    Queue(VecDeque<Vec<u8>>),
    /// Template frames replayed in order, `remaining` more in all (benchmarks).
    Cycle {
        templates: Vec<Vec<u8>>,
        next: usize,
        remaining: u64,
    },
    /// One IPv4 template frame whose addresses and ports are patched per packet from `flows`
    /// (benchmarks over many flows without a frame per flow in memory).
    Flows {
        template: Vec<u8>,
        flows: Vec<FlowTuple>,
        next: usize,
        remaining: u64,
    },
}

/// Source and destination of a synthesised IPv4 frame: (src ip, src port, dst ip, dst port).
pub type FlowTuple = ([u8; 4], u16, [u8; 4], u16);

/// Parsed metadata of a received frame.
#[derive(Debug, Clone, Copy)]
struct Meta {
    key: PortKey,
    frame: UdpFrame,
}

/// The memory backend of one worker.
#[derive(Debug)]
pub struct MemoryIo {
    addrs: Vec<RelayAddr>,
    /// The relay addresses as endpoints (port 0), by index.
    addr_eps: Vec<Endpoint>,
    /// (address bytes in Endpoint form, index) sorted for binary search.
    lookup: Vec<([u8; 16], u16)>,
    gateway_mac: [u8; 6],
    burst: usize,
    source: Source,
    bufs: Vec<Vec<u8>>,
    meta: Vec<Option<Meta>>,
    n: usize,
    fwd: Vec<usize>,
    capture: bool,
    sent: Vec<Vec<u8>>,
    sink: u64,
    counters: IoCounters,
}

impl MemoryIo {
    /// A backend owning `addrs` (index = position); frames leave toward `gateway_mac`.
    pub fn new(addrs: Vec<RelayAddr>, gateway_mac: [u8; 6], burst: usize) -> Self {
        let burst = burst.clamp(1, 1024);
        let mut lookup: Vec<([u8; 16], u16)> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (Endpoint::from_socket_addr((a.ip, 0).into()).ip, i as u16))
            .collect();
        lookup.sort_unstable();
        let addr_eps = addrs
            .iter()
            .map(|a| Endpoint::from_socket_addr((a.ip, 0).into()))
            .collect();
        Self {
            addrs,
            addr_eps,
            lookup,
            gateway_mac,
            burst,
            source: Source::Queue(VecDeque::new()),
            bufs: (0..burst).map(|_| Vec::with_capacity(2048)).collect(),
            meta: vec![None; burst],
            n: 0,
            fwd: Vec::with_capacity(burst),
            capture: true,
            sent: Vec::new(),
            sink: 0,
            counters: IoCounters::default(),
        }
    }

    /// Queues a frame for reception (test mode).
    pub fn inject(&mut self, frame: Vec<u8>) {
        match &mut self.source {
            Source::Queue(q) => q.push_back(frame),
            Source::Cycle { .. } | Source::Flows { .. } => {
                self.source = Source::Queue(VecDeque::from([frame]))
            }
        }
    }

    /// Builds and queues a UDP frame from `src` to `dst` carrying `payload`.
    pub fn inject_udp(&mut self, src: Endpoint, dst: Endpoint, payload: &[u8]) {
        let mut f = Vec::with_capacity(64 + payload.len());
        frame::build_udp(
            &mut f,
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            &src,
            &dst,
            payload,
        );
        self.inject(f);
    }

    /// Replays `templates` round robin, `count` frames in all, without keeping what is sent
    /// (benchmark mode: sent frames are only counted).
    pub fn replay(&mut self, templates: Vec<Vec<u8>>, count: u64) {
        self.source = Source::Cycle {
            templates,
            next: 0,
            remaining: count,
        };
        self.capture = false;
    }

    /// Replays `count` frames built from `template` (an IPv4/UDP frame with UDP checksum 0, as
    /// built by [`wire::frame::build_udp`] and then zeroed) with the addresses of `flows` in turn.
    pub fn replay_flows(&mut self, template: Vec<u8>, flows: Vec<FlowTuple>, count: u64) {
        self.source = Source::Flows {
            template,
            flows,
            next: 0,
            remaining: count,
        };
        self.capture = false;
    }

    /// Frames left to receive.
    pub fn pending(&self) -> u64 {
        match &self.source {
            Source::Queue(q) => q.len() as u64,
            Source::Cycle { remaining, .. } | Source::Flows { remaining, .. } => *remaining,
        }
    }

    /// Takes the frames sent so far (test mode).
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }

    /// A value derived from every frame sent (keeps benchmark work observable).
    pub fn sink(&self) -> u64 {
        self.sink
    }

    fn addr_index(&self, ip: &[u8; 16]) -> Option<u16> {
        self.lookup
            .binary_search_by(|(a, _)| a.cmp(ip))
            .ok()
            .and_then(|i| self.lookup.get(i))
            .map(|(_, idx)| *idx)
    }

    fn next_frame(&mut self, slot: usize) -> bool {
        let buf = &mut self.bufs[slot];
        buf.clear();
        match &mut self.source {
            Source::Queue(q) => match q.pop_front() {
                Some(f) => {
                    buf.extend_from_slice(&f);
                    true
                }
                None => false,
            },
            Source::Cycle {
                templates,
                next,
                remaining,
            } => {
                if *remaining == 0 || templates.is_empty() {
                    return false;
                }
                *remaining -= 1;
                let t = &templates[*next];
                *next = if *next + 1 == templates.len() {
                    0
                } else {
                    *next + 1
                };
                buf.extend_from_slice(t);
                true
            }
            Source::Flows {
                template,
                flows,
                next,
                remaining,
            } => {
                if *remaining == 0 || flows.is_empty() {
                    return false;
                }
                *remaining -= 1;
                let (sip, sport, dip, dport) = flows[*next];
                *next = if *next + 1 == flows.len() {
                    0
                } else {
                    *next + 1
                };
                buf.extend_from_slice(template);
                patch_v4(buf, sip, sport, dip, dport);
                true
            }
        }
    }
}

impl PacketIo for MemoryIo {
    type Memory = crate::HugePages;

    fn rx_burst(&mut self, _timeout: Duration) -> Result<(usize, Wake), IoError> {
        // Fill the whole burst first, then parse: like a NIC's DMA, the frames are in memory
        // before the relay reads them.
        self.n = 0;
        while self.n < self.burst && self.next_frame(self.n) {
            self.n += 1;
        }
        for slot in 0..self.n {
            self.counters.rx += 1;
            let parsed = frame::parse_udp(&self.bufs[slot]).ok().and_then(|f| {
                let addr = self.addr_index(&f.dst.ip)?;
                Some(Meta {
                    key: PortKey {
                        addr,
                        port: f.dst.port,
                    },
                    frame: f,
                })
            });
            if parsed.is_none() {
                self.counters.rx_invalid += 1;
            }
            self.meta[slot] = parsed;
        }
        Ok((self.n, Wake::default()))
    }

    fn packet(&self, i: usize) -> Option<RxPacket<'_>> {
        if i >= self.n {
            return None;
        }
        let m = self.meta.get(i)?.as_ref()?;
        let f = &m.frame;
        let payload = self
            .bufs
            .get(i)?
            .get(f.payload..f.payload + f.payload_len)?;
        Some(RxPacket {
            local: m.key,
            src: f.src,
            payload,
        })
    }

    #[inline]
    fn key(&self, i: usize) -> Option<PortKey> {
        self.meta
            .get(i)
            .filter(|_| i < self.n)?
            .as_ref()
            .map(|m| m.key)
    }

    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        let (Some(Some(m)), Some(addr)) =
            (self.meta.get(i), self.addrs.get(usize::from(egress.addr)))
        else {
            self.counters.tx_dropped += 1;
            return;
        };
        let src = Endpoint {
            port: egress.port,
            ..self.addr_eps[usize::from(egress.addr)]
        };
        match frame::rewrite_udp(
            &mut self.bufs[i],
            &m.frame,
            addr.mac,
            self.gateway_mac,
            &src,
            &dst,
        ) {
            Ok(()) => self.fwd.push(i),
            Err(_) => self.counters.tx_dropped += 1,
        }
    }

    fn flush(&mut self) {
        for &i in &self.fwd {
            let buf = &self.bufs[i];
            if self.capture {
                self.sent.push(buf.clone());
            } else {
                // Reads the rewritten checksum bytes so the rewrite cannot be optimised away.
                self.sink = self
                    .sink
                    .wrapping_add(buf.get(24).copied().unwrap_or(0) as u64);
            }
            self.counters.tx += 1;
        }
        self.fwd.clear();
        self.n = 0;
    }

    fn attach(&mut self, _key: PortKey, handle: PortHandle) -> Result<(), IoError> {
        match handle {
            PortHandle::Virtual => Ok(()),
            PortHandle::Socket(_) => Err(IoError::WrongHandle),
        }
    }

    fn detach(&mut self, _key: PortKey) {}

    fn counters(&self) -> IoCounters {
        self.counters
    }
}

/// Writes addresses and ports into an untagged IPv4/UDP frame and recomputes the IPv4 header
/// checksum (RFC 791 §3.1); the UDP checksum is left 0 ("none", RFC 768).
fn patch_v4(f: &mut [u8], sip: [u8; 4], sport: u16, dip: [u8; 4], dport: u16) {
    if f.len() < 42 {
        return;
    }
    f[26..30].copy_from_slice(&sip);
    f[30..34].copy_from_slice(&dip);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[40..42].copy_from_slice(&[0, 0]);
    f[24..26].copy_from_slice(&[0, 0]);
    let check = wire::checksum::fold(wire::checksum::sum(&f[14..34], 0));
    f[24..26].copy_from_slice(&check.to_be_bytes());
}
