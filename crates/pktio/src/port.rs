//! Relay port identities and handles.

use std::net::{IpAddr, SocketAddr};

/// A relay port: index of the relay address (in the configured order) and the UDP port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    /// Index into the relay address list.
    pub addr: u16,
    /// UDP port.
    pub port: u16,
}

impl PortKey {
    /// A key from its parts.
    pub const fn new(addr: u16, port: u16) -> Self {
        Self { addr, port }
    }
}

/// A local relay address as the backends need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayAddr {
    /// The IP the relay ports bind to.
    pub ip: IpAddr,
    /// The MAC address frames leave with (frame backends).
    pub mac: [u8; 6],
}

/// An opened relay port, handed from the control plane (which binds it, so a port taken by
/// another process is skipped at allocation time) to the worker that owns it.
#[derive(Debug)]
pub enum PortHandle {
    /// A bound, non-blocking kernel UDP socket.
    Socket(std::net::UdpSocket),
    /// Backends without per-port kernel objects (memory, DPDK).
    Virtual,
}

impl PortHandle {
    /// Binds a non-blocking UDP socket on `ip:port` for the socket backend.
    pub fn bind_socket(ip: IpAddr, port: u16) -> std::io::Result<Self> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
        s.set_nonblocking(true)?;
        Ok(Self::Socket(s))
    }
}
