//! `[[set]]` and `[[route]]`: the SIP dispatcher's destination sets, their members and health
//! checks, and the routes that pick a set for each request.
//!
//! A config without any `[[set]]` is valid: the SIP proxy is then off (the daemon relays media
//! for an external proxy through `[ng]` only).

mod health;
mod member;
mod route;

use std::time::Duration;

use dispatch::{
    Algorithm, HashKey, LastResort, MediaPlan, MemberConfig, SetConfig, MAX_ATTEMPTS,
    MAX_SET_NAME_LEN,
};
use serde::Deserialize;
use sip::{SipUri, Transport};

use crate::check::{choice, opt_int_in, required, secs_in};
use crate::dns::DnsConfig;
use crate::error::{key, ConfigError};
use crate::interface::Interface;
use crate::sip::SipConfig;

pub(crate) use route::{build_networks, RawRoute};

/// One `[[set]]` entry as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[set]] table")]
pub(crate) struct RawSet {
    name: Option<String>,
    algorithm: Option<String>,
    hash_key: Option<String>,
    failover_codes: Option<Vec<i64>>,
    max_attempts: Option<i64>,
    last_resort: Option<String>,
    retry_after_secs: Option<i64>,
    register: Option<bool>,
    register_networks: Option<Vec<String>>,
    register_max_expires_secs: Option<i64>,
    health: Option<health::RawHealth>,
    member: Option<Vec<member::RawMember>>,
    media: Option<RawSetMedia>,
}

/// `[set.media]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [set.media] table")]
pub(crate) struct RawSetMedia {
    anchor: Option<bool>,
    caller_interface: Option<String>,
    member_interface: Option<String>,
}

impl RawSetMedia {
    /// Checks `[set.media]` against the `[[interface]]` names. Anchored by default, on the
    /// first interface's name toward callers and the first other name toward members (the
    /// same name when there is only one).
    fn build(self, path: &str, interfaces: &[Interface]) -> Result<MediaPlan, ConfigError> {
        if !self.anchor.unwrap_or(true) {
            return Ok(MediaPlan::Off);
        }
        let first = interfaces
            .first()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let other = interfaces
            .iter()
            .find(|i| i.name != first)
            .map_or_else(|| first.clone(), |i| i.name.clone());
        let named = |k: &str, v: Option<String>, default: String| match v {
            None => Ok(default),
            Some(n) if interfaces.iter().any(|i| i.name == n) => Ok(n),
            Some(n) => Err(key(
                format!("{path}.{k}"),
                format!("{n:?} is not the name of any [[interface]]"),
            )),
        };
        Ok(MediaPlan::Anchor {
            caller: named("caller_interface", self.caller_interface, first)?,
            member: named("member_interface", self.member_interface, other)?,
        })
    }
}

/// Checks every set, then the sets against each other and against `[sip]` and `[dns]`.
pub(crate) fn build_sets(
    raw: Option<Vec<RawSet>>,
    sip: &SipConfig,
    dns: &DnsConfig,
    interfaces: &[Interface],
) -> Result<Vec<SetConfig>, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out: Vec<SetConfig> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let set = entry.build(i, sip, dns, interfaces)?;
        if let Some(j) = out.iter().position(|s| s.name == set.name) {
            return Err(key(
                format!("set[{i}].name"),
                format!("{:?} is already the name of set[{j}]", set.name),
            ));
        }
        out.push(set);
    }
    Ok(out)
}

impl RawSet {
    /// Checks the keys of set `i`.
    fn build(
        self,
        i: usize,
        sip: &SipConfig,
        dns: &DnsConfig,
        interfaces: &[Interface],
    ) -> Result<SetConfig, ConfigError> {
        let p = |k: &str| format!("set[{i}].{k}");
        let media = self
            .media
            .unwrap_or_default()
            .build(&p("media"), interfaces)?;
        let name = required(&p("name"), self.name)?;
        check_name(&p("name"), &name)?;
        let failover_codes = failover_codes(&p("failover_codes"), self.failover_codes.as_deref())?;
        let last_resort = match self.last_resort {
            Some(text) => Some(last_resort(&p("last_resort"), &text, sip, dns)?),
            None => None,
        };
        let register = self.register.unwrap_or(false);
        let register_networks = match self.register_networks {
            Some(list) => route::build_networks(&p("register_networks"), &list)?,
            None => Vec::new(),
        };
        if register && register_networks.is_empty() {
            return Err(key(
                p("register_networks"),
                "register = true needs at least one network allowed to REGISTER (e.g. [\"10.0.0.0/8\"])",
            ));
        }
        let health = self.health.unwrap_or_default().build(&p("health"))?;
        let members = members(i, self.member.unwrap_or_default(), sip, dns)?;
        if members.is_empty() && !register {
            return Err(key(
                p("member"),
                "a set needs at least one [[set.member]] (or register = true)",
            ));
        }
        Ok(SetConfig {
            name,
            algorithm: choice(
                &p("algorithm"),
                self.algorithm.as_deref(),
                Algorithm::default(),
            )?,
            hash_key: choice(&p("hash_key"), self.hash_key.as_deref(), HashKey::default())?,
            failover_codes,
            max_attempts: opt_int_in(
                &p("max_attempts"),
                self.max_attempts,
                1,
                i64::from(MAX_ATTEMPTS),
                3,
            )?,
            last_resort,
            retry_after: secs_in(
                &p("retry_after_secs"),
                self.retry_after_secs,
                0,
                3600,
                Duration::from_secs(5),
            )?,
            register,
            register_networks,
            register_max_expires: secs_in(
                &p("register_max_expires_secs"),
                self.register_max_expires_secs,
                60,
                86_400,
                Duration::from_secs(3600),
            )?,
            health,
            members,
            media,
        })
    }
}

