//! Idle calls: sessions the relay holds while nobody sends on them, set up and deleted in
//! bulk. Their SDP names the tool's address and the discard port (RFC 863), where no socket of
//! the tool listens: a relay only ever sends there what it received on the call, and nothing
//! is sent on an idle call. So the relay can hold 100,000 sessions while the tool keeps one
//! socket for all of them.
//!
//! Requests are pipelined: up to a window of them are outstanding at once on one socket, each
//! with its own cookie, and one not answered within the timeout is sent again with the same
//! cookie (the server's cookie cache answers a repeat without executing it twice). Every
//! offer is answered before the first answer is sent, so an answer never overtakes its offer.

use crate::calls::CallIds;
use crate::ngclient::{check_reply, media_request, ng_socket, NgError};
use crate::scope::Scope;
use crate::sdp;
use crate::sys;
use ng::{Command, RequestBuilder};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// The media port every idle call's SDP names: discard (RFC 863), where nothing listens.
pub const IDLE_PORT: u16 = 9;

/// Requests outstanding at once.
const WINDOW: usize = 128;

/// ng identifiers of idle call `index` of this process (apart from the busy calls' ones).
pub fn idle_ids(index: u32) -> CallIds {
    CallIds {
        call_id: format!("fvidle-{}-{index}", std::process::id()),
        from_tag: format!("ia{index}"),
        to_tag: format!("ib{index}"),
    }
}

/// The idle calls the relay holds.
#[derive(Debug)]
pub struct IdleCalls {
    pipe: Pipeline,
    /// Calls whose offer the relay accepted (these need a delete).
    offered: Vec<u32>,
}

/// How one bulk phase went.
#[derive(Debug)]
pub struct Phase {
    /// Requests answered `ok`.
    pub ok: usize,
    /// The failed requests' call indices and errors, in the order they failed.
    pub failed: Vec<(u32, NgError)>,
    /// Wall time of the phase.
    pub took: Duration,
}

impl IdleCalls {
    /// Sets up `n` idle calls at `server`, their SDP on `scope.local`: every offer, then every
    /// answer.
    /// Stops at the first refusal or timeout and returns it with the calls offered so far
    /// (still to be deleted with [`IdleCalls::delete`]).
    pub fn set_up(
        server: SocketAddr,
        scope: Scope,
        n: u32,
        timeout: Duration,
        attempts: u32,
    ) -> (IdleCalls, Result<Duration, NgError>) {
        let started = Instant::now();
        let mut pipe = match Pipeline::connect(server, scope, timeout, attempts) {
            Ok(p) => p,
            Err(e) => return (IdleCalls::empty(), Err(e)),
        };
        let sdp = sdp::endpoint_sdp(scope.local, IDLE_PORT, 1);
        let all: Vec<u32> = (0..n).collect();
        let offers = pipe.run(&all, true, |i| {
            let ids = idle_ids(i);
            media_request(Command::Offer, &ids.call_id, &ids.from_tag, None, &sdp)
        });
        let (offered, first) = split(&all, offers);
        let mut calls = IdleCalls { pipe, offered };
        if let Some(e) = first {
            return (calls, Err(e));
        }
        let answers = calls.pipe.run(&calls.offered, true, |i| {
            let ids = idle_ids(i);
            let to = Some(ids.to_tag.as_str());
            media_request(Command::Answer, &ids.call_id, &ids.from_tag, to, &sdp)
        });
        let result = match answers {
            Ok(p) => p.failed.into_iter().next().map(|(_, e)| e),
            Err(e) => Some(NgError::Io(e)),
        };
        calls.pipe.reset();
        (calls, result.map_or(Ok(started.elapsed()), Err))
    }

    fn empty() -> IdleCalls {
        IdleCalls {
            pipe: Pipeline::unconnected(),
            offered: Vec::new(),
        }
    }

    /// Calls the relay accepted an offer for.
    pub fn len(&self) -> usize {
        self.offered.len()
    }

    /// Whether the relay holds none.
    pub fn is_empty(&self) -> bool {
        self.offered.is_empty()
    }

    /// Deletes every call offered; every delete is tried (a failure does not stop the rest).
    pub fn delete(mut self) -> io::Result<Phase> {
        let offered = std::mem::take(&mut self.offered);
        if offered.is_empty() {
            return Ok(Phase {
                ok: 0,
                failed: Vec::new(),
                took: Duration::ZERO,
            });
        }
        self.pipe.run(&offered, false, |i| {
            let ids = idle_ids(i);
            RequestBuilder::new(Command::Delete)
                .call_id(ids.call_id.as_str())
                .from_tag(ids.from_tag.as_str())
        })
    }
}

/// The calls a phase sent a request for (in order: the first ones), and its first error (an
/// I/O error counts as one). A call whose offer failed is kept: a late offer may still have
/// made it, and the delete of a call the relay does not hold only fails.
fn split(all: &[u32], phase: io::Result<Phase>) -> (Vec<u32>, Option<NgError>) {
    match phase {
        Ok(p) => {
            let sent = all.len().min(p.ok + p.failed.len());
            let first = p.failed.into_iter().next().map(|(_, e)| e);
            (all[..sent].to_vec(), first)
        }
        Err(e) => (all.to_vec(), Some(NgError::Io(e))),
    }
}

