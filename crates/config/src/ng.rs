//! `[ng]`: the rtpengine ng control protocol listeners (UDP, and TCP when `listen_tcp` is set).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use ::media::{GuardConfig, RateLimit};
use dispatch::Cidr;
use serde::Deserialize;

use crate::check::{opt_int_in, secs_in};
use crate::dispatcher::build_networks;
use crate::error::{key, ConfigError};

/// Default `ng.listen`: loopback, rtpengine's customary ng port.
pub const DEFAULT_NG_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2223);

/// Default `ng.rate`: requests per second per source address. A Kamailio sends three to four
/// requests per call (offer, one or two answers, delete), so this serves one at 2,500 calls/s.
pub const DEFAULT_NG_RATE: u32 = 10_000;

/// Largest `ng.rate` and `ng.burst`.
pub const MAX_NG_RATE: u32 = 1_000_000;

/// The `[ng]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgConfig {
    /// `listen`: UDP socket address of the ng control listener, e.g. `"127.0.0.1:2223"` or
    /// `"[::1]:2223"`; one address; the port must not be 0. Default `127.0.0.1:2223`.
    pub listen: SocketAddr,
    /// `cookie_cache_secs` (1..=3600, default 30): how long a reply is kept so that a request
    /// repeated with the same cookie from the same address gets the same reply instead of
    /// being executed twice.
    pub cookie_cache: Duration,
    /// `allow`: the source networks (CIDR, or a bare address for one host) whose ng requests
    /// are accepted; datagrams from anywhere else are dropped unanswered and counted. Default
    /// loopback only, `["127.0.0.0/8", "::1/128"]`; an empty list is refused (it would refuse
    /// every proxy). To let a Kamailio on another host in, list it:
    /// `allow = ["127.0.0.0/8", "192.0.2.10/32"]` (and listen on an address it can reach).
    pub allow: Vec<Cidr>,
    /// `rate` (0..=1000000, default 10000) and `burst` (1..=1000000, default twice the rate):
    /// requests per second each source IP address may send on average, and at once; beyond
    /// that its datagrams are dropped and counted. `None` when `rate = 0` (no limit).
    pub rate: Option<RateLimit>,
    /// `listen_tcp` and the `tcp_*` keys: ng over TCP (off by default).
    pub tcp: NgTcpConfig,
}

impl Default for NgConfig {
    fn default() -> Self {
        NgConfig {
            listen: DEFAULT_NG_LISTEN,
            cookie_cache: Duration::from_secs(30),
            allow: ::media::guard::loopback_networks(),
            rate: rate_limit(DEFAULT_NG_RATE, 2 * DEFAULT_NG_RATE),
            tcp: NgTcpConfig::default(),
        }
    }
}

/// ng over TCP, as rtpengine's `listen-tcp-ng`: `listen_tcp` and its bounds. Messages on a
/// connection pass the same `allow` list and `rate` limit as datagrams; beyond a bound a
/// connection is refused or closed, and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NgTcpConfig {
    /// `listen_tcp`: TCP socket address of the ng listener, e.g. `"127.0.0.1:2223"` (it may
    /// share the UDP listener's address and port); absent (the default): no TCP listener.
    pub listen: Option<SocketAddr>,
    /// `tcp_max_connections` (1..=100000, default 256): open connections in all; beyond it a
    /// new one is closed at once.
    pub max_connections: u32,
    /// `tcp_max_connections_per_source` (1..=100000, default 32): open connections from one
    /// source address; beyond it a new one is closed at once.
    pub max_connections_per_source: u32,
    /// `tcp_max_message_bytes` (1024..=1048576, default 65536): the longest message (cookie,
    /// space and body) a connection may send; a longer one closes the connection. Replies
    /// waiting to be written are bounded by the same number of bytes times four.
    pub max_message_bytes: u32,
    /// `tcp_idle_timeout_secs` (1..=86400, default 3600): a connection with no byte received
    /// for this long is closed.
    pub idle_timeout: Duration,
    /// `tcp_message_timeout_secs` (1..=3600, default 10): a message that has begun must be
    /// whole within this of its first byte, and a reply must be taken by the client within
    /// this; otherwise the connection is closed (slow or stuck clients).
    pub message_timeout: Duration,
}

impl Default for NgTcpConfig {
    fn default() -> Self {
        NgTcpConfig {
            listen: None,
            max_connections: 256,
            max_connections_per_source: 32,
            max_message_bytes: 65_536,
            idle_timeout: Duration::from_secs(3600),
            message_timeout: Duration::from_secs(10),
        }
    }
}

impl NgConfig {
    /// The media engine's source check: `allow` and `rate`.
    pub fn guard(&self) -> GuardConfig {
        GuardConfig {
            allow: self.allow.clone(),
            rate: self.rate,
        }
    }
}

