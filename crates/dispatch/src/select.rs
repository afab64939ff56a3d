//! Picking a member for a new call: eligibility, failover order and the six algorithms.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::dispatcher::Dispatcher;
use crate::hash;
use crate::member::Member;
use crate::settings::{AdminState, Algorithm, HashKey};
use crate::types::{HashKeys, MemberId, Selection, SetId};

impl Dispatcher {
    /// Picks a member of set `set` for a new call, or the next one after failures.
    ///
    /// Members in `tried` are skipped, and so is every member that may not take a new call:
    /// DOWN, BUSY, DISABLED, DRAINING, or at its `max_calls`. SUSPECT members take calls.
    /// Once `max_attempts` regular members are in `tried`, or none is eligible, the set's
    /// last resort is returned if it is neither DISABLED nor tried. Otherwise:
    /// [`Selection::Exhausted`] after `max_attempts`, [`Selection::AllFull`] when some untried
    /// member is up but full or BUSY, else [`Selection::NoneAvailable`].
    ///
    /// Timers due by `now` (BUSY ends, probe deadlines, registration expiry) are applied
    /// first, so the answer never rests on a stale state.
    pub fn select(
        &mut self,
        set: SetId,
        keys: &HashKeys<'_>,
        tried: &[MemberId],
        now: Instant,
    ) -> Selection {
        self.handle_timeout(now);
        let Some(si) = self.sets.iter().position(|s| s.id == set) else {
            return Selection::NoneAvailable {
                retry_after: Duration::ZERO,
            };
        };
        let order = self.sets[si].order();
        let cfg = &self.sets[si].cfg;
        let retry_after = cfg.retry_after;
        let regular_tried = order.iter().filter(|m| tried.contains(m)).count();
        let exhausted = regular_tried >= usize::from(cfg.max_attempts);
        let eligible: Vec<MemberId> = if exhausted {
            Vec::new()
        } else {
            order
                .iter()
                .copied()
                .filter(|id| !tried.contains(id))
                .filter(|id| self.members.get(id).is_some_and(Member::is_eligible))
                .collect()
        };
        let pick = if eligible.is_empty() {
            None
        } else {
            self.pick(si, &order, &eligible, keys)
        };
        if let Some(id) = pick {
            if let Some(m) = self.members.get_mut(&id) {
                m.counters.selected += 1;
            }
            return Selection::Member(id);
        }
        let last = self.sets[si].last_resorts().find(|id| {
            !tried.contains(id)
                && self
                    .members
                    .get(id)
                    .is_some_and(|m| m.admin != AdminState::Disabled)
        });
        if let Some(id) = last {
            if let Some(m) = self.members.get_mut(&id) {
                m.counters.selected += 1;
            }
            return Selection::Member(id);
        }
        if exhausted {
            return Selection::Exhausted;
        }
        let some_up = order
            .iter()
            .filter(|id| !tried.contains(id))
            .any(|id| self.members.get(id).is_some_and(Member::is_up));
        if some_up {
            Selection::AllFull { retry_after }
        } else {
            Selection::NoneAvailable { retry_after }
        }
    }

    /// One of `eligible` (not empty) by set `si`'s algorithm, over its member order `order`.
    fn pick(
        &mut self,
        si: usize,
        order: &[MemberId],
        eligible: &[MemberId],
        keys: &HashKeys<'_>,
    ) -> Option<MemberId> {
        let state = &mut self.sets[si];
        let key = hash_key(state.cfg.hash_key, keys);
        let members = &mut self.members;
        match state.cfg.algorithm {
            Algorithm::RoundRobin => rotate(order, &mut state.cursor, eligible),
            Algorithm::Weighted => swrr(members, eligible),
            Algorithm::LeastCalls => least_calls(members, order, &mut state.cursor, eligible),
            Algorithm::Hash => rendezvous(members, eligible, key),
            Algorithm::Priority => {
                priority_rotate(members, order, &mut state.tier_cursors, eligible)
            }
            Algorithm::Srv => {
                let tier = lowest_tier(members, eligible);
                swrr(members, &tier)
            }
        }
    }
}

/// The key `hash` uses; an empty one falls back to the Call-ID.
fn hash_key<'a>(which: HashKey, keys: &HashKeys<'a>) -> &'a str {
    let k = match which {
        HashKey::CallId => keys.call_id,
        HashKey::FromUser => keys.from_user,
        HashKey::ToUser => keys.to_user,
        HashKey::RuriUser => keys.ruri_user,
    };
    if k.is_empty() {
        keys.call_id
    } else {
        k
    }
}

