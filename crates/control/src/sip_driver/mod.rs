//! The tokio driver of the SIP proxy: UDP sockets and TCP connections in, the proxy's
//! transmits out, its timers, reloads. Everything else is the proxy's.

mod dns;
mod tcp;

pub use tcp::{TcpCounters, TcpStats};

use proxy::{Proxy, ProxyEvent, Transmit, Transport};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Receive buffer size: the largest UDP payload.
const DATAGRAM_MAX: usize = 65_535;
/// Receive buffer asked for on each SIP UDP socket: bursts of calls arrive faster than one
/// control core drains them, and the kernel default (about 200 KiB) overflows at a few
/// thousand calls per second. The kernel caps it at `net.core.rmem_max`.
const UDP_RCVBUF: usize = 8 << 20;
/// Inbound queue depth between the socket readers and the proxy.
const INBOUND_QUEUE: usize = 4096;

/// What the readers hand the proxy loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A message (a datagram, or one framed from a stream).
    Message {
        transport: Transport,
        local: SocketAddr,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    /// A connection could not be made or broke; what was queued for `peer` is lost.
    TransportError {
        transport: Transport,
        peer: SocketAddr,
    },
    /// A DNS response for the member lookups.
    Dns { from: SocketAddr, bytes: Vec<u8> },
}

/// Control requests from the rest of the daemon.
#[derive(Debug)]
pub enum Control {
    /// Apply a new configuration (SIGHUP): members that remain keep their state.
    Reload(Box<config::Config>),
    /// Drain (OPTIONS to us answered 503) or stop draining.
    Drain(bool),
}

/// The bound sockets of the proxy.
#[derive(Debug)]
pub struct Sockets {
    /// One UDP socket per listen address.
    pub udp: Vec<Arc<UdpSocket>>,
    /// One TCP listener per listen address (when TCP is enabled).
    pub tcp: Vec<tokio::net::TcpListener>,
    /// The bounds of the TCP connections and their counters.
    tcp_limits: Arc<tcp::Limits>,
}

impl Sockets {
    /// Binds every listen address for the configured transports.
    pub async fn bind(cfg: &config::SipConfig) -> std::io::Result<Sockets> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for a in &cfg.listen {
            if cfg.has_transport(config::Transport::Udp) {
                udp.push(Arc::new(bind_udp(*a)?));
            }
            if cfg.has_transport(config::Transport::Tcp) {
                tcp.push(tokio::net::TcpListener::bind(a).await?);
            }
        }
        if !tcp.is_empty() {
            tcp::check_descriptors(&cfg.tcp);
        }
        Ok(Sockets {
            udp,
            tcp,
            tcp_limits: tcp::Limits::new(cfg.tcp),
        })
    }

    /// The SIP-over-TCP counters (refusals and closes by reason), live.
    pub fn tcp_stats(&self) -> Arc<TcpStats> {
        self.tcp_limits.stats().clone()
    }
}

/// A non-blocking UDP socket on `addr` with a large receive buffer.
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_RCVBUF) {
        tracing::warn!(error = %e, "cannot enlarge the SIP receive buffer");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    let got = s.recv_buffer_size().unwrap_or(0);
    tracing::debug!(listen = %addr, rcvbuf = got, "SIP UDP socket");
    UdpSocket::from_std(s.into())
}

/// Runs the proxy until `shutdown` turns true.
pub async fn run(
    mut proxy: Proxy,
    sockets: Sockets,
    mut control: mpsc::Receiver<Control>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Inbound>(INBOUND_QUEUE);
    let mut udp_by_local = HashMap::new();
    for s in &sockets.udp {
        let local = s.local_addr()?;
        udp_by_local.insert(local, s.clone());
        tokio::spawn(udp_reader(s.clone(), local, tx.clone()));
    }
    let mut conns = tcp::Connections::new(tx.clone(), sockets.tcp_limits.clone());
    let mut dns = dns::DnsClient::default();
    for l in sockets.tcp {
        tokio::spawn(tcp::accept_loop(l, conns.registrar()));
    }
    proxy.handle_timeout(Instant::now());
    loop {
        while let Some(t) = proxy.poll_transmit() {
            send(&udp_by_local, &mut conns, t, &mut proxy).await;
        }
        while let Some(q) = proxy.poll_dns_transmit() {
            dns.send(q, &tx).await;
        }
        while let Some(e) = proxy.poll_event() {
            log_event(&proxy, &e);
        }
        let deadline = proxy.poll_timeout();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { break };
                handle(&mut proxy, m);
                // Take what else is queued before sending, to batch under load.
                for _ in 0..64 {
                    match rx.try_recv() {
                        Ok(m) => handle(&mut proxy, m),
                        Err(_) => break,
                    }
                }
            }
            () = sleep => proxy.handle_timeout(Instant::now()),
            c = control.recv() => match c {
                Some(Control::Reload(cfg)) => {
                    let pc = proxy::ProxyConfig::from_config(&cfg);
                    proxy.reconfigure(pc, &cfg.sets, &cfg.routes, Instant::now());
                    conns.reconfigure(cfg.sip.tcp);
                    tracing::info!(sets = cfg.sets.len(), "SIP configuration reloaded");
                }
                Some(Control::Drain(d)) => proxy.set_draining(d),
                None => {}
            },
            _ = shutdown.changed() => break,
        }
    }
    Ok(())
}

