//! One replicated call ([`CallRecord`]), its JSON encoding and its checked decoding.
//!
//! In the dialog, index 0 is the caller's side and 1 the member's; a media stream's legs are in
//! the relay's order (the first offerer's first), each naming its SIP tag. What a record holds
//! is what a peer needs to carry the call on: the dialog's identifiers and targets (to send or
//! forward in-dialog requests, RFC 3261 §12.2) and where each party is reached (the proxy
//! forwards in-dialog requests along the dialog's hops, so no route set is kept), the member, and
//! per media stream, for each leg, the relay port and advertised address it was given in SDP and
//! what its own SDP said (address, RTCP port, hold, clock rate): enough to install the same
//! flows on the same ports. Latched sources are not kept: the relay latches again on the first
//! packet after a takeover (as at the start of a call), and a re-offer after a takeover is
//! taken as any re-offer is, so no SDP version is kept either.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::fence::Stamp;

/// The schema version a record of this crate carries.
pub const VERSION: u32 = 1;
/// The largest encoded record accepted.
pub const MAX_RECORD: usize = 16 * 1024;
/// The most media streams (m-lines) per call.
pub const MAX_STREAMS: usize = 16;
/// The longest Call-ID, tag, node or set name.
pub const MAX_TOKEN: usize = 256;
/// The longest URI (target, route entry, member).
pub const MAX_URI: usize = 1024;

/// One anchored call as it is replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// The schema version ([`VERSION`]).
    pub v: u32,
    /// Who wrote it, when (fencing).
    pub stamp: Stamp,
    /// The Call-ID (the record's key).
    pub call_id: String,
    /// Wall-clock time of the change, in ms since the Unix epoch.
    pub updated_ms: u64,
    /// When the call ends unless refreshed (its dialog and media timeouts), in ms since the
    /// Unix epoch; the key's TTL.
    pub expires_ms: u64,
    /// The dialog.
    pub dialog: Dialog,
    /// The member that took the call.
    pub member: Member,
    /// The media streams, in m-line order.
    pub media: Vec<Stream>,
}

/// The dialog's identifiers and targets (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialog {
    /// The From tag of the caller's leg, and the To tag the member gave.
    pub tags: [String; 2],
    /// Each leg's remote target (its Contact URI).
    pub targets: [String; 2],
    /// Where each party's requests come from and go to, and the transport (`udp`, `tcp`,
    /// `tls`).
    pub hops: [(SocketAddr, String); 2],
    /// The last CSeq number seen from each leg.
    pub cseq: [u32; 2],
    /// The caller's From and the member's To, as written (with their tags): what a BYE from
    /// a node that took the call over puts in its From and To (RFC 3261 §12.2.1.1).
    pub parties: [String; 2],
}

/// The member a call went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The set's name.
    pub set: String,
    /// The member's URI.
    pub uri: String,
}

/// One media stream's relay state on both legs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// The m-line's index.
    pub index: u16,
    /// The worker that owns its ports.
    pub worker: u16,
    /// Each leg's side of the relay.
    pub legs: [Leg; 2],
}

/// One leg of a stream: the relay port facing it and what its SDP said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leg {
    /// The leg's SIP tag, once known.
    pub tag: Option<String>,
    /// The interface the relay port is on.
    pub interface: String,
    /// The relay's RTP port facing this leg (RTCP on the next one unless `mux`).
    pub port: u16,
    /// The address this leg was told in SDP.
    pub advertised: IpAddr,
    /// Where this leg's SDP said to send RTP (None: not known yet, or a hold address).
    pub remote: Option<SocketAddr>,
    /// The RTCP port its SDP named.
    pub rtcp_port: u16,
    /// On hold (sendonly, inactive or a zero address).
    pub hold: bool,
    /// The RTP clock rate of its first format.
    pub clock_rate: u32,
    /// rtcp-mux toward this leg (RFC 5761).
    pub mux: bool,
}

