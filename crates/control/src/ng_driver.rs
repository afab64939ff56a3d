//! The tokio driver of the media engine: the ng UDP socket, a short tick that moves worker
//! events in and commands out, and the engine's timers. Everything else is the engine's,
//! including the source allow-list and rate limit, which it applies to every datagram before
//! parsing it: the driver only passes the source address on.
//!
//! The driver runs on a runtime (and thread) of its own, so SIP traffic never delays an ng
//! reply; the daemon hands it new source settings on SIGHUP through `reload`.
//!
//! Besides bencode datagrams it takes what rtpengine takes: JSON bodies, and with `[ng]
//! listen_tcp` messages over TCP ([`crate::ng_tcp`]); [`crate::ng_route`] sends every reply
//! back the way and in the encoding its request came.

use crate::ng_route::{tcp_key, Out, Routes};
use crate::ng_tcp::{NgTcp, TcpRequest};
use crate::SharedEngine;
use media::{Engine, EngineEvent, GuardConfig, GuardCounters};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};

/// The control plane's end of one worker's rings, as `pktio::plane::DataPlane` hands them out.
pub use pktio::plane::WorkerLink;

/// How often worker events are collected when no ng traffic wakes the driver.
const TICK: Duration = Duration::from_millis(2);
/// How often refused datagrams are summed up in a debug line (never one line per datagram).
const REFUSAL_LOG: Duration = Duration::from_secs(1);

/// Runs the ng listener until `shutdown` turns true. `reload` brings new source allow-lists
/// and rate limits; `tcp` is the `[ng] listen_tcp` listener and its bounds, if configured.
pub async fn run(
    shared: SharedEngine,
    socket: UdpSocket,
    mut workers: Vec<WorkerLink>,
    mut reload: mpsc::Receiver<GuardConfig>,
    mut shutdown: watch::Receiver<bool>,
    tcp: Option<(TcpListener, config::NgTcpConfig)>,
) -> std::io::Result<()> {
    let mut tcp =
        tcp.map(|(l, limits)| crate::ng_tcp::start(l, limits, shared.clone(), shutdown.clone()));
    let mut routes = Routes::new();
    let mut buf = vec![0u8; 65_536];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut refusals = RefusalLog::new(Instant::now());
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let now = Instant::now();
                    let data = routes.admit(now, from, None, &buf[..n]);
                    shared.lock().handle_datagram(now, from, &data);
                }
                Err(e) => tracing::warn!(error = %e, "ng socket receive failed"),
            },
            Some(TcpRequest { peer, bytes, conn }) = next_tcp(&mut tcp) => {
                let (now, from) = (Instant::now(), tcp_key(peer));
                let data = routes.admit(now, from, Some(conn), &bytes);
                shared.lock().handle_datagram(now, from, &data);
            }
            Some(guard) = reload.recv() => {
                tracing::info!(sources = %guard, "ng sources reloaded");
                shared.lock().reconfigure_guard(guard);
            }
            _ = shared.changed() => {}
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let transmits = round(&mut shared.lock(), &mut workers, &mut refusals);
        for t in transmits {
            match routes.route(t) {
                Some(Out::Udp(dst, bytes)) => {
                    if let Err(e) = socket.send_to(&bytes, dst).await {
                        tracing::warn!(to = %dst, error = %e, "ng reply not sent");
                    }
                }
                // A connection that cannot take it is closed by its own task.
                Some(Out::Tcp(conn, bytes)) => drop(conn.send(bytes)),
                None => {}
            }
        }
    }
    Ok(())
}

/// The next message from an ng TCP connection; never, without a TCP listener.
async fn next_tcp(tcp: &mut Option<NgTcp>) -> Option<TcpRequest> {
    match tcp {
        Some(t) => t.requests.recv().await,
        None => std::future::pending().await,
    }
}

/// One round of the loop under the engine's lock: worker events in, timers, commands out;
/// returns the replies to send (sent after the lock is released).
fn round(
    engine: &mut Engine,
    workers: &mut [WorkerLink],
    refusals: &mut RefusalLog,
) -> Vec<media::Transmit> {
    let now = Instant::now();
    for (w, link) in workers.iter_mut().enumerate() {
        while let Ok(ev) = link.events.pop() {
            engine.handle_event(now, w, ev);
        }
    }
    engine.handle_timeout(now);
    push_commands(engine, workers);
    let transmits = std::iter::from_fn(|| engine.poll_transmit()).collect();
    while let Some(e) = engine.poll_event() {
        log_event(&e);
    }
    refusals.maybe_log(now, engine.counters().guard);
    transmits
}

/// Moves the engine's commands onto the workers' rings and wakes the workers that got some.
fn push_commands(engine: &mut Engine, workers: &mut [WorkerLink]) {
    let mut woken = vec![false; workers.len()];
    while let Some((w, cmd)) = engine.poll_command() {
        let Some(link) = workers.get_mut(w) else {
            continue;
        };
        match link.commands.push(cmd) {
            Ok(()) => woken[w] = true,
            Err(rtrb::PushError::Full(cmd)) => {
                // The worker is behind; keep the command for the next round.
                engine.requeue_command(w, cmd);
                break;
            }
        }
    }
    for (link, woken) in workers.iter().zip(woken) {
        if woken {
            link.waker.wake();
        }
    }
}

