//! Calls as the engine tracks them: two legs (identified by SIP tags) and, per m-line, one
//! stream pair: a relay port pair on each leg's interface, both owned by one worker.

use dataplane::PortKey;
use dataplane::{LatchMode, StreamSpec, StreamStats};
use std::time::Instant;
use wire::Endpoint;

/// One side of the call.
#[derive(Debug, Clone, Default)]
pub struct Leg {
    /// The SIP tag (From tag of the offerer, To tag of the answerer), once known.
    pub tag: Option<Vec<u8>>,
    /// Index of the configured interface name the leg's ports are on.
    pub iface: usize,
}

/// What the SDP of one leg said about one m-line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remote {
    /// Media address and RTP port (unset when unknown or a hold address).
    pub rtp: Endpoint,
    /// RTCP port.
    pub rtcp_port: u16,
    /// On hold (sendonly/inactive/zero address).
    pub hold: bool,
    /// RTP clock rate of the first format.
    pub clock_rate: u32,
}

/// One m-line's relay resources.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Owning worker.
    pub worker: usize,
    /// RTP relay port of each leg (`keys[i]` faces leg `i`).
    pub keys: [PortKey; 2],
    /// What each leg's SDP said.
    pub remote: [Remote; 2],
    /// rtcp-mux in use toward each leg.
    pub mux: [bool; 2],
    /// rtcp-mux was offered by leg i / offered by us to leg i (for the answer).
    pub mux_offered: [bool; 2],
    /// Media type (audio, video...).
    pub media: String,
    /// Reported idle by its worker.
    pub idle: Option<dataplane::IdleReason>,
}

impl Pair {
    /// The spec of the stream facing leg `i`.
    pub fn spec(&self, i: usize, latch: LatchMode, strict: bool, handover: bool) -> StreamSpec {
        let r = &self.remote[i];
        StreamSpec {
            key: self.keys[i],
            expect: r.rtp,
            expect_rtcp_port: r.rtcp_port,
            mux: self.mux[i],
            hold: r.hold,
            clock_rate: r.clock_rate,
            latch,
            strict,
            handover,
        }
    }
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Offer seen, no answer yet.
    Offered,
    /// Answered.
    Answered,
}

/// A call.
#[derive(Debug, Clone)]
pub struct Call {
    /// SIP Call-ID.
    pub call_id: Vec<u8>,
    /// The two legs; `legs[0]` made the first offer.
    pub legs: [Leg; 2],
    /// Stream pairs by m-line index.
    pub pairs: Vec<Option<Pair>>,
    /// Offered or answered.
    pub state: CallState,
    /// When created (engine clock).
    pub created: Instant,
    /// Last offer/answer (engine clock).
    pub last_signal: Instant,
    /// Latching for this call.
    pub latch: LatchMode,
    /// Strict source for this call.
    pub strict: bool,
    /// Media handover for this call.
    pub handover: bool,
    /// The check for RTP from each party after the answer (anchored calls).
    pub rtp_check: RtpCheck,
    /// The entries it holds in the engine's deadline map.
    pub timers: CallTimers,
}

/// One entry of the engine's deadline map: its deadline and a sequence number that makes it
/// unique.
pub type Slot = (Instant, u64);

/// The entries a call holds in the engine's deadline map (kept by the engine).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTimers {
    /// Its final timeout (created + `final_timeout`).
    pub final_at: Option<Slot>,
    /// Its offer timeout (an unanswered ng call: last offer + `offer_timeout`).
    pub offer_at: Option<Slot>,
    /// Its RTP check (an answered anchored call).
    pub rtp_at: Option<Slot>,
}

/// Where an anchored call's check for RTP from each party stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpCheck {
    /// Not answered yet (or not anchored).
    NotYet,
    /// Due then.
    Due(std::time::Instant),
    /// Done (once per call).
    Done,
}

impl Call {
    /// Index of the leg with `tag`.
    pub fn leg_of(&self, tag: &[u8]) -> Option<usize> {
        self.legs.iter().position(|l| l.tag.as_deref() == Some(tag))
    }

    /// Pairs that are allocated.
    pub fn live_pairs(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().flatten()
    }
}

/// Stats of a call gathered from the workers for a `query`/`delete` reply.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    /// Per m-line: stats of the stream facing leg 0 and leg 1.
    pub pairs: Vec<Option<[StreamStats; 2]>>,
}
