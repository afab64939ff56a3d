//! SIP over TLS at the edge, against the real `ferrovox` binary and a Kamailio with its `tls`
//! module, on 127.0.0.1, with certificates the test makes (one authority signs the daemon's
//! and Kamailio's):
//!
//! - a caller over UDP reaches a `sips:` member (Kamailio answering over TLS): the call is
//!   set up, record-routed on both sides (RFC 5658) and ended with a BYE along that route;
//!   a TCP relay between the daemon and the member sees only TLS records, never SIP text;
//! - Kamailio as a TLS client (verifying the daemon's certificate against the authority)
//!   calls through the daemon's TLS listener to the same member;
//! - a member whose certificate names another host is refused at the handshake: the call
//!   fails at once, not after `fr_timeout_ms`, and nothing reaches it.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::process::{wait_for, Process};
use e2e::tools;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

const TEST: &str = "edge_tls";
/// How long any one SIP answer may take.
const ANSWER: Duration = Duration::from_secs(3);
/// The daemon's `fr_timeout_ms`: a refused member must fail the call well before it.
const FR_TIMEOUT_MS: u64 = 4000;

/// The certificates of a run, as PEM files in `dir`.
struct Certs {
    ca: PathBuf,
    daemon: (PathBuf, PathBuf),
    member: (PathBuf, PathBuf),
    wrong_name: (PathBuf, PathBuf),
}

impl Certs {
    /// An authority, and three certificates it signs: the daemon's and the member's for
    /// 127.0.0.1, and one for a host name only (not the member's address).
    fn make(dir: &Path) -> Certs {
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "e2e test authority");
        let ca = p.self_signed(&ca_key).unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let leaf = |name: &str, san: SanType| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, name);
            p.subject_alt_names = vec![san];
            let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
            let (c, k) = (
                dir.join(format!("{name}.pem")),
                dir.join(format!("{name}.key")),
            );
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            (c, k)
        };
        let ip = SanType::IpAddress(IpAddr::V4(LOOPBACK));
        Certs {
            ca: ca_path,
            daemon: leaf("daemon", ip.clone()),
            member: leaf("member", ip),
            wrong_name: leaf(
                "elsewhere",
                SanType::DnsName("elsewhere.example.net".try_into().unwrap()),
            ),
        }
    }
}

/// The ports of a run, inside its block.
struct Ports {
    block: PortBlock,
}

impl Ports {
    fn daemon_udp(&self) -> u16 {
        self.block.proxy_sip()
    }
    fn daemon_tls(&self) -> u16 {
        self.block.base() + 1
    }
    fn kamailio_udp(&self) -> u16 {
        self.block.base() + 8
    }
    fn member_tls(&self) -> u16 {
        self.block.base() + 10
    }
    fn wrong_name_tls(&self) -> u16 {
        self.block.base() + 12
    }
    fn relay(&self) -> u16 {
        self.block.base() + 14
    }
}

/// Kamailio's config: the TLS member on two sockets (one presenting the wrong name), and a
/// UDP front that relays every request to the daemon over TLS, verifying its certificate.
fn kamailio_cfg(modules: &Path, dir: &Path, ports: &Ports, certs: &Certs) -> String {
    let tls_cfg = dir.join("tls.cfg");
    let profile = |head: &str, (cert, key): &(PathBuf, PathBuf)| {
        format!(
            "[{head}]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             certificate = {}\nprivate_key = {}\n\n",
            cert.display(),
            key.display()
        )
    };
    let text = profile(&format!("server:127.0.0.1:{}", ports.member_tls()), &certs.member)
        + &profile(
            &format!("server:127.0.0.1:{}", ports.wrong_name_tls()),
            &certs.wrong_name,
        )
        + &profile("server:default", &certs.member)
        + &format!(
            "[client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nca_list = {}\n",
            certs.ca.display()
        );
    std::fs::write(&tls_cfg, text).unwrap();
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
tcp_children=2
disable_sctp=yes
enable_tls=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
listen=udp:127.0.0.1:{kudp}
listen=tls:127.0.0.1:{member}
listen=tls:127.0.0.1:{wrong}
mpath="{modules}"
loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "xlog.so"
modparam("tls", "config", "{tls_cfg}")
request_route {{
    if ($pr == "tls") {{
        xlog("L_NOTICE", "member got $rm over TLS\n");
        if (is_method("ACK")) {{ exit; }}
        if (is_method("INVITE")) {{
            append_to_reply("Contact: <sip:member@127.0.0.1:$Rp;transport=tls>\r\n");
        }}
        sl_send_reply("200", "OK");
        exit;
    }}
    $du = "sip:127.0.0.1:{dtls};transport=tls";
    t_relay();
    exit;
}}
"#,
        kudp = ports.kamailio_udp(),
        member = ports.member_tls(),
        wrong = ports.wrong_name_tls(),
        modules = modules.display(),
        tls_cfg = tls_cfg.display(),
        dtls = ports.daemon_tls(),
    )
}