/// Why a record read back was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_RECORD`].
    #[error("record of {0} bytes: longer than {MAX_RECORD}")]
    TooLarge(usize),
    /// Not JSON of this shape.
    #[error("not a call record: {0}")]
    Shape(String),
    /// Another schema version.
    #[error("schema version {0}, this node reads {VERSION}")]
    Version(u32),
    /// A field out of its bounds.
    #[error("{field}: {why}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl CallRecord {
    /// The record's JSON.
    pub fn encode(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no custom code.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a record, refusing anything over [`MAX_RECORD`], of another version, or with a
    /// field out of bounds ([`CallRecord::check`]).
    pub fn decode(bytes: &[u8]) -> Result<CallRecord, DecodeError> {
        if bytes.len() > MAX_RECORD {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let v: Version =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Shape(e.to_string()))?;
        if v.v != VERSION {
            return Err(DecodeError::Version(v.v));
        }
        let rec: CallRecord =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Shape(e.to_string()))?;
        rec.check()?;
        Ok(rec)
    }

    /// Checks every field's bounds: names and tokens of visible ASCII (RFC 3261 §25.1 `word`
    /// and `token` are subsets), URIs of bounded length, counts bounded, relay ports non-zero,
    /// the deadline not before the change.
    pub fn check(&self) -> Result<(), DecodeError> {
        token("call_id", &self.call_id)?;
        token("stamp.node", &self.stamp.node)?;
        for t in &self.dialog.tags {
            if !t.is_empty() {
                token("dialog.tags", t)?;
            }
        }
        for t in &self.dialog.targets {
            uri("dialog.targets", t)?;
        }
        for p in &self.dialog.parties {
            header_value("dialog.parties", p)?;
        }
        for (_, transport) in &self.dialog.hops {
            if !matches!(transport.as_str(), "udp" | "tcp" | "tls") {
                return Err(field("dialog.hops", "not udp, tcp or tls"));
            }
        }
        token("member.set", &self.member.set)?;
        uri("member.uri", &self.member.uri)?;
        bounded("media", self.media.len(), MAX_STREAMS)?;
        for leg in self.media.iter().flat_map(|s| &s.legs) {
            token("media.legs.interface", &leg.interface)?;
            if let Some(t) = &leg.tag {
                token("media.legs.tag", t)?;
            }
            if leg.port == 0 {
                return Err(field("media.legs.port", "zero"));
            }
        }
        if self.expires_ms < self.updated_ms {
            return Err(field("expires_ms", "before updated_ms"));
        }
        Ok(())
    }
}

fn field(field: &'static str, why: &'static str) -> DecodeError {
    DecodeError::Field { field, why }
}

fn visible(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn token(name: &'static str, s: &str) -> Result<(), DecodeError> {
    visible_within(name, s, MAX_TOKEN, "empty or longer than 256 bytes")
}

fn uri(name: &'static str, s: &str) -> Result<(), DecodeError> {
    visible_within(name, s, MAX_URI, "empty or longer than 1024 bytes")
}

fn visible_within(
    name: &'static str,
    s: &str,
    max: usize,
    too_long: &'static str,
) -> Result<(), DecodeError> {
    if s.is_empty() || s.len() > max {
        return Err(field(name, too_long));
    }
    if !visible(s) {
        return Err(field(name, "not visible ASCII"));
    }
    Ok(())
}

/// A header value a node writes into a message: bounded, and no control character (no CR or
/// LF that would end the header, RFC 3261 §7.3.1), UTF-8 display names allowed.
fn header_value(name: &'static str, s: &str) -> Result<(), DecodeError> {
    if s.is_empty() || s.len() > MAX_URI {
        return Err(field(name, "empty or longer than 1024 bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(field(name, "holds a control character"));
    }
    Ok(())
}

fn bounded(name: &'static str, n: usize, max: usize) -> Result<(), DecodeError> {
    if n > max {
        return Err(field(name, "too many entries"));
    }
    Ok(())
}
