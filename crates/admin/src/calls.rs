//! The parameters and results of the `calls.*`, `workers` and `params.set/diff/revert`
//! methods.
//!
//! | method | params | result |
//! |---|---|---|
//! | `calls.list` | [`CallListParams`] | [`Page`](crate::method::Page) of [`CallSummary`] |
//! | `calls.show` | [`CallRef`] | [`CallDetail`] |
//! | `calls.terminate` | [`TerminateParams`] | [`Terminated`] |
//! | `workers` | — | [`Workers`] |
//! | `params.set` | [`SetParam`] | [`ParamChange`] |
//! | `params.diff` | — | [`ParamDiff`] |
//! | `params.revert` | [`RevertParams`] | [`ParamDiff`] (what was reverted) |
//!
//! Calls are listed in Call-ID order; the cursor is the last Call-ID of the previous page, so
//! a call held for the whole listing is listed exactly once, whatever comes and goes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::method::MemberRef;
use crate::proto::{ErrorCode, ErrorObject};

/// `calls.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallListParams {
    /// The previous page's `next_cursor`; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Items per page (1..=[`MAX_PAGE`](crate::method::MAX_PAGE), default
    /// [`DEFAULT_PAGE`](crate::method::DEFAULT_PAGE)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl CallListParams {
    /// The page size asked for, checked.
    pub fn page_size(&self) -> Result<usize, ErrorObject> {
        crate::method::page_size(self.limit)
    }
}

/// `calls.show`: one call by its Call-ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRef {
    /// The Call-ID.
    pub call_id: String,
}

/// `calls.terminate`: one call by Call-ID, or every call of a member (by `member` id, or
/// `set` and `uri`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateParams {
    /// The call's Call-ID ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// ... or the member's id ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<u32>,
    /// ... or its set ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// ... and URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The text of the BYEs' Reason header (default `terminated by admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a `calls.terminate` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminateTarget {
    /// One call.
    Call(String),
    /// Every call of a member.
    Member(MemberRef),
}

impl TerminateParams {
    /// The call or member named: exactly one of `call_id`, `member`, `set` + `uri`.
    pub fn target(&self) -> Result<TerminateTarget, ErrorObject> {
        let bad = || {
            ErrorObject::new(
                ErrorCode::InvalidParams,
                "name one call by call_id, or a member by member id or set and uri",
            )
        };
        match (&self.call_id, self.member, &self.set, &self.uri) {
            (Some(c), None, None, None) if !c.is_empty() => Ok(TerminateTarget::Call(c.clone())),
            (None, Some(id), None, None) => Ok(TerminateTarget::Member(MemberRef::Id(id))),
            (None, None, Some(set), Some(uri)) => Ok(TerminateTarget::Member(MemberRef::Uri {
                set: set.clone(),
                uri: uri.clone(),
            })),
            _ => Err(bad()),
        }
    }

    /// The Reason text.
    pub fn reason_text(&self) -> &str {
        self.reason.as_deref().unwrap_or("terminated by admin")
    }
}

/// A call as `calls.list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    /// Its Call-ID.
    pub call_id: String,
    /// `early`, `confirmed` or `ended` (BYE seen, kept a little for retransmissions).
    pub state: String,
    /// Seconds since its INVITE was forwarded.
    pub age_secs: f64,
    /// The member that took it: its id ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<u32>,
    /// ... and URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_uri: Option<String>,
    /// Whether its media is anchored on this relay.
    pub anchored: bool,
    /// Relay RTP ports per stream: toward the caller, toward the member.
    pub relay_ports: Vec<[u16; 2]>,
}

/// One party of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    /// Its tag (From tag of the caller, To tag of the callee once answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Where its requests come from or go to (address and port).
    pub hop: String,
    /// udp, tcp or tls.
    pub transport: String,
    /// Its Contact URI (answered anchored calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The relay interface facing it (anchored calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// A call as `calls.show` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallDetail {
    /// Its Call-ID.
    pub call_id: String,
    /// `early`, `confirmed` or `ended`.
    pub state: String,
    /// Seconds since its INVITE was forwarded.
    pub age_secs: f64,
    /// The member that took it: id, set and URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<CallMember>,
    /// The caller.
    pub caller: Party,
    /// The callee (the member).
    pub callee: Party,
    /// Its media on this relay, when anchored and held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<CallMedia>,
}

