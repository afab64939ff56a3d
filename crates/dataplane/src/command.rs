//! Messages between the control plane and a worker, carried over bounded SPSC rings.

use crate::io::{PortHandle, PortKey};
use wire::Endpoint;

/// How a stream learns where its peer really is (`media.latching` in the config, whose
/// spelling the serde names are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatchMode {
    /// Never: media goes to the SDP address only.
    Off,
    /// The first packet's source is the peer.
    Immediate,
    /// Prefer a source that matches the SDP address and port: an exact match latches at once;
    /// a source with the SDP's IP latches tentatively; any other source is only taken once the
    /// learning window has passed with no better one (until then media goes to the SDP address).
    #[default]
    Heuristic,
}

impl LatchMode {
    pub(crate) fn bits(self) -> u16 {
        match self {
            LatchMode::Off => 0,
            LatchMode::Immediate => 1,
            LatchMode::Heuristic => 2,
        }
    }
    pub(crate) fn from_bits(b: u16) -> Self {
        match b {
            1 => LatchMode::Immediate,
            2 => LatchMode::Heuristic,
            _ => LatchMode::Off,
        }
    }
}

/// What the control plane knows of one leg's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// The relay RTP port of this leg (RTCP is the next port).
    pub key: PortKey,
    /// The SDP's address and RTP port for this leg; unset when not known yet (or a hold address).
    pub expect: Endpoint,
    /// The SDP's RTCP port (a=rtcp, else RTP port + 1).
    pub expect_rtcp_port: u16,
    /// The leg uses rtcp-mux.
    pub mux: bool,
    /// The leg is on hold.
    pub hold: bool,
    /// RTP clock rate in Hz (for jitter).
    pub clock_rate: u32,
    /// Latching mode.
    pub latch: LatchMode,
    /// Drop packets from other sources once latched.
    pub strict: bool,
    /// Re-latch when the source changes.
    pub handover: bool,
}

/// Control plane -> worker.
#[derive(Debug)]
pub enum FlowCommand {
    /// Installs two siblings: media from `a`'s peer leaves from `b`'s port toward `b`'s peer and
    /// back. `handles` are the four ports `a.rtp, a.rtcp, b.rtp, b.rtcp`.
    Install {
        /// One leg.
        a: StreamSpec,
        /// The other leg.
        b: StreamSpec,
        /// The opened ports.
        handles: [PortHandle; 4],
    },
    /// Updates one installed stream (re-INVITE, answer); a changed SDP address restarts latching.
    Update(StreamSpec),
    /// Reports the stats of the pair whose RTP port is `key` as [`FlowEvent::Stats`].
    Query {
        /// Matches the reply to the request.
        token: u64,
        /// Either stream of the pair.
        key: PortKey,
    },
    /// Removes the pair, closes its ports and reports [`FlowEvent::Removed`] with final stats.
    Remove {
        /// Matches the reply to the request.
        token: u64,
        /// Either stream of the pair.
        key: PortKey,
    },
    /// New no-RTP timeouts (the admin socket's `params.set`): every installed pair is
    /// judged by them from the next idle sweep on.
    Timeouts {
        /// No-RTP timeout.
        timeout: std::time::Duration,
        /// No-RTP timeout while on hold.
        hold_timeout: std::time::Duration,
    },
    /// A larger port layout (a reload added relay addresses): the worker takes it and grows
    /// its table to the new record count. Only appended addresses may differ from the running
    /// layout (every installed pair keeps its slot); a layout with fewer records or another
    /// worker count is ignored.
    Layout(std::sync::Arc<crate::layout::PortLayout>),
}

/// Why a pair went idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleReason {
    /// No RTP for the media timeout.
    NoRtp,
    /// No RTP for the hold timeout while on hold.
    OnHold,
}

/// Statistics of one stream (one leg's port pair).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// The relay RTP port.
    pub key: Option<PortKey>,
    /// The RTP peer (latched, or the SDP address before latching).
    pub rtp_peer: Endpoint,
    /// The RTCP peer.
    pub rtcp_peer: Endpoint,
    /// True once the RTP source is learned for good.
    pub latched: bool,
    /// RTP packets and bytes received.
    pub rtp_packets: u64,
    /// RTP bytes received.
    pub rtp_bytes: u64,
    /// RTCP packets received.
    pub rtcp_packets: u64,
    /// RTCP bytes received.
    pub rtcp_bytes: u64,
    /// Packets dropped on this stream.
    pub drops: u64,
    /// RFC 3550 A.3 packets lost (current source).
    pub lost: i64,
    /// RFC 3550 A.8 interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Current SSRC.
    pub ssrc: u32,
    /// SSRC changes.
    pub ssrc_changes: u32,
    /// Last RTP packet on the worker clock (ms), None if none yet.
    pub last_rtp_ms: Option<u32>,
}

/// Worker -> control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowEvent {
    /// Install failed (a port outside this worker, or a port handle the backend refused).
    InstallFailed {
        /// The `a` key of the failed install.
        key: PortKey,
    },
    /// Reply to [`FlowCommand::Query`]; `None` stats when the key is not installed.
    Stats {
        /// From the query.
        token: u64,
        /// The stats of the two siblings, or None if unknown.
        pair: Option<[StreamStats; 2]>,
    },
    /// Reply to [`FlowCommand::Remove`]: the pair is gone and its ports are closed.
    Removed {
        /// From the remove.
        token: u64,
        /// Final stats, or None if the key was not installed.
        pair: Option<[StreamStats; 2]>,
    },
    /// No media on either stream of the pair for the timeout.
    Idle {
        /// RTP key of one stream of the pair.
        key: PortKey,
        /// Which timeout.
        reason: IdleReason,
    },
    /// Media came back on a pair reported idle.
    Active {
        /// RTP key of one stream of the pair.
        key: PortKey,
    },
}
