//! HA: anchored calls another node relays, held here pre-installed on the same relay ports
//! (a standby), and dropped when that node ends them or when a newer owner takes them.
//!
//! An adopted call is an ordinary answered anchored call in the engine's tables: its flows
//! are installed on the worker that owns each port (the port layout is the same on every node
//! of a pair, so the record's ports map to the same workers), with the addresses each party's
//! SDP gave. While the engine is a standby ([`Engine::set_standby`]) no anchored call is ended
//! by a media or final timeout (no media reaches a standby; the active node's end arrives as a
//! change); once promoted, the scan runs as for any call, from the takeover on.

use super::{anchor_key, Engine};
use crate::call::{Call, CallState, Leg, Pair, Remote, RtpCheck};
use dataplane::{FlowCommand, PortKey};
use std::net::IpAddr;
use std::time::Instant;

/// After a takeover, how long anchored calls are not ended for want of media.
pub const TAKEOVER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A replicated anchored call as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedCall {
    /// The SIP Call-ID.
    pub call_id: Vec<u8>,
    /// The legs' SIP tags (the first offerer's first).
    pub tags: [Option<Vec<u8>>; 2],
    /// The media streams, by m-line index.
    pub streams: Vec<AdoptedStream>,
}

/// One m-line of an adopted call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedStream {
    /// The m-line's index.
    pub index: usize,
    /// The worker its ports belong to, as the writer saw it.
    pub worker: usize,
    /// Each leg's side.
    pub legs: [AdoptedLeg; 2],
}

/// One leg of an adopted stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedLeg {
    /// The interface the relay port is on.
    pub interface: String,
    /// The relay's RTP port facing the leg.
    pub port: u16,
    /// The relay address the leg was told in SDP.
    pub advertised: IpAddr,
    /// What the leg's SDP said.
    pub remote: Remote,
    /// rtcp-mux toward the leg.
    pub mux: bool,
}

/// Why a replicated call could not be held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    /// No interface of that name has a relay address advertised as given.
    #[error("no relay address {1} on interface {0:?} here")]
    NoAddress(String, IpAddr),
    /// The port is not one this node's layout gives the worker named (another port range or
    /// worker count than the writer's).
    #[error("port {0} is not worker {1}'s here (the nodes' port layouts differ)")]
    Layout(u16, usize),
    /// The port is in use by another call here.
    #[error("port {0} is not free here (in use, or outside the open range)")]
    InUse(u16),
    /// The socket backend could not bind the port.
    #[error("port {0} did not bind: {1}")]
    Bind(u16, String),
    /// Too many m-lines.
    #[error("m-line index {0} out of range")]
    Index(usize),
}

impl Engine {
    /// Whether the engine is a standby: anchored calls are not ended by timeouts. Leaving it
    /// (a takeover) starts [`TAKEOVER_GRACE`], in which no anchored call is ended for want of
    /// media either: the parties' media reaches this node only once the service address has
    /// moved, and the workers see it come back within a sweep or two. What the workers found
    /// idle while nothing could reach this node stays so until media returns: a call whose
    /// media never does ends by the media timeout after the grace.
    pub fn set_standby(&mut self, now: Instant, standby: bool) {
        if self.standby && !standby {
            self.takeover_grace = Some(now + TAKEOVER_GRACE);
        }
        self.standby = standby;
    }

    /// Holds replicated call `a` (or brings the held copy up to it): its streams installed on
    /// their ports, the same ports kept for streams that did not move. A stream whose ports
    /// changed is moved; a stream no longer in the record is removed.
    pub fn adopt(&mut self, now: Instant, a: &AdoptedCall) -> Result<(), AdoptError> {
        let key = anchor_key(&a.call_id);
        let mut call = self.calls.remove(&key).unwrap_or_else(|| Call {
            call_id: key.clone(),
            legs: [Leg::default(), Leg::default()],
            pairs: Vec::new(),
            state: CallState::Answered,
            created: now,
            last_signal: now,
            latch: self.cfg.latching,
            strict: self.cfg.strict_source,
            handover: false,
            rtp_check: RtpCheck::Done,
            timers: Default::default(),
        });
        let result = self.adopt_into(&mut call, a);
        if call.live_pairs().next().is_some() {
            self.keep_call(call);
        }
        result
    }