/// Starts Kamailio on `cfg` and waits until its UDP port is bound.
fn start_kamailio(dir: &Path, cfg: &str, udp: u16) -> Process {
    let kamailio = tools::find(tools::KAMAILIO).unwrap();
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, cfg).unwrap();
    let mut cmd = Command::new(kamailio);
    cmd.current_dir(dir)
        .args(["-DD", "-E", "-m", "32", "-M", "8", "-f"])
        .arg(&path)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .arg("-Y")
        .arg(dir)
        .arg("-w")
        .arg(dir);
    let mut process = Process::spawn("kamailio", cmd, &dir.join("kamailio.log")).unwrap();
    wait_for("kamailio to listen", Duration::from_secs(10), || {
        process.ensure_running()?;
        Ok((!e2e::ports::port_is_free(udp)).then_some(()))
    })
    .unwrap();
    process
}

/// A TCP relay from `listen` to `to` that keeps every byte it passes, both ways: what went
/// over the wire between the daemon and its member.
struct Tap {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    fn start(listen: SocketAddr, to: SocketAddr) -> Tap {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let l = TcpListener::bind(listen).unwrap();
        let kept = bytes.clone();
        thread::spawn(move || {
            for inbound in l.incoming().take(16) {
                let Ok(a) = inbound else { continue };
                let Ok(b) = TcpStream::connect(to) else {
                    continue;
                };
                for (mut from, mut into) in
                    [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)]
                {
                    let kept = kept.clone();
                    thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            kept.lock().unwrap().extend_from_slice(&buf[..n]);
                            if into.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = into.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Tap { bytes }
    }

    fn seen(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }
}

/// A UDP caller.
struct Caller {
    sock: UdpSocket,
}

impl Caller {
    fn new() -> Caller {
        let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Caller { sock }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Sends `msg` to `to` and returns the responses until a final one (or `ANSWER`).
    fn ask(&self, msg: &str, to: SocketAddr) -> Vec<String> {
        self.sock.send_to(msg.as_bytes(), to).unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 65535];
        while start.elapsed() < ANSWER {
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code = status(&text);
            got.push(text);
            if code.is_some_and(|c| c >= 200) {
                break;
            }
        }
        got
    }

    fn invite(&self, call_id: &str, user: &str, host: &str) -> String {
        let p = self.port();
        format!(
            "INVITE sip:{user}@{host} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-{call_id}-1;rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:caller@127.0.0.1>;tag=c-{call_id}\r\n\
             To: <sip:{user}@{host}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:caller@127.0.0.1:{p}>\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    /// An in-dialog request after `ok`, routed by its Record-Routes reversed (RFC 3261
    /// §12.1.2).
    fn in_dialog(&self, method: &str, cseq: u32, invite: &str, ok: &str) -> String {
        let p = self.port();
        let mut routes: Vec<&str> = headers(ok, "Record-Route");
        routes.reverse();
        let contact = headers(ok, "Contact")[0];
        let target = contact.trim_start_matches('<').split('>').next().unwrap();
        format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-{method}-{cseq};rport\r\n\
             Route: {}\r\n\
             Max-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\n\
             CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            routes.join(", "),
            headers(invite, "From")[0],
            headers(ok, "To")[0],
            headers(invite, "Call-ID")[0],
        )
    }
}

fn status(text: &str) -> Option<u16> {
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The values of header `name`, top first, one per field.
fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .collect()
}

fn codes(got: &[String]) -> Vec<u16> {
    got.iter().filter_map(|m| status(m)).collect()
}

/// The daemon: UDP and TLS, the member set (through the tap) and a set whose one member
/// presents a certificate for another name; R-URI user `wrong` picks the latter.
fn start_daemon(ports: &Ports, certs: &Certs) -> Daemon {
    let b = &ports.block;
    let toml = format!(
        "[sip]\nlisten = [\"127.0.0.1:{udp}\"]\ntransports = [\"udp\", \"tls\"]\n\
         tls_listen = [\"127.0.0.1:{tls}\"]\ntls_certificate = \"{cert}\"\ntls_private_key = \"{key}\"\n\
         tls_ca_file = \"{ca}\"\nfr_timeout_ms = {FR_TIMEOUT_MS}\n\n\
         [[set]]\nname = \"pool\"\n[set.health]\ninterval_secs = 3600\n\
         [[set.member]]\nuri = \"sips:127.0.0.1:{relay}\"\n\n\
         [[set]]\nname = \"wrong\"\n[set.health]\ninterval_secs = 3600\n\
         [[set.member]]\nuri = \"sips:127.0.0.1:{wrong}\"\n\n\
         [[route]]\nname = \"wrong\"\nruri_user_prefix = \"wrong\"\nset = \"wrong\"\n\
         [[route]]\nname = \"pool\"\nset = \"pool\"\n",
        udp = ports.daemon_udp(),
        tls = ports.daemon_tls(),
        cert = certs.daemon.0.display(),
        key = certs.daemon.1.display(),
        ca = certs.ca.display(),
        relay = ports.relay(),
        wrong = ports.wrong_name_tls(),
    );
    let relay = b.relay_external();
    let cfg = DaemonConfig::new(b.ng())
        .interface("external", *relay.start(), *relay.end())
        .raw(&toml);
    Daemon::start(&cfg).unwrap()
}

/// Whether Kamailio has its TLS module.
fn tls_module() -> Result<PathBuf, String> {
    let kamailio = tools::find(tools::KAMAILIO).map_err(|e| e.to_string())?;
    let dir = tools::kamailio_modules(&kamailio).map_err(|e| e.to_string())?;
    if dir.join("tls.so").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} has no tls.so: apt-get install kamailio-tls-modules",
            dir.display()
        ))
    }
}

