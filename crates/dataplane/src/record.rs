//! The per-stream record: one relay port pair (RTP + RTCP) of one call leg, 192 bytes (three
//! cache lines, of which RTP on a latched stream touches the first only).
//!
//! A call leg's media stream owns a pair of relay ports; the record of the pair holds who talks
//! to it (the latched peers), what the SDP said (the expected address), which pair it relays to
//! (its sibling on the other leg) and the stream's statistics. A two-leg call with one m-line is
//! two records: 384 bytes of data-plane memory in all.

use crate::io::PortKey;
use wire::Endpoint;

/// Record flag bits.
pub mod flag {
    /// The record is installed.
    pub const IN_USE: u16 = 1 << 0;
    /// The leg uses rtcp-mux (RFC 5761): RTCP arrives on and leaves from the RTP port.
    pub const MUX: u16 = 1 << 1;
    /// The leg is on hold (the hold timeout applies).
    pub const HOLD: u16 = 1 << 2;
    /// Drop packets from other sources once latched.
    pub const STRICT: u16 = 1 << 3;
    /// Re-latch when the source changes after latching (rtpengine's media-handover).
    pub const HANDOVER: u16 = 1 << 4;
    /// The RTP source is learned for good.
    pub const RTP_LATCHED: u16 = 1 << 5;
    /// The RTCP source is learned for good.
    pub const RTCP_LATCHED: u16 = 1 << 6;
    /// The RTP peer was set from a source with the expected IP but another port (heuristic).
    pub const RTP_IP_MATCH: u16 = 1 << 7;
    /// The RTCP peer was set from a source with the expected IP but another port (heuristic).
    pub const RTCP_IP_MATCH: u16 = 1 << 8;
    /// A packet has been seen: the learning window is running.
    pub const STARTED: u16 = 1 << 9;
    /// An idle event was sent for this pair and no media came since.
    pub const IDLE_REPORTED: u16 = 1 << 10;
    /// RTP sequence state is initialised.
    pub const SEQ_INIT: u16 = 1 << 11;
    /// The other leg uses rtcp-mux (a copy of its [`MUX`] bit, so RTCP from this leg knows
    /// from its own record whether it leaves from the RTP port).
    pub const SIBLING_MUX: u16 = 1 << 14;
    /// Latching mode, two bits (see [`crate::LatchMode`]).
    pub const LATCH_SHIFT: u16 = 12;
    /// Mask of the latching mode bits.
    pub const LATCH_MASK: u16 = 0b11 << LATCH_SHIFT;
}

/// One relay port pair of one call leg. All-zero is the empty record.
///
/// The first cache line holds everything an RTP packet of a latched stream reads or writes:
/// the flags, the statistics, and the forward (`sibling` port and `fwd`, a copy of the other
/// leg's destination kept current by every change of that leg), so relaying RTP touches one
/// line and never the other leg's record. The second line holds the peers and what the SDP
/// said (read by learning, strict-source and handover checks, and RTCP); the third the rare
/// and RTCP-only fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Stream {
    // First cache line.
    /// [`flag`] bits.
    pub flags: u16,
    /// RTP clock rate in units of 10 Hz (for jitter), 0 = unknown.
    pub clock_div10: u16,
    /// The RTP port of the other leg's record, which packets from this leg leave from.
    pub sibling: PortKey,
    /// RTP packets received and accepted.
    pub rtp_packets: u64,
    /// RTP bytes (UDP payload) received and accepted.
    pub rtp_bytes: u64,
    /// Where RTP from this leg goes: the other leg's [`Stream::rtp_dst`], copied here whenever
    /// it changes (install, update, the other leg latching or handing over).
    pub fwd: Endpoint,
    /// RFC 3550 A.1: highest sequence number seen.
    pub max_seq: u16,
    /// Last RTP packet (ms on the worker clock); the install time until the first one.
    pub last_rtp_ms: u32,
    /// SSRC of the current source.
    pub ssrc: u32,
    /// RFC 3550 A.8: relative transit time of the previous packet.
    pub transit: u32,
    /// RFC 3550 A.8: interarrival jitter, scaled by 16.
    pub jitter: u32,
    /// RTP packets received from the current SSRC (RFC 3550 A.3 "received").
    pub ssrc_packets: u32,
    // Second cache line.
    /// Where RTP toward this leg goes once latched, and the source RTP from this leg is
    /// expected from (the best learning candidate before that).
    pub rtp_peer: Endpoint,
    /// Where RTCP toward this leg goes (unused with rtcp-mux).
    pub rtcp_peer: Endpoint,
    /// The address and RTP port the SDP gave (unset if none, e.g. before the answer).
    pub expect: Endpoint,
    /// The RTCP port the SDP gave (a=rtcp, or RTP port + 1).
    pub expect_rtcp_port: u16,
    /// When the first packet arrived (ms on the worker clock), start of the learning window.
    pub learn_start_ms: u32,
    // Third cache line.
    /// RFC 3550 A.1: sequence number wraps.
    pub cycles: u16,
    /// RFC 3550 A.1: first sequence number of the current source.
    pub base_seq: u16,
    /// SSRC changes seen.
    pub ssrc_changes: u16,
    /// RTCP packets received and accepted.
    pub rtcp_packets: u32,
    /// RTCP bytes received and accepted.
    pub rtcp_bytes: u32,
    /// Last RTCP packet (ms on the worker clock).
    pub last_rtcp_ms: u32,
    /// Packets dropped on this stream (strict source, malformed).
    pub drops: u32,
}

