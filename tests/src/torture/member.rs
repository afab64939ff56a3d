//! A pool member for the torture run: answers every request the proxy forwards (and its
//! OPTIONS probes) with 200 OK at once, so a malformed request the proxy wrongly forwards
//! comes back to the sender as a 2xx, and records which sender each forwarded request came
//! from.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// A request the member received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Its method.
    pub method: String,
    /// The sender's address as the proxy recorded it (`received=` of the second Via).
    pub received: Option<String>,
}

/// The running member; [`Member::stop`] ends it.
#[derive(Debug)]
pub struct Member {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<Forwarded>>>,
}

impl Member {
    /// Starts answering on `addr` inside `ns`.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = ns.spawn_inside(move || serve(addr, &flag));
        Member { stop, thread }
    }

    /// Stops the member; every request it received, in order.
    pub fn stop(self) -> Result<Vec<Forwarded>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(Error::Checks(vec!["the member thread panicked".into()])))
    }
}

fn serve(addr: SocketAddr, stop: &AtomicBool) -> Result<Vec<Forwarded>> {
    let sock = UdpSocket::bind(addr).map_err(|e| Error::io(format!("member bind {addr}"), e))?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| Error::io("member socket timeout", e))?;
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let request = &buf[..n];
        let Some(method) = method(request) else {
            continue;
        };
        if method != "ACK" {
            sock.send_to(&ok_for(request), from)
                .map_err(|e| Error::io(format!("member reply to {from}"), e))?;
        }
        seen.push(Forwarded {
            method,
            received: received(request),
        });
    }
    Ok(seen)
}

/// The method of a request (`None` for a response or an empty datagram).
fn method(datagram: &[u8]) -> Option<String> {
    let first = datagram.split(|&b| b == b' ').next()?;
    (!first.is_empty() && !first.starts_with(b"SIP/"))
        .then(|| String::from_utf8_lossy(first).into_owned())
}

/// `200 OK` for `request`: its Via, From, To (with a tag added when it has none), Call-ID
/// and CSeq lines copied byte for byte, folded continuations included (RFC 3261 §8.2.6.2).
pub fn ok_for(request: &[u8]) -> Vec<u8> {
    let head = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request, |end| &request[..end]);
    let mut out = b"SIP/2.0 200 OK\r\n".to_vec();
    let mut keep = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            keep = matches!(
                name.as_str(),
                "via" | "v" | "from" | "f" | "to" | "t" | "call-id" | "i" | "cseq"
            );
            if keep && (name == "to" || name == "t") && !contains(line, b";tag=") {
                out.extend_from_slice(line);
                out.extend_from_slice(b";tag=member\r\n");
                continue;
            }
        }
        if keep {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The `received=` address of the request's Via values (the proxy's own Via comes first and
/// has none), up to the next `;`, `,` or line end.
fn received(request: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(request);
    let at = text.find(";received=")? + ";received=".len();
    let rest = &text[at..];
    let end = rest.find([';', ',', '\r', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    const FORWARDED: &[u8] = b"OPTIONS sip:u@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-p\r\n\
        v: SIP/2.0/UDP h.example.com;branch=z9hG4bK-a;received=127.0.0.12\r\n\
        To: <sip:u@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n\
        Call-ID: c1\r\nCSeq: 8 OPTIONS\r\nMax-Forwards: 69\r\n\r\n";

    #[test]
    fn the_answer_copies_the_transaction_headers_and_tags_to() {
        let ok = String::from_utf8(ok_for(FORWARDED)).unwrap();
        assert_eq!(
            ok,
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-p\r\n\
             v: SIP/2.0/UDP h.example.com;branch=z9hG4bK-a;received=127.0.0.12\r\n\
             To: <sip:u@example.com>;tag=member\r\nFrom: <sip:a@example.com>;tag=1\r\n\
             Call-ID: c1\r\nCSeq: 8 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn method_and_sender_are_read_from_the_forwarded_request() {
        assert_eq!(method(FORWARDED).as_deref(), Some("OPTIONS"));
        assert_eq!(method(b"SIP/2.0 200 OK\r\n"), None);
        assert_eq!(received(FORWARDED).as_deref(), Some("127.0.0.12"));
    }
}
