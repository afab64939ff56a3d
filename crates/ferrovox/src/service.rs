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