const _: () = assert!(std::mem::size_of::<Stream>() == 192);
const _: () = assert!(
    std::mem::offset_of!(Stream, ssrc_packets) == 60,
    "RTP hot fields, forward included, fit the first line"
);
const _: () = assert!(std::mem::offset_of!(Stream, fwd) < 64);
const _: () = assert!(std::mem::offset_of!(Stream, rtp_peer) == 64);
const _: () = assert!(std::mem::offset_of!(Stream, learn_start_ms) < 128);

impl Stream {
    /// The empty record.
    pub const EMPTY: Stream = Stream {
        fwd: Endpoint::UNSET,
        rtp_peer: Endpoint::UNSET,
        rtcp_peer: Endpoint::UNSET,
        expect: Endpoint::UNSET,
        expect_rtcp_port: 0,
        flags: 0,
        clock_div10: 0,
        sibling: PortKey { addr: 0, port: 0 },
        learn_start_ms: 0,
        last_rtp_ms: 0,
        rtp_packets: 0,
        rtp_bytes: 0,
        rtcp_packets: 0,
        rtcp_bytes: 0,
        last_rtcp_ms: 0,
        ssrc: 0,
        transit: 0,
        jitter: 0,
        max_seq: 0,
        base_seq: 0,
        cycles: 0,
        ssrc_changes: 0,
        drops: 0,
        ssrc_packets: 0,
    };

    /// True if installed.
    #[inline]
    pub fn in_use(&self) -> bool {
        self.flags & flag::IN_USE != 0
    }

    /// True if `bit` is set.
    #[inline]
    pub fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    /// Sets or clears `bit`.
    #[inline]
    pub fn set(&mut self, bit: u16, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    /// Where RTP toward this leg goes now: the latched peer, or before latching the SDP's
    /// address (the peer when the SDP gave none). The other leg keeps a copy in its `fwd`.
    #[inline]
    pub fn rtp_dst(&self) -> Endpoint {
        if self.has(flag::RTP_LATCHED) || self.expect.is_unset() {
            self.rtp_peer
        } else {
            self.expect
        }
    }

    /// Where RTCP toward this leg goes now (without rtcp-mux), as [`Stream::rtp_dst`].
    #[inline]
    pub fn rtcp_dst(&self) -> Endpoint {
        let expect = self.expect_rtcp();
        if self.has(flag::RTCP_LATCHED) || expect.is_unset() {
            self.rtcp_peer
        } else {
            expect
        }
    }

    /// The expected RTCP endpoint (SDP address, RTCP port).
    #[inline]
    pub fn expect_rtcp(&self) -> Endpoint {
        if self.expect.is_unset() {
            return Endpoint::UNSET;
        }
        Endpoint {
            ip: self.expect.ip,
            port: self.expect_rtcp_port,
        }
    }
}