/// A reply: the call it answers (`None`: not one in flight) and its verdict.
type Reply = (Option<u32>, Result<Option<String>, NgError>);

/// One request in flight.
#[derive(Debug)]
struct InFlight {
    call: u32,
    command: &'static str,
    datagram: Vec<u8>,
    sent: Instant,
    tries: u32,
}

/// A socket with pipelined ng requests.
#[derive(Debug)]
struct Pipeline {
    sock: Option<UdpSocket>,
    timeout: Duration,
    attempts: u32,
    prefix: String,
    seq: u64,
}

impl Pipeline {
    fn connect(
        server: SocketAddr,
        scope: Scope,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Pipeline, NgError> {
        let sock = ng_socket(server, scope)?;
        sys::set_buffers(sock.as_fd(), 4 << 20)?;
        Ok(Pipeline {
            sock: Some(sock),
            timeout: timeout.max(Duration::from_millis(1)),
            attempts: attempts.max(1),
            prefix: format!("fvidle{}", std::process::id()),
            seq: 0,
        })
    }

    fn unconnected() -> Pipeline {
        Pipeline {
            sock: None,
            timeout: Duration::from_secs(1),
            attempts: 1,
            prefix: String::new(),
            seq: 0,
        }
    }

    /// Drops replies still queued from the last phase (late copies of retransmitted requests).
    fn reset(&self) {
        if let Some(s) = &self.sock {
            let _ = s.set_nonblocking(true);
            let mut buf = [0u8; 2048];
            while s.recv(&mut buf).is_ok() {}
            let _ = s.set_nonblocking(false);
        }
    }

    /// Sends `make(call)` for every call in `calls`, at most [`WINDOW`] unanswered at once.
    /// With `stop_at_failure`, no new request is sent after the first failure (those in
    /// flight still complete).
    fn run<F>(&mut self, calls: &[u32], stop_at_failure: bool, make: F) -> io::Result<Phase>
    where
        F: Fn(u32) -> RequestBuilder,
    {
        let started = Instant::now();
        let sock = self
            .sock
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no ng socket"))?;
        let mut flight: HashMap<u64, InFlight> = HashMap::with_capacity(WINDOW);
        let (mut next, mut ok, mut failed) = (0usize, 0usize, Vec::new());
        let mut buf = vec![0u8; 65_536];
        loop {
            let stopped = stop_at_failure && !failed.is_empty();
            while flight.len() < WINDOW && next < calls.len() && !stopped {
                let call = calls[next];
                next += 1;
                self.seq += 1;
                let cookie = format!("{}_{}", self.prefix, self.seq);
                let req = make(call);
                let datagram = req.to_datagram(cookie.as_bytes());
                sock.send(&datagram)?;
                let sent = Instant::now();
                let command = req.command.as_str();
                let f = InFlight {
                    call,
                    command,
                    datagram,
                    sent,
                    tries: 1,
                };
                flight.insert(self.seq, f);
            }
            if flight.is_empty() {
                break;
            }
            match self.receive(sock, &mut buf, &mut flight)? {
                Some((call, Ok(_))) => ok += usize::from(call.is_some()),
                Some((call, Err(e))) => failed.extend(call.map(|c| (c, e))),
                None => self.resend_late(sock, &mut flight, &mut failed)?,
            }
        }
        Ok(Phase {
            ok,
            failed,
            took: started.elapsed(),
        })
    }

    /// One reply (its call, if still in flight, and its verdict), or `None` after a wait of up
    /// to 5 ms with none.
    fn receive(
        &self,
        sock: &UdpSocket,
        buf: &mut [u8],
        flight: &mut HashMap<u64, InFlight>,
    ) -> io::Result<Option<Reply>> {
        sock.set_read_timeout(Some(Duration::from_millis(5)))?;
        let n = match sock.recv(buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let Ok((cookie, body)) = ng::split_cookie(buf.get(..n).unwrap_or_default()) else {
            return Ok(Some((None, Ok(None))));
        };
        let seq = std::str::from_utf8(cookie)
            .ok()
            .and_then(|c| c.strip_prefix(self.prefix.as_str()))
            .and_then(|c| c.strip_prefix('_'))
            .and_then(|c| c.parse::<u64>().ok());
        let Some(req) = seq.and_then(|s| flight.remove(&s)) else {
            // A late copy of a reply already counted, or not ours.
            return Ok(Some((None, Ok(None))));
        };
        let verdict = check_reply(req.command, body);
        Ok(Some((Some(req.call), verdict)))
    }

    /// Sends again every request unanswered for longer than the timeout; one that has had
    /// every attempt fails with [`NgError::Timeout`].
    fn resend_late(
        &self,
        sock: &UdpSocket,
        flight: &mut HashMap<u64, InFlight>,
        failed: &mut Vec<(u32, NgError)>,
    ) -> io::Result<()> {
        let now = Instant::now();
        let late: Vec<u64> = flight
            .iter()
            .filter(|(_, r)| now.duration_since(r.sent) >= self.timeout)
            .map(|(s, _)| *s)
            .collect();
        for seq in late {
            let Some(req) = flight.get_mut(&seq) else {
                continue;
            };
            if req.tries >= self.attempts {
                let command = req.command.to_owned();
                let (call, attempts) = (req.call, req.tries);
                flight.remove(&seq);
                failed.push((call, NgError::Timeout { command, attempts }));
                continue;
            }
            sock.send(&req.datagram)?;
            req.sent = now;
            req.tries += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// What the test server saw: requests executed per command, repeats answered from its
    /// cookie cache, and the calls it holds at the end.
    #[derive(Debug, Default)]
    struct Seen {
        executed: HashMap<String, u32>,
        repeats: u32,
        held: usize,
    }

    /// An ng server that drops the first copy of every seventh request (so the client must
    /// send it again), answers a repeated cookie from its cache, refuses an answer or delete
    /// for a call it does not hold, and refuses offers beyond `capacity` calls.
    fn serve(sock: UdpSocket, stop: Arc<AtomicBool>, capacity: usize) -> Seen {
        let mut seen = Seen::default();
        let mut cache: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut calls: HashSet<String> = HashSet::new();
        let mut dropped: HashSet<Vec<u8>> = HashSet::new();
        let (mut buf, mut count) = (vec![0u8; 65_536], 0u32);
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let (cookie, req) = ng::parse_datagram(&buf[..n]).unwrap();
            if let Some(reply) = cache.get(cookie) {
                seen.repeats += 1;
                sock.send_to(reply, from).unwrap();
                continue;
            }
            count += 1;
            if count % 7 == 0 && dropped.insert(cookie.to_vec()) {
                continue;
            }
            let id = String::from_utf8_lossy(req.call_id.unwrap()).into_owned();
            let body = match req.command {
                Command::Offer if calls.len() >= capacity => ng::error_reply("full"),
                Command::Offer => {
                    calls.insert(id);
                    ng::sdp_reply(b"v=0\r\n")
                }
                Command::Answer if calls.contains(&id) => ng::sdp_reply(b"v=0\r\n"),
                Command::Delete if calls.remove(&id) => ng::ok_reply(),
                _ => ng::error_reply("Unknown call-id"),
            };
            *seen
                .executed
                .entry(req.command.as_str().to_owned())
                .or_default() += 1;
            let reply = ng::frame(cookie, &body);
            cache.insert(cookie.to_vec(), reply.clone());
            sock.send_to(&reply, from).unwrap();
        }
        seen.held = calls.len();
        seen
    }

    fn server(capacity: usize) -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<Seen>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        (
            addr,
            stop,
            std::thread::spawn(move || serve(sock, flag, capacity)),
        )
    }

    #[test]
    fn sets_up_and_deletes_through_losses() {
        let (addr, stop, thread) = server(usize::MAX);
        let t = Duration::from_millis(50);
        let (idle, result) = IdleCalls::set_up(addr, Scope::default(), 1_000, t, 3);
        result.unwrap();
        assert_eq!(idle.len(), 1_000);
        let phase = idle.delete().unwrap();
        assert_eq!((phase.ok, phase.failed.len()), (1_000, 0));
        stop.store(true, Ordering::Relaxed);
        let seen = thread.join().unwrap();
        for command in ["offer", "answer", "delete"] {
            assert_eq!(seen.executed.get(command), Some(&1_000), "{seen:?}");
        }
        assert_eq!(seen.held, 0);
        // Every seventh first copy was dropped: those were sent again, once each, and
        // executed once; a repeat that crossed a late reply is answered from the cache.
        assert!(seen.repeats <= 3_000 / 7 + 1, "{seen:?}");
    }

    #[test]
    fn a_refusal_stops_the_set_up_and_what_was_offered_is_deleted() {
        let (addr, stop, thread) = server(300);
        let t = Duration::from_millis(50);
        let (idle, result) = IdleCalls::set_up(addr, Scope::default(), 1_000, t, 3);
        let err = result.unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        assert!((301..=300 + WINDOW).contains(&idle.len()), "{}", idle.len());
        let phase = idle.delete().unwrap();
        assert_eq!(phase.ok, 300);
        stop.store(true, Ordering::Relaxed);
        let seen = thread.join().unwrap();
        assert_eq!(seen.held, 0);
        assert_eq!(
            seen.executed.get("answer"),
            None,
            "no answer after a failed offer"
        );
    }

    #[test]
    fn silence_is_a_timeout_and_outside_the_relay_net_is_refused() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let t = Duration::from_millis(20);
        let (idle, result) = IdleCalls::set_up(addr, Scope::default(), 10, t, 2);
        let err = result.unwrap_err();
        assert!(
            err.to_string().contains("no reply after 2 attempts"),
            "{err}"
        );
        assert_eq!(idle.len(), 10);
        let outside: SocketAddr = "192.0.2.1:2223".parse().unwrap();
        let (idle, result) = IdleCalls::set_up(outside, Scope::default(), 10, t, 2);
        assert!(matches!(result, Err(NgError::OutsideRelayNet(..))));
        assert!(idle.is_empty());
    }
}
