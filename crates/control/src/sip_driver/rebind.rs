//! `sip.listen` or `sip.tls_listen` changed by a reload: every new socket is bound first; only
//! when all are bound are they served and the sockets of the addresses no longer listed
//! closed (their readers and accept loops stopped; TCP and TLS connections already accepted go
//! on). A bind that fails drops what was bound for the reload and leaves the running sockets
//! as they were.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{icmp, tcp, Inbound};

/// The listen addresses served and the tasks serving them.
#[derive(Debug)]
pub(crate) struct Listeners {
    /// `sip.listen` as served, in the config's order.
    listen: Vec<SocketAddr>,
    /// By listen address: the UDP socket's local address and its reader.
    readers: HashMap<SocketAddr, (SocketAddr, AbortHandle)>,
    /// By listen address: the TCP accept loop.
    tcp: HashMap<SocketAddr, AbortHandle>,
    /// `sip.tls_listen` as served.
    tls_listen: Vec<SocketAddr>,
    /// By `tls_listen` address: the TLS accept loop.
    tls: HashMap<SocketAddr, AbortHandle>,
    /// The UDP sockets the proxy's transmits go out on, by local address.
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Where the readers hand messages to the proxy loop.
    inbound: mpsc::Sender<Inbound>,
    /// The ICMP counters of the UDP sockets.
    icmp: Arc<icmp::IcmpStats>,
}

impl Listeners {
    /// Reads the UDP sockets of `sockets` into `inbound` (their TCP listeners are served by
    /// [`Listeners::serve_tcp`] once the connections exist).
    pub(crate) fn new(
        sockets: &super::Sockets,
        inbound: mpsc::Sender<Inbound>,
    ) -> std::io::Result<Listeners> {
        let mut l = Listeners {
            listen: sockets.listen.clone(),
            readers: HashMap::new(),
            tcp: HashMap::new(),
            tls_listen: sockets.tls_listen.clone(),
            tls: HashMap::new(),
            udp: HashMap::new(),
            inbound,
            icmp: sockets.icmp.clone(),
        };
        for (a, s) in sockets.listen.iter().zip(&sockets.udp) {
            l.serve_udp(*a, s.clone())?;
        }
        Ok(l)
    }

    /// The UDP sockets by local address.
    pub(crate) fn udp(&self) -> &HashMap<SocketAddr, Arc<UdpSocket>> {
        &self.udp
    }

    /// Reads `sock`, bound on listen address `addr`, for the proxy.
    fn serve_udp(&mut self, addr: SocketAddr, sock: Arc<UdpSocket>) -> std::io::Result<()> {
        let local = sock.local_addr()?;
        self.udp.insert(local, sock.clone());
        let errors = icmp::ErrorQueue::new(local, self.icmp.clone());
        let reader = tokio::spawn(super::udp_reader(sock, local, self.inbound.clone(), errors));
        self.readers.insert(addr, (local, reader.abort_handle()));
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
    /// added addresses, then serves them and closes the removed ones. An error (naming the
    /// key and address) leaves everything as it was.
    fn rebind(&mut self, cfg: &config::SipConfig, reg: &Arc<tcp::Registry>) -> Result<(), String> {
        if cfg.listen == self.listen {
            return Ok(());
        }
        let added = not_in(&self.listen, &cfg.listen);
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
            self.serve_udp(a, s)
                .map_err(|e| format!("sip.listen: UDP {a}: {e}"))?;
        }
        for (a, l) in tcp {
            self.serve_tcp(a, l, reg.clone());
        }
        let removed = not_in(&cfg.listen, &self.listen);
        for a in &removed {
            if let Some((local, reader)) = self.readers.remove(a) {
                reader.abort();
                self.udp.remove(&local);
            }
            if let Some(accept) = self.tcp.remove(a) {
                accept.abort();
            }
        }
        self.listen.clone_from(&cfg.listen);
        tracing::info!(added = ?added, closed = ?removed, "sip.listen rebound");
        Ok(())
    }

    /// Accepts TLS connections on `listener`, bound on `tls_listen` address `addr`, into
    /// `reg`.
    pub(crate) fn serve_tls(
        &mut self,
        addr: SocketAddr,
        listener: tokio::net::TcpListener,
        reg: Arc<tcp::Registry>,
    ) {
        let task = tokio::spawn(tcp::accept_loop(listener, reg));
        self.tls.insert(addr, task.abort_handle());
    }

    /// As [`Listeners::rebind`], for `cfg.tls.listen` (`reg`: the TLS connections; `None`
    /// when TLS is not among the transports, and then nothing is bound).
    fn rebind_tls(
        &mut self,
        cfg: &config::SipConfig,
        reg: Option<Arc<tcp::Registry>>,
    ) -> Result<(), String> {
        if cfg.tls.listen == self.tls_listen {
            return Ok(());
        }
        let Some(reg) = reg else {
            self.tls_listen.clone_from(&cfg.tls.listen);
            return Ok(());
        };
        let added = not_in(&self.tls_listen, &cfg.tls.listen);
        let mut bound = Vec::new();
        for a in &added {
            let l = bind_tcp(*a)
                .map_err(|e| super::cannot_bind("sip.tls_listen", "TLS", *a, e).to_string())?;
            bound.push((*a, l));
        }
        for (a, l) in bound {
            self.serve_tls(a, l, reg.clone());
        }
        let removed = not_in(&cfg.tls.listen, &self.tls_listen);
        for a in &removed {
            if let Some(accept) = self.tls.remove(a) {
                accept.abort();
            }
        }
        self.tls_listen.clone_from(&cfg.tls.listen);
        tracing::info!(added = ?added, closed = ?removed, "sip.tls_listen rebound");
        Ok(())
    }
}

/// What a reload did with the listen addresses: each list rebound (or unchanged), or why not
/// (the running list then stays).
#[derive(Debug)]
pub struct Rebound {
    /// `sip.listen`.
    pub listen: Result<(), String>,
    /// `sip.tls_listen`.
    pub tls_listen: Result<(), String>,
}

/// The addresses of `new` not in `old`.
fn not_in(old: &[SocketAddr], new: &[SocketAddr]) -> Vec<SocketAddr> {
    new.iter().filter(|a| !old.contains(a)).copied().collect()
}

/// The driver's side of a reload: `sip.listen` and `sip.tls_listen` rebound (on failure the
/// running addresses stay, and the proxy keeps naming them in Via and Record-Route), then the
/// proxy's settings, sets and routes and the stream transports' bounds and TLS files.
pub(crate) fn reload(
    mut cfg: config::Config,
    proxy: &mut proxy::Proxy,
    listeners: &mut Listeners,
    conns: &super::Conns,
    tls: Option<&super::tls::TlsContext>,
) -> Rebound {
    let listen = listeners.rebind(&cfg.sip, &conns.tcp.registrar());
    if listen.is_err() {
        cfg.sip.listen.clone_from(&listeners.listen);
    }
    let tls_reg = conns.tls.as_ref().map(|t| t.registrar());
    let tls_listen = listeners.rebind_tls(&cfg.sip, tls_reg);
    if tls_listen.is_err() {
        cfg.sip.tls.listen.clone_from(&listeners.tls_listen);
    }
    let pc = proxy::ProxyConfig::from_config(&cfg);
    proxy.reconfigure(pc, &cfg.sets, &cfg.routes, std::time::Instant::now());
    conns.reconfigure(&cfg.sip, tls);
    tracing::info!(sets = cfg.sets.len(), "SIP configuration reloaded");
    Rebound { listen, tls_listen }
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
