//! A set's health checks: OPTIONS probing and passive failure detection (`[set.health]`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sip::{SipUri, UriHost};

/// One entry of `ok_codes`: a whole class such as `"2xx"` or one exact code such as `"404"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OkCode {
    /// Every code of a class: the hundreds digit, 2 to 6 (`"2xx"` is `Class(2)`).
    Class(u8),
    /// One final code, 200..=699.
    Exact(u16),
}

/// Why an `ok_codes` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OkCodeError {
    /// A class of codes that are not final replies (`1xx`) or do not exist (`7xx`..).
    #[error("{0:?} is not a class of final replies (2xx to 6xx)")]
    Class(String),
    /// Neither a class like `"2xx"` nor a three-digit final reply code 200 to 699.
    #[error("{0:?} is neither a class like \"2xx\" nor a final reply code 200 to 699")]
    NotACode(String),
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
    pub fn parse(text: &str) -> Result<OkCode, OkCodeError> {
        if let [d, x1, x2] = text.as_bytes() {
            if x1.eq_ignore_ascii_case(&b'x') && x2.eq_ignore_ascii_case(&b'x') {
                return match d {
                    b'2'..=b'6' => Ok(OkCode::Class(d - b'0')),
                    _ => Err(OkCodeError::Class(text.to_owned())),
                };
            }
        }
        match text.parse::<u16>() {
            Ok(code) if (200..=699).contains(&code) && text.len() == 3 => Ok(OkCode::Exact(code)),
            _ => Err(OkCodeError::NotACode(text.to_owned())),
        }
    }
}

impl FromStr for OkCode {
    type Err = OkCodeError;
    fn from_str(text: &str) -> Result<OkCode, OkCodeError> {
        OkCode::parse(text)
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

/// Default `probe_from`.
pub const DEFAULT_PROBE_FROM: &str = "sip:ferrovox@localhost";

/// How a set checks its members (`[set.health]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `interval_secs` (default 10 s): each member gets an OPTIONS this often.
    pub interval: Duration,
    /// `timeout_ms` (default 2 s): a probe with no final reply by then fails.
    pub timeout: Duration,
    /// `down_after` (default 3): this many consecutive failures make a member DOWN.
    pub down_after: u32,
    /// `up_after` (default 2): this many consecutive successes bring a DOWN member back to
    /// ACTIVE.
    pub up_after: u32,
    /// `ok_codes` (default `["2xx"]`, at least one): probe reply codes that count as success.
    pub ok_codes: Vec<OkCode>,
    /// `probe_from` (default [`DEFAULT_PROBE_FROM`]): From URI of the probes.
    pub probe_from: SipUri,
    /// `busy_default_secs`: on a call (passive detection), a 503 with no usable Retry-After
    /// (absent or 0) makes the member BUSY for this long; with `None` such a 503 counts as a
    /// passive failure. Probes never use it: a 503 to a probe without Retry-After is an
    /// ordinary failure unless `ok_codes` accepts 503.
    pub busy_default: Option<Duration>,
    /// `passive` (default true): a new call's INVITE that times out without a provisional
    /// reply, transport errors and 503s on calls count as well (an in-dialog request timing
    /// out does not).
    pub passive: bool,
    /// `no_rtp_suspect` (default false): a call the member answered whose media from it had
    /// not started by the relay's RTP check (`[media] rtp_check_secs`) counts as a failure
    /// too (toward `down_after`: the member turns SUSPECT, then DOWN). Such calls are counted
    /// per member either way.
    pub no_rtp_suspect: bool,
}

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
            no_rtp_suspect: false,
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
        host: UriHost::Name("localhost".to_owned()),
        port: None,
        transport: None,
    })
}