    fn adopt_into(&mut self, call: &mut Call, a: &AdoptedCall) -> Result<(), AdoptError> {
        for (leg, tag) in call.legs.iter_mut().zip(&a.tags) {
            leg.tag.clone_from(tag);
        }
        call.state = CallState::Answered;
        let wanted: Vec<usize> = a.streams.iter().map(|s| s.index).collect();
        for (i, slot) in call.pairs.iter_mut().enumerate() {
            if !wanted.contains(&i) {
                if let Some(p) = slot.take() {
                    self.drop_pair(&p);
                }
            }
        }
        let mut first_err = None;
        for s in &a.streams {
            if let Err(e) = self.adopt_stream(call, s) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// One stream: installed on its ports, or, when it holds them already, brought up to
    /// what the record says (the workers told only of a change).
    fn adopt_stream(&mut self, call: &mut Call, s: &AdoptedStream) -> Result<(), AdoptError> {
        if s.index >= 64 {
            return Err(AdoptError::Index(s.index));
        }
        let keys = [self.key_of(&s.legs[0])?, self.key_of(&s.legs[1])?];
        for (leg, l) in call.legs.iter_mut().zip(&s.legs) {
            if let Some(i) = self.names.iter().position(|n| n == &l.interface) {
                leg.iface = i;
            }
        }
        if call.pairs.len() <= s.index {
            call.pairs.resize(s.index + 1, None);
        }
        let (remote, mux) = (
            s.legs.clone().map(|l| l.remote),
            s.legs.clone().map(|l| l.mux),
        );
        match call.pairs[s.index].take() {
            Some(mut p) if p.keys == keys => {
                if (p.remote, p.mux) != (remote, mux) {
                    (p.remote, p.mux, p.mux_offered) = (remote, mux, mux);
                    for leg in 0..2 {
                        let spec = p.spec(leg, call.latch, call.strict, call.handover);
                        self.commands
                            .push_back((p.worker, FlowCommand::Update(spec)));
                    }
                }
                call.pairs[s.index] = Some(p);
            }
            moved => {
                if let Some(p) = moved {
                    self.drop_pair(&p);
                }
                let pair = Pair {
                    worker: s.worker,
                    keys,
                    remote,
                    mux,
                    mux_offered: mux,
                    media: "audio".into(),
                    idle: None,
                };
                call.pairs[s.index] = Some(self.install_adopted(call, pair)?);
            }
        }
        Ok(())
    }

    /// The relay port key of an adopted leg: its interface's address advertised as given.
    fn key_of(&self, l: &AdoptedLeg) -> Result<PortKey, AdoptError> {
        let addr = (0..self.cfg.interfaces.len())
            .filter(|&i| self.cfg.interfaces[i].name == l.interface)
            .map(|i| i as u16)
            .find(|&i| self.sdp_addr(i) == Some(l.advertised))
            .ok_or_else(|| AdoptError::NoAddress(l.interface.clone(), l.advertised))?;
        Ok(PortKey { addr, port: l.port })
    }

    /// Takes both ports of `pair` as named, binds them and has its worker install it.
    fn install_adopted(&mut self, call: &Call, pair: Pair) -> Result<Pair, AdoptError> {
        let w = pair.worker;
        for k in pair.keys {
            if self.layout.owner(k) != Some(w) || k.port & 1 != 0 {
                return Err(AdoptError::Layout(k.port, w));
            }
        }
        let a = self.take_exact_bound(w, pair.keys[0])?;
        let b = match self.take_exact_bound(w, pair.keys[1]) {
            Ok(b) => b,
            Err(e) => {
                self.alloc.give_back(w, pair.keys[0]);
                return Err(e);
            }
        };
        self.install_pair(call, &pair, [a, b]);
        Ok(pair)
    }

    /// Takes RTP port `k` of worker `w` and binds it and its RTCP port.
    fn take_exact_bound(
        &mut self,
        w: usize,
        k: PortKey,
    ) -> Result<[dataplane::PortHandle; 2], AdoptError> {
        if !self.alloc.take_exact(w, k) {
            return Err(AdoptError::InUse(k.port));
        }
        let ip = self.cfg.interfaces[usize::from(k.addr)].address;
        self.bind_pair(ip, k).map_err(|e| {
            self.alloc.give_back(w, k);
            AdoptError::Bind(k.port, e.to_string())
        })
    }

    /// Removes a pair at once (an adopted stream moved or gone): no delete delay, the ports go
    /// back when its worker confirms.
    fn drop_pair(&mut self, p: &Pair) {
        for k in p.keys {
            self.by_key.remove(&k);
        }
        self.remove_pair(p.worker, p.keys);
    }

    /// Drops replicated call `call_id` at once (its owner ended it, or another node owns it
    /// now): nothing is sent, the ports go back when the workers confirm. Returns whether it
    /// was held.
    pub fn unadopt(&mut self, call_id: &[u8]) -> bool {
        let Some(call) = self.take_call(&anchor_key(call_id)) else {
            return false;
        };
        for p in call.live_pairs() {
            self.remove_pair(p.worker, p.keys);
        }
        true
    }
}
