//! Zero-copy, checked views and in-place rewrite of the packet headers the Ferrovox relay touches.
//!
//! Everything here is sans-IO, allocation-free on every parse and rewrite path, and returns an
//! error (never panics) on any input:
//!
//! - [`frame`]: Ethernet II (+ one 802.1Q tag) / IPv4 or IPv6 / UDP — parse, verify, rewrite in
//!   place with incremental checksum updates, and a builder for tests and the memory backend.
//! - [`arp`]: ARP for IPv4 over Ethernet (answer requests in place, build requests).
//! - [`rtp`], [`rtcp`]: RTP header view and RTCP compound validation with report-block access.
//! - [`demux`]: first-byte classification of what arrives on a media port.
//! - [`checksum`]: the Internet checksum and its incremental update.
//! - [`Endpoint`]: the compact transport address stored in the per-port session records.
#![forbid(unsafe_code)]
// Tests may unwrap: a failed unwrap is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod arp;
pub mod checksum;
pub mod demux;
mod endpoint;
pub mod frame;
pub mod rtcp;
pub mod rtp;

pub use endpoint::Endpoint;
