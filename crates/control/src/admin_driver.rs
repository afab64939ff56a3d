//! The admin socket's requests that the SIP proxy answers: members (list, set state, add,
//! remove), the SIP half of `calls.*` (`crate::admin_calls`) and the SIP part of `health`. The admin thread sends each over the SIP driver's
//! bounded control channel with a oneshot for the reply; the driver answers it between
//! messages, on the thread that owns the proxy, so no state is shared.

use std::num::NonZeroU32;
use std::time::Instant;

use admin::method::{
    AddParams, AdminStateName, Change, ListParams, MemberInfo, MemberRef, Page, RemoveParams,
    Removed, SetStateParams,
};
use admin::{Call, ErrorCode, ErrorObject};
use dispatch::{AdminError, AdminState, Dispatcher, Health, MemberId, MemberView, Origin, Reason};
use proxy::Proxy;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// One admin request for the SIP proxy, and where its answer goes.
#[derive(Debug)]
pub struct AdminRequest {
    /// The call (a `members.*` one, or `health`).
    pub call: Call,
    /// The answer: the response's `result`, or its error.
    pub reply: oneshot::Sender<Result<Value, ErrorObject>>,
}

/// Answers `req` from `proxy` (and the node's HA half, with `[ha]` on) at `now`. A requester
/// that gave up is not an error.
pub fn answer(
    proxy: &mut Proxy,
    ha: Option<&mut crate::ha_publish::Publisher>,
    req: AdminRequest,
    now: Instant,
) {
    let result = match req.call {
        Call::HaStatus | Call::HaPromote | Call::HaDemote => ha_call(proxy, ha, &req.call),
        Call::MembersList(p) => list(proxy.dispatcher(), &p, now),
        Call::MembersSetState(p) => set_state(proxy.dispatcher_mut(), &p, now),
        Call::MembersAdd(p) => add(proxy.dispatcher_mut(), &p, now),
        Call::MembersRemove(p) => remove(proxy.dispatcher_mut(), &p),
        Call::Health => Ok(health(proxy)),
        Call::CallsList(p) => crate::admin_calls::list(proxy, &p, now),
        Call::CallsShow(p) => crate::admin_calls::show(proxy, &p.call_id, now),
        Call::CallsTerminate(p) => crate::admin_calls::terminate(proxy, &p, now),
        other => Err(ErrorObject::new(
            ErrorCode::Internal,
            format!("{other:?} is not for the SIP proxy"),
        )),
    };
    let _ = req.reply.send(result);
}

/// `ha.status`, `ha.promote`, `ha.demote` (each answers with the status after it).
fn ha_call(
    proxy: &mut Proxy,
    ha: Option<&mut crate::ha_publish::Publisher>,
    call: &Call,
) -> Result<Value, ErrorObject> {
    let Some(ha) = ha else {
        return Err(ErrorObject::new(
            ErrorCode::Unavailable,
            "HA is off (no [ha] enabled in the config)",
        ));
    };
    match call {
        Call::HaPromote => ha.promote(proxy),
        Call::HaDemote => ha.demote(proxy),
        _ => {}
    }
    Ok(ha.status())
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ErrorObject> {
    serde_json::to_value(v).map_err(|e| ErrorObject::new(ErrorCode::Internal, e.to_string()))
}

/// `members.list`: members by id after the cursor (the last id of the previous page).
fn list(d: &Dispatcher, p: &ListParams, now: Instant) -> Result<Value, ErrorObject> {
    let limit = p.page_size()?;
    let after = match &p.cursor {
        None => 0,
        Some(c) => c.parse::<u32>().map_err(|_| {
            ErrorObject::new(
                ErrorCode::InvalidParams,
                format!("cursor {c:?} is not one of ours"),
            )
        })?,
    };
    if let Some(set) = &p.set {
        if d.set_id(set).is_none() {
            return Err(ErrorObject::new(
                ErrorCode::NotFound,
                format!("no set {set:?}"),
            ));
        }
    }
    let mut items: Vec<MemberInfo> = d
        .snapshot()
        .filter(|v| v.member.id().get() > after)
        .filter(|v| p.set.as_deref().is_none_or(|s| s == v.set_name))
        .take(limit + 1)
        .map(|v| member_info(v, now))
        .collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|m| m.id.to_string())
    } else {
        None
    };
    to_value(&Page { items, next_cursor })
}

