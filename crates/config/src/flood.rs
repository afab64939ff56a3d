//! `[sip.flood]`: the SIP proxy's flood protection, Kamailio's `pike` + `ratelimit` built in.
//!
//! Every message a source sends (request, response or anything that does not parse) takes a
//! token from its source's bucket: `rate` tokens a second, at most `burst` held. A message
//! that finds the bucket empty is dropped unanswered; a source that keeps running its bucket
//! dry for `ban_after_secs` is banned for `ban_secs`, and everything it sends is then dropped
//! before it is read, and nothing is sent to it. A source is one IPv4 address or one IPv6
//! `/ipv6_prefix` network. Pool members (of any set) and `[sip] trusted` networks are never
//! limited.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

use crate::check::{opt_int_in, secs_in};
use crate::error::ConfigError;

/// Default `sip.flood.rate`: messages a second per source. A caller placing 50 calls a
/// second sends about 150 (INVITE, ACK, BYE), and a phone or a small PBX a few.
pub const DEFAULT_FLOOD_RATE: u32 = 200;
/// Largest `sip.flood.rate` and `sip.flood.burst`.
pub const MAX_FLOOD_RATE: u32 = 1_000_000;
/// Default `sip.flood.max_sources`: only sources over their rate need remembering (a quiet
/// source forgotten starts again with a full bucket, which loses nothing), and this many
/// sources each over 200 messages a second is far more than one box can receive.
pub const DEFAULT_FLOOD_SOURCES: u32 = 16_384;

/// The `[sip.flood]` table. Every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodConfig {
    /// `enabled` (default true): limit and ban. False lets every source through unchecked.
    pub enabled: bool,
    /// `rate` (1..=1000000, default 200): messages a second each source may send on average.
    pub rate: NonZeroU32,
    /// `burst` (1..=1000000, default twice `rate`): messages a source may send at once after
    /// a quiet spell (the bucket's size).
    pub burst: NonZeroU32,
    /// `ban_after_secs` (1..=3600, default 2): a source whose messages are refused for this
    /// long without a break of a second or more is banned.
    pub ban_after: Duration,
    /// `ban_secs` (0..=86400, default 300): how long a ban lasts; 0 never bans (the rate
    /// limit alone applies).
    pub ban: Duration,
    /// `ipv6_prefix` (32..=128, default 64): an IPv6 source is its network of this length
    /// (a subscriber gets a whole /64, and so does an attacker). IPv4 sources are single
    /// addresses.
    pub ipv6_prefix: u8,
    /// `max_sources` (64..=4194304, default 16384): sources tracked at once, banned ones
    /// included (about 100 bytes each). Beyond it the oldest quiet source is forgotten
    /// first, so a flood of spoofed addresses cannot grow the table.
    pub max_sources: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            rate: nonzero(DEFAULT_FLOOD_RATE),
            burst: nonzero(2 * DEFAULT_FLOOD_RATE),
            ban_after: Duration::from_secs(2),
            ban: Duration::from_secs(300),
            ipv6_prefix: 64,
            max_sources: DEFAULT_FLOOD_SOURCES,
        }
    }
}

/// `n` as a `NonZeroU32`; 1 for 0 (only ever called with non-zero constants and checked
/// values).
fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// `[sip.flood]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [sip.flood] table")]
pub(crate) struct RawFlood {
    enabled: Option<bool>,
    rate: Option<i64>,
    burst: Option<i64>,
    ban_after_secs: Option<i64>,
    ban_secs: Option<i64>,
    ipv6_prefix: Option<i64>,
    max_sources: Option<i64>,
}

impl RawFlood {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<FloodConfig, ConfigError> {
        let d = FloodConfig::default();
        let max = i64::from(MAX_FLOOD_RATE);
        let rate: u32 = opt_int_in("sip.flood.rate", self.rate, 1, max, d.rate.get())?;
        let burst: u32 = opt_int_in(
            "sip.flood.burst",
            self.burst,
            1,
            max,
            rate.saturating_mul(2).min(MAX_FLOOD_RATE),
        )?;
        Ok(FloodConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            rate: nonzero(rate),
            burst: nonzero(burst),
            ban_after: secs_in(
                "sip.flood.ban_after_secs",
                self.ban_after_secs,
                1,
                3600,
                d.ban_after,
            )?,
            ban: secs_in("sip.flood.ban_secs", self.ban_secs, 0, 86_400, d.ban)?,
            ipv6_prefix: opt_int_in(
                "sip.flood.ipv6_prefix",
                self.ipv6_prefix,
                32,
                128,
                d.ipv6_prefix,
            )?,
            max_sources: opt_int_in(
                "sip.flood.max_sources",
                self.max_sources,
                64,
                4_194_304,
                d.max_sources,
            )?,
        })
    }
}
