//! `[media]`: latching and media timeouts, as rtpengine operators know them.

use std::num::NonZeroU32;
use std::time::Duration;

use dataplane::LatchMode;
use serde::Deserialize;

use crate::check::{choice, opt_int_in, secs_in};
use crate::error::{key, ConfigError};

/// Longest `media.final_timeout_secs` accepted: one week.
pub const MAX_FINAL_TIMEOUT_SECS: u64 = 7 * 86_400;

/// The `[media]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// `latching`: off | immediate | heuristic (the data plane's own mode); default
    /// `heuristic`, rtpengine's behaviour.
    pub latching: LatchMode,
    /// `learning_secs` (0..=60, default 3): the heuristic learning window.
    pub learning: Duration,
    /// `strict_source` (default false): once latched, drop and count packets from any other
    /// source (protection against RTP Bleed/Inject). Needs latching, so `latching = "off"`
    /// with `strict_source = true` is refused.
    pub strict_source: bool,
    /// `timeout_secs` (1..=86400, default 60): a call with no RTP on any of its streams for
    /// this long times out.
    pub timeout: Duration,
    /// `hold_timeout_secs` (1..=86400, default 3600): the same while the call is on hold.
    pub hold_timeout: Duration,
    /// `offer_timeout_secs` (1..=86400, default 60): an offer with no answer is dropped after this.
    pub offer_timeout: Duration,
    /// `final_timeout_secs` (0..=604800, default 0): cap on a call's length; `None` when 0 (off).
    pub final_timeout: Option<Duration>,
    /// `delete_delay_secs` (0..=3600, default 30): after a delete, keep relaying this long
    /// before the ports can be reused.
    pub delete_delay: Duration,
    /// `max_sessions` (default 0): `None` when 0 (unlimited); otherwise offers beyond this many
    /// sessions are refused with "load limit".
    pub max_sessions: Option<NonZeroU32>,
    /// `rtp_check_secs` (0..=3600, default 10): this long after an anchored call is answered,
    /// a party that has sent no RTP yet is reported to the SIP proxy, which counts it against
    /// the member (and may mark it SUSPECT, `[set.health] no_rtp_suspect`); `None` when 0.
    pub rtp_check: Option<Duration>,
}

impl MediaConfig {
    /// These settings with the keys a reload (or `params.set`) applies to a running daemon
    /// taken from `new`: the timeouts, the delete delay, `max_sessions`, latching and strict
    /// source (for calls offered from then on). `learning` stays: the workers take it at
    /// start.
    pub fn with_live_keys_of(&self, new: &MediaConfig) -> MediaConfig {
        MediaConfig {
            timeout: new.timeout,
            hold_timeout: new.hold_timeout,
            offer_timeout: new.offer_timeout,
            final_timeout: new.final_timeout,
            delete_delay: new.delete_delay,
            max_sessions: new.max_sessions,
            latching: new.latching,
            strict_source: new.strict_source,
            ..self.clone()
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            latching: LatchMode::Heuristic,
            learning: Duration::from_secs(3),
            strict_source: false,
            timeout: Duration::from_secs(60),
            hold_timeout: Duration::from_secs(3600),
            offer_timeout: Duration::from_secs(60),
            final_timeout: None,
            delete_delay: Duration::from_secs(30),
            max_sessions: None,
            rtp_check: Some(Duration::from_secs(10)),
        }
    }
}

/// `[media]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [media] table")]
pub(crate) struct RawMedia {
    latching: Option<String>,
    learning_secs: Option<i64>,
    strict_source: Option<bool>,
    timeout_secs: Option<i64>,
    hold_timeout_secs: Option<i64>,
    offer_timeout_secs: Option<i64>,
    final_timeout_secs: Option<i64>,
    delete_delay_secs: Option<i64>,
    rtp_check_secs: Option<i64>,
    max_sessions: Option<i64>,
}

/// One day, the upper bound of the no-RTP, hold and offer timeouts.
const DAY: i64 = 86_400;

impl RawMedia {
    /// Checks every key, the keys against each other, and fills in the defaults.
    pub(crate) fn build(self) -> Result<MediaConfig, ConfigError> {
        let d = MediaConfig::default();
        let latching = choice("media.latching", self.latching.as_deref(), d.latching)?;
        let strict_source = self.strict_source.unwrap_or(d.strict_source);
        if strict_source && latching == LatchMode::Off {
            return Err(key(
                "media.strict_source",
                "strict_source = true needs latching, but media.latching is \"off\"",
            ));
        }
        let final_secs: u64 = opt_int_in(
            "media.final_timeout_secs",
            self.final_timeout_secs,
            0,
            MAX_FINAL_TIMEOUT_SECS as i64,
            0,
        )?;
        let max_sessions: u32 = opt_int_in(
            "media.max_sessions",
            self.max_sessions,
            0,
            i64::from(u32::MAX),
            0,
        )?;
        Ok(MediaConfig {
            latching,
            learning: secs_in("media.learning_secs", self.learning_secs, 0, 60, d.learning)?,
            strict_source,
            timeout: secs_in("media.timeout_secs", self.timeout_secs, 1, DAY, d.timeout)?,
            hold_timeout: secs_in(
                "media.hold_timeout_secs",
                self.hold_timeout_secs,
                1,
                DAY,
                d.hold_timeout,
            )?,
            offer_timeout: secs_in(
                "media.offer_timeout_secs",
                self.offer_timeout_secs,
                1,
                DAY,
                d.offer_timeout,
            )?,
            final_timeout: (final_secs > 0).then(|| Duration::from_secs(final_secs)),
            delete_delay: secs_in(
                "media.delete_delay_secs",
                self.delete_delay_secs,
                0,
                3600,
                d.delete_delay,
            )?,
            max_sessions: NonZeroU32::new(max_sessions),
            rtp_check: Some(secs_in(
                "media.rtp_check_secs",
                self.rtp_check_secs,
                0,
                3600,
                d.rtp_check.unwrap_or_default(),
            )?)
            .filter(|d| !d.is_zero()),
        })
    }
}