/// `per_sec` per second up to `burst` at once; `None` when either is 0.
fn rate_limit(per_sec: u32, burst: u32) -> Option<RateLimit> {
    Some(RateLimit {
        per_sec: NonZeroU32::new(per_sec)?,
        burst: NonZeroU32::new(burst)?,
    })
}

/// `[ng]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [ng] table")]
pub(crate) struct RawNg {
    listen: Option<String>,
    cookie_cache_secs: Option<i64>,
    allow: Option<Vec<String>>,
    rate: Option<i64>,
    burst: Option<i64>,
    listen_tcp: Option<String>,
    tcp_max_connections: Option<i64>,
    tcp_max_connections_per_source: Option<i64>,
    tcp_max_message_bytes: Option<i64>,
    tcp_idle_timeout_secs: Option<i64>,
    tcp_message_timeout_secs: Option<i64>,
}

impl RawNg {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<NgConfig, ConfigError> {
        let d = NgConfig::default();
        let tcp = self.build_tcp()?;
        let listen = match self.listen {
            Some(text) => parse_listen("ng.listen", &text)?,
            None => d.listen,
        };
        let allow = match self.allow {
            Some(list) if list.is_empty() => {
                return Err(key(
                    "ng.allow",
                    "an empty list would refuse every proxy; name the networks that may send \
                     ng requests, e.g. [\"127.0.0.0/8\", \"192.0.2.10/32\"]",
                ))
            }
            Some(list) => build_networks("ng.allow", &list)?,
            None => d.allow,
        };
        Ok(NgConfig {
            listen,
            cookie_cache: secs_in(
                "ng.cookie_cache_secs",
                self.cookie_cache_secs,
                1,
                3600,
                d.cookie_cache,
            )?,
            allow,
            rate: build_rate(self.rate, self.burst)?,
            tcp,
        })
    }

    /// `listen_tcp` and the `tcp_*` keys.
    fn build_tcp(&self) -> Result<NgTcpConfig, ConfigError> {
        let d = NgTcpConfig::default();
        let listen = match &self.listen_tcp {
            Some(text) => Some(parse_listen("ng.listen_tcp", text)?),
            None => None,
        };
        Ok(NgTcpConfig {
            listen,
            max_connections: opt_int_in(
                "ng.tcp_max_connections",
                self.tcp_max_connections,
                1,
                100_000,
                d.max_connections,
            )?,
            max_connections_per_source: opt_int_in(
                "ng.tcp_max_connections_per_source",
                self.tcp_max_connections_per_source,
                1,
                100_000,
                d.max_connections_per_source,
            )?,
            max_message_bytes: opt_int_in(
                "ng.tcp_max_message_bytes",
                self.tcp_max_message_bytes,
                1024,
                1_048_576,
                d.max_message_bytes,
            )?,
            idle_timeout: secs_in(
                "ng.tcp_idle_timeout_secs",
                self.tcp_idle_timeout_secs,
                1,
                86_400,
                d.idle_timeout,
            )?,
            message_timeout: secs_in(
                "ng.tcp_message_timeout_secs",
                self.tcp_message_timeout_secs,
                1,
                3600,
                d.message_timeout,
            )?,
        })
    }
}

/// `ng.rate` and `ng.burst`: the burst defaults to twice the rate; a burst with `rate = 0`
/// (no limit) is refused as a contradiction.
fn build_rate(rate: Option<i64>, burst: Option<i64>) -> Result<Option<RateLimit>, ConfigError> {
    let max = i64::from(MAX_NG_RATE);
    let per_sec: u32 = opt_int_in("ng.rate", rate, 0, max, DEFAULT_NG_RATE)?;
    if per_sec == 0 {
        if burst.is_some() {
            return Err(key(
                "ng.burst",
                "set, but ng.rate = 0 turns the rate limit off; remove one of them",
            ));
        }
        return Ok(None);
    }
    let burst: u32 = opt_int_in("ng.burst", burst, 1, max, per_sec.saturating_mul(2))?;
    Ok(rate_limit(per_sec, burst))
}

/// A listen address: `IP:port` (IPv6 in brackets) with a non-zero port, since the SIP side has
/// to be configured with it.
fn parse_listen(path: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        key(
            path,
            format!(
                "{text:?} is not a socket address (expected IP:port, e.g. \"127.0.0.1:2223\" or \"[::1]:2223\")"
            ),
        )
    })?;
    if addr.port() == 0 {
        return Err(key(
            path,
            format!("port 0 in {addr} is not allowed; name the port clients send to"),
        ));
    }
    if addr.ip().is_multicast() {
        return Err(key(path, format!("{} is a multicast address", addr.ip())));
    }
    Ok(addr)
}
