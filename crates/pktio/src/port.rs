//! Opening relay ports for the socket backend.

use dataplane::io::PortHandle;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Binds a non-blocking UDP socket on `ip:port` for the socket backend.
pub fn bind_socket(ip: IpAddr, port: u16) -> std::io::Result<PortHandle> {
    let s = UdpSocket::bind(SocketAddr::new(ip, port))?;
    s.set_nonblocking(true)?;
    Ok(PortHandle::Socket(s.into()))
}