/// The member of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallMember {
    /// Its id.
    pub id: u32,
    /// Its set.
    pub set: String,
    /// Its URI.
    pub uri: String,
}

/// An anchored call's media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallMedia {
    /// `offered` or `answered`.
    pub state: String,
    /// Whether the workers run on the DPDK fast path.
    pub fastpath: bool,
    /// Whether the workers answered with stats in time.
    pub stats_complete: bool,
    /// One per m-line with relay ports.
    pub streams: Vec<StreamDetail>,
}

/// One stream (m-line) of an anchored call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDetail {
    /// The m-line's index (from 0).
    pub index: usize,
    /// audio, video...
    pub media: String,
    /// The worker that owns its ports.
    pub worker: usize,
    /// `no_rtp` or `on_hold` when its worker reports it idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<String>,
    /// Toward the caller, toward the callee.
    pub legs: [StreamLeg; 2],
}

/// One leg of a stream: its relay port and what arrived on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamLeg {
    /// The relay RTP port facing the party (RTCP on the next one unless `rtcp_mux`).
    pub relay_port: u16,
    /// rtcp-mux toward the party.
    pub rtcp_mux: bool,
    /// The party's RTP source: latched, or the SDP's address before latching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether the source is latched for good.
    pub latched: bool,
    /// RTP packets received from the party.
    pub rtp_packets: u64,
    /// RTP bytes received.
    pub rtp_bytes: u64,
    /// RTCP packets received.
    pub rtcp_packets: u64,
    /// Packets dropped on this stream.
    pub drops: u64,
    /// Packets lost (RFC 3550 A.3, from sequence gaps).
    pub lost: i64,
    /// Interarrival jitter (RFC 3550 A.8), in timestamp units.
    pub jitter: u32,
}

/// `calls.terminate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminated {
    /// The calls ended (BYE sent to both parties, media released).
    pub terminated: Vec<String>,
    /// The member's calls that could not be ended, with why (not answered yet, signalling
    /// only).
    pub skipped: Vec<Skipped>,
}

/// A call `terminate` left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its Call-ID.
    pub call_id: String,
    /// Why.
    pub reason: String,
}

/// `workers`: the data plane's counters as the workers last published them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workers {
    /// Whether the workers run on the DPDK fast path.
    pub fastpath: bool,
    /// Media sessions held (ng and anchored).
    pub sessions: u64,
    /// Relay port pairs in use.
    pub port_pairs: u64,
    /// One per worker.
    pub workers: Vec<WorkerInfo>,
}

/// One worker's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its index.
    pub worker: usize,
    /// Packets received on its ports.
    pub rx: u64,
    /// Packets relayed.
    pub relayed: u64,
    /// Packets sent by its backend.
    pub tx: u64,
    /// Sends that failed.
    pub tx_failed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Streams installed.
    pub streams: u64,
    /// Commands taken from the control plane.
    pub commands: u64,
    /// Events lost on a full ring to the control plane.
    pub events_lost: u64,
    /// Commands from the control plane it has not taken yet (on its ring, or held back while
    /// the ring is full).
    pub queue_depth: u64,
    /// Milliseconds spent on polls that brought packets since it started (a busy-polling
    /// worker's CPU time is its whole core; this is how much of it was work).
    #[serde(default)]
    pub busy_ms: u64,
    /// Drops by reason (every reason, zero included).
    pub drops: BTreeMap<String, u64>,
}

/// `params.set`: one setting by its `params.get` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetParam {
    /// The key, e.g. `media.timeout_secs`.
    pub key: String,
    /// The new value, in the key's unit.
    pub value: Value,
}

/// `params.revert`: one key, or every setting changed at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevertParams {
    /// Only this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `params.set`: what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamChange {
    /// The key.
    pub key: String,
    /// The value before.
    pub old: Value,
    /// The value now.
    pub new: Value,
}

/// `params.diff` and `params.revert`: settings whose running value differs from the
/// configuration file's (as last loaded: at start or by the last reload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDiff {
    /// One per key.
    pub changes: Vec<ParamDelta>,
}

/// One key whose running value is not the file's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDelta {
    /// The key.
    pub key: String,
    /// The file's value.
    pub file: Value,
    /// The running value (after `params.revert`: the value it had).
    pub running: Value,
}