/// `failover_codes` (at `path`): distinct codes 300 to 699; 500 and 503 when absent.
fn failover_codes(path: &str, list: Option<&[i64]>) -> Result<Vec<u16>, ConfigError> {
    let mut out: Vec<u16> = Vec::new();
    for (j, &code) in list.unwrap_or(&[500, 503]).iter().enumerate() {
        let path = format!("{path}[{j}]");
        let code: u16 = crate::check::int_in(&path, code, 300, 699)?;
        if out.contains(&code) {
            return Err(key(path, format!("{code} is listed twice")));
        }
        out.push(code);
    }
    Ok(out)
}

/// `last_resort` (at `path`): a next hop reachable with the configured transports and DNS.
fn last_resort(
    path: &str,
    text: &str,
    sip: &SipConfig,
    dns: &DnsConfig,
) -> Result<LastResort, ConfigError> {
    let uri = member::parse_next_hop(path, text)?;
    let transport = member::pick_transport(path, &uri, None)?;
    check_dns(path, &uri, dns)?;
    check_transport(path, transport, sip)?;
    Ok(LastResort { uri, transport })
}

/// The members of set `i`: each checked, no two naming the same next hop.
fn members(
    i: usize,
    raw: Vec<member::RawMember>,
    sip: &SipConfig,
    dns: &DnsConfig,
) -> Result<Vec<MemberConfig>, ConfigError> {
    let mut members: Vec<MemberConfig> = Vec::new();
    for (j, raw) in raw.into_iter().enumerate() {
        let mp = format!("set[{i}].member[{j}]");
        let m = raw.build(&mp)?;
        let path = if m.uri.transport.is_some() {
            format!("{mp}.uri")
        } else {
            format!("{mp}.transport")
        };
        check_dns(&format!("{mp}.uri"), &m.uri, dns)?;
        check_transport(&path, m.transport, sip)?;
        if let Some(k) = members
            .iter()
            .position(|o| o.target() == m.target() && o.transport == m.transport)
        {
            return Err(key(
                format!("{mp}.uri"),
                format!(
                    "{:?} names the same next hop as set[{i}].member[{k}]",
                    m.uri.text
                ),
            ));
        }
        members.push(m);
    }
    Ok(members)
}

/// A host-name next hop needs DNS servers to be found.
fn check_dns(path: &str, uri: &SipUri, dns: &DnsConfig) -> Result<(), ConfigError> {
    if uri.needs_dns() && dns.servers.is_empty() {
        return Err(key(path, "needs [dns] servers"));
    }
    Ok(())
}

/// A next hop must use a transport the proxy speaks; a TLS one, a way to verify it.
fn check_transport(path: &str, transport: Transport, sip: &SipConfig) -> Result<(), ConfigError> {
    if transport == Transport::Tls && sip.has_transport(transport) && !sip.tls.has_roots() {
        return Err(key(
            path,
            "a TLS next hop needs sip.tls_ca_file or sip.tls_system_roots = true to verify its certificate",
        ));
    }
    if sip.has_transport(transport) {
        return Ok(());
    }
    let have: Vec<&str> = sip.transports.iter().map(|t| t.as_str()).collect();
    Err(key(
        path,
        format!(
            "{} is not one of sip.transports ({})",
            transport.as_str(),
            have.join(", ")
        ),
    ))
}

/// Checks every route, then names of routes and sets.
pub(crate) fn build_routes(
    raw: Option<Vec<RawRoute>>,
    sets: &[SetConfig],
) -> Result<Vec<dispatch::RouteConfig>, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out: Vec<dispatch::RouteConfig> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let r = entry.build(i)?;
        if let Some(j) = out.iter().position(|o| o.name == r.name) {
            return Err(key(
                format!("route[{i}].name"),
                format!("{:?} is already the name of route[{j}]", r.name),
            ));
        }
        let known = |name: &str| sets.iter().any(|s| s.name == name);
        if !known(&r.set) {
            return Err(key(
                format!("route[{i}].set"),
                format!("no [[set]] is named {:?}", r.set),
            ));
        }
        if let Some(src) = &r.source_set {
            if !known(src) {
                return Err(key(
                    format!("route[{i}].source_set"),
                    format!("no [[set]] is named {src:?}"),
                ));
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Set and route names appear in metrics labels and admin commands: short and plain.
pub(crate) fn check_name(path: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > MAX_SET_NAME_LEN {
        return Err(key(
            path,
            format!("must be 1 to {MAX_SET_NAME_LEN} characters long"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err(key(
            path,
            format!("{name:?} contains {bad:?}; use only letters, digits, '_' and '-'"),
        ));
    }
    Ok(())
}
