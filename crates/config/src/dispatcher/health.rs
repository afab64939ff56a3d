//! `[set.health]`: OPTIONS probing and passive failure detection of a set's members, read into
//! the dispatcher's [`HealthConfig`].

use std::time::Duration;

use dispatch::{HealthConfig, OkCode};
use serde::Deserialize;
use sip::SipUri;

use crate::check::{opt_int_in, secs_in};
use crate::error::{key, ConfigError};
use crate::sip::ms_in;

/// `[set.health]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [set.health] table")]
pub(crate) struct RawHealth {
    interval_secs: Option<i64>,
    timeout_ms: Option<i64>,
    down_after: Option<i64>,
    up_after: Option<i64>,
    ok_codes: Option<Vec<String>>,
    probe_from: Option<String>,
    busy_default_secs: Option<i64>,
    passive: Option<bool>,
    no_rtp_suspect: Option<bool>,
}

impl RawHealth {
    /// Checks every key of the health table at `prefix` (e.g. `set[0].health`).
    pub(crate) fn build(self, prefix: &str) -> Result<HealthConfig, ConfigError> {
        let p = |k: &str| format!("{prefix}.{k}");
        let d = HealthConfig::default();
        let ok_codes = match self.ok_codes {
            None => d.ok_codes,
            Some(list) if list.is_empty() => {
                return Err(key(
                    p("ok_codes"),
                    "at least one code or class is required (e.g. [\"2xx\"])",
                ))
            }
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, text) in list.iter().enumerate() {
                    let code = OkCode::parse(text)
                        .map_err(|why| key(p(&format!("ok_codes[{i}]")), why.to_string()))?;
                    out.push(code);
                }
                out
            }
        };
        let probe_from = match self.probe_from {
            None => d.probe_from,
            Some(text) => SipUri::parse(&text)
                .map_err(|why| key(p("probe_from"), format!("{text:?}: {why}")))?,
        };
        let busy_secs: u64 =
            opt_int_in(&p("busy_default_secs"), self.busy_default_secs, 0, 3600, 0)?;
        Ok(HealthConfig {
            interval: secs_in(&p("interval_secs"), self.interval_secs, 1, 3600, d.interval)?,
            timeout: ms_in(&p("timeout_ms"), self.timeout_ms, 100, 60_000, d.timeout)?,
            down_after: opt_int_in(&p("down_after"), self.down_after, 1, 100, d.down_after)?,
            up_after: opt_int_in(&p("up_after"), self.up_after, 1, 100, d.up_after)?,
            ok_codes,
            probe_from,
            busy_default: (busy_secs > 0).then(|| Duration::from_secs(busy_secs)),
            passive: self.passive.unwrap_or(d.passive),
            no_rtp_suspect: self.no_rtp_suspect.unwrap_or(d.no_rtp_suspect),
        })
    }
}
