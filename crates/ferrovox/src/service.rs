//! The threads beside the SIP and ng ones (the admin socket, the metrics endpoint): each runs
//! one task on a current-thread tokio runtime of its own, so what it serves never queues
//! behind SIP or ng work, nor theirs behind it.

use anyhow::Context;
use std::future::Future;
use std::thread::JoinHandle;

/// Starts thread `name` running the task `make` returns on a runtime of its own; `what`
/// names the service in errors. A runtime that cannot be built is logged and the thread
/// ends.
pub fn spawn<F, Fut>(name: &str, what: &'static str, make: F) -> anyhow::Result<JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(make()),
                Err(e) => tracing::error!(error = %e, service = what, "cannot build its runtime"),
            }
        })
        .with_context(|| format!("cannot start the {what} thread"))
}

/// How long a listener thread replaced by a reload keeps serving the connections it has
/// (the admin `reload` that replaced it gets its reply there) after it stops accepting.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// A listener thread's switches: its own stop, and what it does when stopped.
#[derive(Debug, Clone)]
pub struct Switches {
    /// Turns true to stop accepting.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Set when a reload replaced the thread: it lingers ([`LINGER`]) for its connections.
    pub replaced: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Set when its successor serves the same socket file (which must then stay).
    pub handed_over: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The owner's side of a listener thread: the switches, and the thread to join.
#[derive(Debug)]
pub struct Served {
    stop: tokio::sync::watch::Sender<bool>,
    switches: Switches,
    handle: JoinHandle<()>,
}

impl Switches {
    /// New switches (all off) and their sender.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Switches) {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let off = || std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = Switches {
            stop: rx,
            replaced: off(),
            handed_over: off(),
        };
        (stop, s)
    }

    /// After the serve loop ended: lingers when replaced; says whether the socket file is
    /// this thread's to remove.
    pub async fn ended(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if self.replaced.load(Relaxed) {
            tokio::time::sleep(LINGER).await;
        }
        !self.handed_over.load(Relaxed)
    }
}

impl Served {
    /// A thread started with `switches` (whose sender is `stop`).
    pub fn new(
        stop: tokio::sync::watch::Sender<bool>,
        switches: Switches,
        handle: JoinHandle<()>,
    ) -> Served {
        Served {
            stop,
            switches,
            handle,
        }
    }

    /// Stops the thread for a successor (which serves the same socket file when
    /// `handed_over`); it lingers for its connections. The thread to join at shutdown.
    pub fn replace(self, handed_over: bool) -> JoinHandle<()> {
        use std::sync::atomic::Ordering::Relaxed;
        self.switches.handed_over.store(handed_over, Relaxed);
        self.switches.replaced.store(true, Relaxed);
        let _ = self.stop.send(true);
        self.handle
    }

    /// Stops the thread (shutdown, or the listener turned off) and waits for it.
    pub fn stop(self, what: &str) {
        let _ = self.stop.send(true);
        if self.handle.join().is_err() {
            tracing::error!("the {what} thread panicked");
        }
    }
}

/// Waits for threads replaced by reloads.
pub fn join_replaced(handles: Vec<JoinHandle<()>>, what: &str) {
    for h in handles {
        if h.join().is_err() {
            tracing::error!("a replaced {what} thread panicked");
        }
    }
}
