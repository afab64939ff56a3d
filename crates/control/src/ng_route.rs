//! How each ng reply goes back the way its request came: over UDP or down its TCP connection,
//! in bencode or in JSON.
//!
//! The media engine speaks bencode datagrams keyed by source address
//! (`Engine::handle_datagram`, `Engine::poll_transmit`). This layer sits between it and the
//! sockets:
//!
//! - a JSON body (rtpengine tells it by its first byte, `{`) is decoded and handed to the
//!   engine as the same message in bencode; the reply is turned back into JSON. A JSON body
//!   that does not decode is handed over as it is, so the engine's source checks, cookie cache
//!   and counters treat it as any malformed message; its error reply then carries the JSON
//!   error instead of the engine's bencode one;
//! - a message from a TCP connection is handed over with the peer's address and port 0 (a
//!   port no UDP sender has), so the engine keeps its UDP and TCP cookies apart, and a
//!   request repeated on a new connection from the same host (a client that reconnected)
//!   is answered from the cookie cache as rtpengine answers it; the reply goes down the
//!   connection that sent the request most recently with that cookie.
//!
//! Routes are kept per (engine address, cookie) until the reply passes, and at most
//! [`ROUTE_TTL`] (a request the engine drops, rate-limited, never gets one) and
//! [`MAX_ROUTES`] in number.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ng::bencode::{self, DictBuilder};
use ng::Encoding;

use crate::ng_tcp::ConnTx;

/// How long a route waits for its reply: above the engine's longest wait for worker stats.
pub const ROUTE_TTL: Duration = Duration::from_secs(5);
/// Most routes kept; beyond it the oldest go first.
pub const MAX_ROUTES: usize = 65_536;

/// Where a reply goes.
#[derive(Debug)]
pub enum Out {
    /// A datagram from the ng UDP socket.
    Udp(SocketAddr, Vec<u8>),
    /// Bytes down a TCP connection.
    Tcp(ConnTx, Vec<u8>),
}

/// The address a TCP peer has toward the engine: its IP address, port 0.
pub fn tcp_key(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip(), 0)
}

/// What is known about one pending request.
#[derive(Debug)]
struct Route {
    encoding: Encoding,
    /// The JSON error of a body that did not decode (its reply says this instead).
    json_error: Option<String>,
    conn: Option<ConnTx>,
    at: Instant,
}

type Key = (SocketAddr, Vec<u8>);

/// The pending routes.
#[derive(Debug, Default)]
pub struct Routes {
    map: HashMap<Key, Route>,
    order: VecDeque<(Instant, Key)>,
}

impl Routes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pending routes (for tests and counters).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no route is pending.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A message from `from` (the engine's address for it: [`tcp_key`] for TCP) that came
    /// down `conn` (`None`: UDP). Returns what to hand the engine.
    pub fn admit<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        conn: Option<ConnTx>,
        data: &'a [u8],
    ) -> Cow<'a, [u8]> {
        self.expire(now);
        let Ok((cookie, body)) = ng::split_cookie(data) else {
            // No cookie: the engine drops and counts it; no reply will come.
            return Cow::Borrowed(data);
        };
        let encoding = Encoding::of(body);
        let (handed, json_error) = match encoding {
            Encoding::Bencode => (Cow::Borrowed(data), None),
            Encoding::Json => match ng::json::decode(body) {
                Ok(tree) => (Cow::Owned(ng::frame(cookie, &tree)), None),
                Err(e) => (Cow::Borrowed(data), Some(format!("invalid JSON: {e}"))),
            },
        };
        if encoding == Encoding::Bencode && conn.is_none() {
            // The common case needs no route (and costs no allocation); an older one for the
            // same key is stale.
            if !self.map.is_empty() {
                self.map.remove(&(from, cookie.to_vec()));
            }
            return handed;
        }
        let key = (from, cookie.to_vec());
        self.make_room();
        self.order.push_back((now, key.clone()));
        self.map.insert(
            key,
            Route {
                encoding,
                json_error,
                conn,
                at: now,
            },
        );
        handed
    }

    /// Where the engine's `transmit` goes, in which bytes; `None` drops it (a TCP reply whose
    /// connection is gone).
    pub fn route(&mut self, t: media::Transmit) -> Option<Out> {
        // No route at all (only bencode over UDP in flight) costs no lookup.
        let route = if self.map.is_empty() {
            None
        } else {
            let cookie = ng::split_cookie(&t.bytes).ok().map(|(c, _)| c.to_vec());
            cookie.and_then(|c| self.map.remove(&(t.dst, c)))
        };
        let Some(route) = route else {
            // Port 0 is a TCP peer's engine address: without a route it has no connection.
            return (t.dst.port() != 0).then_some(Out::Udp(t.dst, t.bytes));
        };
        let bytes = match route.encoding {
            Encoding::Bencode => t.bytes,
            Encoding::Json => to_json(&t.bytes, route.json_error.as_deref()),
        };
        match route.conn {
            Some(conn) => Some(Out::Tcp(conn, bytes)),
            None => Some(Out::Udp(t.dst, bytes)),
        }
    }

    /// Drops routes older than [`ROUTE_TTL`].
    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < ROUTE_TTL {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Keeps the table below [`MAX_ROUTES`] for one more.
    fn make_room(&mut self) {
        while self.order.len() >= MAX_ROUTES {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((at, key)) = self.order.pop_front() {
            // A key admitted again since has a newer route: that one stays.
            if self.map.get(&key).is_some_and(|r| r.at == at) {
                self.map.remove(&key);
            }
        }
    }
}

/// A bencode reply datagram as JSON; with `json_error`, the error reply for a JSON body that
/// did not decode instead.
fn to_json(datagram: &[u8], json_error: Option<&str>) -> Vec<u8> {
    let Ok((cookie, body)) = ng::split_cookie(datagram) else {
        return datagram.to_vec();
    };
    let tree = match (json_error, bencode::decode(body)) {
        (Some(reason), _) => DictBuilder::new()
            .with("result", "error")
            .with("error-reason", reason)
            .build(),
        (None, Ok(v)) => v.to_owned(),
        // The engine only writes valid bencode; pass anything else on untouched.
        (None, Err(_)) => return datagram.to_vec(),
    };
    ng::frame_as(Encoding::Json, cookie, &tree)
}

#[cfg(test)]
#[path = "ng_route_tests.rs"]
mod tests;
