//! `[[set.member]]`: one next hop of a set, read into the dispatcher's [`MemberConfig`].

use std::num::NonZeroU32;

use dispatch::{AdminState, MemberConfig, MAX_MEMBER_CALLS, MAX_WEIGHT};
use serde::Deserialize;
use sip::{SipUri, Transport};

use crate::check::{choice, opt_int_in, required};
use crate::error::{key, ConfigError};
use crate::sip::spoken_transport;

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

/// A member or last-resort URI: parsed by the `sip` crate, with its path in the error.
pub(crate) fn parse_next_hop(path: &str, text: &str) -> Result<SipUri, ConfigError> {
    SipUri::parse(text).map_err(|why| key(path, format!("{text:?}: {why}")))
}

/// The transport of a next hop: the `transport` key, else the URI's `transport=` parameter,
/// else udp (RFC 3263 §4.1 for an IP literal without a parameter). A `sips:` URI is reached
/// over TLS (RFC 3261 §26.2.2): its `tcp` (TLS runs over TCP) is TLS, udp is refused.
pub(crate) fn pick_transport(
    path: &str,
    uri: &SipUri,
    given: Option<&str>,
) -> Result<Transport, ConfigError> {
    let from_uri = uri.transport;
    let chosen = match given {
        Some(text) => spoken_transport(path, text)?,
        None => from_uri.unwrap_or(if uri.secure {
            Transport::Tls
        } else {
            Transport::Udp
        }),
    };
    let secure = |t: Transport| match t {
        Transport::Tcp if uri.secure => Transport::Tls,
        t => t,
    };
    if let Some(param) = from_uri {
        if secure(param) != secure(chosen) {
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
            "a sips: uri needs tls (TLS does not run over UDP)",
        ));
    }
    Ok(secure(chosen))
}
