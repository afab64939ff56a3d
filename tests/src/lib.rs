//! Ferrovox end-to-end tests: the media relay (Ferrovox, or rtpengine as the reference) behind
//! a real Kamailio driving it over the ng protocol, with sipp calls sending RTP through it, all
//! on 127.0.0.1. The harness here starts and always stops every process, gives each run its
//! own ports and directory, captures the traffic and checks what it shows; the tests live in
//! `tests/*.rs`, and `README.md` says what each one shows and how to run it.
//!
//! Choose the relay with `E2E_RELAY=ferrovox|rtpengine` (default `ferrovox`; its binary is
//! `FERROVOX_BIN` or the workspace's `target/debug/ferrovox`). A missing program fails the
//! test with one line naming what to install.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod capture;
pub mod ctl;
pub mod daemon;
pub mod error;
pub mod ha_bed;
pub mod kamailio;
pub mod need;
pub mod netns;
pub mod ng;
pub mod pcap;
pub mod peer;
pub mod ports;
pub mod process;
pub mod relay;
pub mod rtp;
pub mod sip;
pub mod sipp;
pub mod sipp_pool;
pub mod testbed;
pub mod tools;
pub mod torture;

pub use error::{Error, Result};
pub use sipp::{Load, Scenario};
pub use testbed::{run, CallPath, Outcome, Plan, RunError};
