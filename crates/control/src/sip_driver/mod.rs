//! The tokio driver of the SIP proxy: UDP sockets, TCP and TLS connections in, the proxy's
//! transmits out, its timers, reloads. Everything else is the proxy's.

mod dns;
mod icmp;
mod rebind;
mod tcp;
mod tls;
#[cfg(test)]
mod tls_tests;
mod udp;

pub use icmp::{IcmpCounters, IcmpStats};
pub use rebind::Rebound;
pub use tcp::{TcpCounters, TcpStats};
pub use tls::TlsError;

use proxy::{Proxy, ProxyEvent, Transmit, Transport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use udp::udp_reader;

/// Receive buffer asked for on each SIP UDP socket: bursts of calls arrive faster than one
/// control core drains them, and the kernel default (about 200 KiB) overflows at a few
/// thousand calls per second. The kernel caps it at `net.core.rmem_max`.
const UDP_RCVBUF: usize = 8 << 20;
/// Inbound queue depth between the socket readers and the proxy.
const INBOUND_QUEUE: usize = 4096;
/// Messages the loop handles in a row (datagrams of a batch count one each) before it sends
/// what they produced.
const HANDLE_BATCH: usize = 64;

/// What the readers hand the proxy loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// The datagrams a UDP socket had on one wake-up.
    Datagrams(udp::Datagrams),
    /// A message framed from a stream.
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
    /// An ICMP destination unreachable for a UDP datagram sent to `dst`, quoting its start.
    Unreachable { dst: SocketAddr, quoted: Vec<u8> },
    /// A DNS response for the member lookups.
    Dns { from: SocketAddr, bytes: Vec<u8> },
}

/// Control requests from the rest of the daemon.
#[derive(Debug)]
pub enum Control {
    /// Apply a new configuration (SIGHUP): members that remain keep their state; a changed
    /// `sip.listen` or `sip.tls_listen` is rebound. The answer says, for each, why it could
    /// not be (the running addresses then stay; the rest is applied).
    Reload(Box<config::Config>, tokio::sync::oneshot::Sender<Rebound>),
    /// Drain (OPTIONS to us answered 503) or stop draining.
    Drain(bool),
    /// An admin socket request for the proxy (members, health), answered between messages.
    Admin(crate::admin_driver::AdminRequest),
    /// A scrape's request for the proxy's counters and members, answered between messages.
    Metrics(crate::metrics_driver::MetricsRequest),
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
    /// One TLS listener per `tls_listen` address (when TLS is enabled).
    pub tls: Vec<tokio::net::TcpListener>,
    /// The TLS settings (when TLS is enabled).
    tls_context: Option<Arc<tls::TlsContext>>,
    /// The bounds of the TLS connections (the `tcp_*` settings) and their counters.
    tls_limits: Arc<tcp::Limits>,
    /// The counters of the ICMP errors read on the UDP sockets.
    icmp: Arc<IcmpStats>,
    /// `sip.listen` as bound (`udp` and `tcp` follow its order).
    listen: Vec<SocketAddr>,
    /// `sip.tls_listen` (`tls` follows its order when TLS is on).
    tls_listen: Vec<SocketAddr>,
}

/// A bind failure that names the key and the address.
fn cannot_bind(key: &str, what: &str, a: SocketAddr, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{key}: cannot bind {what} {a}: {e}"))
}

impl Sockets {
    /// Binds every listen address for the configured transports and reads the TLS files.
    pub async fn bind(cfg: &config::SipConfig) -> std::io::Result<Sockets> {
        let mut tls = Vec::new();
        let mut tls_context = None;
        if cfg.has_transport(config::Transport::Tls) {
            let ctx = tls::TlsContext::load(&cfg.tls).map_err(std::io::Error::other)?;
            tls_context = Some(Arc::new(ctx));
            for a in &cfg.tls.listen {
                let l = tokio::net::TcpListener::bind(a).await;
                tls.push(l.map_err(|e| cannot_bind("sip.tls_listen", "TLS", *a, e))?);
            }
        }
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for a in &cfg.listen {
            if cfg.has_transport(config::Transport::Udp) {
                let s = bind_udp(*a).map_err(|e| cannot_bind("sip.listen", "UDP", *a, e))?;
                udp.push(Arc::new(s));
            }
            if cfg.has_transport(config::Transport::Tcp) {
                let l = tokio::net::TcpListener::bind(a).await;
                tcp.push(l.map_err(|e| cannot_bind("sip.listen", "TCP", *a, e))?);
            }
        }
        if !tcp.is_empty() || tls_context.is_some() {
            tcp::check_descriptors(&cfg.tcp);
        }
        Ok(Sockets {
            udp,
            tcp,
            tcp_limits: tcp::Limits::new(cfg.tcp),
            tls,
            tls_context,
            tls_limits: tcp::Limits::new(cfg.tcp),
            icmp: Arc::default(),
            listen: cfg.listen.clone(),
            tls_listen: cfg.tls.listen.clone(),
        })
    }

