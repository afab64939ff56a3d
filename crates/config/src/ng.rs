//! `[ng]`: the rtpengine ng control protocol listener (UDP).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use crate::check::secs_in;
use crate::error::{key, ConfigError};

/// Default `ng.listen`: loopback, rtpengine's customary ng port.
pub const DEFAULT_NG_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2223);

/// The `[ng]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgConfig {
    /// `listen`: UDP socket address of the ng control listener, e.g. `"127.0.0.1:2223"` or
    /// `"[::1]:2223"`; one address; the port must not be 0. Default `127.0.0.1:2223`.
    pub listen: SocketAddr,
    /// `cookie_cache_secs` (1..=3600, default 30): how long a reply is kept so that a request
    /// repeated with the same cookie gets the same reply instead of being executed twice.
    pub cookie_cache: Duration,
}

impl Default for NgConfig {
    fn default() -> Self {
        NgConfig {
            listen: DEFAULT_NG_LISTEN,
            cookie_cache: Duration::from_secs(30),
        }
    }
}

/// `[ng]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [ng] table")]
pub(crate) struct RawNg {
    listen: Option<String>,
    cookie_cache_secs: Option<i64>,
}

impl RawNg {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<NgConfig, ConfigError> {
        let d = NgConfig::default();
        let listen = match self.listen {
            Some(text) => parse_listen("ng.listen", &text)?,
            None => d.listen,
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
        })
    }
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
