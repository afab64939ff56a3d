//! The Ferrovox drivers: the tokio code that feeds the sans-IO cores with sockets and time.
//!
//! - [`ng_driver`] runs the media engine (`media::Engine`) with the ng UDP socket (and the
//!   ng TCP listener, [`ng_tcp`]; replies routed by [`ng_route`]) and the workers' rings;
//!   the engine is a [`SharedEngine`], which the SIP proxy anchors its calls through;
//! - [`sip_driver`] runs the SIP proxy (`proxy::Proxy`) with the SIP sockets (UDP, TCP) and its
//!   DNS client;
//! - [`admin_driver`] answers the admin socket's member requests on the SIP driver's thread;
//!   [`admin_calls`] its calls (the SIP half there, the media half through [`SharedEngine`]).
//! - [`ha_driver`] replicates anchored calls to Redis/Valkey in the `ha` key schema, batched
//!   and off the call path; [`ha_publish`] reads the changed calls into its records on the SIP
//!   driver's thread;
//! - [`metrics_driver`] takes the SIP side of a Prometheus scrape on the SIP driver's thread;
//!   [`metrics_media`] reads the media side (engine counters, port pools, worker counters).
//!
//! The cores decide everything; a driver only moves bytes, events and timers.
#![forbid(unsafe_code)]

pub mod admin_calls;
pub mod admin_driver;
pub mod ha_driver;
pub mod ha_follow;
pub mod ha_publish;
pub mod ha_share;
mod ha_standby;
pub mod metrics_driver;
pub mod metrics_media;
mod metrics_members;
pub mod ng_driver;
pub mod ng_route;
pub mod ng_tcp;
pub mod shared_media;
pub mod sip_driver;

pub use shared_media::SharedEngine;

use dataplane::PortHandle;
use media::PortBinder;
use std::net::IpAddr;

/// Opens relay ports for the socket data plane: each one a bound UDP socket, so a port another
/// process holds is skipped when the engine allocates.
#[derive(Debug, Default)]
pub struct SocketBinder;

impl PortBinder for SocketBinder {
    fn bind(&mut self, _addr: u16, ip: IpAddr, port: u16) -> std::io::Result<PortHandle> {
        pktio::bind_socket(ip, port)
    }
}
