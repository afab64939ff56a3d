//! `[dns]`: resolvers for members named by host name (RFC 3263 server location).

use std::net::SocketAddr;
use std::time::Duration;

use ::dns::resolve::LookupOptions;
use serde::Deserialize;

use crate::check::{opt_int_in, secs_in};
use crate::error::{key, ConfigError};
use crate::sip::ms_in;

/// The `[dns]` section. Every key is optional.
///
/// The config never reads `/etc/resolv.conf` (it is sans-IO): with `servers` empty, members
/// named by host name are refused, and the daemon may pick resolvers itself for other uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// `servers`: DNS servers as `IP:port` (port not 0), no repeats; default empty.
    pub servers: Vec<SocketAddr>,
    /// `timeout_ms` (100..=30000, default 2000): wait for one answer before retrying.
    pub timeout: Duration,
    /// `attempts` (1..=10, default 2): tries per server.
    pub attempts: u8,
    /// `min_ttl_secs` (0..=86400, default 5): answers are re-resolved no sooner than this.
    pub min_ttl: Duration,
    /// `max_ttl_secs` (min_ttl..=604800, default 3600): answers are re-resolved no later than
    /// this, whatever their TTL.
    pub max_ttl: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout: Duration::from_millis(2000),
            attempts: 2,
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(3600),
        }
    }
}

impl DnsConfig {
    /// The tunables of the RFC 3263 resolver (`dns::resolve`) these keys set; the others
    /// (address families, query and CNAME limits) keep the resolver's defaults.
    pub fn lookup_options(&self) -> LookupOptions {
        LookupOptions {
            timeout: self.timeout,
            attempts: u32::from(self.attempts),
            min_ttl: self.min_ttl,
            max_ttl: self.max_ttl,
            ..LookupOptions::default()
        }
    }
}

/// `[dns]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [dns] table")]
pub(crate) struct RawDns {
    servers: Option<Vec<String>>,
    timeout_ms: Option<i64>,
    attempts: Option<i64>,
    min_ttl_secs: Option<i64>,
    max_ttl_secs: Option<i64>,
}

impl RawDns {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<DnsConfig, ConfigError> {
        let d = DnsConfig::default();
        let mut servers: Vec<SocketAddr> = Vec::new();
        for (i, text) in self.servers.unwrap_or_default().iter().enumerate() {
            let path = format!("dns.servers[{i}]");
            let addr: SocketAddr = text.parse().map_err(|_| {
                key(
                    &path,
                    format!("{text:?} is not a socket address (expected IP:port, e.g. \"127.0.0.1:53\")"),
                )
            })?;
            if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
                return Err(key(
                    &path,
                    format!("{addr} cannot be a DNS server (needs a unicast address and a port)"),
                ));
            }
            if let Some(j) = servers.iter().position(|s| *s == addr) {
                return Err(key(&path, format!("{addr} repeats dns.servers[{j}]")));
            }
            servers.push(addr);
        }
        let min_ttl = secs_in("dns.min_ttl_secs", self.min_ttl_secs, 0, 86_400, d.min_ttl)?;
        let max_ttl = secs_in("dns.max_ttl_secs", self.max_ttl_secs, 0, 604_800, d.max_ttl)?;
        if max_ttl < min_ttl {
            return Err(key(
                "dns.max_ttl_secs",
                format!(
                    "must be at least min_ttl_secs ({}), got {}",
                    min_ttl.as_secs(),
                    max_ttl.as_secs()
                ),
            ));
        }
        Ok(DnsConfig {
            servers,
            timeout: ms_in("dns.timeout_ms", self.timeout_ms, 100, 30_000, d.timeout)?,
            attempts: opt_int_in("dns.attempts", self.attempts, 1, 10, d.attempts)?,
            min_ttl,
            max_ttl,
        })
    }
}
