//! `[metrics]`: the Prometheus endpoint (`GET /metrics` over HTTP/1.1).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::check::{opt_int_in, secs_in};
use crate::error::{key, ConfigError};

/// Default `metrics.listen`: loopback only, the port the daemon is known by to Prometheus.
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9490);

/// The `[metrics]` section. Every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `enabled` (default true): whether the daemon serves `/metrics` at all.
    pub enabled: bool,
    /// `listen` (default `"127.0.0.1:9490"`): the TCP address of the endpoint. The endpoint
    /// has no authentication: put it on an address only the scraper reaches.
    pub listen: SocketAddr,
    /// `max_connections` (1..=1024, default 16): connections served at once; one more gets
    /// 503 and is closed.
    pub max_connections: u32,
    /// `max_request_bytes` (1024..=65536, default 8192): the longest request head; a longer
    /// one gets 431 and the connection is closed.
    pub max_request_bytes: u32,
    /// `timeout_secs` (1..=60, default 5): the request head must arrive within this, and the
    /// reply be taken within this; a slower client is closed.
    pub timeout: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: DEFAULT_METRICS_LISTEN,
            max_connections: 16,
            max_request_bytes: 8192,
            timeout: Duration::from_secs(5),
        }
    }
}

/// `[metrics]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [metrics] table")]
pub(crate) struct RawMetrics {
    enabled: Option<bool>,
    listen: Option<String>,
    max_connections: Option<i64>,
    max_request_bytes: Option<i64>,
    timeout_secs: Option<i64>,
}

impl RawMetrics {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<MetricsConfig, ConfigError> {
        let d = MetricsConfig::default();
        let listen = match self.listen {
            Some(text) => listen(&text)?,
            None => d.listen,
        };
        Ok(MetricsConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            listen,
            max_connections: opt_int_in(
                "metrics.max_connections",
                self.max_connections,
                1,
                1024,
                d.max_connections,
            )?,
            max_request_bytes: opt_int_in(
                "metrics.max_request_bytes",
                self.max_request_bytes,
                1024,
                65_536,
                d.max_request_bytes,
            )?,
            timeout: secs_in("metrics.timeout_secs", self.timeout_secs, 1, 60, d.timeout)?,
        })
    }
}

/// `metrics.listen`: `IP:port` (IPv6 in brackets), a port Prometheus can be told.
fn listen(text: &str) -> Result<SocketAddr, ConfigError> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        key(
            "metrics.listen",
            format!("{text:?} is not a socket address (expected IP:port, e.g. \"127.0.0.1:9490\")"),
        )
    })?;
    if addr.port() == 0 {
        return Err(key(
            "metrics.listen",
            format!("port 0 in {addr} is not allowed; name the port Prometheus scrapes"),
        ));
    }
    if addr.ip().is_multicast() {
        return Err(key(
            "metrics.listen",
            format!("{} is a multicast address", addr.ip()),
        ));
    }
    Ok(addr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::parse;
    use std::time::Duration;

    const IFACE: &str = "[[interface]]\nname = \"e\"\naddress = \"127.0.0.1\"\n\
                         port_min = 30000\nport_max = 30099\n";

    #[test]
    fn defaults_to_loopback_port_9490() {
        let cfg = parse(IFACE).unwrap();
        assert!(cfg.metrics.enabled);
        assert_eq!(cfg.metrics.listen.to_string(), "127.0.0.1:9490");
        assert_eq!(cfg.metrics.max_connections, 16);
        assert_eq!(cfg.metrics.timeout, Duration::from_secs(5));
    }

    #[test]
    fn every_key_is_read_and_checked() {
        let text = format!(
            "{IFACE}[metrics]\nenabled = false\nlisten = \"[::1]:9100\"\nmax_connections = 4\n\
             max_request_bytes = 2048\ntimeout_secs = 2\n"
        );
        let m = parse(&text).unwrap().metrics;
        assert!(!m.enabled);
        assert_eq!(m.listen.to_string(), "[::1]:9100");
        assert_eq!((m.max_connections, m.max_request_bytes), (4, 2048));
        assert_eq!(m.timeout, Duration::from_secs(2));
        for (bad, key) in [
            ("listen = \"127.0.0.1\"", "metrics.listen"),
            ("listen = \"127.0.0.1:0\"", "metrics.listen"),
            ("max_connections = 0", "metrics.max_connections"),
            ("max_request_bytes = 100", "metrics.max_request_bytes"),
            ("timeout_secs = 61", "metrics.timeout_secs"),
            ("port = 1", "port"),
        ] {
            let e = parse(&format!("{IFACE}[metrics]\n{bad}\n")).unwrap_err();
            assert!(e.to_string().contains(key), "{bad}: {e}");
        }
    }
}