    /// The SIP-over-TLS counters (the TCP ones, for TLS connections), live.
    pub fn tls_stats(&self) -> Arc<TcpStats> {
        self.tls_limits.stats().clone()
    }

    /// The SIP-over-TCP counters (refusals and closes by reason), live.
    pub fn tcp_stats(&self) -> Arc<TcpStats> {
        self.tcp_limits.stats().clone()
    }

    /// The counters of ICMP errors on the SIP UDP sockets (by kind, taken or not), live.
    pub fn icmp_stats(&self) -> Arc<IcmpStats> {
        self.icmp.clone()
    }
}

/// A non-blocking UDP socket on `addr` with a large receive buffer, queueing the ICMP errors
/// its datagrams meet (see `icmp`).
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_RCVBUF) {
        tracing::warn!(error = %e, "cannot enlarge the SIP receive buffer");
    }
    if let Err(e) = icmp::enable(&s, addr) {
        tracing::warn!(error = %e, "ICMP errors on the SIP socket cannot be read; dead members are seen by timeouts only");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    let got = s.recv_buffer_size().unwrap_or(0);
    tracing::debug!(listen = %addr, rcvbuf = got, "SIP UDP socket");
    UdpSocket::from_std(s.into())
}

/// Runs the proxy until `shutdown` turns true; with `ha`, publishes the calls that changed in
/// each round for replication.
pub async fn run(
    mut proxy: Proxy,
    mut sockets: Sockets,
    mut control: mpsc::Receiver<Control>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut ha: Option<crate::ha_publish::Publisher>,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Inbound>(INBOUND_QUEUE);
    let mut stats = crate::metrics_driver::DriverStats::of(&sockets);
    stats.ha = ha.as_ref().map(|p| p.counters().clone());
    let (mut listeners, mut conns) = start_transports(&mut sockets, &tx)?;
    let icmp = sockets.icmp.clone();
    let mut dns = dns::DnsClient::default();
    let mut follow = ha.as_mut().and_then(|p| p.take_follow());
    let mut outbox = udp::Outbox::default();
    proxy.handle_timeout(Instant::now());
    loop {
        if let Some(p) = ha.as_mut() {
            p.round(&mut proxy);
        }
        send_all(&listeners, &mut conns, &mut outbox, &mut proxy).await;
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
                let mut handled = handle(&mut proxy, m, &icmp);
                // Take what else is queued before sending, to batch under load.
                while handled < HANDLE_BATCH {
                    match rx.try_recv() {
                        Ok(m) => handled += handle(&mut proxy, m, &icmp),
                        Err(_) => break,
                    }
                }
            }
            () = sleep => proxy.handle_timeout(Instant::now()),
            Some(f) = followed(&mut follow) => {
                if let Some(p) = ha.as_mut() {
                    apply_followed(p, &mut proxy, f, &mut follow);
                }
            }
            c = control.recv() => match c {
                Some(Control::Reload(cfg, done)) => {
                    let tls = sockets.tls_context.as_deref();
                    let _ = done.send(rebind::reload(*cfg, &mut proxy, &mut listeners, &conns, tls));
                }
                Some(Control::Drain(d)) => proxy.set_draining(d),
                Some(Control::Admin(req)) => {
                    crate::admin_driver::answer(&mut proxy, ha.as_mut(), req, Instant::now())
                }
                Some(Control::Metrics(req)) => crate::metrics_driver::answer(&proxy, &stats, req),
                None => {}
            },
            _ = shutdown.changed() => break,
        }
    }
    Ok(())
}

/// The UDP, TCP and TLS listeners of `sockets` served, and the connection tables (the
/// listeners' sockets are taken out of `sockets`).
fn start_transports(
    sockets: &mut Sockets,
    tx: &mpsc::Sender<Inbound>,
) -> std::io::Result<(rebind::Listeners, Conns)> {
    let mut listeners = rebind::Listeners::new(sockets, tx.clone())?;
    let conns = Conns {
        tcp: tcp::Connections::new(tx.clone(), sockets.tcp_limits.clone()),
        tls: sockets
            .tls_context
            .clone()
            .map(|c| tcp::Connections::new_tls(tx.clone(), sockets.tls_limits.clone(), c)),
    };
    for (a, l) in sockets.listen.iter().zip(std::mem::take(&mut sockets.tcp)) {
        listeners.serve_tcp(*a, l, conns.tcp.registrar());
    }
    if let Some(t) = &conns.tls {
        for (a, l) in sockets
            .tls_listen
            .iter()
            .zip(std::mem::take(&mut sockets.tls))
        {
            listeners.serve_tls(*a, l, t.registrar());
        }
    }
    Ok((listeners, conns))
}

