//! Media sessions of the Ferrovox relay, sans-IO.
//!
//! [`Engine`] allocates relay ports on the least-loaded worker ([`alloc`]), keeps each call's
//! legs and streams ([`call`]), rewrites SDP offers and answers, programs the workers with
//! [`dataplane::FlowCommand`]s, and ends calls on timeouts. Today the rtpengine ng protocol
//! drives it (the control crate's ng driver feeds it datagrams); every datagram passes the
//! source allow-list and rate limit of [`guard`] before it is parsed, and its repeated-request
//! cache is [`cookie`]. Datagrams, worker events and time come in as arguments; datagrams to send and
//! worker commands come out of `poll_*`.
#![forbid(unsafe_code)]

pub mod alloc;
pub mod call;
pub mod cookie;
pub mod engine;
pub mod guard;
pub mod relays;

pub use engine::{
    anchor_key, anchored_call_id, AdoptError, AdoptedCall, AdoptedLeg, AdoptedStream, AnchorError,
    EndReason, Engine, EngineConfig, EngineCounters, EngineEvent, Interface, PortBinder,
    SdpExchange, Transmit, VirtualBinder, ANCHOR_PREFIX,
};
pub use guard::{GuardConfig, GuardCounters, RateLimit};
