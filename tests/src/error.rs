//! The harness error type: every failure names what was being done.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why an end-to-end run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program the tests need is not installed (or not built); the message says what to do.
    #[error("e2e: {tool} not found: {hint}")]
    MissingTool {
        /// The program, as the tests call it.
        tool: String,
        /// One line saying how to get it.
        hint: String,
    },
    /// `E2E_RELAY` names no relay the harness knows.
    #[error("e2e: E2E_RELAY={0:?} is not one of: ferrovox, rtpengine")]
    UnknownRelay(String),
    /// An I/O operation failed.
    #[error("e2e: {what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A bounded wait ran out.
    #[error("e2e: timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the harness waited.
        waited: Duration,
    },
    /// A helper process (relay, proxy, capture) exited while it was still needed.
    #[error("e2e: {name} exited early ({status}); log {log}:\n{tail}")]
    Exited {
        /// The process name.
        name: String,
        /// Its exit status as text.
        status: String,
        /// Where its output went.
        log: PathBuf,
        /// The last lines of that output.
        tail: String,
    },
    /// A sipp side did not finish its scenario successfully.
    #[error("e2e: sipp {side} failed ({status}); log {log}:\n{tail}")]
    Sipp {
        /// `uac` or `uas`.
        side: String,
        /// Its exit status as text (0 means every call succeeded).
        status: String,
        /// Where its output went.
        log: PathBuf,
        /// The last lines of that output and of its error log.
        tail: String,
    },
    /// No block of free loopback ports could be found.
    #[error("e2e: no free block of {size} UDP ports on 127.0.0.1 below the ephemeral range")]
    NoFreePorts {
        /// The block size that was looked for.
        size: u16,
    },
    /// The ng peer answered something the harness could not use.
    #[error("e2e: ng {command}: {reason}")]
    Ng {
        /// The ng command sent.
        command: String,
        /// What was wrong with the reply.
        reason: String,
    },
    /// A config file for a peer could not be rendered.
    #[error("e2e: {file}: {reason}")]
    Render {
        /// The file being rendered.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// A capture file could not be read.
    #[error("e2e: pcap {path}: {reason}")]
    Pcap {
        /// The capture file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A test corpus file (a verdict table) could not be used.
    #[error("e2e: corpus {file}: {reason}")]
    Corpus {
        /// The file.
        file: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The run completed but what it showed is wrong; one line per failed check.
    #[error("e2e: {} check(s) failed:\n  - {}", .0.len(), .0.join("\n  - "))]
    Checks(Vec<String>),
}

impl Error {
    /// An [`Error::Io`] for `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The harness result type.
pub type Result<T> = std::result::Result<T, Error>;
