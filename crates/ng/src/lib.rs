//! The rtpengine "ng" control protocol, sans I/O.
//!
//! Kamailio's and OpenSIPS's `rtpengine` modules drive a media relay over this protocol
//! (`rtpengine_offer`, `rtpengine_answer`, `rtpengine_delete`, ...). Ferrovox answers it so an
//! existing proxy configuration can point at Ferrovox unchanged. This crate is the codec
//! only, in both directions:
//!
//! * [`bencode`]: strict, bounded decoding and canonical encoding of the message bodies;
//! * framing: [`split_cookie`], [`frame`], [`decode_body`], or all at once
//!   [`parse_datagram`]; bodies in either encoding rtpengine takes, bencode or [`json`]
//!   ([`decode_any`], [`frame_as`]);
//! * [`stream`]: ng over TCP, messages one after another on a byte stream;
//! * requests: [`parse_request`] into a typed [`Request`] (server side), [`RequestBuilder`]
//!   and [`build_request`] (client side: load tool, tests);
//! * replies: [`error_reply`], [`sdp_reply`], [`pong_reply`], ... (server side) and
//!   [`parse_reply`] (client side).
//!
//! What each command does (allocating ports, rewriting SDP, caching replies by cookie to
//! answer retransmissions) is the engine's job, in the control crate.
//!
//! ```
//! use ng::{error_reply, frame, parse_datagram, sdp_reply, Command, Flag};
//!
//! let datagram = b"1_2_3 d7:command5:offer7:call-id4:c1@h8:from-tag2:ft3:sdp4:v=0\n\
//!                  5:flagsl13:trust-addressee";
//! let reply = match parse_datagram(datagram) {
//!     Ok((cookie, req)) => {
//!         assert_eq!(req.command, Command::Offer);
//!         assert!(req.flags.contains(Flag::TrustAddress));
//!         frame(cookie, &sdp_reply(b"v=0\n"))
//!     }
//!     Err(e) => match e.cookie {
//!         Some(cookie) => frame(cookie, &error_reply(&e.error.reason())),
//!         None => return, // unframed garbage: drop and count
//!     },
//! };
//! assert_eq!(reply, b"1_2_3 d6:result2:ok3:sdp4:v=0\ne".to_vec());
//! ```
#![forbid(unsafe_code)]

pub mod bencode;
mod command;
mod error;
mod frame;
pub mod json;
mod names;
pub mod reply;
pub mod request;
pub mod stream;

pub use bencode::{OwnedValue, Value};
pub use command::Command;
pub use error::NgError;
pub use frame::{
    decode_any, decode_body, frame, frame_as, parse_datagram, split_cookie, DatagramError,
    MAX_COOKIE_LEN,
};
pub use json::{Encoding, JsonError};
pub use reply::{
    error_reply, list_reply, load_limit_reply, ok_reply, parse_reply, pong_reply, sdp_reply,
    warning_reply, Reply, ReplyResult,
};
pub use request::{
    build_request, parse_request, AddressFamily, AllMode, Codecs, Flag, Flags, IceMode, Replace,
    Request, RequestBuilder, RtcpMux, SipMessageType,
};
pub use stream::{StreamError, StreamFramer};