#[test]
fn tls_calls_through_the_daemon_with_kamailio_on_both_sides_and_nothing_in_the_clear() {
    if !need::met(TEST, &[Need::Kamailio]) {
        return;
    }
    let modules = match tls_module() {
        Ok(m) => m,
        Err(why) => {
            need::unmet(TEST, Need::Kamailio, &why);
            return;
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("e2e-tls-")
        .tempdir()
        .unwrap();
    let ports = Ports {
        block: PortBlock::take().unwrap(),
    };
    let certs = Certs::make(dir.path());
    let mut kamailio = start_kamailio(
        dir.path(),
        &kamailio_cfg(&modules, dir.path(), &ports, &certs),
        ports.kamailio_udp(),
    );
    let tap = Tap::start(
        SocketAddr::from((LOOPBACK, ports.relay())),
        SocketAddr::from((LOOPBACK, ports.member_tls())),
    );
    let daemon = start_daemon(&ports, &certs);
    let proxy = SocketAddr::from((LOOPBACK, ports.daemon_udp()));
    let caller = Caller::new();

    // 1. UDP in, TLS out: set up, record-routed on both sides, ended along that route.
    let inv = caller.invite(
        "tls-udp-1",
        "svc",
        &format!("127.0.0.1:{}", ports.daemon_udp()),
    );
    let got = caller.ask(&inv, proxy);
    let log = || daemon.log_tail(40);
    assert_eq!(codes(&got).last(), Some(&200), "{got:?}\n{}", log());
    let ok = got.last().unwrap();
    let rr = headers(ok, "Record-Route");
    assert_eq!(
        rr,
        vec![
            format!("<sip:127.0.0.1:{};lr;transport=tls>", ports.daemon_tls()).as_str(),
            format!("<sip:127.0.0.1:{};lr>", ports.daemon_udp()).as_str(),
        ],
        "RFC 5658 double Record-Route: {ok}"
    );
    caller
        .sock
        .send_to(caller.in_dialog("ACK", 1, &inv, ok).as_bytes(), proxy)
        .unwrap();
    let bye = caller.ask(&caller.in_dialog("BYE", 2, &inv, ok), proxy);
    assert_eq!(
        codes(&bye).last(),
        Some(&200),
        "BYE along the route: {bye:?}\n{}",
        log()
    );

    // 2. Kamailio as a TLS client (it verifies the daemon's certificate) calls through the
    //    daemon's TLS listener to the TLS member.
    let front = SocketAddr::from((LOOPBACK, ports.kamailio_udp()));
    let inv = caller.invite(
        "tls-tls-1",
        "svc",
        &format!("127.0.0.1:{}", ports.daemon_udp()),
    );
    let got = caller.ask(&inv, front);
    assert_eq!(
        codes(&got).last(),
        Some(&200),
        "through Kamailio over TLS: {got:?}\n{}\n{}",
        log(),
        e2e::process::tail(&dir.path().join("kamailio.log"), 20)
    );
    let ok = got.last().unwrap();
    assert!(
        headers(ok, "Record-Route")
            .contains(&format!("<sip:127.0.0.1:{};lr;transport=tls>", ports.daemon_tls()).as_str()),
        "TLS in, TLS out: one Record-Route, on the TLS listener: {ok}"
    );

    // What crossed the tap: TLS records only (a handshake first), no SIP text either way.
    let seen = tap.seen();
    assert!(
        seen.len() > 1000,
        "the calls went through the tap: {} bytes",
        seen.len()
    );
    assert_eq!(seen.first(), Some(&0x16), "a TLS handshake record first");
    for text in [&b"SIP/2.0"[..], b"INVITE ", b"Call-ID", b"tls-udp-1"] {
        assert!(
            !seen.windows(text.len()).any(|w| w == text),
            "{:?} crossed the wire in the clear",
            String::from_utf8_lossy(text)
        );
    }

    // 3. A member whose certificate names another host: refused at the handshake, the call
    //    fails at once, and Kamailio hears nothing on that socket.
    let start = Instant::now();
    let inv = caller.invite(
        "tls-wrong-1",
        "wrong",
        &format!("127.0.0.1:{}", ports.daemon_udp()),
    );
    let got = caller.ask(&inv, proxy);
    let took = start.elapsed();
    let last = codes(&got).last().copied();
    assert!(
        last.is_some_and(|c| c >= 400),
        "the call fails: {got:?}\n{}",
        log()
    );
    assert!(
        took < Duration::from_millis(FR_TIMEOUT_MS / 2),
        "failed at the handshake, not after fr_timeout ({took:?})"
    );
    let daemon_log = std::fs::read_to_string(daemon.log()).unwrap();
    assert!(
        daemon_log.contains("SIP TLS handshake with a next hop failed"),
        "{}",
        log()
    );
    kamailio.terminate(Duration::from_secs(5)).unwrap();
    let klog = std::fs::read_to_string(dir.path().join("kamailio.log")).unwrap();
    assert!(
        !klog.contains("tls-wrong-1") && klog.matches("member got INVITE over TLS").count() == 2,
        "the member got the two good calls, nothing of the refused one:\n{}",
        e2e::process::tail(&dir.path().join("kamailio.log"), 30)
    );
    println!(
        "edge_tls: UDP-in call to the TLS member set up and ended, TLS-in call set up; the tap \
         saw {} bytes of TLS and no SIP text; wrong server name refused in {took:?} (code {last:?})",
        seen.len()
    );
}

/// One certificate signed by `ca`, for 127.0.0.1 with common name `cn`: its DER and its PEM
/// certificate and key.
fn signed(ca: &rcgen::Certificate, ca_key: &KeyPair, cn: &str) -> (Vec<u8>, String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(LOOPBACK))];
    let cert = p.signed_by(&key, ca, ca_key).unwrap();
    (cert.der().to_vec(), cert.pem(), key.serialize_pem())
}

