//! The methods: their names, typed parameters and results.
//!
//! | method | params | result |
//! |---|---|---|
//! | `version` | — | [`VersionInfo`] |
//! | `uptime` | — | [`Uptime`] |
//! | `health` | — | [`Health`] |
//! | `members.list` | [`ListParams`] | [`Page`] of [`MemberInfo`] |
//! | `members.set_state` | [`SetStateParams`] | [`MemberInfo`] (after) |
//! | `members.add` | [`AddParams`] | [`MemberInfo`] |
//! | `members.remove` | [`RemoveParams`] | [`Removed`] |
//! | `params.get` | — | [`Params`] |
//! | `reload` | — | [`ReloadReport`] |
//!
//! The calls, workers and params.set/diff/revert methods are in [`crate::calls`].
//!
//! Lists are paged: a page holds at most `limit` items (default [`DEFAULT_PAGE`], at most
//! [`MAX_PAGE`]) and a `next_cursor` while more follow; the next request passes it as
//! `cursor`. A cursor is opaque to the client. Items are in a stable order (members by id,
//! ids never reused), so items that exist for the whole listing are listed exactly once, and
//! a listing is never truncated.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calls::{CallListParams, CallRef, RevertParams, SetParam, TerminateParams};
use crate::proto::{ErrorCode, ErrorObject};

/// Items per page when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 100;
/// Most items per page.
pub const MAX_PAGE: u32 = 1000;

/// A request, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `version`.
    Version,
    /// `uptime`.
    Uptime,
    /// `health`.
    Health,
    /// `members.list`.
    MembersList(ListParams),
    /// `members.set_state`.
    MembersSetState(SetStateParams),
    /// `members.add`.
    MembersAdd(AddParams),
    /// `members.remove`.
    MembersRemove(RemoveParams),
    /// `params.get`.
    ParamsGet,
    /// `reload`.
    Reload,
    /// `calls.list`.
    CallsList(CallListParams),
    /// `calls.show`.
    CallsShow(CallRef),
    /// `calls.terminate`.
    CallsTerminate(TerminateParams),
    /// `workers`.
    Workers,
    /// `params.set`.
    ParamsSet(SetParam),
    /// `params.diff`.
    ParamsDiff,
    /// `params.revert`.
    ParamsRevert(RevertParams),
    /// `ha.status`: the node's HA role, epoch and replicated calls.
    HaStatus,
    /// `ha.promote`: become the active node (keepalived's notify on MASTER).
    HaPromote,
    /// `ha.demote`: become a standby (keepalived's notify on BACKUP or FAULT).
    HaDemote,
}

/// Every method name, as clients spell them.
pub const METHODS: [&str; 19] = [
    "version",
    "uptime",
    "health",
    "members.list",
    "members.set_state",
    "members.add",
    "members.remove",
    "params.get",
    "reload",
    "calls.list",
    "calls.show",
    "calls.terminate",
    "workers",
    "params.set",
    "params.diff",
    "params.revert",
    "ha.status",
    "ha.promote",
    "ha.demote",
];

impl Call {
    /// The call named `method` with `params` (an object, or null for none).
    pub fn parse(method: &str, params: Value) -> Result<Call, ErrorObject> {
        let params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params
        };
        Ok(match method {
            "version" => none(params, Call::Version)?,
            "uptime" => none(params, Call::Uptime)?,
            "health" => none(params, Call::Health)?,
            "members.list" => Call::MembersList(typed(params)?),
            "members.set_state" => Call::MembersSetState(typed(params)?),
            "members.add" => Call::MembersAdd(typed(params)?),
            "members.remove" => Call::MembersRemove(typed(params)?),
            "params.get" => none(params, Call::ParamsGet)?,
            "reload" => none(params, Call::Reload)?,
            "calls.list" => Call::CallsList(typed(params)?),
            "calls.show" => Call::CallsShow(typed(params)?),
            "calls.terminate" => Call::CallsTerminate(typed(params)?),
            "workers" => none(params, Call::Workers)?,
            "params.set" => Call::ParamsSet(typed(params)?),
            "params.diff" => none(params, Call::ParamsDiff)?,
            "params.revert" => Call::ParamsRevert(typed(params)?),
            "ha.status" => none(params, Call::HaStatus)?,
            "ha.promote" => none(params, Call::HaPromote)?,
            "ha.demote" => none(params, Call::HaDemote)?,
            other => {
                return Err(ErrorObject::new(
                    ErrorCode::MethodNotFound,
                    format!("no method {other:?}; there are {}", METHODS.join(", ")),
                ))
            }
        })
    }
}

