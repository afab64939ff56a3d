//! The Ferrovox control plane.
//!
//! [`engine::Engine`] is the sans-IO media anchoring core driven by the rtpengine ng protocol;
//! [`driver`] runs it on tokio with the ng UDP socket and the workers' rings.
//! [`proxy::Proxy`] is the sans-IO stateful SIP proxy with the dispatcher;
//! [`sip_driver`] runs it on tokio with the SIP sockets.
#![forbid(unsafe_code)]

pub mod alloc;
pub mod call;
pub mod cookie;
pub mod driver;
pub mod engine;
pub mod proxy;
pub mod sip_driver;

pub use engine::{
    Engine, EngineConfig, EngineEvent, Interface, PortBinder, SocketBinder, Transmit, VirtualBinder,
};