/// What `members.list` shows of one member.
pub fn member_info(v: MemberView<'_>, now: Instant) -> MemberInfo {
    let m = v.member;
    MemberInfo {
        id: m.id().get(),
        set: v.set_name.to_owned(),
        uri: m.uri().to_owned(),
        target: m.target().to_string(),
        transport: m.transport().to_string(),
        state: m.state().as_str().to_owned(),
        admin: m.admin_state().as_str().to_owned(),
        health: health_name(m.health()).to_owned(),
        origin: origin_name(m.origin()).to_owned(),
        active_calls: m.active_calls(),
        peer_calls: m.peer_calls(),
        max_calls: m.max_calls().map(NonZeroU32::get),
        weight: m.weight(),
        priority: m.priority(),
        last_resort: m.is_last_resort(),
        probe_rtt_ms: m.probe_rtt().map(|d| d.as_secs_f64() * 1000.0),
        consecutive_failures: m.consecutive_failures(),
        consecutive_successes: m.consecutive_successes(),
        calls_total: m.counters().calls,
        last_change: m.last_transition().map(|t| Change {
            from: t.from.as_str().to_owned(),
            to: t.to.as_str().to_owned(),
            reason: reason_text(t.reason),
            secs_ago: now.saturating_duration_since(t.at).as_secs_f64(),
        }),
    }
}

fn health_name(h: Health) -> &'static str {
    match h {
        Health::Active => "active",
        Health::Suspect => "suspect",
        Health::Down => "down",
    }
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Static => "static",
        Origin::Dns(_) => "dns",
        Origin::Registered { .. } => "registered",
        Origin::Admin => "admin",
    }
}

/// A state change's reason in words.
pub fn reason_text(r: Reason) -> String {
    match r {
        Reason::ProbeFailed { consecutive } => format!("probe failed ({consecutive} in a row)"),
        Reason::ProbeSucceeded { consecutive } => {
            format!("probe answered ({consecutive} in a row)")
        }
        Reason::PassiveFailure { consecutive } => {
            format!("call failed ({consecutive} in a row)")
        }
        Reason::NoRtp { consecutive } => {
            format!("answered call brought no RTP ({consecutive} failures in a row)")
        }
        Reason::Busy { duration } => format!("503 with Retry-After {}s", duration.as_secs()),
        Reason::BusyOver => "Retry-After time over".to_owned(),
        Reason::Admin => "admin".to_owned(),
    }
}

/// The member `r` names.
pub fn find_member(d: &Dispatcher, r: &MemberRef) -> Result<MemberId, ErrorObject> {
    let not_found = |what: String| ErrorObject::new(ErrorCode::NotFound, what);
    match r {
        MemberRef::Id(id) => d
            .snapshot()
            .find(|v| v.member.id().get() == *id)
            .map(|v| v.member.id())
            .ok_or_else(|| not_found(format!("no member {id}"))),
        MemberRef::Uri { set, uri } => {
            if d.set_id(set).is_none() {
                return Err(not_found(format!("no set {set:?}")));
            }
            let found: Vec<MemberId> = d
                .snapshot()
                .filter(|v| v.set_name == set && v.member.uri() == uri)
                .map(|v| v.member.id())
                .collect();
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(not_found(format!("no member {uri} in set {set:?}"))),
                _ => Err(ErrorObject::new(
                    ErrorCode::Conflict,
                    format!("{uri} names {} members of {set:?}; use the id", found.len()),
                )),
            }
        }
    }
}

fn admin_state(s: AdminStateName) -> AdminState {
    match s {
        AdminStateName::Active => AdminState::Active,
        AdminStateName::Disabled => AdminState::Disabled,
        AdminStateName::Draining => AdminState::Draining,
    }
}

/// The dispatcher's refusal as an error reply.
fn refused(e: AdminError) -> ErrorObject {
    let code = match e {
        AdminError::UnknownMember | AdminError::UnknownSet => ErrorCode::NotFound,
        AdminError::NeedsDns => ErrorCode::InvalidParams,
        AdminError::Duplicate(_) | AdminError::HasCalls(_) => ErrorCode::Conflict,
    };
    ErrorObject::new(code, e.to_string())
}

