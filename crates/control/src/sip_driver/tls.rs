//! SIP over TLS (RFC 3261 §26.2, RFC 5630) with rustls: the certificate the proxy presents
//! on its `tls_listen` addresses, reloaded on SIGHUP, and the authorities its TLS next hops
//! are verified against. The connections themselves are the TCP ones (`tcp`): same caps,
//! timeouts, bounded queues and framing, with a handshake before the first byte of SIP.
//!
//! A next hop reached over TLS must present a certificate that chains to `tls_ca_file` (or,
//! when configured, the system's authorities) and names the member's host (RFC 5922 §7.2:
//! the domain of its URI, an IP address for an IP literal). Until the handshake is done
//! nothing is written to it, and a handshake that fails is a transport error for the branch
//! (RFC 3261 §26.2.2: never sent in the clear instead).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use config::TlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why a TLS configuration could not be built from its files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds no item of the kind wanted.
    #[error("{key}: {path}: {why}")]
    Pem {
        /// The config key that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// rustls refused the certificate, the key or their pairing.
    #[error("{key}: {0}", key = "sip.tls_certificate")]
    Rustls(#[from] rustls::Error),
    /// `tls_system_roots = true` and the system's authorities could not be read.
    #[error("sip.tls_system_roots: no certificate authority could be read from the system: {0}")]
    SystemRoots(String),
}

/// The TLS settings of a running proxy: the acceptor of its listeners (replaced on a
/// reload) and the connector toward its next hops.
#[derive(Debug)]
pub(crate) struct TlsContext {
    server: Mutex<Option<Arc<ServerConfig>>>,
    client: Mutex<Arc<ClientConfig>>,
}

/// The crypto provider: ring, the one compiled in (no OpenSSL, no C build beyond ring's).
/// rustls marks it deprecated for want of post-quantum key exchange, which SIP peers do not
/// offer today.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsContext {
    /// Reads the files `cfg` names. With no certificate there is no acceptor (the proxy
    /// only connects out).
    pub(crate) fn load(cfg: &TlsConfig) -> Result<TlsContext, TlsError> {
        Ok(TlsContext {
            server: Mutex::new(server(cfg)?),
            client: Mutex::new(client(cfg)?),
        })
    }

    /// Reads the files again (SIGHUP): connections made from now on use them. A file that
    /// cannot be used keeps the running settings, with a log line saying why.
    pub(crate) fn reload(&self, cfg: &TlsConfig) {
        match server(cfg) {
            Ok(Some(a)) => {
                *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(a);
                tracing::info!("SIP TLS certificate reloaded");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "SIP TLS certificate not reloaded; the previous one stays")
            }
        }
        match client(cfg) {
            Ok(c) => *self.client.lock().unwrap_or_else(PoisonError::into_inner) = c,
            Err(e) => {
                tracing::error!(error = %e, "SIP TLS authorities not reloaded; the previous ones stay")
            }
        }
    }

    /// The acceptor for a connection accepted now, if the proxy has a certificate.
    pub(crate) fn acceptor(&self) -> Option<TlsAcceptor> {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map(TlsAcceptor::from)
    }

    /// The connector for a connection opened now.
    pub(crate) fn connector(&self) -> TlsConnector {
        TlsConnector::from(
            self.client
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The server side: the chain and key `cfg` names, or none without a certificate.
fn server(cfg: &TlsConfig) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let (Some(cert), Some(key)) = (&cfg.certificate, &cfg.private_key) else {
        return Ok(None);
    };
    let chain = certificates("sip.tls_certificate", cert)?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("sip.tls_private_key", key, e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Some(Arc::new(config)))
}

/// The client side: next hops verified against `tls_ca_file` and, if configured, the
/// system's authorities. With neither, no next hop can be verified (and the config refuses
/// TLS members).
fn client(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &cfg.ca_file {
        for c in certificates("sip.tls_ca_file", path)? {
            roots.add(c).map_err(TlsError::Rustls)?;
        }
    }
    if cfg.system_roots {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "none found".to_owned(), ToString::to_string);
            return Err(TlsError::SystemRoots(why));
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate in the PEM file `path`; at least one.
fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let list = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(key, path, e))?;
    if list.is_empty() {
        return Err(pem_error(
            key,
            path,
            rustls_pki_types::pem::Error::NoItemsFound,
        ));
    }
    Ok(list)
}

fn pem_error(key: &'static str, path: &Path, e: rustls_pki_types::pem::Error) -> TlsError {
    let why = match e {
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".to_owned(),
        e => e.to_string(),
    };
    TlsError::Pem {
        key,
        path: path.to_owned(),
        why,
    }
}

/// The name a next hop at `dst` must prove with its certificate (RFC 5922 §7.2): the host
/// of the member URI that led there (for a member found through DNS, the name looked up, not
/// the SRV target), else the address itself.
pub(crate) fn server_name(
    dispatcher: &dispatch::Dispatcher,
    dst: SocketAddr,
) -> ServerName<'static> {
    let host = dispatcher
        .snapshot()
        .map(|v| v.member)
        .find(|m| m.target() == dst && m.transport() == sip::Transport::Tls)
        .and_then(|m| match m.source() {
            Some(id) => dispatcher
                .dns_sources()
                .find(|s| s.id == id)
                .map(|s| s.uri.host.to_string()),
            None => sip::parse_uri(m.uri()).ok().map(|u| u.host.to_owned()),
        });
    host.and_then(|h| name_of(&h))
        .unwrap_or(ServerName::IpAddress(dst.ip().into()))
}

/// A URI host as a TLS server name: an IP literal (IPv6 in brackets) or a DNS name.
fn name_of(host: &str) -> Option<ServerName<'static>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_owned()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn a_uri_host_is_a_server_name() {
        assert_eq!(
            name_of("127.0.0.1"),
            Some(ServerName::IpAddress(
                "127.0.0.1".parse::<IpAddr>().unwrap().into()
            ))
        );
        assert_eq!(
            name_of("[::1]"),
            Some(ServerName::IpAddress(
                "::1".parse::<IpAddr>().unwrap().into()
            ))
        );
        assert_eq!(
            name_of("fs1.example.net"),
            Some(ServerName::try_from("fs1.example.net").unwrap())
        );
        assert_eq!(name_of("bad name"), None);
    }

    #[test]
    fn missing_files_name_their_key() {
        let cfg = TlsConfig {
            certificate: Some("/nonexistent/cert.pem".into()),
            private_key: Some("/nonexistent/key.pem".into()),
            ..TlsConfig::default()
        };
        let e = TlsContext::load(&cfg).unwrap_err().to_string();
        assert!(
            e.starts_with("sip.tls_certificate: /nonexistent/cert.pem"),
            "{e}"
        );
        let cfg = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let e = TlsContext::load(&cfg).unwrap_err().to_string();
        assert!(e.starts_with("sip.tls_ca_file:"), "{e}");
    }
}
