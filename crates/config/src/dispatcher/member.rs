//! `[[set.member]]`: one next hop of a set, as written in the config.

use std::num::NonZeroU32;

use serde::Deserialize;

use crate::check::{choice, opt_int_in, required};
use crate::error::{key, ConfigError};
use crate::sip::Transport;
use crate::uri::SipUri;

/// Most calls a member may be capped at (`max_calls`).
pub const MAX_MEMBER_CALLS: u32 = 1_000_000;

/// Largest member `weight`.
pub const MAX_WEIGHT: u32 = 1000;

/// An operator's say on whether a member takes calls (`state`; also set at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// Takes new calls when healthy (the default).
    #[default]
    Active,
    /// Takes nothing new and is not probed: out of service.
    Disabled,
    /// Takes no new calls; its dialogs continue and it is still probed.
    Draining,
}

impl AdminState {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Disabled => "disabled",
            AdminState::Draining => "draining",
        }
    }
}

/// One `[[set.member]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// `uri` (required): `sip:`/`sips:` URI of the member. An IP literal is one fixed address
    /// (port default 5060, 5061 for `sips:`); a host name with a port is looked up with A/AAAA;
    /// a host name without a port with NAPTR/SRV (RFC 3263 §4). Host names need `[dns]`
    /// servers.
    pub uri: SipUri,
    /// `transport`: udp | tcp; default the URI's `transport=` parameter, else udp. Must agree
    /// with that parameter when both are given, and be one of `sip.transports`.
    pub transport: Transport,
    /// `weight` (1..=1000, default 1): share of calls under `weighted`, and within a priority
    /// under `srv` for members not found through SRV.
    pub weight: u32,
    /// `priority` (0..=65535, default 0): lower first, under `priority` and `srv`.
    pub priority: u16,
    /// `max_calls` (0..=1000000, default 0): `None` when 0 (no cap); otherwise a member with this
    /// many active calls takes no new one, whatever the algorithm.
    pub max_calls: Option<NonZeroU32>,
    /// `state` (default active): the admin state the member starts in.
    pub state: AdminState,
}

/// One `[[set.member]]` entry as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[set.member]] table")]
pub(crate) struct RawMember {
    uri: Option<String>,
    transport: Option<String>,
    weight: Option<i64>,
    priority: Option<i64>,
    max_calls: Option<i64>,
    state: Option<String>,
}

impl RawMember {
    /// Checks the keys of the member at `prefix` (e.g. `set[0].member[2]`).
    pub(crate) fn build(self, prefix: &str) -> Result<MemberConfig, ConfigError> {
        let p = |k: &str| format!("{prefix}.{k}");
        let text = required(&p("uri"), self.uri)?;
        let uri = parse_next_hop(&p("uri"), &text)?;
        let transport = pick_transport(&p("transport"), &uri, self.transport.as_deref())?;
        let max_calls: u32 = opt_int_in(
            &p("max_calls"),
            self.max_calls,
            0,
            i64::from(MAX_MEMBER_CALLS),
            0,
        )?;
        Ok(MemberConfig {
            uri,
            transport,
            weight: opt_int_in(&p("weight"), self.weight, 1, i64::from(MAX_WEIGHT), 1)?,
            priority: opt_int_in(&p("priority"), self.priority, 0, 65535, 0)?,
            max_calls: NonZeroU32::new(max_calls),
            state: choice(&p("state"), self.state.as_deref(), AdminState::Active)?,
        })
    }
}

/// A member or last-resort URI: parsed, with its path in the error.
pub(crate) fn parse_next_hop(path: &str, text: &str) -> Result<SipUri, ConfigError> {
    SipUri::parse(text).map_err(|why| key(path, format!("{text:?}: {why}")))
}

/// The transport of a next hop: the `transport` key, else the URI's `transport=` parameter,
/// else udp (RFC 3263 §4.1 for an IP literal without a parameter). `sips:` needs tcp.
pub(crate) fn pick_transport(
    path: &str,
    uri: &SipUri,
    given: Option<&str>,
) -> Result<Transport, ConfigError> {
    let from_uri = uri.transport;
    let chosen = match given {
        Some(_) => choice(path, given, Transport::Udp)?,
        None => from_uri.unwrap_or(if uri.secure {
            Transport::Tcp
        } else {
            Transport::Udp
        }),
    };
    if let Some(param) = from_uri {
        if param != chosen {
            return Err(key(
                path,
                format!(
                    "{:?} contradicts transport={} in the uri",
                    chosen.as_str(),
                    param.as_str()
                ),
            ));
        }
    }
    if uri.secure && chosen == Transport::Udp {
        return Err(key(
            path,
            "a sips: uri needs tcp (TLS does not run over UDP)",
        ));
    }
    Ok(chosen)
}