/// The member `id` as `members.list` shows it now.
fn shown(d: &Dispatcher, id: MemberId, now: Instant) -> Result<Value, ErrorObject> {
    let view = d
        .snapshot()
        .find(|v| v.member.id() == id)
        .ok_or_else(|| ErrorObject::new(ErrorCode::NotFound, "the member went away"))?;
    to_value(&member_info(view, now))
}

/// `members.set_state`.
fn set_state(d: &mut Dispatcher, p: &SetStateParams, now: Instant) -> Result<Value, ErrorObject> {
    let id = find_member(d, &p.member()?)?;
    d.set_admin_state(id, admin_state(p.state), now)
        .map_err(refused)?;
    shown(d, id, now)
}

/// `members.add`.
fn add(d: &mut Dispatcher, p: &AddParams, now: Instant) -> Result<Value, ErrorObject> {
    let invalid = |m: String| ErrorObject::new(ErrorCode::InvalidParams, m);
    let set = d
        .set_id(&p.set)
        .ok_or_else(|| ErrorObject::new(ErrorCode::NotFound, format!("no set {:?}", p.set)))?;
    let uri = dispatch_uri(&p.uri).map_err(invalid)?;
    let weight = p.weight.unwrap_or(1);
    if weight == 0 || weight > dispatch::MAX_WEIGHT {
        return Err(invalid(format!(
            "weight {weight} is outside 1..={}",
            dispatch::MAX_WEIGHT
        )));
    }
    let max_calls = match p.max_calls {
        None => None,
        Some(n) if n <= dispatch::MAX_MEMBER_CALLS => NonZeroU32::new(n),
        Some(n) => {
            return Err(invalid(format!(
                "max_calls {n} is above {}",
                dispatch::MAX_MEMBER_CALLS
            )))
        }
    };
    let cfg = dispatch::MemberConfig {
        transport: uri.transport.unwrap_or(if uri.secure {
            sip::Transport::Tls
        } else {
            sip::Transport::Udp
        }),
        uri,
        weight,
        priority: p.priority.unwrap_or(0),
        max_calls,
        state: admin_state(p.state.unwrap_or(AdminStateName::Active)),
    };
    let id = d.add_member(set, &cfg, now).map_err(refused)?;
    shown(d, id, now)
}

/// A member URI as the config reads one.
fn dispatch_uri(text: &str) -> Result<sip::SipUri, String> {
    sip::SipUri::parse(text).map_err(|e| format!("uri {text:?}: {e}"))
}

/// `members.remove`.
fn remove(d: &mut Dispatcher, p: &RemoveParams) -> Result<Value, ErrorObject> {
    let id = find_member(d, &p.member()?)?;
    let (set, uri) = d
        .snapshot()
        .find(|v| v.member.id() == id)
        .map(|v| (v.set_name.to_owned(), v.member.uri().to_owned()))
        .unwrap_or_default();
    let active_calls = d.remove_member_admin(id, p.force).map_err(refused)?;
    to_value(&Removed {
        id: id.get(),
        set,
        uri,
        active_calls,
    })
}

/// The SIP part of `health`: members per state, the sets with none that takes calls, and
/// whether the proxy drains.
fn health(proxy: &Proxy) -> Value {
    let d = proxy.dispatcher();
    let mut by_state = std::collections::BTreeMap::<&str, u32>::new();
    for s in dispatch::MemberState::ALL {
        by_state.insert(s.as_str(), 0);
    }
    for v in d.snapshot() {
        *by_state.entry(v.member.state().as_str()).or_default() += 1;
    }
    let empty: Vec<String> = d
        .set_ids()
        .filter(|&s| {
            !d.members_of(s).iter().any(|&m| {
                d.member(m).is_some_and(|m| {
                    matches!(
                        m.state(),
                        dispatch::MemberState::Active | dispatch::MemberState::Suspect
                    )
                })
            })
        })
        .filter_map(|s| d.set_config(s).map(|c| c.name.clone()))
        .collect();
    json!({
        "members": by_state,
        "sets_without_members": empty,
        "draining": proxy.is_draining(),
    })
}
