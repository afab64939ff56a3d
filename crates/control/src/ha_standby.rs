//! HA roles on the call path: a standby holds every call the follower reads
//! ([`crate::ha_follow`]) pre-installed (dialog in the proxy, flows on the same relay ports in
//! the engine), and takes them over when promoted (keepalived's notify, or `ferrovoxctl ha
//! promote`): it takes a new epoch and writes every call it holds under it, so its writes
//! supersede the old active's, whose later writes are fenced off.
//!
//! Rules: a standby never writes; a record replaces the copy held only when its stamp
//! supersedes the copy's ([`ha::Stamp::supersedes`]), so a late or replayed record never
//! brings an older state back; a tombstone read (on the stream, or by a full load after the
//! node was away) drops the copy, so a call that ended meanwhile is never resurrected; a copy
//! whose record is simply gone (expired, or Redis restarted empty and the active has not
//! written it again yet) is kept until its own dialog deadline; an active node that sees one
//! of its calls written in a newer epoch, or whose write of it is fenced off, drops its copy
//! without a word (split brain resolved: the newer activation owns the call, and media is never
//! relayed twice to a member). A promoted node does not give calls back: only another
//! promotion (of the other node) moves them again.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ha::{CallRecord, Role, Stamp};
use media::call::Remote;
use media::{AdoptedCall, AdoptedLeg, AdoptedStream};
use proxy::{AdoptedDialog, Proxy, Transport};
use serde_json::{json, Value};
use wire::Endpoint;

use crate::ha_follow::Followed;
use crate::ha_publish::Publisher;

impl Publisher {
    /// Becomes active: a new epoch before the next write, and every call held written
    /// under it.
    pub fn promote(&mut self, proxy: &mut Proxy) {
        let was = self.role;
        self.role = Role::Active;
        self.standby.store(false, Ordering::Relaxed);
        self.engine.change(|e| e.set_standby(Instant::now(), false));
        proxy.set_draining(false);
        proxy.dispatcher_mut().pause_probes(false);
        let seen = self.held.values().map(|s| s.epoch).max().unwrap_or(0);
        self.rep.activate(seen);
        let taken = self.held.len();
        self.put.extend(self.held.drain().map(|(id, _)| id));
        proxy.touch_answered_anchored();
        let c = self.counters();
        c.active.store(1, Ordering::Relaxed);
        if was == Role::Standby {
            c.takeovers.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(node = %self.node, calls = taken, "HA: promoted to active; taking the calls held over");
        }
    }

    /// Becomes a standby: no new call (OPTIONS answered 503), no write, no health probe (it
    /// cannot send from the service address it does not hold; members keep their state);
    /// the calls written so far are held until a newer record or the next load says
    /// otherwise.
    pub fn demote(&mut self, proxy: &mut Proxy) {
        let was = self.role;
        self.role = Role::Standby;
        self.standby.store(true, Ordering::Relaxed);
        self.engine.change(|e| e.set_standby(Instant::now(), true));
        proxy.set_draining(true);
        proxy.dispatcher_mut().pause_probes(true);
        if let Some((share, _)) = &self.share {
            // The calls held are the active's: it counts them.
            share.set_local(Default::default());
        }
        let epoch = self.counters().epoch.load(Ordering::Relaxed);
        for id in self.put.drain() {
            let stamp = Stamp {
                epoch,
                node: self.node.clone(),
                seq: u64::MAX,
            };
            self.held.insert(id, stamp);
        }
        self.counters().active.store(0, Ordering::Relaxed);
        if was == Role::Active {
            tracing::warn!(node = %self.node, "HA: standby; following the active node");
        }
    }

    /// `ha.status`.
    pub fn status(&self) -> Value {
        let c = self.counters();
        let calls = match self.role {
            Role::Active => self.put.len(),
            Role::Standby => self.held.len(),
        };
        let up = self.follow_counters.up.load(Ordering::Relaxed) == 1;
        json!({
            "role": self.role.as_str(),
            "node": self.node,
            "epoch": c.epoch.load(Ordering::Relaxed),
            "calls": calls,
            "redis": if up { "up" } else { "down" },
            "last_load": self.last_load.map(|(n, took)| json!({
                "calls": n,
                "seconds": took.as_secs_f64(),
            })),
            "adopted": c.adopted.load(Ordering::Relaxed),
            "adopt_failed": c.adopt_failed.load(Ordering::Relaxed),
            "lost_to_newer": c.lost_to_newer.load(Ordering::Relaxed),
        })
    }

