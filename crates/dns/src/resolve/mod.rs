//! RFC 3263 §4 server location for a SIP URI's host, as a sans-IO state machine.
//!
//! The caller owns the sockets and the clock. It creates a [`Lookup`], sends whatever
//! [`Lookup::poll_transmit`] returns, feeds every datagram from a DNS server to
//! [`Lookup::handle_response`], calls [`Lookup::handle_timeout`] when [`Lookup::poll_timeout`]
//! says so, and reads [`Lookup::result`] once it is `Some`. Query IDs come from a ChaCha
//! generator keyed with 32 bytes the caller draws from a cryptographically secure source; the
//! caller also sends each query from a fresh random source port (RFC 5452 §9.2), and an answer
//! counts only when it comes from the server's address and port with the query's ID
//! (RFC 5452 §9.1). When a UDP answer comes back truncated the query is repeated to the same
//! server over TCP ([`Protocol::Tcp`]: the caller adds and strips the two-octet length of
//! RFC 1035 §4.2.2).

mod chain;
mod lookup;
mod plan;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::wire::Rcode;

pub use lookup::Lookup;

/// The SIP transport of a located target: the one type the whole project uses (RFC 3261 §18;
/// TLS is TCP with TLS on top, RFC 3263 §4.1).
pub use sip::Transport;

/// What to locate: the parts of a SIP URI that RFC 3263 §4 looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupSpec {
    /// The URI's host: a domain name, an IPv4 address, or an IPv6 address (brackets allowed).
    pub host: String,
    /// The URI's explicit port, if any.
    pub port: Option<u16>,
    /// The URI's `transport` parameter, if any.
    pub transport: Option<Transport>,
    /// Whether the URI is a SIPS URI (TLS required, RFC 3263 §4.1).
    pub secure: bool,
}

impl LookupSpec {
    /// A `sip:` URI host with no port and no transport parameter: full NAPTR/SRV/A location.
    pub fn host(host: &str) -> Self {
        LookupSpec {
            host: host.to_owned(),
            port: None,
            transport: None,
            secure: false,
        }
    }
}

/// Tunables of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupOptions {
    /// How long to wait for the answer to one try of a query.
    pub timeout: Duration,
    /// Rounds over the server list: each query is tried at most `attempts × servers` times,
    /// cycling through the servers in order (as resolv.conf's `attempts` does).
    pub attempts: u32,
    /// Lower clamp of the result's lifetime, and the retry delay after a failure.
    pub min_ttl: Duration,
    /// Upper clamp of the result's lifetime.
    pub max_ttl: Duration,
    /// Ask for IPv4 addresses (A).
    pub ipv4: bool,
    /// Ask for IPv6 addresses (AAAA).
    pub ipv6: bool,
    /// Most distinct queries (names × types, CNAME hops included) one lookup may start.
    pub max_queries: u32,
    /// Most CNAME links followed from one name.
    pub max_cname_hops: u8,
}

impl Default for LookupOptions {
    fn default() -> Self {
        LookupOptions {
            timeout: Duration::from_secs(2),
            attempts: 2,
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(3600),
            ipv4: true,
            ipv6: true,
            max_queries: 64,
            max_cname_hops: 8,
        }
    }
}

/// One place to send requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// Address and port.
    pub addr: SocketAddr,
    /// Transport to use.
    pub transport: Transport,
    /// SRV priority (0 when no SRV record was involved); lower is preferred (RFC 2782).
    pub priority: u16,
    /// SRV weight (0 when no SRV record was involved), for the weighted pick among equal
    /// priorities that the dispatcher makes (RFC 2782).
    pub weight: u16,
}

/// A successful lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Targets sorted by ascending priority, in record order within a priority.
    pub targets: Vec<Target>,
    /// When to resolve again: now + the least TTL of the records used, clamped to
    /// [`LookupOptions::min_ttl`], [`LookupOptions::max_ttl`].
    pub expires_at: Instant,
}

/// Why a lookup produced no target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ResolveErrorKind {
    /// The host is neither an IP address nor a valid domain name.
    #[error("invalid host")]
    InvalidHost,
    /// A SIPS URI with `transport=udp`: SIPS needs TLS over a reliable transport (RFC 3261 §26.2.2).
    #[error("SIPS URI with transport=udp")]
    SecureOverUdp,
    /// The lookup was given no DNS server.
    #[error("no DNS server configured")]
    NoServers,
    /// The name does not exist (NXDOMAIN).
    #[error("name does not exist")]
    NxDomain,
    /// The name exists but has no usable NAPTR, SRV or address records.
    #[error("no usable records")]
    NoRecords,
    /// No server answered within the timeout, over every try.
    #[error("no DNS server answered")]
    Timeout,
    /// Every server that answered reported an error (SERVFAIL, REFUSED, ...).
    #[error("DNS server error {0}")]
    ServerFailure(Rcode),
    /// A CNAME chain came back to a name already seen.
    #[error("CNAME loop")]
    CnameLoop,
    /// A CNAME chain was longer than [`LookupOptions::max_cname_hops`].
    #[error("CNAME chain too long")]
    CnameChainTooLong,
    /// The lookup needed more queries than [`LookupOptions::max_queries`].
    #[error("query limit reached")]
    QueryLimit,
}

/// A failed lookup, with the time after which to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct ResolveError {
    /// What went wrong.
    pub kind: ResolveErrorKind,
    /// When to look up again: the negative-caching TTL for NXDOMAIN/no data (RFC 2308 §5),
    /// [`LookupOptions::min_ttl`] otherwise, clamped like [`Resolved::expires_at`].
    pub retry_at: Instant,
}

/// The transport protocol of one DNS query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// A UDP datagram (RFC 1035 §4.2.1).
    Udp,
    /// A TCP connection; the caller frames with a two-octet length (RFC 1035 §4.2.2).
    Tcp,
}

/// A query to send (the shape of the proxy's and the media engine's `Transmit`: destination
/// `dst`, payload `bytes`; plus the protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The DNS server.
    pub dst: SocketAddr,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The DNS message (without the TCP length prefix).
    pub bytes: Vec<u8>,
}

/// Counters of one lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupStats {
    /// Queries handed out by `poll_transmit`, retries included.
    pub queries_sent: u64,
    /// Tries that timed out.
    pub timeouts: u64,
    /// Responses ignored because their source, ID or question matched no query in flight
    /// (RFC 5452 §9.1).
    pub mismatched: u64,
    /// Datagrams ignored because they did not parse as a DNS response.
    pub malformed: u64,
    /// UDP answers with TC set, repeated over TCP.
    pub truncated: u64,
    /// Answers with SERVFAIL, REFUSED, NOTIMP or FORMERR, tried on the next server.
    pub server_errors: u64,
}