/// Reads `params` as `T`; any mismatch is `InvalidParams`.
fn typed<T: DeserializeOwned>(params: Value) -> Result<T, ErrorObject> {
    serde_json::from_value(params)
        .map_err(|e| ErrorObject::new(ErrorCode::InvalidParams, format!("params: {e}")))
}

/// A method without parameters: `params` must be empty.
fn none(params: Value, call: Call) -> Result<Call, ErrorObject> {
    match params.as_object() {
        Some(o) if o.is_empty() => Ok(call),
        _ => Err(ErrorObject::new(
            ErrorCode::InvalidParams,
            "this method takes no params",
        )),
    }
}

/// `members.list`: which members, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only the members of this set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// The previous page's `next_cursor`; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Items per page (1..=[`MAX_PAGE`], default [`DEFAULT_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ListParams {
    /// The page size asked for, checked.
    pub fn page_size(&self) -> Result<usize, ErrorObject> {
        page_size(self.limit)
    }
}

/// The page size of a list request's `limit`: [`DEFAULT_PAGE`] when absent, else within
/// 1..=[`MAX_PAGE`].
pub fn page_size(limit: Option<u32>) -> Result<usize, ErrorObject> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n as usize),
        n => Err(ErrorObject::new(
            ErrorCode::InvalidParams,
            format!("limit {n} is outside 1..={MAX_PAGE}"),
        )),
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Names one member: by `id`, or by `set` and `uri` (the URI as `members.list` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    /// Its id.
    Id(u32),
    /// Its set and URI.
    Uri {
        /// The set's name.
        set: String,
        /// The member's URI.
        uri: String,
    },
}

/// Reads the `id` / `set` + `uri` pair of a member-naming request.
fn member_ref(
    id: Option<u32>,
    set: &Option<String>,
    uri: &Option<String>,
) -> Result<MemberRef, ErrorObject> {
    match (id, set, uri) {
        (Some(id), None, None) => Ok(MemberRef::Id(id)),
        (None, Some(set), Some(uri)) => Ok(MemberRef::Uri {
            set: set.clone(),
            uri: uri.clone(),
        }),
        _ => Err(ErrorObject::new(
            ErrorCode::InvalidParams,
            "name the member by id, or by set and uri",
        )),
    }
}

/// The admin states an operator sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminStateName {
    /// Takes calls when healthy.
    Active,
    /// Out of service: no calls, no probes.
    Disabled,
    /// No new calls; calls in progress complete; still probed.
    Draining,
}

/// `members.set_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStateParams {
    /// The member's id ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// ... or its set ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// ... and URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The new admin state.
    pub state: AdminStateName,
}

impl SetStateParams {
    /// The member named.
    pub fn member(&self) -> Result<MemberRef, ErrorObject> {
        member_ref(self.id, &self.set, &self.uri)
    }
}

/// `members.add`: a member for a set, as a `[[set.member]]` entry would give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// The set's name.
    pub set: String,
    /// The member's URI: an IP literal (`sip:192.0.2.7:5060`, `;transport=tcp` allowed).
    pub uri: String,
    /// Share under `weighted` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Tier under `priority` and `srv` (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    /// Cap on its active calls (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u32>,
    /// The admin state it starts in (default active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AdminStateName>,
}

/// `members.remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    /// The member's id ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// ... or its set ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// ... and URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Remove it even with calls in progress (they continue to its address, uncounted).
    #[serde(default)]
    pub force: bool,
}

impl RemoveParams {
    /// The member named.
    pub fn member(&self) -> Result<MemberRef, ErrorObject> {
        member_ref(self.id, &self.set, &self.uri)
    }
}

/// `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// `ferrovox`.
    pub name: String,
    /// The daemon's version.
    pub version: String,
    /// [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
}

/// `uptime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uptime {
    /// Seconds since the daemon started.
    pub seconds: f64,
    /// When it started, in seconds since the Unix epoch.
    pub started_unix: u64,
}

/// `health`: whether the daemon's parts answer and the pool can take calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`: every part answers and each set has a member that takes calls (or the SIP
    /// proxy is off); `degraded` otherwise, with the reasons in `problems`.
    pub status: String,
    /// The SIP proxy: `running`, `off` (no `[[set]]`) or `not answering`.
    pub sip: String,
    /// Seconds the SIP proxy took to answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_answer_secs: Option<f64>,
    /// Whether OPTIONS to the proxy itself are answered 503 (`[sip] draining`).
    pub draining: bool,
    /// Members per state (`active`, `suspect`, `down`, `busy`, `disabled`, `draining`).
    pub members: BTreeMap<String, u32>,
    /// Sets in which no member takes calls now.
    pub sets_without_members: Vec<String>,
    /// What makes it degraded, one line each.
    pub problems: Vec<String>,
}