/// The first member of `eligible` at or after `cursor` in `order` (wrapping); the cursor
/// moves past it. Over a stable eligible set this is an exact rotation.
fn rotate(order: &[MemberId], cursor: &mut usize, eligible: &[MemberId]) -> Option<MemberId> {
    let n = order.len();
    if n == 0 {
        return None;
    }
    let start = *cursor % n;
    (0..n)
        .map(|i| (start + i) % n)
        .find(|&i| order.get(i).is_some_and(|id| eligible.contains(id)))
        .and_then(|i| {
            *cursor = (i + 1) % n;
            order.get(i).copied()
        })
}

/// Weights for smooth WRR: RFC 2782 gives weight-0 targets "a very small chance" when others
/// weigh more; here they are left out while any member of positive weight is eligible, and
/// all count as 1 when every eligible member weighs 0.
fn effective_weights(
    members: &BTreeMap<MemberId, Member>,
    ids: &[MemberId],
) -> Vec<(MemberId, i64)> {
    let weights: Vec<(MemberId, i64)> = ids
        .iter()
        .filter_map(|id| members.get(id).map(|m| (*id, i64::from(m.weight))))
        .collect();
    if weights.iter().any(|(_, w)| *w > 0) {
        weights.into_iter().filter(|(_, w)| *w > 0).collect()
    } else {
        weights.into_iter().map(|(id, _)| (id, 1)).collect()
    }
}

/// Smooth weighted round robin (as in nginx): every candidate gains its weight, the highest
/// running value wins (the first in order on ties) and pays back the total. Over one cycle of
/// total-weight picks each member is chosen exactly weight times, interleaved.
fn swrr(members: &mut BTreeMap<MemberId, Member>, ids: &[MemberId]) -> Option<MemberId> {
    let weights = effective_weights(members, ids);
    let total: i64 = weights.iter().map(|(_, w)| w).sum();
    let mut best: Option<(MemberId, i64)> = None;
    for (id, w) in &weights {
        if let Some(m) = members.get_mut(id) {
            m.swrr = m.swrr.saturating_add(*w);
            if best.map_or(true, |(_, b)| m.swrr > b) {
                best = Some((*id, m.swrr));
            }
        }
    }
    let (id, _) = best?;
    if let Some(m) = members.get_mut(&id) {
        m.swrr = m.swrr.saturating_sub(total);
    }
    Some(id)
}

/// Fewest active calls; ties are taken in turn from the set's cursor.
fn least_calls(
    members: &BTreeMap<MemberId, Member>,
    order: &[MemberId],
    cursor: &mut usize,
    eligible: &[MemberId],
) -> Option<MemberId> {
    let min = eligible
        .iter()
        .filter_map(|id| members.get(id))
        .map(Member::load)
        .min()?;
    let ties: Vec<MemberId> = eligible
        .iter()
        .copied()
        .filter(|id| members.get(id).is_some_and(|m| m.load() == min))
        .collect();
    rotate(order, cursor, &ties)
}

/// Rendezvous hashing: the highest `score(hash(key), seed(member))` wins; ties (never seen
/// in practice) go to the lower id.
fn rendezvous(
    members: &BTreeMap<MemberId, Member>,
    eligible: &[MemberId],
    key: &str,
) -> Option<MemberId> {
    let kh = hash::fnv1a(key.as_bytes());
    eligible
        .iter()
        .filter_map(|id| members.get(id).map(|m| (hash::score(kh, m.hash_seed), *id)))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, id)| id)
}

/// The eligible members of the lowest priority value present.
fn lowest_tier(members: &BTreeMap<MemberId, Member>, eligible: &[MemberId]) -> Vec<MemberId> {
    let Some(low) = eligible
        .iter()
        .filter_map(|id| members.get(id))
        .map(|m| m.priority)
        .min()
    else {
        return Vec::new();
    };
    eligible
        .iter()
        .copied()
        .filter(|id| members.get(id).is_some_and(|m| m.priority == low))
        .collect()
}

/// The lowest priority tier with an eligible member, in turn within the tier (one cursor per
/// priority value).
fn priority_rotate(
    members: &BTreeMap<MemberId, Member>,
    order: &[MemberId],
    cursors: &mut BTreeMap<u16, usize>,
    eligible: &[MemberId],
) -> Option<MemberId> {
    let tier = lowest_tier(members, eligible);
    let prio = members.get(tier.first()?)?.priority;
    let cursor = cursors.entry(prio).or_insert(0);
    rotate(order, cursor, &tier)
}
