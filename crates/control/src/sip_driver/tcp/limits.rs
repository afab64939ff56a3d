//! The bounds of SIP over TCP (and TLS): connections in all and per source address, shared by the
//! accept loops and the proxy loop, and the counters of every refusal and close.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use config::TcpConfig;

/// Why a connection was refused or closed; each has a counter in [`TcpCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Accepted and closed at once: `tcp_max_connections` reached.
    RefusedTotal,
    /// Accepted and closed at once: `tcp_max_connections_per_source` reached.
    RefusedSource,
    /// An outbound connection not opened: `tcp_max_connections` reached.
    OutboundRefused,
    /// An outbound connection that could not be made (refused, unreachable).
    ConnectFailed,
    /// An outbound connection not made within `tcp_connect_timeout_ms`.
    ConnectTimeout,
    /// The peer closed its side (end of stream).
    PeerClosed,
    /// Reading failed (a reset, mostly).
    ReadError,
    /// Writing failed (a reset, a broken pipe).
    WriteError,
    /// Nothing read or written for `tcp_idle_timeout_secs`.
    Idle,
    /// No whole message within `tcp_message_timeout_secs` (slowloris).
    MessageTimeout,
    /// A message longer than `tcp_buffer_bytes`.
    TooLarge,
    /// Bytes that are not a SIP message stream (RFC 3261 §18.3).
    Framing,
    /// `tcp_buffer_bytes` of output queued that the peer did not read.
    WriteBacklog,
    /// A TLS handshake failed (a certificate not trusted or naming another host, no common
    /// protocol, not TLS at all).
    Handshake,
}

impl Reason {
    /// Every reason, in counter order.
    pub(crate) const ALL: [Reason; 14] = [
        Reason::RefusedTotal,
        Reason::RefusedSource,
        Reason::OutboundRefused,
        Reason::ConnectFailed,
        Reason::ConnectTimeout,
        Reason::PeerClosed,
        Reason::ReadError,
        Reason::WriteError,
        Reason::Idle,
        Reason::MessageTimeout,
        Reason::TooLarge,
        Reason::Framing,
        Reason::WriteBacklog,
        Reason::Handshake,
    ];

    /// The reason as a metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::RefusedTotal => "refused_total",
            Reason::RefusedSource => "refused_source",
            Reason::OutboundRefused => "outbound_refused",
            Reason::ConnectFailed => "connect_failed",
            Reason::ConnectTimeout => "connect_timeout",
            Reason::PeerClosed => "peer_closed",
            Reason::ReadError => "read_error",
            Reason::WriteError => "write_error",
            Reason::Idle => "idle",
            Reason::MessageTimeout => "message_timeout",
            Reason::TooLarge => "too_large",
            Reason::Framing => "framing",
            Reason::WriteBacklog => "write_backlog",
            Reason::Handshake => "tls_handshake",
        }
    }
}

/// A snapshot of the SIP-over-TCP counters (monotonic, except `open`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Connections open now, accepted and outbound.
    pub open: u64,
    /// Connections accepted and kept.
    pub accepted: u64,
    /// Outbound connections established.
    pub connected: u64,
    /// Accepted and closed at once: `tcp_max_connections` reached.
    pub refused_total: u64,
    /// Accepted and closed at once: `tcp_max_connections_per_source` reached.
    pub refused_source: u64,
    /// Outbound connections not opened: `tcp_max_connections` reached.
    pub outbound_refused: u64,
    /// Outbound connections that failed (refused, unreachable).
    pub connect_failed: u64,
    /// Outbound connections not made within `tcp_connect_timeout_ms`.
    pub connect_timeout: u64,
    /// Closed: the peer closed its side.
    pub peer_closed: u64,
    /// Closed: reading failed (reset).
    pub read_error: u64,
    /// Closed: writing failed.
    pub write_error: u64,
    /// Closed: idle for `tcp_idle_timeout_secs`.
    pub idle: u64,
    /// Closed: no whole message within `tcp_message_timeout_secs`.
    pub message_timeout: u64,
    /// Closed: a message longer than `tcp_buffer_bytes`.
    pub too_large: u64,
    /// Closed: not a SIP message stream.
    pub framing: u64,
    /// Closed: the peer left `tcp_buffer_bytes` of output unread.
    pub write_backlog: u64,
    /// TLS handshakes that failed, accepted and outbound (always 0 for TCP).
    pub tls_handshake: u64,
    /// `accept` failures (out of descriptors, mostly).
    pub accept_errors: u64,
}

