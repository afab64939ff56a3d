//! What [`crate::parse`] reports about a session description.

use std::fmt;
use std::net::IpAddr;

/// A parsed session description. Borrows from the body it was parsed from; lines it does not
/// interpret are not represented here and are kept as they are by [`crate::rewrite`].
#[derive(Clone, PartialEq, Eq)]
pub struct SessionDescription<'a> {
    /// The first session-level `o=` line (RFC 8866 §5.2), if any.
    pub origin: Option<Origin<'a>>,
    /// The first session-level `c=` line (RFC 8866 §5.7), if any.
    pub connection: Option<Connection>,
    /// The first session-level direction attribute (RFC 8866 §6.7), if any.
    pub direction: Option<Direction>,
    /// The media descriptions, in the order of their m-lines.
    pub media: Vec<MediaDescription<'a>>,
    /// Whether any ICE attribute (RFC 8839 §5) appears at session level.
    pub has_ice: bool,
    /// The body this was parsed from.
    pub(crate) body: &'a [u8],
}

impl fmt::Debug for SessionDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionDescription")
            .field("origin", &self.origin)
            .field("connection", &self.connection)
            .field("direction", &self.direction)
            .field("media", &self.media)
            .field("has_ice", &self.has_ice)
            .finish_non_exhaustive()
    }
}

/// The `o=` line: `<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`
/// (RFC 8866 §5.2). The last five fields are the last five space-separated tokens; whatever
/// precedes them is the username (so a username with spaces in it is tolerated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// Username (`-` when the host has no user ids).
    pub username: &'a str,
    /// Session id, a numeric string kept as text (it may not fit 64 bits).
    pub sess_id: &'a str,
    /// Session version, a numeric string kept as text.
    pub sess_version: &'a str,
    /// Network type, normally `IN`.
    pub nettype: &'a str,
    /// Address type as written, normally `IP4` or `IP6`.
    pub addrtype: &'a str,
    /// The unicast address of the originating host.
    pub addr: Address<'a>,
}

/// An `o=` address: an IP literal or anything else (a host name), kept as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address<'a> {
    /// An IP literal (a bracketed IPv6 literal, as some senders write it, is accepted too).
    Ip(IpAddr),
    /// Not an IP literal: a fully qualified domain name or some other text.
    Name(&'a str),
}

/// A `c=IN IP4|IP6 <address>[/ttl[/count]]` line (RFC 8866 §5.7). The address must be an IP
/// literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The connection address.
    pub addr: IpAddr,
    /// IPv4 multicast TTL (`/ttl`), if present.
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses (`/count`), if present.
    pub count: Option<u32>,
}

/// Media direction attribute (RFC 8866 §6.7, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv`
    SendRecv,
    /// `a=sendonly`
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

impl Direction {
    /// The attribute name, e.g. `"sendonly"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction as seen from the other end (RFC 3264 §6.1: an answer to `sendonly` is
    /// `recvonly` and vice versa; `sendrecv` and `inactive` stay).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }
}

/// An `a=rtcp:<port> [IN IP4|IP6 <address>]` attribute (RFC 3605 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtcpAttr {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when the attribute carries one.
    pub addr: Option<IpAddr>,
}

/// An `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` attribute (RFC 8866 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpMap<'a> {
    /// RTP payload type (0..=127).
    pub pt: u8,
    /// Encoding name as written (case is not normalised).
    pub encoding: &'a str,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Number of audio channels, when given.
    pub channels: Option<u8>,
}

/// One media description: an `m=` line and the lines up to the next one (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription<'a> {
    /// Media type: `audio`, `video`, `application`, ...
    pub media: &'a str,
    /// Transport port; 0 marks a disabled stream (RFC 3264 §5.1).
    pub port: u16,
    /// The `/<number of ports>` suffix of the port, if present.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`.
    pub proto: &'a str,
    /// Media formats (payload types for RTP), in order; never empty.
    pub formats: Vec<&'a str>,
    /// The first media-level `c=` line, if any.
    pub connection: Option<Connection>,
    /// The first `a=rtcp` attribute (RFC 3605), if any.
    pub rtcp: Option<RtcpAttr>,
    /// Whether `a=rtcp-mux` (RFC 5761 §5.1.1) is present.
    pub rtcp_mux: bool,
    /// The first media-level direction attribute, if any.
    pub direction: Option<Direction>,
    /// The well-formed `a=rtpmap` attributes, in order (also those for formats not on the m-line).
    pub rtpmaps: Vec<RtpMap<'a>>,
    /// Whether any ICE attribute (RFC 8839 §5) appears in this media section.
    pub has_ice: bool,
}

impl MediaDescription<'_> {
    /// c= of the media section, else the session's (RFC 8866 §5.7).
    pub fn effective_connection(&self, sd: &SessionDescription<'_>) -> Option<IpAddr> {
        self.connection.or(sd.connection).map(|c| c.addr)
    }

    /// Media-level direction, else session-level, else SendRecv (RFC 8866 §6.7: sendrecv is
    /// the default when no direction attribute is present).
    pub fn effective_direction(&self, sd: &SessionDescription<'_>) -> Direction {
        self.direction
            .or(sd.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// On hold as rtpengine sees it: sendonly or inactive (RFC 3264 §8.4), or connection
    /// address 0.0.0.0 / :: (the RFC 2543 hold that RFC 3264 §8.4 still asks answerers to
    /// understand).
    pub fn is_hold(&self, sd: &SessionDescription<'_>) -> bool {
        matches!(
            self.effective_direction(sd),
            Direction::SendOnly | Direction::Inactive
        ) || self
            .effective_connection(sd)
            .is_some_and(|a| a.is_unspecified())
    }

    /// RTP clock rate of the first format: its rtpmap, else the RFC 3551 static payload table,
    /// else 8000.
    pub fn clock_rate(&self) -> u32 {
        let Some(pt) = self.formats.first().and_then(|f| f.parse::<u8>().ok()) else {
            return 8000;
        };
        self.rtpmaps
            .iter()
            .find(|r| r.pt == pt)
            .map(|r| r.clock_rate)
            .or_else(|| static_clock_rate(pt))
            .unwrap_or(8000)
    }
}

/// Clock rate of a static RTP payload type (RFC 3551 §6, tables 4 and 5).
pub(crate) fn static_clock_rate(pt: u8) -> Option<u32> {
    match pt {
        // PCMU, GSM, G723, DVI4/8000, LPC, PCMA, G722 (8000 by RFC 3551 §4.5.2 although it
        // samples at 16 kHz), QCELP, CN, G728, G729.
        0 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 13 | 15 | 18 => Some(8000),
        6 => Some(16000),       // DVI4/16000
        10 | 11 => Some(44100), // L16 stereo and mono
        16 => Some(11025),      // DVI4/11025
        17 => Some(22050),      // DVI4/22050
        // MPA, CelB, JPEG, nv, H261, MPV, MP2T, H263.
        14 | 25 | 26 | 28 | 31 | 32 | 33 | 34 => Some(90000),
        _ => None,
    }
}
