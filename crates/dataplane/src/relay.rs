//! The per-packet relay decision.
//!
//! A packet arriving on relay port `P` of leg X is forwarded from the sibling port of leg Y
//! toward Y's peer (symmetric relaying: Y receives from the port Y sends to). RTP travels on the
//! even port, RTCP on the odd one or, with rtcp-mux, on the RTP port (RFC 5761 §4). Packets are
//! classified by their first bytes (RFC 7983 §7); SRTP, SRTCP, DTLS, STUN and ZRTP pass through
//! untouched.

use crate::counters::DropReason;
use crate::io::RecordMemory;
use crate::io::{PortKey, RxPacket, RxView};
use crate::layout::{Component, PortLayout};
use crate::record::{flag, Stream};
use crate::table::Table;
use crate::{rtpstats, LatchMode};
use wire::demux::{self, Class};
use wire::Endpoint;

/// The outcome for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send from relay port `egress` to `dst`.
    Forward {
        /// The relay port the packet leaves from.
        egress: PortKey,
        /// Where it goes.
        dst: Endpoint,
    },
    /// Not relayed.
    Drop(DropReason),
}

/// What the decision needs besides the table.
#[derive(Debug, Clone, Copy)]
pub struct RelayCtx<'a> {
    /// Port placement.
    pub layout: &'a PortLayout,
    /// This worker's index.
    pub worker: usize,
    /// Heuristic learning window, ms.
    pub learning_ms: u32,
}

/// The kind of packet, as far as relaying needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// RTP (or SRTP) with the header fields the statistics use.
    Rtp { seq: u16, ts: u32, ssrc: u32 },
    /// RTCP (or SRTCP).
    Rtcp,
    /// STUN, DTLS, ZRTP: relayed with the RTP component, no statistics.
    Other,
}