/// The live SIP-over-TCP counters, shared by the driver's tasks; [`TcpStats::snapshot`] reads
/// them for export.
#[derive(Debug, Default)]
pub struct TcpStats {
    by_reason: [AtomicU64; Reason::ALL.len()],
    accepted: AtomicU64,
    connected: AtomicU64,
    accept_errors: AtomicU64,
    open: AtomicU64,
}

impl TcpStats {
    /// Counts one refusal or close.
    pub(crate) fn count(&self, reason: Reason) {
        if let Some(c) = self.by_reason.get(reason as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one accepted connection kept.
    pub(crate) fn count_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one outbound connection established.
    pub(crate) fn count_connected(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed `accept`.
    pub(crate) fn count_accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> TcpCounters {
        let r = |reason: Reason| {
            self.by_reason
                .get(reason as usize)
                .map_or(0, |c| c.load(Ordering::Relaxed))
        };
        TcpCounters {
            open: self.open.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            refused_total: r(Reason::RefusedTotal),
            refused_source: r(Reason::RefusedSource),
            outbound_refused: r(Reason::OutboundRefused),
            connect_failed: r(Reason::ConnectFailed),
            connect_timeout: r(Reason::ConnectTimeout),
            peer_closed: r(Reason::PeerClosed),
            read_error: r(Reason::ReadError),
            write_error: r(Reason::WriteError),
            idle: r(Reason::Idle),
            message_timeout: r(Reason::MessageTimeout),
            too_large: r(Reason::TooLarge),
            framing: r(Reason::Framing),
            write_backlog: r(Reason::WriteBacklog),
            tls_handshake: r(Reason::Handshake),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
        }
    }
}

/// Who holds connection slots: the total, and accepted connections by source key.
#[derive(Debug, Default)]
struct Table {
    total: u32,
    by_source: HashMap<IpAddr, u32>,
}

/// The caps, the slot table and the counters; one per proxy, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Limits {
    cfg: Mutex<TcpConfig>,
    table: Mutex<Table>,
    stats: Arc<TcpStats>,
}

/// One connection's place under the caps; released when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    limits: Arc<Limits>,
    source: Option<IpAddr>,
}

impl Limits {
    /// Limits with the settings `cfg`.
    pub(crate) fn new(cfg: TcpConfig) -> Arc<Limits> {
        Arc::new(Limits {
            cfg: Mutex::new(cfg),
            table: Mutex::new(Table::default()),
            stats: Arc::new(TcpStats::default()),
        })
    }

    /// The settings now (a reload changes them for connections made afterwards).
    pub(crate) fn config(&self) -> TcpConfig {
        *lock(&self.cfg)
    }

    /// Applies new settings: new caps hold for the next connection; open ones stay.
    pub(crate) fn reconfigure(&self, cfg: TcpConfig) {
        *lock(&self.cfg) = cfg;
    }

    /// The counters.
    pub(crate) fn stats(&self) -> &Arc<TcpStats> {
        &self.stats
    }

    /// A slot for a connection accepted from `peer`, or why there is none.
    pub(crate) fn admit_accepted(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Reason> {
        let cfg = self.config();
        let source = source_key(peer.ip());
        let mut t = lock(&self.table);
        if t.total >= cfg.max_connections {
            return Err(Reason::RefusedTotal);
        }
        let from_source = t.by_source.entry(source).or_insert(0);
        if *from_source >= cfg.max_connections_per_source {
            return Err(Reason::RefusedSource);
        }
        *from_source += 1;
        t.total += 1;
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            limits: self.clone(),
            source: Some(source),
        })
    }

    /// A slot for a connection to a next hop, or why there is none.
    pub(crate) fn admit_outbound(self: &Arc<Self>) -> Result<Slot, Reason> {
        let cfg = self.config();
        let mut t = lock(&self.table);
        if t.total >= cfg.max_connections {
            return Err(Reason::OutboundRefused);
        }
        t.total += 1;
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            limits: self.clone(),
            source: None,
        })
    }

    fn release(&self, source: Option<IpAddr>) {
        let mut t = lock(&self.table);
        t.total = t.total.saturating_sub(1);
        if let Some(s) = source {
            if let Some(n) = t.by_source.get_mut(&s) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    t.by_source.remove(&s);
                }
            }
        }
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Source keys holding accepted connections now (for tests: entries go with the last
    /// connection of a source).
    #[cfg(test)]
    pub(crate) fn sources(&self) -> usize {
        lock(&self.table).by_source.len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.release(self.source);
    }
}

/// The per-source key of `ip`: the address itself for IPv4 (also when mapped into IPv6), the
/// /64 prefix for IPv6, which is what one subscriber is given.
pub(crate) fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Locks `m`; a panic elsewhere while it was held leaves plain counts, still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
