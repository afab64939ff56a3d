//! `[general]`: logging.

use serde::Deserialize;

use crate::check::choice;
use crate::error::ConfigError;

/// How much the daemon logs (`general.log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything, including per-message detail.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation (the default).
    #[default]
    Info,
    /// Only problems that need attention.
    Warn,
    /// Only failures.
    Error,
}

impl LogLevel {
    /// The config spelling, which is also what `tracing` filters accept.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// How log lines are written (`general.log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The `[general]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeneralConfig {
    /// `log_level`: trace | debug | info | warn | error; default `info`.
    pub log_level: LogLevel,
    /// `log_format`: text | json; default `text`.
    pub log_format: LogFormat,
}

/// `[general]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [general] table")]
pub(crate) struct RawGeneral {
    log_level: Option<String>,
    log_format: Option<String>,
}

impl RawGeneral {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<GeneralConfig, ConfigError> {
        let d = GeneralConfig::default();
        Ok(GeneralConfig {
            log_level: choice("general.log_level", self.log_level.as_deref(), d.log_level)?,
            log_format: choice(
                "general.log_format",
                self.log_format.as_deref(),
                d.log_format,
            )?,
        })
    }
}
