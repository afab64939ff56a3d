//! The admin socket's calls and workers: the SIP half of each answer comes from the proxy on
//! the SIP driver's thread (the dialog table: member, parties, hops, state), the media half
//! from the engine through [`SharedEngine`] on the admin thread (relay ports, workers,
//! latched sources, stats). The workers' stats arrive asynchronously on the ng thread and
//! reach the admin thread over a oneshot, so neither the SIP thread nor the engine's lock is
//! held while the workers answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use admin::calls::{
    CallDetail, CallListParams, CallMedia, CallMember, CallSummary, Party, Skipped, StreamDetail,
    StreamLeg, TerminateParams, TerminateTarget, Terminated, WorkerInfo, Workers,
};
use admin::method::Page;
use admin::{ErrorCode, ErrorObject};
use dataplane::{DropReason, StreamStats};
use media::engine::{MediaStream, MediaView};
use proxy::{CallView, Proxy, TerminateError};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::SharedEngine;

/// How long the workers may take to report a call's stats (the engine gives up after one
/// second and reports what it has).
const STATS_ANSWER: Duration = Duration::from_secs(3);

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ErrorObject> {
    serde_json::to_value(v).map_err(|e| ErrorObject::new(ErrorCode::Internal, e.to_string()))
}

/// The member of `v` as id, set and URI.
pub(crate) fn member_of(proxy: &Proxy, v: &CallView) -> Option<CallMember> {
    let id = v.member?;
    proxy
        .dispatcher()
        .snapshot()
        .find(|m| m.member.id() == id)
        .map(|m| CallMember {
            id: id.get(),
            set: m.set_name.to_owned(),
            uri: m.member.uri().to_owned(),
        })
}

/// `calls.list`, the SIP half: a page of calls in Call-ID order after the cursor (relay ports
/// are filled in by [`fill_relay_ports`]).
pub fn list(proxy: &mut Proxy, p: &CallListParams, now: Instant) -> Result<Value, ErrorObject> {
    let limit = p.page_size()?;
    let (page, more) = proxy.calls_page(p.cursor.as_deref(), limit, now);
    let items: Vec<CallSummary> = page
        .iter()
        .map(|v| {
            let member = member_of(proxy, v);
            CallSummary {
                call_id: v.call_id.clone(),
                state: v.state.as_str().to_owned(),
                age_secs: v.age.as_secs_f64(),
                member: member.as_ref().map(|m| m.id),
                member_uri: member.map(|m| m.uri),
                anchored: v.media.is_some(),
                relay_ports: Vec::new(),
            }
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|c| c.call_id.clone()))
        .flatten();
    to_value(&Page { items, next_cursor })
}

/// `calls.show`, the SIP half: the call's parties, member and state (its media is added by
/// [`media_of`]).
pub fn show(proxy: &Proxy, call_id: &str, now: Instant) -> Result<Value, ErrorObject> {
    let v = proxy
        .call(call_id, now)
        .ok_or_else(|| ErrorObject::new(ErrorCode::NotFound, format!("no call {call_id:?}")))?;
    let party =
        |tag: Option<String>, hop: (std::net::SocketAddr, sip::Transport), side: usize| Party {
            tag,
            hop: hop.0.to_string(),
            transport: hop.1.to_string(),
            contact: v.contacts.as_ref().map(|c| c[side].clone()),
            interface: v.media.as_ref().map(|m| m[side].clone()),
        };
    to_value(&CallDetail {
        call_id: v.call_id.clone(),
        state: v.state.as_str().to_owned(),
        age_secs: v.age.as_secs_f64(),
        member: member_of(proxy, &v),
        caller: party(Some(v.caller_tag.clone()), v.caller_hop, 0),
        callee: party(v.callee_tag.clone(), v.member_hop, 1),
        media: None,
    })
}

