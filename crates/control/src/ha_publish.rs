//! The call path's half of HA replication, on the SIP driver's thread: after each round of
//! the driver, the calls the proxy noted as changed are read (the dialog from the proxy, the
//! media from the engine) into `ha` records and handed to the replication driver
//! ([`crate::ha_driver`]), which never makes the call path wait.
//!
//! What is replicated: answered anchored calls (a `Put` on the answer and on every change of
//! the dialog or its media after it), and their end (an `End`, only for calls that were put).
//! Early dialogs are not: a call that is still ringing when a node dies is lost to the caller's
//! retransmission or a new attempt, as with any proxy.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha::{CallRecord, Dialog, Leg, Member, ReplicaConfig, Role, Stamp, Stream};
use media::engine::MediaView;
use media::Engine;
use proxy::{CallView, DialogState, Proxy};

use crate::ha_driver::{Change, Replicator};
use crate::SharedEngine;

/// Calls read into records per round at most (the rest wait for the next round).
const PER_ROUND: usize = 512;

/// The node's HA half on the call path: reads changed calls into records and publishes them
/// while active; holds the calls the follower reads while a standby (`crate::ha_standby`).
pub struct Publisher {
    pub(crate) rep: Replicator,
    pub(crate) engine: SharedEngine,
    /// The calls put and not ended yet (an `End` is sent only for these).
    pub(crate) put: HashSet<String>,
    /// Active or standby.
    pub(crate) role: Role,
    /// Shared with the follower: true while a standby (it then reads records).
    pub(crate) standby: Arc<AtomicBool>,
    /// The calls held for another node (a standby's), with the stamp of the record held.
    pub(crate) held: HashMap<String, Stamp>,
    /// What the follower reads (taken by the SIP driver, which waits on it).
    pub(crate) follow: Option<tokio::sync::mpsc::Receiver<crate::ha_follow::Followed>>,
    /// The follower's counters.
    pub(crate) follow_counters: Arc<crate::ha_follow::FollowCounters>,
    /// This node's id.
    pub(crate) node: String,
    /// The last full load: calls and duration.
    pub(crate) last_load: Option<(usize, Duration)>,
    /// With shared limits: the exchange of per-member counts, and when to leave ours next.
    pub(crate) share: Option<(crate::ha_share::LoadShare, Instant)>,
}

/// The follower's half as [`Publisher::new`] takes it: its receiver, counters and the flag
/// it reads the role from.
pub type FollowParts = (
    tokio::sync::mpsc::Receiver<crate::ha_follow::Followed>,
    Arc<crate::ha_follow::FollowCounters>,
    Arc<AtomicBool>,
);

impl Publisher {
    /// A publisher for `proxy`'s calls (from now on, the proxy notes what changes), in the
    /// role `cfg.start` says.
    pub fn new(
        rep: Replicator,
        engine: SharedEngine,
        proxy: &mut Proxy,
        cfg: &ReplicaConfig,
        (rx, follow_counters, standby): FollowParts,
    ) -> Self {
        proxy.track_changes();
        let mut p = Publisher {
            rep,
            engine,
            put: HashSet::new(),
            // The role to start in, so that starting is not counted as a takeover.
            role: cfg.start,
            standby,
            held: HashMap::new(),
            follow: Some(rx),
            follow_counters,
            node: cfg.node.clone(),
            last_load: None,
            share: None,
        };
        match cfg.start {
            Role::Active => p.promote(proxy),
            Role::Standby => p.demote(proxy),
        }
        p
    }

    /// Shares per-member counts with the other active nodes through `share` (`[ha]
    /// shared_limits`).
    pub fn with_shared_limits(mut self, share: crate::ha_share::LoadShare) -> Self {
        self.share = Some((share, Instant::now()));
        self
    }

    /// What the follower reads, for the SIP driver to wait on (once).
    pub fn take_follow(
        &mut self,
    ) -> Option<tokio::sync::mpsc::Receiver<crate::ha_follow::Followed>> {
        self.follow.take()
    }

    /// The replication driver's counters.
    pub fn counters(&self) -> &std::sync::Arc<crate::ha_driver::ReplicaCounters> {
        self.rep.counters()
    }

