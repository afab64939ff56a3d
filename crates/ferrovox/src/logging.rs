//! Logging: a subscriber whose filter and output format can both be swapped while the daemon
//! runs (`tracing_subscriber::reload`): the admin socket's `params.set general.log_level` and
//! a reload change the level, a reload changes `general.log_format`.

use std::sync::OnceLock;

use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// The registry under its filter: what the output layer sits on.
type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
/// The output layer (text, journal text or JSON lines on stderr).
type Output = Box<dyn Layer<Filtered> + Send + Sync>;

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();
static FORMAT: OnceLock<reload::Handle<Output, Filtered>> = OnceLock::new();

/// Starts logging to stderr: `RUST_LOG` when set, else `[general] log_level`, in
/// `[general] log_format`.
pub fn init(cfg: &config::Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cfg.general.log_level.as_str()));
    let (filter, filter_handle) = reload::Layer::new(filter);
    let (output, format_handle) = reload::Layer::new(output(cfg.general.log_format));
    let _ = FILTER.set(filter_handle);
    let _ = FORMAT.set(format_handle);
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .init();
}

/// The output layer for `format`: text (without timestamps and with priorities when stderr
/// is the journal) or JSON; colours only for a person at a terminal.
fn output(format: config::LogFormat) -> Output {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        config::LogFormat::Json => layer.json().boxed(),
        config::LogFormat::Text if crate::journal::stderr_is_journal() => layer
            .event_format(crate::journal::JournalFormat::default())
            .boxed(),
        config::LogFormat::Text => layer.boxed(),
    }
}

/// Logs at `level` (`trace`, `debug`, `info`, `warn`, `error`) from now on.
pub fn set_level(level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("log level {level:?}: {e}"))?;
    let handle = FILTER.get().ok_or("logging has not started")?;
    handle.reload(filter).map_err(|e| e.to_string())
}

/// Writes the log in `format` from now on.
pub fn set_format(format: config::LogFormat) -> Result<(), String> {
    let handle = FORMAT.get().ok_or("logging has not started")?;
    handle.reload(output(format)).map_err(|e| e.to_string())
}