/// Sums up refused datagrams in one debug line per [`REFUSAL_LOG`] while there are any.
#[derive(Debug)]
struct RefusalLog {
    logged: GuardCounters,
    next: Instant,
}

impl RefusalLog {
    fn new(now: Instant) -> Self {
        RefusalLog {
            logged: GuardCounters::default(),
            next: now + REFUSAL_LOG,
        }
    }

    fn maybe_log(&mut self, now: Instant, c: GuardCounters) {
        if now < self.next {
            return;
        }
        self.next = now + REFUSAL_LOG;
        let not_allowed = c.not_allowed - self.logged.not_allowed;
        let rate_limited = c.rate_limited - self.logged.rate_limited;
        if not_allowed + rate_limited > 0 {
            tracing::debug!(
                not_allowed,
                rate_limited,
                allowed = c.allowed - self.logged.allowed,
                "ng datagrams dropped at the edge in the last second"
            );
        }
        self.logged = c;
    }
}

fn log_event(e: &EngineEvent) {
    match e {
        EngineEvent::CallEnded { call_id, reason } => {
            tracing::info!(call_id = %call_id, reason = reason.name(), "call ended");
        }
        EngineEvent::RequestFailed {
            call_id,
            command,
            reason,
        } => {
            let call_id = call_id.as_deref().unwrap_or("-");
            // Asking about a call that is gone is routine for a proxy; a failed offer is not.
            if matches!(*command, "query" | "delete" | "list") {
                tracing::debug!(call_id, command, reason = %reason, "ng request failed");
            } else {
                tracing::warn!(call_id, command, reason = %reason, "ng request failed");
            }
        }
        EngineEvent::InstallFailed { worker, key } => {
            tracing::error!(
                worker,
                addr = key.addr,
                port = key.port,
                "worker refused a session install"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
pub(crate) mod tests {
    use super::*;
    use dataplane::{AddrRange, LatchMode, PortLayout};
    use media::{Interface, VirtualBinder};
    use std::sync::Arc;

    pub(crate) fn engine(allow: &str) -> Engine {
        let cfg = media::EngineConfig {
            interfaces: vec![Interface {
                name: "external".into(),
                address: [127, 0, 0, 1].into(),
                advertised: None,
            }],
            latching: LatchMode::Heuristic,
            strict_source: false,
            offer_timeout: Duration::from_secs(60),
            final_timeout: None,
            delete_delay: Duration::ZERO,
            rtp_check: None,
            max_sessions: 0,
            cookie_ttl: Duration::from_secs(30),
            guard: guard(allow),
            fastpath: false,
            epoch: Instant::now(),
        };
        let range = AddrRange {
            port_min: 30000,
            port_max: 30009,
        };
        let layout = Arc::new(PortLayout::new(vec![range], 1).unwrap());
        Engine::new(cfg, layout, Box::new(VirtualBinder), Vec::new())
    }

    fn guard(allow: &str) -> GuardConfig {
        GuardConfig {
            allow: allow.split(',').map(|n| n.parse().unwrap()).collect(),
            rate: None,
        }
    }

    /// A ping from `client`; the reply, if one comes within 300 ms.
    async fn ping(client: &UdpSocket, to: std::net::SocketAddr, cookie: &str) -> Option<Vec<u8>> {
        let datagram = format!("{cookie} d7:command4:pinge");
        client.send_to(datagram.as_bytes(), to).await.unwrap();
        let mut buf = [0u8; 512];
        let got = tokio::time::timeout(Duration::from_millis(300), client.recv(&mut buf)).await;
        got.ok().map(|n| buf[..n.unwrap()].to_vec())
    }

    #[tokio::test]
    async fn the_driver_applies_a_reloaded_allow_list_and_stops_on_shutdown() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (reload, reload_rx) = mpsc::channel(1);
        let (stop, stopped) = watch::channel(false);
        let driver = tokio::spawn(run(
            crate::SharedEngine::new(engine("127.0.0.1/32")),
            socket,
            Vec::new(),
            reload_rx,
            stopped,
            None,
        ));
        let inside = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let outside = UdpSocket::bind("127.0.0.2:0").await.unwrap();
        let pong = ping(&inside, addr, "a").await;
        assert_eq!(pong.as_deref(), Some(b"a d6:result4:ponge".as_slice()));
        assert_eq!(
            ping(&outside, addr, "b").await,
            None,
            "refused source answered"
        );

        reload
            .send(guard("127.0.0.1/32,127.0.0.2/32"))
            .await
            .unwrap();
        // The reload and the next datagram may be taken in either order: a few tries.
        let mut pong = None;
        for cookie in ["c1", "c2", "c3"] {
            pong = ping(&outside, addr, cookie).await;
            if pong.is_some() {
                break;
            }
        }
        let pong = pong.expect("the reloaded allow-list lets 127.0.0.2 in");
        assert!(pong.ends_with(b" d6:result4:ponge"), "{pong:?}");

        stop.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(2), driver).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }
}
