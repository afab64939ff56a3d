//! The `[sip]` keys that bound the proxy's tables (`max_*`) and open its routing to trusted
//! networks (`trusted`).

use std::time::Duration;

use dispatch::Cidr;

use crate::check::{opt_int_in, secs_in};
use crate::dispatcher::build_networks;
use crate::error::ConfigError;

/// The largest value of a `max_*` table cap.
pub const MAX_TABLE_CAP: u32 = 16_777_216;

/// The caps on the proxy's tables. A request that would need an entry beyond a cap is
/// answered 503 with `Retry-After` (statelessly when it is the server transaction that is
/// missing) and counted; what is already held keeps working.
///
/// The defaults hold a little more than 3,000 calls per second with the default timers
/// (each call keeps two server transactions and two contexts for 64*T1 = 32 s, one client
/// transaction as long, and its dialog until BYE + 32 s), and at most about 800 MiB in all
/// (about 1 KiB per transaction or context, a few hundred bytes per dialog) when every table
/// is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `max_server_transactions` (1..=16777216, default 262144): requests held (RFC 3261
    /// §17.2, each until its last timer).
    pub server_transactions: u32,
    /// `max_client_transactions` (1..=16777216, default 131072): requests the proxy has sent
    /// and still tracks (branches, CANCELs, probes). A new branch beyond it is not sent: the
    /// caller gets 503.
    pub client_transactions: u32,
    /// `max_contexts` (1..=16777216, default 262144): forwarded requests in progress (one
    /// response context each, RFC 3261 §16).
    pub contexts: u32,
    /// `max_dialogs` (1..=16777216, default 131072): calls pinned to a member (early or
    /// confirmed, until BYE + 32 s or `dialog_expiry_secs`). A new call beyond it gets 503.
    pub dialogs: u32,
    /// `max_registrations` (1..=1000000, default 1024): members joined by REGISTER, in all
    /// sets. A new one beyond it gets 503; refreshes of those held go on.
    pub registrations: u32,
    /// `overload_retry_after_secs` (1..=3600, default 5): the `Retry-After` of a 503 given
    /// at a cap.
    pub retry_after: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            server_transactions: 262_144,
            client_transactions: 131_072,
            contexts: 262_144,
            dialogs: 131_072,
            registrations: 1024,
            retry_after: Duration::from_secs(5),
        }
    }
}

/// The `max_*` keys as written.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawLimits {
    pub server_transactions: Option<i64>,
    pub client_transactions: Option<i64>,
    pub contexts: Option<i64>,
    pub dialogs: Option<i64>,
    pub registrations: Option<i64>,
    pub retry_after_secs: Option<i64>,
}

impl RawLimits {
    /// Checks each key's range and fills in the defaults.
    pub(crate) fn build(self) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        let cap = |path: &str, v: Option<i64>, default: u32| {
            opt_int_in(path, v, 1, i64::from(MAX_TABLE_CAP), default)
        };
        Ok(LimitsConfig {
            server_transactions: cap(
                "sip.max_server_transactions",
                self.server_transactions,
                d.server_transactions,
            )?,
            client_transactions: cap(
                "sip.max_client_transactions",
                self.client_transactions,
                d.client_transactions,
            )?,
            contexts: cap("sip.max_contexts", self.contexts, d.contexts)?,
            dialogs: cap("sip.max_dialogs", self.dialogs, d.dialogs)?,
            registrations: opt_int_in(
                "sip.max_registrations",
                self.registrations,
                1,
                1_000_000,
                d.registrations,
            )?,
            retry_after: secs_in(
                "sip.overload_retry_after_secs",
                self.retry_after_secs,
                1,
                3600,
                d.retry_after,
            )?,
        })
    }
}

/// `sip.trusted`: networks, no repeats.
pub(crate) fn build_trusted(list: Option<&[String]>) -> Result<Vec<Cidr>, ConfigError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let nets = build_networks("sip.trusted", list)?;
    for (i, n) in nets.iter().enumerate() {
        if let Some(j) = nets.iter().take(i).position(|m| m == n) {
            return Err(crate::error::key(
                format!("sip.trusted[{i}]"),
                format!("repeats sip.trusted[{j}]"),
            ));
        }
    }
    Ok(nets)
}
