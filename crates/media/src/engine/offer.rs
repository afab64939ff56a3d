//! `offer`: port allocation, the offerer's side of each stream pair, the SDP toward the answerer.

use super::{Engine, Refusal};
use crate::call::{Call, CallState, Leg, Pair, Remote};
use dataplane::PortKey;
use dataplane::{FlowCommand, LatchMode};
use ng::bencode::OwnedValue;
use ng::{Flag, IceMode, Request};
use sdp::{MediaRewrite, MuxRewrite, Rewrite, RtcpRewrite, SessionDescription};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use wire::Endpoint;

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

fn family(ip: IpAddr) -> Family {
    if ip.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn is_zero(ip: IpAddr) -> bool {
    ip.is_unspecified()
}

/// What `offer` and `answer` both need from a request.
pub(super) struct SdpRequest<'a> {
    pub(super) call_id: &'a [u8],
    pub(super) from_tag: &'a [u8],
    pub(super) body: &'a [u8],
    pub(super) sd: SessionDescription<'a>,
    /// The address that replaces the SDP's (`media-address`, else the SIP source with
    /// `SIP-source-address`).
    pub(super) source: Option<IpAddr>,
}

impl<'a> SdpRequest<'a> {
    pub(super) fn of(req: &Request<'a>) -> Result<Self, Refusal> {
        let call_id = Engine::require(req.call_id, "call-id")?;
        let from_tag = Engine::require(req.from_tag, "from-tag")?;
        let body = Engine::require(req.sdp, "SDP body")?;
        if matches!(req.ice, IceMode::Force | IceMode::ForceRelay) {
            return Err(Refusal::refused(
                "ICE=force is not supported: Ferrovox relays media but is not an ICE agent",
            ));
        }
        let sd =
            sdp::parse(body).map_err(|e| Refusal::bad_sdp(format!("Failed to parse SDP: {e}")))?;
        let sip_source = req
            .has_flag(Flag::SipSourceAddress)
            .then_some(req.received_from)
            .flatten();
        let source = req.media_address.or(sip_source);
        Ok(Self {
            call_id,
            from_tag,
            body,
            sd,
            source,
        })
    }
}

/// A rewrite that changes nothing yet (ICE lines stripped: the relay is no ICE agent).
pub(super) fn fresh_rewrite() -> Rewrite {
    Rewrite {
        origin: None,
        session_connection: None,
        media: Vec::new(),
        strip_ice: true,
    }
}

/// The `{result: ok, sdp}` reply of an offer or answer.
pub(super) fn sdp_reply(sdp: Vec<u8>) -> OwnedValue {
    ng::bencode::DictBuilder::new()
        .with("result", "ok")
        .with("sdp", sdp)
        .build()
}

/// Whether the answerer is offered rtcp-mux (RFC 5761): as the offerer offered it, unless the
/// request rejects or demuxes it; always when it asks to offer or require it.
fn mux_toward_answerer(req: &Request<'_>, offered: bool) -> bool {
    if req.rtcp_mux.reject || req.rtcp_mux.demux {
        false
    } else {
        offered || req.rtcp_mux.offer || req.rtcp_mux.require
    }
}

/// The rewrite of a disabled m-line (port 0): left as it is.
pub(super) fn disabled() -> MediaRewrite {
    MediaRewrite {
        port: 0,
        addr: IpAddr::from([0, 0, 0, 0]),
        rtcp: RtcpRewrite::Keep,
        rtcp_mux: MuxRewrite::Keep,
        direction: None,
    }
}

/// The rewrite of a relayed m-line: `port` at `addr`, RTCP announced on `rtcp_port` (unless
/// the request asks for no `a=rtcp`), `a=rtcp-mux` added or removed to go from `had_mux` (what
/// the SDP said) to `want_mux` (what the other side is to see).
pub(super) fn relayed(
    req: &Request<'_>,
    port: u16,
    addr: IpAddr,
    rtcp_port: u16,
    had_mux: bool,
    want_mux: bool,
) -> MediaRewrite {
    MediaRewrite {
        port,
        addr,
        rtcp: if req.has_flag(Flag::NoRtcpAttribute) {
            RtcpRewrite::Remove
        } else {
            RtcpRewrite::Port(rtcp_port)
        },
        rtcp_mux: match (had_mux, want_mux) {
            (false, true) => MuxRewrite::Add,
            (true, false) => MuxRewrite::Remove,
            _ => MuxRewrite::Keep,
        },
        direction: None,
    }
}