fn handle(proxy: &mut Proxy, m: Inbound) {
    let now = Instant::now();
    match m {
        Inbound::Message {
            transport,
            local,
            from,
            bytes,
        } => proxy.handle_message(now, transport, local, from, &bytes),
        Inbound::TransportError { transport, peer } => {
            proxy.handle_transport_error(now, transport, peer)
        }
        Inbound::Dns { from, bytes } => proxy.handle_dns_response(now, from, &bytes),
    }
}

async fn send(
    udp: &HashMap<SocketAddr, Arc<UdpSocket>>,
    conns: &mut tcp::Connections,
    t: Transmit,
    proxy: &mut Proxy,
) {
    match t.transport {
        Transport::Udp => {
            let sock = udp.get(&t.src).or_else(|| {
                udp.values()
                    .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == t.dst.is_ipv4()))
            });
            let Some(sock) = sock else {
                tracing::warn!(dst = %t.dst, "no UDP socket for this address family");
                return;
            };
            let r = match sock.try_send_to(&t.bytes, t.dst) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    sock.send_to(&t.bytes, t.dst).await
                }
                r => r,
            };
            if let Err(e) = r {
                tracing::debug!(dst = %t.dst, error = %e, "SIP send failed");
                proxy.handle_transport_error(Instant::now(), Transport::Udp, t.dst);
            }
        }
        Transport::Tcp => {
            if let Err(e) = conns.send(t.dst, t.src, t.bytes) {
                tracing::debug!(dst = %t.dst, error = %e, "SIP TCP send failed");
                proxy.handle_transport_error(Instant::now(), Transport::Tcp, t.dst);
            }
        }
        // TLS is not spoken yet: a next hop that needs it (a sips: URI, a TLS target from
        // DNS) is unreachable, reported like a refused connection so the branch fails over;
        // it is never sent in the clear instead (RFC 3261 §26.2.2).
        Transport::Tls => {
            tracing::debug!(dst = %t.dst, "SIP over TLS is not supported; transport error");
            proxy.handle_transport_error(Instant::now(), Transport::Tls, t.dst);
        }
    }
}

async fn udp_reader(sock: Arc<UdpSocket>, local: SocketAddr, tx: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                let m = Inbound::Message {
                    transport: Transport::Udp,
                    local,
                    from,
                    bytes,
                };
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            // ICMP errors surface here on Linux for earlier sends; they name no peer.
            Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
        }
    }
}

fn log_event(proxy: &Proxy, e: &ProxyEvent) {
    let set_name = |set: dispatch::SetId| {
        proxy
            .dispatcher()
            .set_config(set)
            .map_or_else(String::new, |s| s.name.clone())
    };
    match e {
        ProxyEvent::Member(dispatch::DispatchEvent::StateChanged {
            set,
            uri,
            from,
            to,
            reason,
            ..
        }) => tracing::info!(
            set = %set_name(*set),
            member = %uri,
            from = from.as_str(),
            to = to.as_str(),
            reason = ?reason,
            "member state changed"
        ),
        ProxyEvent::Member(dispatch::DispatchEvent::Added {
            set, uri, origin, ..
        }) => {
            tracing::info!(set = %set_name(*set), member = %uri, origin = ?origin, "member added")
        }
        ProxyEvent::Member(dispatch::DispatchEvent::Removed {
            set, uri, reason, ..
        }) => {
            tracing::info!(set = %set_name(*set), member = %uri, reason = ?reason, "member removed")
        }
        ProxyEvent::CallRouted {
            call_id,
            member,
            attempt,
        } => tracing::debug!(call_id = %call_id, member = %member, attempt, "call routed"),
        ProxyEvent::Failover {
            call_id,
            member,
            reason,
        } => tracing::info!(call_id = %call_id, member = %member, reason = %reason, "failover"),
        ProxyEvent::CallFailed { call_id, code } => {
            tracing::info!(call_id = %call_id, code, "call failed")
        }
        ProxyEvent::Flood(f) => tracing::info!("SIP flood protection: {f}"),
    }
}