/// The RTP fixed header fields, if the header fits the packet (RFC 3550 §5.1, §5.3.1). The
/// padding count is not checked: with SRTP it sits under the authentication tag.
#[inline]
fn rtp_fields(p: &[u8]) -> Option<(u16, u32, u32)> {
    let h: &[u8; 12] = p.get(..12)?.try_into().ok()?;
    if h[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(h[0] & 0x0f);
    if h[0] & 0x10 != 0 {
        let ext = p.get(len..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    if len > p.len() {
        return None;
    }
    let seq = u16::from_be_bytes([h[2], h[3]]);
    let ts = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let ssrc = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    Some((seq, ts, ssrc))
}

/// RTCP common header check (RFC 3550 §6.4.1): version 2, a whole header. Compound validation
/// (A.2) is not applied: SRTCP appends its index and tag after the last packet.
#[inline]
fn rtcp_ok(p: &[u8]) -> bool {
    p.len() >= 8 && p[0] >> 6 == 2
}

/// What the relay makes of payload `p` on component `comp`. The common RTP packet (version 2,
/// no padding, extension or CSRC: first byte 0x80; second byte not an RTCP packet type, RFC
/// 5761 §4; a whole fixed header) on the RTP port is told by one compare of the first byte and
/// one of the second; everything else takes the general demux of RFC 7983 §7.
#[inline(always)]
fn classify(p: &[u8], comp: Component) -> Result<Kind, DropReason> {
    if let Some(h) = p.first_chunk::<12>() {
        if h[0] == 0x80 && h[1].wrapping_sub(192) >= 32 && comp == Component::Rtp {
            return Ok(Kind::Rtp {
                seq: u16::from_be_bytes([h[2], h[3]]),
                ts: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                ssrc: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            });
        }
    }
    classify_general(p, comp)
}

/// [`classify`] of any payload: the demux of RFC 7983 §7 and RFC 5761 §4, then the RTP or
/// RTCP header check.
#[inline]
fn classify_general(p: &[u8], comp: Component) -> Result<Kind, DropReason> {
    match (demux::classify(p), comp) {
        (Class::Rtp, Component::Rtp) => match rtp_fields(p) {
            Some((seq, ts, ssrc)) => Ok(Kind::Rtp { seq, ts, ssrc }),
            None => Err(DropReason::MalformedRtp),
        },
        (Class::Rtcp, _) => {
            if rtcp_ok(p) {
                Ok(Kind::Rtcp)
            } else {
                Err(DropReason::MalformedRtcp)
            }
        }
        (Class::Stun | Class::Dtls | Class::Zrtp, _) => Ok(Kind::Other),
        (Class::Rtp | Class::Unknown, _) => Err(DropReason::NotMedia),
    }
}

/// Learns or checks the source of a packet on one component of `s`. Returns false to drop it
/// (strict source).
#[inline]
fn latch(s: &mut Stream, rtcp_port: bool, src: &Endpoint, now_ms: u32, learning_ms: u32) -> bool {
    let (latched_bit, ip_bit) = if rtcp_port {
        (flag::RTCP_LATCHED, flag::RTCP_IP_MATCH)
    } else {
        (flag::RTP_LATCHED, flag::RTP_IP_MATCH)
    };
    if s.flags & (flag::STARTED | latched_bit) == 0 {
        s.set(flag::STARTED, true);
        s.learn_start_ms = now_ms;
    }
    if s.flags & latched_bit != 0 {
        let peer = if rtcp_port {
            &mut s.rtcp_peer
        } else {
            &mut s.rtp_peer
        };
        if *src == *peer {
            return true;
        }
        if s.flags & flag::HANDOVER != 0 {
            *peer = *src;
            return true;
        }
        return s.flags & flag::STRICT == 0;
    }
    // Not latched yet: the SDP's address matters (second cache line).
    let expect = if rtcp_port { s.expect_rtcp() } else { s.expect };
    let peer = if rtcp_port {
        &mut s.rtcp_peer
    } else {
        &mut s.rtp_peer
    };
    let mode = LatchMode::from_bits((s.flags & flag::LATCH_MASK) >> flag::LATCH_SHIFT);
    let take = |s: &mut Stream, ep: Endpoint| {
        if rtcp_port {
            s.rtcp_peer = ep;
        } else {
            s.rtp_peer = ep;
        }
        s.flags |= latched_bit;
    };
    match mode {
        LatchMode::Off => s.flags & flag::STRICT == 0 || expect.is_unset() || *src == expect,
        LatchMode::Immediate => {
            take(s, *src);
            true
        }
        LatchMode::Heuristic => {
            let window_over = now_ms.wrapping_sub(s.learn_start_ms) >= learning_ms;
            if expect.is_unset() || *src == expect {
                take(s, *src);
            } else if src.same_ip(&expect) {
                if s.flags & ip_bit == 0 {
                    *peer = *src;
                    s.flags |= ip_bit;
                }
                if window_over {
                    s.flags |= latched_bit;
                }
            } else if window_over {
                // The window passed without an exact match: take the best candidate seen.
                let ep = if s.flags & ip_bit != 0 { *peer } else { *src };
                take(s, ep);
            }
            true
        }
    }
}

/// Decides what to do with `pkt`, updating the receiving stream's latching and statistics.
#[inline]
pub fn decide<M: RecordMemory>(
    table: &mut Table<M>,
    ctx: &RelayCtx<'_>,
    pkt: &RxPacket<'_>,
    now_ms: u32,
    now_us: u64,
) -> Verdict {
    let slot = ctx.layout.slot(ctx.worker, pkt.local);
    decide_at(table, ctx, slot, pkt, now_ms, now_us)
}

/// [`decide`] with the packet's slot already looked up (`None`: not this worker's port).
///
/// RTP (and STUN/DTLS on the RTP port) of a latched stream reads and writes the first line of
/// the receiving record only: the destination is the record's copy of the other leg's
/// (`fwd`). Learning, strict-source and handover checks read the second line; RTCP toward a
/// leg without rtcp-mux reads the other leg's record.
#[inline]
pub fn decide_at<M: RecordMemory, P: RxView + ?Sized>(
    table: &mut Table<M>,
    ctx: &RelayCtx<'_>,
    slot: Option<(u32, Component)>,
    pkt: &P,
    now_ms: u32,
    now_us: u64,
) -> Verdict {
    let Some((idx, comp)) = slot else {
        return Verdict::Drop(DropReason::NotOwner);
    };
    let Some(s) = table.get_mut(idx).filter(|s| s.in_use()) else {
        return Verdict::Drop(DropReason::UnknownPort);
    };
    let payload = pkt.payload();
    let kind = match classify(payload, comp) {
        Ok(k) => k,
        Err(r) => {
            s.drops = s.drops.wrapping_add(1);
            return Verdict::Drop(r);
        }
    };
    let rtcp_port = comp == Component::Rtcp;
    let latched_bit = if rtcp_port {
        flag::RTCP_LATCHED
    } else {
        flag::RTP_LATCHED
    };
    // Latched with neither strict source nor handover: any source is taken as it is, so
    // there is nothing to check or learn (and the other leg's copy stays right).
    let mut moved = None;
    if s.flags & (latched_bit | flag::STRICT | flag::HANDOVER) != latched_bit {
        let before = s.rtp_dst();
        if !latch(s, rtcp_port, &pkt.src(), now_ms, ctx.learning_ms) {
            s.drops = s.drops.wrapping_add(1);
            return Verdict::Drop(DropReason::StrictSource);
        }
        let after = s.rtp_dst();
        moved = (after != before).then_some((s.sibling, after));
    }
    count(s, kind, payload.len() as u64, now_ms, now_us);
    // STUN/DTLS on the RTCP port (the RTCP component of a non-muxed DTLS-SRTP stream) stays on
    // the RTCP component; toward a leg with rtcp-mux RTCP leaves from its RTP port (RFC 5761).
    let rtcp =
        matches!(kind, Kind::Rtcp) || (matches!(kind, Kind::Other) && comp == Component::Rtcp);
    let (egress, dst) = if rtcp && !s.has(flag::SIBLING_MUX) {
        let sib = s.sibling;
        let egress = PortKey {
            addr: sib.addr,
            port: sib.port | 1,
        };
        let dst = (ctx.layout.slot(ctx.worker, sib))
            .and_then(|(t, _)| table.get(t))
            .filter(|t| t.in_use())
            .map_or(Endpoint::UNSET, Stream::rtcp_dst);
        (egress, dst)
    } else {
        (s.sibling, s.fwd)
    };
    if let Some((sibling, to)) = moved {
        set_fwd(table, ctx, sibling, to);
    }
    if dst.port != 0 && !dst.is_unset() {
        Verdict::Forward { egress, dst }
    } else {
        Verdict::Drop(DropReason::NoDestination)
    }
}

/// Counts an accepted packet of `kind` with `len` payload bytes on its receiving record.
#[inline(always)]
fn count(s: &mut Stream, kind: Kind, len: u64, now_ms: u32, now_us: u64) {
    match kind {
        Kind::Rtp { seq, ts, ssrc } => {
            s.rtp_packets += 1;
            s.rtp_bytes += len;
            s.last_rtp_ms = now_ms;
            rtpstats::update(s, seq, ts, ssrc, now_us);
        }
        Kind::Other => {
            s.rtp_packets += 1;
            s.rtp_bytes += len;
            s.last_rtp_ms = now_ms;
        }
        Kind::Rtcp => {
            s.rtcp_packets = s.rtcp_packets.wrapping_add(1);
            s.rtcp_bytes = s.rtcp_bytes.wrapping_add(len as u32);
            s.last_rtcp_ms = now_ms;
        }
    }
}

/// Copies `dst` into the `fwd` of the record whose RTP port is `key` (the other leg of a
/// record whose destination changed).
#[inline]
pub fn set_fwd<M: RecordMemory>(
    table: &mut Table<M>,
    ctx: &RelayCtx<'_>,
    key: PortKey,
    dst: Endpoint,
) {
    let t = ctx.layout.slot(ctx.worker, key).map(|(t, _)| t);
    if let Some(t) = t.and_then(|t| table.get_mut(t)).filter(|t| t.in_use()) {
        t.fwd = dst;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payloads() -> impl Strategy<Value = Vec<u8>> {
        // Random bytes, and payloads that start like RTP or RTCP (the fast path's edges:
        // every second byte, lengths around the 12-byte header, extension and CSRC bits).
        let head = (
            prop_oneof![
                Just(0x80u8),
                Just(0x90),
                Just(0x81),
                Just(0xa0),
                any::<u8>()
            ],
            any::<u8>(),
        );
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            (head, proptest::collection::vec(any::<u8>(), 0..30)).prop_map(|((b0, b1), mut v)| {
                v.splice(0..0, [b0, b1]);
                v
            }),
        ]
    }

    proptest! {
        #[test]
        fn rtp_fast_path_agrees_with_the_general_demux(p in payloads()) {
            for comp in [Component::Rtp, Component::Rtcp] {
                prop_assert_eq!(classify(&p, comp), classify_general(&p, comp), "{:?} {:02x?}", comp, p);
            }
        }
    }

    #[test]
    fn every_first_byte_pair_agrees() {
        let mut p = [0u8; 16];
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                p[0] = b0;
                p[1] = b1;
                for len in [0, 1, 2, 11, 12, 16] {
                    for comp in [Component::Rtp, Component::Rtcp] {
                        assert_eq!(classify(&p[..len], comp), classify_general(&p[..len], comp));
                    }
                }
            }
        }
    }
}