/// Applies what the HA follower read: `f` and what else it has queued (up to 256, to batch a
/// load).
fn apply_followed(
    p: &mut crate::ha_publish::Publisher,
    proxy: &mut Proxy,
    f: crate::ha_follow::Followed,
    follow: &mut Option<mpsc::Receiver<crate::ha_follow::Followed>>,
) {
    p.apply(proxy, f);
    for _ in 0..256 {
        match follow.as_mut().map(|r| r.try_recv()) {
            Some(Ok(f)) => p.apply(proxy, f),
            _ => break,
        }
    }
}

/// The next thing the HA follower read (never, without one).
async fn followed(
    rx: &mut Option<mpsc::Receiver<crate::ha_follow::Followed>>,
) -> Option<crate::ha_follow::Followed> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands `m` to the proxy; returns how many messages that was.
fn handle(proxy: &mut Proxy, m: Inbound, icmp: &IcmpStats) -> usize {
    let now = Instant::now();
    match m {
        Inbound::Datagrams(d) => {
            for (from, bytes) in d.iter() {
                proxy.handle_message(Instant::now(), Transport::Udp, d.local, from, bytes);
            }
            return d.len();
        }
        Inbound::Message {
            transport,
            local,
            from,
            bytes,
        } => proxy.handle_message(now, transport, local, from, &bytes),
        Inbound::TransportError { transport, peer } => {
            proxy.handle_transport_error(now, transport, peer)
        }
        Inbound::Unreachable { dst, quoted } => {
            let taken = proxy.handle_unreachable(now, Transport::Udp, dst, &quoted);
            icmp.count_verdict(taken);
        }
        Inbound::Dns { from, bytes } => proxy.handle_dns_response(now, from, &bytes),
    }
    1
}

/// The stream transports' connections.
struct Conns {
    tcp: tcp::Connections,
    /// Present when TLS is enabled.
    tls: Option<tcp::Connections>,
}

impl Conns {
    /// Applies a reloaded `[sip]`: the `tcp_*` bounds to both, the TLS files re-read.
    fn reconfigure(&self, cfg: &config::SipConfig, tls: Option<&tls::TlsContext>) {
        self.tcp.reconfigure(cfg.tcp);
        if let Some(t) = &self.tls {
            t.reconfigure(cfg.tcp);
        }
        if let Some(t) = tls {
            t.reload(&cfg.tls);
        }
    }
}

/// Sends everything the proxy has to send: the UDP datagrams of the round one `sendmmsg`
/// batch per socket (`udp::Outbox`), the stream messages as they come; a failed send is the
/// proxy's transport error, which may give more to send (a failover), sent in turn.
async fn send_all(
    listeners: &rebind::Listeners,
    conns: &mut Conns,
    outbox: &mut udp::Outbox,
    proxy: &mut Proxy,
) {
    loop {
        while let Some(t) = proxy.poll_transmit() {
            if t.transport != Transport::Udp {
                send_stream(conns, t, proxy);
            } else {
                let dst = t.dst;
                if !outbox.push(listeners.udp(), t) {
                    tracing::warn!(dst = %dst, "no UDP socket for this address family");
                }
            }
        }
        if outbox.is_empty() {
            return;
        }
        for (dst, e) in outbox.flush().await {
            tracing::debug!(dst = %dst, error = %e, "SIP send failed");
            proxy.handle_transport_error(Instant::now(), Transport::Udp, dst);
        }
    }
}

/// Sends `t` over its stream transport (TCP or TLS).
fn send_stream(conns: &mut Conns, t: Transmit, proxy: &mut Proxy) {
    match t.transport {
        Transport::Udp => {}
        Transport::Tcp => {
            if let Err(e) = conns.tcp.send(t.dst, t.src, t.bytes) {
                tracing::debug!(dst = %t.dst, error = %e, "SIP TCP send failed");
                proxy.handle_transport_error(Instant::now(), Transport::Tcp, t.dst);
            }
        }
        // Over TLS only, never in the clear instead (RFC 3261 §26.2.2): without TLS
        // enabled the next hop is unreachable, reported like a refused connection so the
        // branch fails over.
        Transport::Tls => {
            let sent = match conns.tls.as_mut() {
                Some(c) => {
                    let name = (!c.has(t.dst)).then(|| tls::server_name(proxy.dispatcher(), t.dst));
                    c.send_named(t.dst, t.src, t.bytes, name)
                        .map_err(|e| e.to_string())
                }
                None => Err("\"tls\" is not in sip.transports".to_owned()),
            };
            if let Err(e) = sent {
                tracing::debug!(dst = %t.dst, error = %e, "SIP TLS send failed");
                proxy.handle_transport_error(Instant::now(), Transport::Tls, t.dst);
            }
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