/// `calls.terminate`: one call, or every call of a member; each answered call gets a BYE to
/// both parties and its media released.
pub fn terminate(
    proxy: &mut Proxy,
    p: &TerminateParams,
    now: Instant,
) -> Result<Value, ErrorObject> {
    let why = p.reason_text().to_owned();
    let mut out = Terminated {
        terminated: Vec::new(),
        skipped: Vec::new(),
    };
    match p.target()? {
        TerminateTarget::Call(call_id) => {
            proxy.terminate_call(now, &call_id, &why).map_err(refused)?;
            out.terminated.push(call_id);
        }
        TerminateTarget::Member(m) => {
            let id = crate::admin_driver::find_member(proxy.dispatcher(), &m)?;
            let mut calls = proxy.calls_of_member(id);
            calls.sort();
            for call_id in calls {
                match proxy.terminate_call(now, &call_id, &why) {
                    Ok(()) => out.terminated.push(call_id),
                    Err(e) => out.skipped.push(Skipped {
                        call_id,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }
    to_value(&out)
}

/// The proxy's refusal as an error reply.
fn refused(e: TerminateError) -> ErrorObject {
    let code = match e {
        TerminateError::NoSuchCall(_) => ErrorCode::NotFound,
        TerminateError::NotAnswered(_) | TerminateError::Ended(_) | TerminateError::NotKept(_) => {
            ErrorCode::Conflict
        }
    };
    ErrorObject::new(code, e.to_string())
}

/// `calls.list`, the media half: the relay ports of the page's anchored calls (the engine
/// locked once for the page).
pub fn fill_relay_ports(engine: &SharedEngine, page: &mut Value) {
    let Some(items) = page.get_mut("items").and_then(Value::as_array_mut) else {
        return;
    };
    let now = Instant::now();
    let e = engine.lock();
    for item in items.iter_mut() {
        if item["anchored"].as_bool() != Some(true) {
            continue;
        }
        let Some(call_id) = item["call_id"].as_str() else {
            continue;
        };
        if let Some(view) = e.anchored_view(now, call_id.as_bytes()) {
            let ports: Vec<[u16; 2]> = view.streams.iter().map(|s| s.ports).collect();
            item["relay_ports"] = serde_json::json!(ports);
        }
    }
}

/// `calls.show`, the media half: the call's streams with the workers' stats; `None` when
/// the engine holds no media for it.
pub async fn media_of(engine: &SharedEngine, call_id: &str) -> Option<CallMedia> {
    let (tx, rx) = oneshot::channel();
    let sink = Box::new(move |v: MediaView| {
        let _ = tx.send(v);
    });
    let asked = engine.change(|e| e.inspect_anchored(Instant::now(), call_id.as_bytes(), sink));
    if !asked {
        return None;
    }
    match tokio::time::timeout(STATS_ANSWER, rx).await {
        Ok(Ok(view)) => Some(call_media(&view)),
        // The ng thread is gone or stuck: what the engine holds, without stats.
        _ => engine
            .lock()
            .anchored_view(Instant::now(), call_id.as_bytes())
            .map(|v| call_media(&v)),
    }
}

fn call_media(v: &MediaView) -> CallMedia {
    CallMedia {
        state: v.state.to_owned(),
        fastpath: v.fastpath,
        stats_complete: v.streams.iter().all(|s| s.stats.is_some()),
        streams: v.streams.iter().map(stream_detail).collect(),
    }
}

fn stream_detail(s: &MediaStream) -> StreamDetail {
    let leg = |i: usize| {
        let st: Option<StreamStats> = s.stats.map(|x| x[i]);
        let mut l = StreamLeg {
            relay_port: s.ports[i],
            rtcp_mux: s.mux[i],
            ..StreamLeg::default()
        };
        if let Some(st) = st {
            l.source = (!st.rtp_peer.is_unset())
                .then(|| std::net::SocketAddr::new(st.rtp_peer.ip_addr(), st.rtp_peer.port))
                .map(|a| a.to_string());
            l.latched = st.latched;
            l.rtp_packets = st.rtp_packets;
            l.rtp_bytes = st.rtp_bytes;
            l.rtcp_packets = st.rtcp_packets;
            l.drops = st.drops;
            l.lost = st.lost;
            l.jitter = st.jitter;
        }
        l
    };
    StreamDetail {
        index: s.index,
        media: s.media.clone(),
        worker: s.worker,
        idle: s.idle.map(str::to_owned),
        legs: [leg(0), leg(1)],
    }
}

/// `workers`: every worker's counters as last published (a read of their shared counters:
/// the workers are never asked).
pub fn workers(engine: &SharedEngine) -> Result<Value, ErrorObject> {
    let e = engine.lock();
    let depths = e.queue_depths();
    let workers = e
        .worker_counters()
        .iter()
        .enumerate()
        .map(|(w, c)| WorkerInfo {
            queue_depth: depths.get(w).copied().unwrap_or(0),
            worker: w,
            rx: c.rx,
            relayed: c.forwarded,
            tx: c.tx,
            tx_failed: c.tx_failed,
            rx_errors: c.rx_errors,
            streams: c.streams,
            commands: c.commands,
            events_lost: c.events_lost,
            busy_ms: c.busy_ns / 1_000_000,
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_owned(), c.drops_of(*r)))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    to_value(&Workers {
        fastpath: e.fastpath(),
        sessions: e.calls() as u64,
        port_pairs: e.pairs_in_use() as u64,
        workers,
    })
}
