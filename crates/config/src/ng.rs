//! `[ng]`: the rtpengine ng control protocol listener (UDP).

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
}

impl Default for NgConfig {
    fn default() -> Self {
        NgConfig {
            listen: DEFAULT_NG_LISTEN,
            cookie_cache: Duration::from_secs(30),
            allow: ::media::guard::loopback_networks(),
            rate: rate_limit(DEFAULT_NG_RATE, 2 * DEFAULT_NG_RATE),
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
}

impl RawNg {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<NgConfig, ConfigError> {
        let d = NgConfig::default();
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
