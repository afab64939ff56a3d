//! The `[sip]` `tls_*` keys: SIP over TLS (RFC 3261 §26.2, RFC 5630), what the proxy listens
//! on, the certificate it presents and the authorities it trusts for its next hops.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::{key, ConfigError};

/// The port of SIP over TLS when a listen address does not name one (RFC 3261 §19.1.2;
/// Kamailio's `listen=tls:IP:5061`).
pub const DEFAULT_TLS_PORT: u16 = 5061;

/// The `[sip]` `tls_*` keys. They take effect when `"tls"` is in `sip.transports`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `tls_listen` (default: the address of each `sip.listen` entry with port 5061): the
    /// addresses the proxy accepts SIP over TLS on; `[]` for none (the proxy then only
    /// connects to TLS next hops, and needs no certificate). No repeats, port not 0, none
    /// equal to a `sip.listen` address (TCP listens there).
    pub listen: Vec<SocketAddr>,
    /// `tls_certificate` (required when `tls_listen` is not empty): a PEM file with the
    /// certificate chain the proxy presents, its own certificate first. Re-read on SIGHUP:
    /// new connections get the new one; a file that cannot be used keeps the old one.
    pub certificate: Option<PathBuf>,
    /// `tls_private_key` (required with `tls_certificate`): a PEM file with the private key
    /// of the first certificate (PKCS#8, PKCS#1 or SEC1). Re-read on SIGHUP with it.
    pub private_key: Option<PathBuf>,
    /// `tls_ca_file` (optional): a PEM file of the certificate authorities a TLS next hop's
    /// certificate must chain to; its name (the member's host) must match the certificate.
    pub ca_file: Option<PathBuf>,
    /// `tls_system_roots` (default false): trust the system's certificate authorities too
    /// for TLS next hops. With neither this nor `tls_ca_file`, no TLS next hop can be
    /// verified: `sips:` and `transport=tls` members are refused.
    pub system_roots: bool,
}

impl TlsConfig {
    /// Whether a TLS next hop can be verified at all.
    pub fn has_roots(&self) -> bool {
        self.system_roots || self.ca_file.is_some()
    }
}

/// The `tls_*` keys as written.
#[derive(Debug, Default)]
pub(crate) struct RawTls {
    pub(crate) listen: Option<Vec<String>>,
    pub(crate) certificate: Option<String>,
    pub(crate) private_key: Option<String>,
    pub(crate) ca_file: Option<String>,
    pub(crate) system_roots: Option<bool>,
}

impl RawTls {
    /// Checks the keys; `tls` says whether `"tls"` is in `sip.transports`, `listen` is
    /// `sip.listen`.
    pub(crate) fn build(self, tls: bool, listen: &[SocketAddr]) -> Result<TlsConfig, ConfigError> {
        let addrs = match &self.listen {
            Some(list) => build_listen(list, listen)?,
            None if tls => listen
                .iter()
                .map(|a| SocketAddr::new(a.ip(), DEFAULT_TLS_PORT))
                .filter(|a| !listen.contains(a))
                .collect(),
            None => Vec::new(),
        };
        let cfg = TlsConfig {
            listen: if tls { addrs } else { Vec::new() },
            certificate: path("sip.tls_certificate", self.certificate)?,
            private_key: path("sip.tls_private_key", self.private_key)?,
            ca_file: path("sip.tls_ca_file", self.ca_file)?,
            system_roots: self.system_roots.unwrap_or(false),
        };
        if !tls {
            return Ok(cfg);
        }
        if !cfg.listen.is_empty() && cfg.certificate.is_none() {
            return Err(key(
                "sip.tls_certificate",
                "required to listen on TLS (sip.tls_listen); set tls_listen = [] to only connect to TLS next hops",
            ));
        }
        match (&cfg.certificate, &cfg.private_key) {
            (Some(_), None) => Err(key(
                "sip.tls_private_key",
                "required with sip.tls_certificate",
            )),
            (None, Some(_)) => Err(key(
                "sip.tls_certificate",
                "required with sip.tls_private_key",
            )),
            _ => Ok(cfg),
        }
    }
}

/// A file path key: not empty.
fn path(name: &str, text: Option<String>) -> Result<Option<PathBuf>, ConfigError> {
    match text {
        Some(t) if t.is_empty() => Err(key(name, "must name a file")),
        Some(t) => Ok(Some(PathBuf::from(t))),
        None => Ok(None),
    }
}

/// `sip.tls_listen`: `IP:port` entries, port not 0, not multicast, no repeats, none taken by
/// `sip.listen`.
fn build_listen(list: &[String], plain: &[SocketAddr]) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out: Vec<SocketAddr> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let p = format!("sip.tls_listen[{i}]");
        let addr: SocketAddr = text.parse().map_err(|_| {
            key(
                &p,
                format!(
                    "{text:?} is not a socket address (expected IP:port, e.g. \"127.0.0.1:5061\")"
                ),
            )
        })?;
        if addr.port() == 0 {
            return Err(key(&p, format!("port 0 in {addr} is not allowed")));
        }
        if addr.ip().is_multicast() {
            return Err(key(&p, format!("{} is a multicast address", addr.ip())));
        }
        if let Some(j) = out.iter().position(|a| *a == addr) {
            return Err(key(&p, format!("{addr} repeats sip.tls_listen[{j}]")));
        }
        if let Some(j) = plain.iter().position(|a| *a == addr) {
            return Err(key(
                &p,
                format!(
                    "{addr} is sip.listen[{j}], where TCP listens; TLS needs its own port (5061)"
                ),
            ));
        }
        out.push(addr);
    }
    Ok(out)
}