    /// Applies what the follower read.
    pub fn apply(&mut self, proxy: &mut Proxy, f: Followed) {
        match (self.role, f) {
            (Role::Standby, Followed::Put(rec)) => self.hold(proxy, &rec),
            (Role::Standby, Followed::Ended(id)) if self.held.remove(&id).is_some() => {
                self.drop_copy(proxy, &id);
            }
            (
                Role::Standby,
                Followed::Loaded {
                    calls,
                    refused,
                    took,
                },
            ) => {
                self.last_load = Some((calls, took));
                tracing::info!(
                    calls,
                    refused,
                    took_ms = took.as_millis() as u64,
                    "HA: standby holds the active's calls"
                );
            }
            (Role::Active, Followed::Seen(id, epoch)) => {
                let mine = self.counters().epoch.load(Ordering::Relaxed);
                if epoch > mine && self.put.contains(&id) {
                    self.lost(proxy, &id, "a newer epoch wrote it");
                }
            }
            _ => {}
        }
        let held = self.held.len().max(self.put.len()) as u64;
        self.counters().held.store(held, Ordering::Relaxed);
    }

    /// Takes record `rec` in, unless the copy held is as new.
    fn hold(&mut self, proxy: &mut Proxy, rec: &CallRecord) {
        if !rec.stamp.supersedes(self.held.get(&rec.call_id)) {
            return;
        }
        let now = Instant::now();
        let c = self.counters().clone();
        let media = adopted_call(rec);
        let engine = self.engine.change(|e| e.adopt(now, &media));
        let dialog = adopted_dialog(rec, crate::ha_driver::now_ms());
        let signalling = dialog.map(|d| proxy.adopt(now, d));
        match (engine, signalling) {
            (Ok(()), Some(true)) => {
                c.adopted.fetch_add(1, Ordering::Relaxed);
            }
            (e, s) => {
                c.adopt_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(call_id = %rec.call_id, media = ?e.err(), dialog_taken = ?s, "HA: a replicated call could not be held in full");
            }
        }
        self.held.insert(rec.call_id.clone(), rec.stamp.clone());
    }

    /// A call this node wrote is owned by a newer epoch now: its copy goes, nothing sent.
    pub(crate) fn lost(&mut self, proxy: &mut Proxy, id: &str, why: &str) {
        if self.put.remove(id) {
            self.drop_copy(proxy, id);
            self.counters()
                .lost_to_newer
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call_id = %id, why, "HA: another node owns this call now; dropping the copy here");
        }
    }

    /// Drops the copy of call `id` (dialog and media), sending nothing. The proxy notes the
    /// change; the next round writes nothing for it (a standby writes nothing, and an active
    /// node removed it from the calls it wrote first).
    fn drop_copy(&mut self, proxy: &mut Proxy, id: &str) {
        self.engine.change(|e| e.unadopt(id.as_bytes()));
        proxy.unadopt(id);
    }
}

/// The media half of a record.
fn adopted_call(rec: &CallRecord) -> AdoptedCall {
    let tags = rec
        .media
        .first()
        .map(|s| s.legs.clone().map(|l| l.tag.map(String::into_bytes)))
        .unwrap_or_default();
    AdoptedCall {
        call_id: rec.call_id.clone().into_bytes(),
        tags,
        streams: rec
            .media
            .iter()
            .map(|s| AdoptedStream {
                index: usize::from(s.index),
                worker: usize::from(s.worker),
                legs: s.legs.clone().map(|l| AdoptedLeg {
                    interface: l.interface,
                    port: l.port,
                    advertised: l.advertised,
                    remote: Remote {
                        rtp: l.remote.map_or(Endpoint::UNSET, Endpoint::from_socket_addr),
                        rtcp_port: l.rtcp_port,
                        hold: l.hold,
                        clock_rate: l.clock_rate,
                    },
                    mux: l.mux,
                }),
            })
            .collect(),
    }
}

/// The signalling half of a record (`None`: a hop's transport is not one the proxy speaks).
fn adopted_dialog(rec: &CallRecord, now_ms: u64) -> Option<AdoptedDialog> {
    let d = &rec.dialog;
    let hop = |(addr, t): &(std::net::SocketAddr, String)| -> Option<(_, Transport)> {
        Some((*addr, t.parse::<Transport>().ok()?))
    };
    // The interfaces toward the caller and the member: the legs of the first stream, the
    // caller's being the one with the caller's tag.
    let media = rec.media.first().map(|s| {
        let caller_first = s.legs[1].tag.as_deref() != Some(d.tags[0].as_str());
        let [a, b] = s.legs.clone().map(|l| l.interface);
        if caller_first {
            [a, b]
        } else {
            [b, a]
        }
    });
    Some(AdoptedDialog {
        call_id: rec.call_id.clone(),
        tags: d.tags.clone(),
        contacts: d.targets.clone(),
        parties: d.parties.clone(),
        hops: [hop(&d.hops[0])?, hop(&d.hops[1])?],
        cseq: d.cseq,
        member: (rec.member.set.clone(), rec.member.uri.clone()),
        media,
        expires_in: Duration::from_millis(rec.expires_ms.saturating_sub(now_ms)),
    })
}
