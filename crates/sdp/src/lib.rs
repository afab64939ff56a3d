//! SDP (RFC 8866, formerly RFC 4566) parser and offer/answer rewriter for the Ferrovox media relay.
//!
//! The relay answers rtpengine "ng" `offer`/`answer` commands by rewriting the SDP so that media
//! flows through relay ports. [`parse`] reads the few things the relay needs (origin, connection
//! addresses, m-lines, RTCP port, rtcp-mux, direction, rtpmaps, whether ICE is in use);
//! [`rewrite`] produces a new body that changes only the lines the relay owns and keeps every
//! other line byte for byte, in order, with the line ending it had.
//!
//! Sans-IO and allocation-light: parsing borrows from the body, rewriting writes one output
//! `Vec` sized up front.
//!
//! Choices where the RFCs or rtpengine leave room:
//! * Attribute names match ASCII case-insensitively (`a=SendOnly` is a direction).
//! * When an attribute that should appear once repeats in a section (`c=`, `a=rtcp`,
//!   direction), the first one is reported; a rewrite that sets it replaces the first and
//!   drops the repeats.
//! * `o=` addresses may be host names (kept as text); `c=` and `a=rtcp` addresses must be IP
//!   literals. A bracketed IPv6 literal (`[fd17::1]`, seen in the wild) is accepted.
//! * A `c=` with 0.0.0.0 or `::` is kept on rewrite (hold, as rtpengine does); an `a=rtcp`
//!   address is always replaced, because `a=rtcp:9 IN IP4 0.0.0.0` is the usual WebRTC
//!   placeholder and the relay must receive that RTCP.
//! * An m-line port's `/count` suffix (RFC 8866 §5.14) is kept: the caller sees
//!   [`MediaDescription::port_count`] and decides.
//! * A disabled stream's section (port 0) is kept whole, ICE attributes included.
//! * `a=rtcp`, `a=rtcp-mux` and `a=rtpmap` are read at media level only; a session-level
//!   `a=rtcp` is kept as an unknown attribute.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use sdp::{parse, rewrite, MediaRewrite, MuxRewrite, Rewrite, RtcpRewrite};
//!
//! let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
//!              m=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\n";
//! let sd = parse(body)?;
//! assert_eq!(sd.media[0].port, 4000);
//! let relay = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
//! let plan = Rewrite {
//!     origin: Some(relay),
//!     session_connection: Some(relay),
//!     media: vec![MediaRewrite {
//!         port: 30000,
//!         addr: relay,
//!         rtcp: RtcpRewrite::Port(30001),
//!         rtcp_mux: MuxRewrite::Keep,
//!         direction: None,
//!     }],
//!     strip_ice: true,
//! };
//! let out = rewrite(body, &sd, &plan)?;
//! assert_eq!(
//!     out,
//!     b"v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\n\
//!       m=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n"
//! );
//! # Ok::<(), sdp::SdpError>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod fields;
mod lines;
mod model;
mod parse;
mod rewrite;

pub use error::SdpError;
pub use model::{
    Address, Connection, Direction, MediaDescription, Origin, RtcpAttr, RtpMap, SessionDescription,
};
pub use parse::parse;
pub use rewrite::{rewrite, MediaRewrite, MuxRewrite, Rewrite, RtcpRewrite};

/// Largest body [`parse`] accepts, in bytes (64 KiB).
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Largest number of m-lines [`parse`] accepts.
pub const MAX_MEDIA: usize = 64;
