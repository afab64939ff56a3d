//! The media engine shared by its two drivers: the ng thread, which runs its timers, moves
//! worker events in and flow commands out and answers ng; and the SIP proxy, which anchors
//! the calls it routes through it in-process ([`proxy::MediaAnchor`]).
//!
//! One lock around the engine: each holder keeps it for one offer, answer, delete or one
//! round of the ng loop (microseconds), so neither side waits long for the other. A SIP-side
//! change wakes the ng thread, which pushes the new flows to the workers at once.

use media::{AnchorError, Engine, SdpExchange};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::Notify;

/// The shared engine (cheap to clone: both handles reach the same engine).
#[derive(Debug, Clone)]
pub struct SharedEngine {
    engine: Arc<Mutex<Engine>>,
    changed: Arc<Notify>,
}

impl SharedEngine {
    /// Shares `engine`.
    pub fn new(engine: Engine) -> Self {
        SharedEngine {
            engine: Arc::new(Mutex::new(engine)),
            changed: Arc::new(Notify::new()),
        }
    }

    /// The engine, locked. A holder that panicked leaves it as it was: the engine's state is
    /// consistent between calls, so the lock is taken over rather than failing for good.
    pub fn lock(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when the SIP side changed the engine (the ng driver then moves its commands).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Runs `f` on the locked engine and wakes the ng driver, which sends the worker commands
    /// `f` queued (the admin socket's inspections and run-time settings).
    pub fn change<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        self.with(f)
    }

    /// Runs `f` on the locked engine and tells the ng driver.
    fn with<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.notify_one();
        out
    }
}

impl proxy::MediaAnchor for SharedEngine {
    fn offer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.with(|e| e.anchor_offer(now, x))
    }

    fn answer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.with(|e| e.anchor_answer(now, x))
    }

    fn delete(&mut self, now: Instant, call_id: &[u8]) -> bool {
        self.with(|e| e.anchor_delete(now, call_id))
    }

    fn poll_ended(&mut self) -> Option<(Vec<u8>, media::EndReason)> {
        self.lock().poll_anchored_end()
    }

    fn poll_silent(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        self.lock().poll_anchored_silent()
    }
}
