//! Ferrovox benchmarks and load tools.
//!
//! The `relay-load` binary measures an RTP relay driven by rtpengine's ng protocol end to end:
//! it sets calls up with ng `offer`/`answer` ([`calls`], [`ngclient`], [`sdp`]), sends RFC 3550
//! RTP from its endpoints (loopback, or the address [`scope`] names) through the relay in both
//! directions ([`traffic`], [`rtp`],
//! [`sys`]), and searches for the highest rate forwarded with loss under a threshold
//! ([`search`], [`runner`]), charging the relay's CPU time from `/proc` ([`procstat`]).
//!
//! The tool has no `unsafe` code: the system calls std does not wrap (`sendmmsg`/`recvmmsg`,
//! epoll, socket options, limits) go through the safe wrappers of the `nix` crate in [`sys`].
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is a test failure.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod calls;
pub mod cli;
pub mod flows;
pub mod idle;
pub mod latency;
pub mod ngclient;
pub mod procstat;
pub mod report;
pub mod rtp;
pub mod runner;
pub mod scope;
pub mod sdp;
pub mod search;
pub mod sys;
pub mod traffic;
