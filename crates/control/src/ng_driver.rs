//! The tokio driver: the ng UDP socket, a short tick that moves worker events in and commands
//! out, and the engine's timers. Everything else is the engine's.

use media::{Engine, EngineEvent};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The control plane's end of one worker's rings, as `pktio::plane::DataPlane` hands them out.
pub use pktio::plane::WorkerLink;

/// How often worker events are collected when no ng traffic wakes the driver.
const TICK: Duration = Duration::from_millis(2);

/// Runs the ng listener until `shutdown` turns true.
pub async fn run(
    mut engine: Engine,
    socket: UdpSocket,
    mut workers: Vec<WorkerLink>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut wake = vec![false; workers.len()];
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => engine.handle_datagram(Instant::now(), from, &buf[..n]),
                Err(e) => tracing::warn!(error = %e, "ng socket receive failed"),
            },
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let now = Instant::now();
        for (w, link) in workers.iter_mut().enumerate() {
            while let Ok(ev) = link.events.pop() {
                engine.handle_event(now, w, ev);
            }
        }
        engine.handle_timeout(now);
        while let Some((w, cmd)) = engine.poll_command() {
            let Some(link) = workers.get_mut(w) else {
                continue;
            };
            match link.commands.push(cmd) {
                Ok(()) => wake[w] = true,
                Err(rtrb::PushError::Full(cmd)) => {
                    // The worker is behind; keep the command for the next round.
                    engine.requeue_command(w, cmd);
                    break;
                }
            }
        }
        for (w, flag) in wake.iter_mut().enumerate() {
            if std::mem::take(flag) {
                workers[w].waker.wake();
            }
        }
        while let Some(t) = engine.poll_transmit() {
            if let Err(e) = socket.send_to(&t.bytes, t.dst).await {
                tracing::warn!(to = %t.dst, error = %e, "ng reply not sent");
            }
        }
        while let Some(e) = engine.poll_event() {
            log_event(&e);
        }
    }
    Ok(())
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
