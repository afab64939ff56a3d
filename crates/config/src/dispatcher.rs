//! `[[set]]` and `[[route]]`: the SIP dispatcher's destination sets, their members and health
//! checks, and the routes that pick a set for each request.
//!
//! A config without any `[[set]]` is valid: the SIP proxy is then off (the daemon relays media
//! for an external proxy through `[ng]` only).

mod health;
mod member;
mod route;

use std::time::Duration;

use serde::Deserialize;

use crate::check::{choice, opt_int_in, required, secs_in};
use crate::dns::DnsConfig;
use crate::error::{key, ConfigError};
use crate::sip::{SipConfig, Transport};
use crate::uri::SipUri;

pub use health::{HealthConfig, OkCode, DEFAULT_PROBE_FROM};
pub use member::{AdminState, MemberConfig, MAX_MEMBER_CALLS, MAX_WEIGHT};
pub(crate) use route::RawRoute;
pub use route::{Cidr, RouteConfig};

/// Longest set or route name.
pub const MAX_SET_NAME_LEN: usize = 32;

/// Most `max_attempts` per call.
pub const MAX_ATTEMPTS: u8 = 16;

/// How a set picks the member for a new call (`algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each eligible member in turn (the default).
    #[default]
    RoundRobin,
    /// Smooth weighted round robin by `weight`.
    Weighted,
    /// The member with the fewest active calls; ties taken in turn.
    LeastCalls,
    /// Rendezvous (highest random weight) hashing of `hash_key`: a key sticks to a member,
    /// and only the keys of a member that drops out move.
    Hash,
    /// The lowest `priority` value with an eligible member; members of that priority in turn.
    Priority,
    /// RFC 2782 order: lowest priority first, by weight within a priority.
    Srv,
}

impl Algorithm {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::Weighted => "weighted",
            Algorithm::LeastCalls => "least_calls",
            Algorithm::Hash => "hash",
            Algorithm::Priority => "priority",
            Algorithm::Srv => "srv",
        }
    }
}

/// What `algorithm = "hash"` hashes (`hash_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// The Call-ID (the default): a call's retries and forks land on one member.
    #[default]
    CallId,
    /// The From URI's user part: a caller sticks to a member.
    FromUser,
    /// The To URI's user part.
    ToUser,
    /// The Request-URI's user part: a dialled number sticks to a member.
    RuriUser,
}

impl HashKey {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HashKey::CallId => "call_id",
            HashKey::FromUser => "from_user",
            HashKey::ToUser => "to_user",
            HashKey::RuriUser => "ruri_user",
        }
    }
}

/// The next hop a set tries when no member is left (`last_resort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResort {
    /// Its URI (same rules as a member's).
    pub uri: SipUri,
    /// Its transport: the URI's `transport=` parameter, else udp (tcp for `sips:`).
    pub transport: Transport,
}

/// One `[[set]]` entry: a destination set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetConfig {
    /// `name` (required, unique): letters, digits, '_' and '-', 1 to 32.
    pub name: String,
    /// `algorithm` (default round_robin).
    pub algorithm: Algorithm,
    /// `hash_key` (default call_id): used by `algorithm = "hash"`.
    pub hash_key: HashKey,
    /// `failover_codes` (default `[500, 503]`, each 300..=699, no repeats): final replies from
    /// a member that make the proxy try the next one.
    pub failover_codes: Vec<u16>,
    /// `max_attempts` (1..=16, default 3): members tried per call at most (the last resort
    /// not counted).
    pub max_attempts: u8,
    /// `last_resort` (optional): tried when every member failed or none is available.
    pub last_resort: Option<LastResort>,
    /// `retry_after_secs` (0..=3600, default 5): Retry-After on the proxy's own 503 when every
    /// member is full, busy or down; 0 = no Retry-After header.
    pub retry_after: Duration,
    /// `register` (default false): members may join by REGISTER with the set name as the To
    /// user.
    pub register: bool,
    /// `register_networks` (default empty; at least one when `register = true`): source
    /// networks allowed to REGISTER into the set.
    pub register_networks: Vec<Cidr>,
    /// `register_max_expires_secs` (60..=86400, default 3600): longest registration granted;
    /// longer requests are shortened to it.
    pub register_max_expires: Duration,
    /// `[set.health]`: probing and passive detection.
    pub health: HealthConfig,
    /// `[[set.member]]`: the static members, in file order. May be empty only with
    /// `register = true`.
    pub members: Vec<MemberConfig>,
}

impl SetConfig {
    /// Whether a final reply `code` from a member makes the proxy try the next member.
    pub fn fails_over_on(&self, code: u16) -> bool {
        self.failover_codes.contains(&code)
    }
}

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
}

/// Checks every set, then the sets against each other and against `[sip]` and `[dns]`.
pub(crate) fn build_sets(
    raw: Option<Vec<RawSet>>,
    sip: &SipConfig,
    dns: &DnsConfig,
) -> Result<Vec<SetConfig>, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out: Vec<SetConfig> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let set = entry.build(i, sip, dns)?;
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
    fn build(self, i: usize, sip: &SipConfig, dns: &DnsConfig) -> Result<SetConfig, ConfigError> {
        let p = |k: &str| format!("set[{i}].{k}");
        let name = required(&p("name"), self.name)?;
        check_name(&p("name"), &name)?;
        let mut failover_codes: Vec<u16> = Vec::new();
        for (j, &code) in self
            .failover_codes
            .as_deref()
            .unwrap_or(&[500, 503])
            .iter()
            .enumerate()
        {
            let path = p(&format!("failover_codes[{j}]"));
            let code: u16 = crate::check::int_in(&path, code, 300, 699)?;
            if failover_codes.contains(&code) {
                return Err(key(path, format!("{code} is listed twice")));
            }
            failover_codes.push(code);
        }
        let last_resort = match self.last_resort {
            Some(text) => {
                let uri = member::parse_next_hop(&p("last_resort"), &text)?;
                let transport = member::pick_transport(&p("last_resort"), &uri, None)?;
                check_dns(&p("last_resort"), &uri, dns)?;
                check_transport(&p("last_resort"), transport, sip)?;
                Some(LastResort { uri, transport })
            }
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
        let mut members: Vec<MemberConfig> = Vec::new();
        for (j, raw) in self.member.unwrap_or_default().into_iter().enumerate() {
            let mp = p(&format!("member[{j}]"));
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
                .position(|o| o.uri.target() == m.uri.target() && o.transport == m.transport)
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
        })
    }
}

/// A host-name next hop needs DNS servers to be found.
fn check_dns(path: &str, uri: &SipUri, dns: &DnsConfig) -> Result<(), ConfigError> {
    if uri.needs_dns() && dns.servers.is_empty() {
        return Err(key(path, "needs [dns] servers"));
    }
    Ok(())
}

/// A next hop must use a transport the proxy speaks.
fn check_transport(path: &str, transport: Transport, sip: &SipConfig) -> Result<(), ConfigError> {
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
) -> Result<Vec<RouteConfig>, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out: Vec<RouteConfig> = Vec::with_capacity(raw.len());
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