/// A member as `members.list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Its id (never reused).
    pub id: u32,
    /// Its set's name.
    pub set: String,
    /// Its URI.
    pub uri: String,
    /// Where requests to it go (address and port).
    pub target: String,
    /// udp, tcp or tls.
    pub transport: String,
    /// The state an operator sees: active, suspect, down, busy, disabled, draining.
    pub state: String,
    /// The admin state underneath: active, disabled, draining.
    pub admin: String,
    /// Health by probes: active, suspect, down.
    pub health: String,
    /// Where it came from: static, dns, registered, admin.
    pub origin: String,
    /// Calls in progress.
    pub active_calls: u32,
    /// Calls the cluster's other active nodes hold on it (`[ha] shared_limits`; 0 otherwise):
    /// `max_calls` counts them too.
    #[serde(default)]
    pub peer_calls: u32,
    /// Cap on calls in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u32>,
    /// Weight.
    pub weight: u32,
    /// Priority.
    pub priority: u16,
    /// Whether it is the set's last resort.
    pub last_resort: bool,
    /// Round-trip time of the last answered probe, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_rtt_ms: Option<f64>,
    /// Consecutive failures (probes, and calls with `passive`).
    pub consecutive_failures: u32,
    /// Consecutive probe successes.
    pub consecutive_successes: u32,
    /// Calls started on it in all.
    pub calls_total: u64,
    /// Its last state change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Change>,
}

/// A member's state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// Why, in words.
    pub reason: String,
    /// How long ago, in seconds.
    pub secs_ago: f64,
}

/// `members.remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// The removed member's id.
    pub id: u32,
    /// Its set.
    pub set: String,
    /// Its URI.
    pub uri: String,
    /// The calls it had (non-zero only with `force`).
    pub active_calls: u32,
}

/// `params.get`: the running settings, by their config key (`section.key`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Values as JSON numbers, strings or booleans; durations in the key's unit.
    pub params: BTreeMap<String, Value>,
}

/// `reload`: what the re-read file changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The file read.
    pub file: String,
    /// One entry per difference from the running configuration (empty: nothing changed).
    pub changes: Vec<ConfigChange>,
}

/// One difference a reload found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// The key or entry, e.g. `sip.fr_timeout_ms`, `set[pool].member[sip:192.0.2.7]`.
    pub key: String,
    /// What happened: `added`, `removed`, or `old -> new`.
    pub change: String,
    /// Whether it took effect now; `false`: it needs a restart, or applying it failed.
    pub applied: bool,
    /// Why it was not applied (absent when it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(method: &str, params: Value) -> i32 {
        Call::parse(method, params).unwrap_err().code
    }

    #[test]
    fn methods_with_their_params() {
        assert_eq!(Call::parse("version", Value::Null).unwrap(), Call::Version);
        let c = Call::parse("members.list", json!({"limit": 5, "cursor": "9"})).unwrap();
        let Call::MembersList(p) = c else { panic!() };
        assert_eq!(p.page_size().unwrap(), 5);
        let c = Call::parse(
            "members.set_state",
            json!({"set": "pool", "uri": "sip:192.0.2.1", "state": "draining"}),
        )
        .unwrap();
        let Call::MembersSetState(p) = c else {
            panic!()
        };
        assert_eq!(p.state, AdminStateName::Draining);
        assert!(matches!(p.member().unwrap(), MemberRef::Uri { .. }));
    }

    #[test]
    fn wrong_params_are_invalid_params_and_unknown_methods_not_found() {
        assert_eq!(code("members.lst", json!({})), -32601);
        assert_eq!(code("version", json!({"x": 1})), -32602);
        assert_eq!(code("members.list", json!({"limit": "5"})), -32602);
        assert_eq!(code("members.list", json!({"bogus": 1})), -32602);
        assert_eq!(
            code("members.set_state", json!({"id": 1, "state": "up"})),
            -32602
        );
        assert_eq!(code("members.add", json!({"set": "pool"})), -32602);
        assert_eq!(
            code("members.remove", json!({"id": 1, "force": "yes"})),
            -32602
        );
        let c = Call::parse("members.remove", json!({"id": 1, "set": "pool"})).unwrap();
        let Call::MembersRemove(p) = c else { panic!() };
        assert_eq!(p.member().unwrap_err().code, -32602);
        let c = Call::parse("members.list", json!({"limit": 0})).unwrap();
        let Call::MembersList(p) = c else { panic!() };
        assert_eq!(p.page_size().unwrap_err().code, -32602);
    }
}
