//! Sends the corpus to the proxy and collects its answers. Message `i` leaves from its own
//! loopback address, [`source`]`(i)`, port 5060; the proxy sends responses to the source
//! address at the top Via's port (RFC 3261 §18.2.2; RFC 3581 for `rport`), so a socket
//! bound to that address and port receives exactly the answers to that message, however
//! late they come.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use super::{status_code, Message};
use crate::error::{Error, Result};

/// The last octet of the first message's source address (127.0.0.10).
const FIRST_SOURCE: u8 = 10;

/// The source address of message `i` (at most 245 messages).
pub fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, FIRST_SOURCE.saturating_add(i as u8))
}

/// Sends one OPTIONS for `ruri` from 127.0.0.2 each 200 ms until the proxy answers it with
/// 200, for at most `limit`.
pub fn wait_for_200(proxy: SocketAddr, ruri: &str, limit: Duration) -> Result<()> {
    let sock = UdpSocket::bind("127.0.0.2:0").map_err(|e| Error::io("bind 127.0.0.2", e))?;
    let port = sock
        .local_addr()
        .map_err(|e| Error::io("local address", e))?
        .port();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| Error::io("socket timeout", e))?;
    let end = Instant::now() + limit;
    let mut buf = vec![0u8; 65_535];
    for n in 0.. {
        if Instant::now() >= end {
            break;
        }
        let call = format!("live{n}.{port}");
        let req = format!(
            "OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:{port};branch=z9hG4bK-{call}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.2>;tag=t\r\nTo: <{ruri}>\r\n\
             Call-ID: {call}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        sock.send_to(req.as_bytes(), proxy)
            .map_err(|e| Error::io(format!("send OPTIONS to {proxy}"), e))?;
        while let Ok(len) = sock.recv(&mut buf) {
            let reply = &buf[..len];
            let ours = reply.windows(call.len()).any(|w| w == call.as_bytes());
            if ours && status_code(reply) == Some(200) {
                return Ok(());
            }
        }
    }
    Err(Error::Timeout {
        what: format!("a 200 to OPTIONS {ruri} from the proxy at {proxy}"),
        waited: limit,
    })
}

/// The sockets of one message: port 5060 (it sends from there) and its Via port.
fn bind(i: usize, msg: &Message) -> Result<Vec<UdpSocket>> {
    let mut ports = vec![5060];
    if msg.via_port != 5060 {
        ports.push(msg.via_port);
    }
    ports
        .into_iter()
        .map(|port| {
            let addr = SocketAddr::from((source(i), port));
            let sock = UdpSocket::bind(addr).map_err(|e| Error::io(format!("bind {addr}"), e))?;
            sock.set_nonblocking(true)
                .map_err(|e| Error::io(format!("non-blocking {addr}"), e))?;
            Ok(sock)
        })
        .collect()
}

/// Sends every message to `proxy`, `pace` apart, then listens `linger` longer; the status
/// codes of the responses each message got, in arrival order (retransmissions included).
pub fn send_all(
    msgs: &[Message],
    proxy: SocketAddr,
    pace: Duration,
    linger: Duration,
) -> Result<Vec<Vec<u16>>> {
    let socks = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| bind(i, m))
        .collect::<Result<Vec<_>>>()?;
    let mut codes = vec![Vec::new(); msgs.len()];
    for (i, msg) in msgs.iter().enumerate() {
        socks[i][0]
            .send_to(&msg.bytes, proxy)
            .map_err(|e| Error::io(format!("send {}", msg.name), e))?;
        collect(&socks, &mut codes, Instant::now() + pace);
    }
    collect(&socks, &mut codes, Instant::now() + linger);
    Ok(codes)
}

/// Reads every socket until `until`, adding each response's code to its message.
fn collect(socks: &[Vec<UdpSocket>], codes: &mut [Vec<u16>], until: Instant) {
    let mut buf = vec![0u8; 65_535];
    while Instant::now() < until {
        for (i, group) in socks.iter().enumerate() {
            for sock in group {
                while let Ok(len) = sock.recv(&mut buf) {
                    codes[i].extend(status_code(&buf[..len]));
                }
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
}