impl Engine {
    pub(super) fn require<'a>(v: Option<&'a [u8]>, what: &str) -> Result<&'a [u8], Refusal> {
        v.ok_or_else(|| Refusal::refused(format!("No {what} in message")))
    }

    /// The index (in `names`) of the interface an offer names; without a name, the first
    /// interface that takes new sessions. An interface a reload removed is unknown.
    fn iface_index(&self, name: Option<&[u8]>) -> Result<usize, Refusal> {
        match name {
            None => Ok((0..self.names.len())
                .find(|&i| self.name_open(i))
                .unwrap_or(0)),
            Some(n) => (0..self.names.len())
                .find(|&i| self.names[i].as_bytes() == n && self.name_open(i))
                .ok_or_else(|| {
                    Refusal::refused(format!(
                        "Unknown interface '{}'",
                        String::from_utf8_lossy(n)
                    ))
                }),
        }
    }

    /// Relay address indices of interface name `iface` with `fam`.
    fn addrs_of(&self, iface: usize, fam: Family) -> Vec<u16> {
        let Some(name) = self.names.get(iface) else {
            return Vec::new();
        };
        self.cfg
            .interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| &i.name == name && family(i.address) == fam)
            .map(|(n, _)| n as u16)
            .filter(|&a| self.alloc.is_open(a))
            .collect()
    }

    /// The family of the relay address toward the answerer on interface `iface`: the offer's
    /// own (`fam`) where the interface has one, else the other (the call bridges IPv4 and
    /// IPv6, as an interface of one family on each side needs).
    fn family_toward(&self, iface: usize, fam: Family) -> Family {
        let other = match fam {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        };
        if self.addrs_of(iface, fam).is_empty() && !self.addrs_of(iface, other).is_empty() {
            other
        } else {
            fam
        }
    }

    /// The address written into SDP for relay address `addr`.
    pub(super) fn sdp_addr(&self, addr: u16) -> Option<IpAddr> {
        let i = self.cfg.interfaces.get(usize::from(addr))?;
        Some(i.advertised.unwrap_or(i.address))
    }

    /// Binds RTP port `key` at `ip` and the RTCP port after it (a failure counted; what bound
    /// is closed again).
    pub(super) fn bind_pair(
        &mut self,
        ip: IpAddr,
        key: PortKey,
    ) -> std::io::Result<[dataplane::PortHandle; 2]> {
        let bound = self
            .binder
            .bind(key.addr, ip, key.port)
            .and_then(|rtp| Ok([rtp, self.binder.bind(key.addr, ip, key.port | 1)?]));
        if bound.is_err() {
            self.counters.bind_failures += 1;
        }
        bound
    }

    /// Binds both ports of a pair; on failure the pair is skipped and the next one tried.
    fn take_bound(
        &mut self,
        w: usize,
        addr: u16,
    ) -> Result<(PortKey, [dataplane::PortHandle; 2]), Refusal> {
        let ip = self
            .cfg
            .interfaces
            .get(usize::from(addr))
            .map(|i| i.address)
            .ok_or("bad relay address")?;
        for _ in 0..64 {
            let Some(key) = self.alloc.take(w, addr) else {
                break;
            };
            match self.bind_pair(ip, key) {
                Ok(handles) => return Ok((key, handles)),
                Err(err) => {
                    self.alloc.skip(w, key);
                    if err.raw_os_error().is_some_and(|c| c == 24 || c == 23) {
                        // EMFILE / ENFILE: no port will bind; say so instead of "out of ports".
                        return Err(Refusal::overloaded(
                            "Out of file descriptors (raise the open-file limit)",
                        ));
                    }
                }
            }
        }
        self.counters.port_exhausted += 1;
        Err(Refusal::overloaded(format!(
            "Ran out of ports on interface '{}'",
            self.cfg.interfaces[usize::from(addr)].name
        )))
    }

    /// Allocates and installs a pair for an m-line: leg `x` and leg `1 - x`.
    fn new_pair(
        &mut self,
        call: &Call,
        ifaces: [usize; 2],
        fams: [Family; 2],
        media: &str,
    ) -> Result<Pair, Refusal> {
        let a_addrs = self.addrs_of(ifaces[0], fams[0]);
        let b_addrs = self.addrs_of(ifaces[1], fams[1]);
        let no_family = |i: usize, f: Family| {
            Refusal::refused(format!(
                "No {} address on interface '{}'",
                if f == Family::V4 { "IPv4" } else { "IPv6" },
                self.names[ifaces[i]]
            ))
        };
        if a_addrs.is_empty() {
            return Err(no_family(0, fams[0]));
        }
        if b_addrs.is_empty() {
            return Err(no_family(1, fams[1]));
        }
        let choice = a_addrs
            .iter()
            .flat_map(|&a| b_addrs.iter().map(move |&b| (a, b)))
            .find_map(|(a, b)| self.alloc.pick_worker(a, b).map(|w| (w, a, b)));
        let Some((w, a, b)) = choice else {
            self.counters.port_exhausted += 1;
            return Err(Refusal::overloaded("Ran out of ports"));
        };
        let (ka, ha) = self.take_bound(w, a)?;
        let (kb, hb) = match self.take_bound(w, b) {
            Ok(x) => x,
            Err(e) => {
                self.alloc.give_back(w, ka);
                return Err(e);
            }
        };
        let pair = Pair {
            worker: w,
            keys: [ka, kb],
            remote: [Remote::default(); 2],
            mux: [false; 2],
            mux_offered: [false; 2],
            media: media.to_string(),
            idle: None,
        };
        self.install_pair(call, &pair, [ha, hb]);
        Ok(pair)
    }

    /// Has the pair's worker install both its streams on the ports bound (`handles`: RTP and
    /// RTCP of each leg).
    pub(super) fn install_pair(
        &mut self,
        call: &Call,
        pair: &Pair,
        [[ha0, ha1], [hb0, hb1]]: [[dataplane::PortHandle; 2]; 2],
    ) {
        let (a, b) = (
            pair.spec(0, call.latch, call.strict, call.handover),
            pair.spec(1, call.latch, call.strict, call.handover),
        );
        self.commands.push_back((
            pair.worker,
            FlowCommand::Install {
                a,
                b,
                handles: [ha0, ha1, hb0, hb1],
            },
        ));
    }

    pub(super) fn remote_of(
        sd: &SessionDescription<'_>,
        m: &sdp::MediaDescription<'_>,
        source: Option<IpAddr>,
    ) -> Remote {
        let addr = m.effective_connection(sd);
        let hold = m.is_hold(sd);
        let rtp = match (addr, m.port) {
            (Some(ip), port) if port != 0 && !is_zero(ip) => {
                Endpoint::from_socket_addr(SocketAddr::new(source.unwrap_or(ip), port))
            }
            _ => Endpoint::UNSET,
        };
        let rtcp_port = m
            .rtcp
            .map(|r| r.port)
            .unwrap_or_else(|| m.port.wrapping_add(1));
        Remote {
            rtp,
            rtcp_port,
            hold,
            clock_rate: m.clock_rate(),
        }
    }

    fn call_flags(&self, req: &Request<'_>) -> (LatchMode, bool, bool) {
        let latch = if req.has_flag(Flag::Asymmetric) {
            LatchMode::Off
        } else {
            self.cfg.latching
        };
        let strict = self.cfg.strict_source || req.has_flag(Flag::StrictSource);
        (latch, strict, req.has_flag(Flag::MediaHandover))
    }

    /// ng `offer`.
    pub(super) fn offer(&mut self, now: Instant, req: &Request<'_>) -> Result<OwnedValue, Refusal> {
        let r = SdpRequest::of(req)?;
        let call_id = r.call_id;
        let fresh = !self.calls.contains_key(call_id);
        if fresh && self.at_session_cap() {
            return Err(Refusal::overloaded(super::LOAD_LIMIT));
        }
        let mut call = match self.calls.remove(call_id) {
            Some(c) => c,
            None => {
                let (latch, strict, handover) = self.call_flags(req);
                let i0 = self.iface_index(req.direction.first().copied())?;
                let i1 = self.iface_index(
                    req.direction
                        .get(1)
                        .copied()
                        .or(req.direction.first().copied()),
                )?;
                self.counters.created += 1;
                Call {
                    call_id: call_id.to_vec(),
                    legs: [
                        Leg {
                            tag: Some(r.from_tag.to_vec()),
                            iface: i0,
                        },
                        Leg {
                            tag: req.to_tag.map(<[u8]>::to_vec),
                            iface: i1,
                        },
                    ],
                    pairs: Vec::new(),
                    state: CallState::Offered,
                    created: now,
                    last_signal: now,
                    latch,
                    strict,
                    handover,
                    rtp_check: crate::call::RtpCheck::NotYet,
                    timers: Default::default(),
                }
            }
        };
        let result = self.offer_on(&mut call, now, req, &r);
        // A new call whose first offer is refused leaves nothing behind (offer_on gave its
        // pairs back): kept, it would hold a session with no port until it timed out.
        if result.is_ok() || !fresh {
            self.keep_call(call);
        }
        result
    }

    pub(super) fn keep_call(&mut self, mut call: Call) {
        self.timers.sync(&mut call, &self.cfg);
        for p in call.live_pairs() {
            for k in p.keys {
                self.by_key.insert(k, call.call_id.clone());
            }
        }
        self.calls.insert(call.call_id.clone(), call);
    }

    fn offer_on(
        &mut self,
        call: &mut Call,
        now: Instant,
        req: &Request<'_>,
        r: &SdpRequest<'_>,
    ) -> Result<OwnedValue, Refusal> {
        let (sd, body) = (&r.sd, r.body);
        let x = Self::offering_leg(call, req, r.from_tag);
        let y = 1 - x;
        call.last_signal = now;
        let source = r.source;
        let mut rw = fresh_rewrite();
        let mut first_addr = None;
        let mut created = Vec::new();
        for (i, m) in sd.media.iter().enumerate() {
            if call.pairs.len() <= i {
                call.pairs.push(None);
            }
            let remote = Self::remote_of(sd, m, source);
            let offered_mux = m.rtcp_mux;
            let to_y_mux = mux_toward_answerer(req, offered_mux);
            if m.port == 0 {
                rw.media.push(disabled());
                continue;
            }
            if call.pairs[i].is_none() {
                if let Err(e) = self.pair_for(call, i, (sd, m), req, y) {
                    self.drop_pairs(call, &created);
                    return Err(e);
                }
                created.push(i);
            }
            let Some(p) = call.pairs[i].as_mut() else {
                continue;
            };
            p.remote[x] = remote;
            p.mux_offered[x] = offered_mux;
            p.mux_offered[y] = to_y_mux;
            let spec = p.spec(x, call.latch, call.strict, call.handover);
            let (worker, key) = (p.worker, p.keys[y]);
            self.commands.push_back((worker, FlowCommand::Update(spec)));
            let addr = self.sdp_addr(key.addr).ok_or("bad relay address")?;
            first_addr.get_or_insert(addr);
            let (port, rtcp) = (key.port, key.port | 1);
            rw.media
                .push(relayed(req, port, addr, rtcp, offered_mux, to_y_mux));
        }
        self.finish_rewrite(&mut rw, req, sd, first_addr);
        let out = match sdp::rewrite(body, sd, &rw) {
            Ok(out) => out,
            Err(e) => {
                self.drop_pairs(call, &created);
                return Err(Refusal::bad_sdp(format!("Failed to rewrite SDP: {e}")));
            }
        };
        if call.legs[y].tag.is_none() {
            call.state = CallState::Offered;
        }
        Ok(sdp_reply(out))
    }

    /// Which leg of `call` offers: the one with `from_tag`; else the one the to-tag does not
    /// name (leg 0 for a new call), which takes `from_tag`.
    fn offering_leg(call: &mut Call, req: &Request<'_>, from_tag: &[u8]) -> usize {
        if let Some(x) = call.leg_of(from_tag) {
            return x;
        }
        let x = match req.to_tag.and_then(|t| call.leg_of(t)) {
            Some(y) => 1 - y,
            None => 0,
        };
        call.legs[x].tag = Some(from_tag.to_vec());
        x
    }

    /// Allocates and installs the pair of m-line `i` (`m` of `sd`), the answerer being leg
    /// `y`: the offer's address family on the offerer's side, toward the answerer the one
    /// `address-family` asks for, else the offer's where the answerer's interface has it.
    fn pair_for(
        &mut self,
        call: &mut Call,
        i: usize,
        (sd, m): (&SessionDescription<'_>, &sdp::MediaDescription<'_>),
        req: &Request<'_>,
        y: usize,
    ) -> Result<(), Refusal> {
        let in_fam = m.effective_connection(sd).map_or(Family::V4, family);
        let out_fam = match req.address_family {
            Some(ng::AddressFamily::Ip4) => Family::V4,
            Some(ng::AddressFamily::Ip6) => Family::V6,
            None => self.family_toward(call.legs[y].iface, in_fam),
        };
        let mut fams = [in_fam, in_fam];
        fams[y] = out_fam;
        let ifaces = [call.legs[0].iface, call.legs[1].iface];
        let pair = self.new_pair(call, ifaces, fams, m.media)?;
        call.pairs[i] = Some(pair);
        Ok(())
    }

    /// Undoes the pairs a failed offer allocated.
    fn drop_pairs(&mut self, call: &mut Call, created: &[usize]) {
        for &i in created {
            if let Some(p) = call.pairs.get_mut(i).and_then(Option::take) {
                self.remove_pair(p.worker, p.keys);
            }
        }
    }

    pub(super) fn finish_rewrite(
        &self,
        rw: &mut Rewrite,
        req: &Request<'_>,
        sd: &SessionDescription<'_>,
        addr: Option<IpAddr>,
    ) {
        if let Some(a) = addr {
            if req.replace.origin || req.replace.origin_full {
                rw.origin = Some(a);
            }
            if sd.connection.is_some() {
                rw.session_connection = Some(a);
            }
        }
        rw.strip_ice = !matches!(req.ice, IceMode::ForceRelay | IceMode::Force);
    }
}
