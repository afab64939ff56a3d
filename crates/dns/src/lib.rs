//! Ferrovox DNS: a sans-IO message codec and RFC 3263 server location for SIP members.
//!
//! - [`wire`]: DNS messages (RFC 1035 §4) with name compression, and the A, AAAA, CNAME, SOA,
//!   SRV (RFC 2782) and NAPTR (RFC 3403) records; other types are kept opaque.
//! - [`resolve`]: a sans-IO state machine that locates the servers of a SIP URI's host
//!   (RFC 3263 §4): NAPTR, then SRV, then A/AAAA, with timeouts, retries over a server list,
//!   and a TTL-derived expiry so the caller re-resolves in time.
//! - [`zone`]: a small authoritative responder for tests (bytes in, bytes out).
#![forbid(unsafe_code)]

mod error;
mod name;
pub mod resolve;
pub mod wire;
pub mod zone;

pub use error::DnsError;
pub use name::{Labels, Name, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use wire::{build_query, encode_message, parse_message, Message, RData, Record, RecordType};
