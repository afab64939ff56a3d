//! SIP over TLS on the TCP machinery, against real loopback sockets: a message crosses a TLS
//! connection opened by the transport to its own listener; a certificate that names another
//! host is a transport error for the destination; plain SIP sent to the TLS listener is never
//! taken as a message.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::tcp::{accept_loop, Connections, Limits};
use super::tls::TlsContext;
use super::Inbound;
use proxy::Transport;

const OPTIONS: &[u8] = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
const WAIT: Duration = Duration::from_secs(5);

/// A TLS context whose certificate (for 127.0.0.1) and trusted authority are made here.
fn context(dir: &std::path::Path) -> Arc<TlsContext> {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "test authority");
    let ca = p.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    let path = |n: &str, text: String| {
        let f = dir.join(n);
        std::fs::write(&f, text).unwrap();
        f
    };
    let cfg = config::TlsConfig {
        listen: Vec::new(),
        certificate: Some(path("chain.pem", cert.pem())),
        private_key: Some(path("key.pem", key.serialize_pem())),
        ca_file: Some(path("ca.pem", ca.pem())),
        system_roots: false,
    };
    Arc::new(TlsContext::load(&cfg).unwrap())
}

/// A TLS transport listening on 127.0.0.1, its limits and the proxy's end of its queue.
async fn bed(
    tls: Arc<TlsContext>,
) -> (
    Connections,
    Arc<Limits>,
    mpsc::Receiver<Inbound>,
    SocketAddr,
) {
    let (tx, rx) = mpsc::channel(64);
    let limits = Limits::new(config::TcpConfig::default());
    let conns = Connections::new_tls(tx, limits.clone(), tls);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(accept_loop(listener, conns.registrar()));
    (conns, limits, rx, addr)
}

fn any() -> SocketAddr {
    "0.0.0.0:0".parse().unwrap()
}

#[tokio::test]
async fn a_message_crosses_a_verified_tls_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (mut conns, limits, mut rx, addr) = bed(context(dir.path())).await;
    conns.send(addr, any(), OPTIONS.to_vec()).unwrap();
    match timeout(WAIT, rx.recv()).await.unwrap().unwrap() {
        Inbound::Message {
            transport, bytes, ..
        } => {
            assert_eq!(transport, Transport::Tls);
            assert_eq!(bytes, OPTIONS);
        }
        other => panic!("{other:?}"),
    }
    let s = limits.stats().snapshot();
    assert_eq!((s.connected, s.accepted, s.tls_handshake), (1, 1, 0));
    // The connection is reused for the next message.
    conns.send(addr, any(), OPTIONS.to_vec()).unwrap();
    assert!(matches!(
        timeout(WAIT, rx.recv()).await.unwrap().unwrap(),
        Inbound::Message { .. }
    ));
    assert_eq!(limits.stats().snapshot().connected, 1);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_transport_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut conns, limits, mut rx, addr) = bed(context(dir.path())).await;
    let name = ServerName::try_from("elsewhere.example.net").unwrap();
    conns
        .send_named(addr, any(), OPTIONS.to_vec(), Some(name))
        .unwrap();
    match timeout(WAIT, rx.recv()).await.unwrap().unwrap() {
        Inbound::TransportError { transport, peer } => {
            assert_eq!((transport, peer), (Transport::Tls, addr));
        }
        other => panic!("the request must not be delivered: {other:?}"),
    }
    let s = limits.stats().snapshot();
    assert!(s.tls_handshake >= 1 && s.connected == 0, "{s:?}");
}

#[tokio::test]
async fn plain_sip_on_the_tls_listener_is_no_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_conns, limits, mut rx, addr) = bed(context(dir.path())).await;
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(OPTIONS).await.unwrap();
    // The listener ends the connection (a TLS alert at most) and hands the proxy nothing.
    let mut buf = [0u8; 512];
    let _ = timeout(WAIT, plain.read(&mut buf)).await.unwrap();
    assert!(timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());
    let s = limits.stats().snapshot();
    assert_eq!((s.accepted, s.tls_handshake, s.open), (0, 1, 0), "{s:?}");
}