/// Opens a TLS connection to `addr` (trusting `ca_der`, checking the name 127.0.0.1), sends
/// an OPTIONS over it and returns the answer's code and the certificate presented.
#[allow(deprecated)] // ring's provider: no post-quantum key exchange, none needed here.
fn options_over_tls(addr: SocketAddr, ca_der: &[u8]) -> (Option<u16>, Vec<u8>) {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(IpAddr::V4(LOOPBACK).into());
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(ANSWER)).unwrap();
    let local = sock.local_addr().unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let msg = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-o-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=o1\r\nTo: <sip:{addr}>\r\n\
         Call-ID: tls-options-{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    );
    tls.write_all(msg.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(n @ 1..) => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let presented = conn.peer_certificates().unwrap()[0].to_vec();
    (status(&String::from_utf8_lossy(&got)), presented)
}

#[test]
fn a_reload_gives_new_connections_the_new_certificate_and_a_bad_file_keeps_the_old_one() {
    let dir = tempfile::Builder::new()
        .prefix("e2e-tls-")
        .tempdir()
        .unwrap();
    let ports = Ports {
        block: PortBlock::take().unwrap(),
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "e2e test authority");
    let ca = p.self_signed(&ca_key).unwrap();
    let (old_der, old_pem, old_key) = signed(&ca, &ca_key, "daemon");
    let (new_der, new_pem, new_key) = signed(&ca, &ca_key, "daemon-renewed");
    let (cert, key) = (dir.path().join("chain.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &old_pem).unwrap();
    std::fs::write(&key, &old_key).unwrap();
    let b = &ports.block;
    let toml = format!(
        "[sip]\nlisten = [\"127.0.0.1:{udp}\"]\ntransports = [\"udp\", \"tls\"]\n\
         tls_listen = [\"127.0.0.1:{tls}\"]\ntls_certificate = \"{cert}\"\ntls_private_key = \"{key}\"\n\n\
         [[set]]\nname = \"pool\"\n[set.health]\ninterval_secs = 3600\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{uas}\"\n",
        udp = ports.daemon_udp(),
        tls = ports.daemon_tls(),
        cert = cert.display(),
        key = key.display(),
        uas = b.uas_sip(),
    );
    let relay = b.relay_external();
    let cfg = DaemonConfig::new(b.ng())
        .interface("external", *relay.start(), *relay.end())
        .raw(&toml);
    let mut daemon = Daemon::start(&cfg).unwrap();
    let listener = SocketAddr::from((LOOPBACK, ports.daemon_tls()));
    let ca_der = ca.der().to_vec();

    let (code, presented) = options_over_tls(listener, &ca_der);
    assert_eq!(code, Some(200), "OPTIONS over TLS\n{}", daemon.log_tail(20));
    assert!(presented == old_der, "the configured certificate");

    // A file that is not a certificate: the old one stays, and the log says why.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    daemon.reload().unwrap();
    let log = daemon.log();
    let logged = |needle: &str| std::fs::read_to_string(&log).unwrap().contains(needle);
    wait_for("the refused reload to be logged", ANSWER, || {
        Ok(logged("SIP TLS certificate not reloaded").then_some(()))
    })
    .unwrap();
    let (code, presented) = options_over_tls(listener, &ca_der);
    assert_eq!(code, Some(200));
    assert!(presented == old_der, "a bad file keeps the old certificate");

    // A renewed certificate: new connections get it.
    std::fs::write(&cert, &new_pem).unwrap();
    std::fs::write(&key, &new_key).unwrap();
    daemon.reload().unwrap();
    wait_for("the reload to be logged", ANSWER, || {
        Ok(logged("SIP TLS certificate reloaded").then_some(()))
    })
    .unwrap();
    let (code, presented) = options_over_tls(listener, &ca_der);
    assert_eq!(code, Some(200));
    assert!(
        presented == new_der,
        "new connections get the new certificate"
    );

    // A new tls_listen: the reload binds it, then closes the old listener.
    let moved = SocketAddr::from((LOOPBACK, b.base() + 30));
    let text = std::fs::read_to_string(daemon.config_path()).unwrap();
    let text = text.replace(&format!("\"{listener}\""), &format!("\"{moved}\""));
    std::fs::write(daemon.config_path(), text).unwrap();
    daemon.reload().unwrap();
    wait_for("the TLS listener to move", ANSWER, || {
        Ok(logged("sip.tls_listen rebound").then_some(()))
    })
    .unwrap();
    assert_eq!(options_over_tls(moved, &ca_der).0, Some(200));
    assert!(
        TcpStream::connect(listener).is_err(),
        "the old TLS listener is closed"
    );
}