    /// One round: every call noted since the last one (up to [`PER_ROUND`]), and all of
    /// them again when the replication driver asks for it.
    pub fn round(&mut self, proxy: &mut Proxy) {
        if self.role == Role::Standby {
            // Changes of held calls are another node's to write; a held call whose dialog
            // expired here (its record never came back) is forgotten.
            let now = Instant::now();
            for id in proxy.take_changed(usize::MAX) {
                if proxy.call(&id, now).is_none() {
                    self.held.remove(&id);
                }
            }
            return;
        }
        for id in self.rep.take_fenced() {
            self.lost(proxy, &id, "its write was fenced off");
        }
        self.share_load(proxy);
        if self.rep.take_resync() {
            proxy.touch_answered_anchored();
        }
        let ids = proxy.take_changed(PER_ROUND);
        if ids.is_empty() {
            return;
        }
        let now = Instant::now();
        let now_ms = crate::ha_driver::now_ms();
        let engine = self.engine.lock();
        for id in ids {
            match record_of(proxy, &engine, &id, now, now_ms) {
                Some(rec) => {
                    self.put.insert(id);
                    self.rep.publish(Change::Put(Box::new(rec)));
                }
                None if self.put.remove(&id) => self.rep.publish(Change::End { call_id: id }),
                None => {}
            }
        }
        let held = self.put.len() as u64;
        self.counters().held.store(held, Ordering::Relaxed);
    }
}

impl Publisher {
    /// With shared limits, once a period: this node's per-member counts left for the
    /// exchange, the other nodes' sums applied to the dispatcher when they changed.
    fn share_load(&mut self, proxy: &mut Proxy) {
        let Some((share, next)) = self.share.as_mut() else {
            return;
        };
        let now = Instant::now();
        if now < *next {
            return;
        }
        *next = now + crate::ha_share::SHARE_PERIOD;
        let local = proxy
            .dispatcher()
            .snapshot()
            .filter(|m| m.member.active_calls() > 0)
            .map(|m| {
                let key = (m.set_name.to_owned(), m.member.uri().to_owned());
                (key, m.member.active_calls())
            })
            .collect();
        share.set_local(local);
        if let Some(peers) = share.take_peers() {
            proxy.dispatcher_mut().set_peer_calls(&peers);
        }
    }
}

/// The record of call `id` if it is an answered anchored call in progress (`None`: ended,
/// gone, not answered, or not anchored).
fn record_of(
    proxy: &Proxy,
    engine: &Engine,
    id: &str,
    now: Instant,
    now_ms: u64,
) -> Option<CallRecord> {
    let v = proxy.call(id, now)?;
    if v.state != DialogState::Confirmed {
        return None;
    }
    let media = engine.anchored_view(now, id.as_bytes())?;
    let member = crate::admin_calls::member_of(proxy, &v)?;
    let expires = u64::try_from(v.expires_in.as_millis()).unwrap_or(u64::MAX);
    Some(CallRecord {
        v: ha::record::VERSION,
        // Replaced by the replication driver's stamp.
        stamp: Stamp {
            epoch: 0,
            node: String::new(),
            seq: 0,
        },
        call_id: id.to_owned(),
        updated_ms: now_ms,
        expires_ms: now_ms.saturating_add(expires),
        dialog: dialog_of(&v)?,
        member: Member {
            set: member.set,
            uri: member.uri,
        },
        media: streams_of(&media),
    })
}

fn dialog_of(v: &CallView) -> Option<Dialog> {
    let hop = |h: (std::net::SocketAddr, sip::Transport)| (h.0, h.1.as_str().to_owned());
    Some(Dialog {
        tags: [
            v.caller_tag.clone(),
            v.callee_tag.clone().unwrap_or_default(),
        ],
        targets: v.contacts.clone()?,
        hops: [hop(v.caller_hop), hop(v.member_hop)],
        cseq: v.cseq.unwrap_or_default(),
        parties: v.parties.clone()?,
    })
}

fn streams_of(m: &MediaView) -> Vec<Stream> {
    m.streams
        .iter()
        .map(|s| Stream {
            index: u16::try_from(s.index).unwrap_or(u16::MAX),
            worker: u16::try_from(s.worker).unwrap_or(u16::MAX),
            legs: [0, 1].map(|l| Leg {
                tag: m.legs[l].tag.clone(),
                interface: m.legs[l].interface.clone(),
                port: s.ports[l],
                advertised: s.relay[l],
                remote: s.remote[l].rtp,
                rtcp_port: s.remote[l].rtcp_port,
                hold: s.remote[l].hold,
                clock_rate: s.remote[l].clock_rate,
                mux: s.mux[l],
            }),
        })
        .collect()
}
