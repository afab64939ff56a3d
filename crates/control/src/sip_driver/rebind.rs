//! `sip.listen` changed by a reload: every new socket is bound first; only when all are bound
//! are they served and the sockets of the addresses no longer listed closed (their readers and
//! accept loops stopped; TCP connections already accepted go on). A bind that fails drops
//! what was bound for the reload and leaves the running sockets as they were.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{icmp, tcp, Inbound};

/// The listen addresses served and the tasks serving them.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// `sip.listen` as served, in the config's order.
    listen: Vec<SocketAddr>,
    /// By listen address: the UDP socket's local address and its reader.
    udp: HashMap<SocketAddr, (SocketAddr, AbortHandle)>,
    /// By listen address: the TCP accept loop.
    tcp: HashMap<SocketAddr, AbortHandle>,
}

/// What serving a UDP socket needs besides the socket.
pub(crate) struct UdpServing<'a> {
    /// The sockets the proxy's transmits go out on, by local address.
    pub by_local: &'a mut HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Where the readers hand messages to the proxy loop.
    pub inbound: &'a mpsc::Sender<Inbound>,
    /// The ICMP counters.
    pub icmp: &'a Arc<icmp::IcmpStats>,
}

impl Listeners {
    /// Nothing served yet; `listen` is the configured list the sockets are bound on.
    pub(crate) fn new(listen: Vec<SocketAddr>) -> Listeners {
        Listeners {
            listen,
            ..Listeners::default()
        }
    }

    /// The addresses served.
    pub(crate) fn listen(&self) -> &[SocketAddr] {
        &self.listen
    }

    /// Reads `sock`, bound on listen address `addr`, for the proxy.
    pub(crate) fn serve_udp(
        &mut self,
        addr: SocketAddr,
        sock: Arc<UdpSocket>,
        to: &mut UdpServing<'_>,
    ) -> std::io::Result<()> {
        let local = sock.local_addr()?;
        to.by_local.insert(local, sock.clone());
        let errors = icmp::ErrorQueue::new(local, to.icmp.clone());
        let reader = tokio::spawn(super::udp_reader(sock, local, to.inbound.clone(), errors));
        self.udp.insert(addr, (local, reader.abort_handle()));
        Ok(())
    }

    /// Accepts connections on `listener`, bound on listen address `addr`, into `reg`.
    pub(crate) fn serve_tcp(
        &mut self,
        addr: SocketAddr,
        listener: tokio::net::TcpListener,
        reg: Arc<tcp::Registry>,
    ) {
        let task = tokio::spawn(tcp::accept_loop(listener, reg));
        self.tcp.insert(addr, task.abort_handle());
    }

    /// Serves `cfg.listen` (on the transports of `cfg`) instead of the running list: binds the
    /// added addresses, then serves them and closes the removed ones. Returns whether the
    /// list changed; an error (naming the key and address) leaves everything as it was.
    pub(crate) fn rebind(
        &mut self,
        cfg: &config::SipConfig,
        to: &mut UdpServing<'_>,
        reg: &Arc<tcp::Registry>,
    ) -> Result<bool, String> {
        if cfg.listen == self.listen {
            return Ok(false);
        }
        let added: Vec<SocketAddr> = cfg
            .listen
            .iter()
            .filter(|a| !self.listen.contains(a))
            .copied()
            .collect();
        let (mut udp, mut tcp) = (Vec::new(), Vec::new());
        for a in &added {
            if cfg.has_transport(config::Transport::Udp) {
                let s = super::bind_udp(*a)
                    .map_err(|e| super::cannot_bind("sip.listen", "UDP", *a, e).to_string())?;
                udp.push((*a, Arc::new(s)));
            }
            if cfg.has_transport(config::Transport::Tcp) {
                let l = bind_tcp(*a)
                    .map_err(|e| super::cannot_bind("sip.listen", "TCP", *a, e).to_string())?;
                tcp.push((*a, l));
            }
        }
        for (a, s) in udp {
            self.serve_udp(a, s, to)
                .map_err(|e| format!("sip.listen: UDP {a}: {e}"))?;
        }
        for (a, l) in tcp {
            self.serve_tcp(a, l, reg.clone());
        }
        let removed: Vec<SocketAddr> = self
            .listen
            .iter()
            .filter(|a| !cfg.listen.contains(a))
            .copied()
            .collect();
        for a in &removed {
            self.close(*a, to.by_local);
        }
        self.listen.clone_from(&cfg.listen);
        tracing::info!(added = ?added, closed = ?removed, "sip.listen rebound");
        Ok(true)
    }

    /// Stops serving listen address `a`: its sockets close once their tasks end.
    fn close(&mut self, a: SocketAddr, by_local: &mut HashMap<SocketAddr, Arc<UdpSocket>>) {
        if let Some((local, reader)) = self.udp.remove(&a) {
            reader.abort();
            by_local.remove(&local);
        }
        if let Some(accept) = self.tcp.remove(&a) {
            accept.abort();
        }
    }
}

/// A non-blocking TCP listener on `addr` (with `SO_REUSEADDR`, like the ones bound at start).
fn bind_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    tokio::net::TcpListener::from_std(s.into())
}
