//! `[set.health]`: OPTIONS probing and passive failure detection of a set's members.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::check::{opt_int_in, secs_in};
use crate::error::{key, ConfigError};
use crate::sip::ms_in;
use crate::uri::SipUri;

/// One entry of `ok_codes`: a whole class such as `"2xx"` or one exact code such as `"404"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OkCode {
    /// Every code of a class: the hundreds digit, 2 to 6 (`"2xx"` is `Class(2)`).
    Class(u8),
    /// One final code, 200..=699.
    Exact(u16),
}

impl OkCode {
    /// Whether `code` is covered by this entry.
    pub fn accepts(self, code: u16) -> bool {
        match self {
            OkCode::Class(class) => code / 100 == u16::from(class),
            OkCode::Exact(exact) => code == exact,
        }
    }

    /// Parses `"2xx"` (any case of `x`) or an exact final code `"200"`..`"699"`.
    pub fn parse(text: &str) -> Result<OkCode, String> {
        let bytes = text.as_bytes();
        let err = || {
            format!("{text:?} is neither a class like \"2xx\" nor a final reply code 200 to 699")
        };
        if let [d @ b'2'..=b'6', x1, x2] = bytes {
            if x1.eq_ignore_ascii_case(&b'x') && x2.eq_ignore_ascii_case(&b'x') {
                return Ok(OkCode::Class(d - b'0'));
            }
        }
        match text.parse::<u16>() {
            Ok(code) if (200..=699).contains(&code) && bytes.len() == 3 => Ok(OkCode::Exact(code)),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for OkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OkCode::Class(c) => write!(f, "{c}xx"),
            OkCode::Exact(code) => write!(f, "{code}"),
        }
    }
}

/// The `[set.health]` table of a set. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `interval_secs` (1..=3600, default 10): each member gets an OPTIONS this often.
    pub interval: Duration,
    /// `timeout_ms` (100..=60000, default 2000): a probe with no final reply by then fails.
    pub timeout: Duration,
    /// `down_after` (1..=100, default 3): this many consecutive failures make a member DOWN.
    pub down_after: u32,
    /// `up_after` (1..=100, default 2): this many consecutive successes bring a DOWN member
    /// back to ACTIVE.
    pub up_after: u32,
    /// `ok_codes` (default `["2xx"]`, at least one): probe reply codes that count as success.
    pub ok_codes: Vec<OkCode>,
    /// `probe_from` (default `"sip:ferrovox@localhost"`): From URI of the probes.
    pub probe_from: SipUri,
    /// `busy_default_secs` (0..=3600, default 0): on a call (passive detection), a 503 with
    /// no usable Retry-After (absent or 0) makes the member BUSY for this long; `None` when 0,
    /// and such a 503 then counts as a passive failure. Probes never use it: a 503 to a probe
    /// without Retry-After is an ordinary failure unless `ok_codes` accepts 503.
    pub busy_default: Option<Duration>,
    /// `passive` (default true): INVITE branches that time out without a provisional reply,
    /// transport errors and 503s on calls count as well.
    pub passive: bool,
}

/// Default `probe_from`.
pub const DEFAULT_PROBE_FROM: &str = "sip:ferrovox@localhost";

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(10),
            timeout: Duration::from_millis(2000),
            down_after: 3,
            up_after: 2,
            ok_codes: vec![OkCode::Class(2)],
            probe_from: default_probe_from(),
            busy_default: None,
            passive: true,
        }
    }
}

impl HealthConfig {
    /// Whether a probe reply with `code` counts as success.
    pub fn accepts(&self, code: u16) -> bool {
        self.ok_codes.iter().any(|c| c.accepts(code))
    }
}

/// The parsed [`DEFAULT_PROBE_FROM`].
fn default_probe_from() -> SipUri {
    // The constant is a plain sip: URI with a host name, which the parser accepts; should it
    // ever not, a URI built field by field keeps this infallible.
    SipUri::parse(DEFAULT_PROBE_FROM).unwrap_or(SipUri {
        text: DEFAULT_PROBE_FROM.to_owned(),
        secure: false,
        user: Some("ferrovox".to_owned()),
        host: crate::uri::UriHost::Name("localhost".to_owned()),
        port: None,
        transport: None,
    })
}

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
                        .map_err(|why| key(p(&format!("ok_codes[{i}]")), why))?;
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
        })
    }
}
