//! The log level at run time: the subscriber is built with a reloadable filter, and the admin
//! socket's `params.set general.log_level` swaps it (`tracing_subscriber::reload`).

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// Replaces the running filter.
type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

static RELOAD: OnceLock<Reload> = OnceLock::new();

/// Keeps the way to change the running filter (set once, when logging starts).
pub fn keep(reload: impl Fn(EnvFilter) -> Result<(), String> + Send + Sync + 'static) {
    let _ = RELOAD.set(Box::new(reload));
}

/// Logs at `level` (`trace`, `debug`, `info`, `warn`, `error`) from now on.
pub fn set_level(level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("log level {level:?}: {e}"))?;
    match RELOAD.get() {
        Some(reload) => reload(filter),
        None => Err("logging has not started".into()),
    }
}
