//! The calls' timers: each call's offer, final and RTP-check deadlines in one ordered map, and
//! the calls with an idle stream in a set, so the once-a-second decision of which calls end
//! looks only at the calls that may end ([`Deadlines::due`], [`Deadlines::idle`]) instead of
//! at every call held. A full scan of 100,000 calls held the engine lock 7-10 ms each second,
//! and a SIP call's anchoring waited through it; this is O(calls due + calls with an idle
//! stream) and O(log n) per change.
//!
//! Each call keeps the slots it holds in the map ([`crate::call::CallTimers`]), so a changed deadline
//! replaces its entry and a call that goes removes its entries: the map never holds more than
//! three entries per call held.

use super::anchor::anchored_call_id;
use super::types::EngineConfig;
use crate::call::{Call, CallState, CallTimers, RtpCheck, Slot};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Which deadline an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Final,
    Offer,
    RtpCheck,
}

fn slot(t: &mut CallTimers, kind: Kind) -> &mut Option<Slot> {
    match kind {
        Kind::Final => &mut t.final_at,
        Kind::Offer => &mut t.offer_at,
        Kind::RtpCheck => &mut t.rtp_at,
    }
}

/// Takes `s` of `kind` from call timers `t` if the call still holds it (an entry it replaced
/// since is stale).
pub(super) fn take(t: &mut CallTimers, kind: Kind, s: Slot) -> bool {
    let held = slot(t, kind);
    if *held == Some(s) {
        *held = None;
        return true;
    }
    false
}

/// The deadlines of every call, and the calls with an idle stream.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    map: BTreeMap<Slot, (Vec<u8>, Kind)>,
    next: u64,
    idle: HashSet<Vec<u8>>,
}

impl Deadlines {
    /// Brings call `c`'s entries in line with its state: the final timeout from its
    /// creation, the offer timeout while an ng call waits for its answer, the RTP check while
    /// it is due.
    pub(super) fn sync(&mut self, c: &mut Call, cfg: &EngineConfig) {
        let final_at = cfg.final_timeout.map(|f| c.created + f);
        let waiting = c.state == CallState::Offered && anchored_call_id(&c.call_id).is_none();
        let offer_at = waiting.then(|| c.last_signal + cfg.offer_timeout);
        let rtp_at = match c.rtp_check {
            RtpCheck::Due(t) => Some(t),
            RtpCheck::NotYet | RtpCheck::Done => None,
        };
        for (kind, at) in [
            (Kind::Final, final_at),
            (Kind::Offer, offer_at),
            (Kind::RtpCheck, rtp_at),
        ] {
            self.set(slot(&mut c.timers, kind), at, &c.call_id, kind);
        }
    }

    fn set(&mut self, slot: &mut Option<Slot>, at: Option<Instant>, key: &[u8], kind: Kind) {
        if slot.map(|s| s.0) == at {
            return;
        }
        if let Some(s) = slot.take() {
            self.map.remove(&s);
        }
        if let Some(t) = at {
            self.next += 1;
            let s = (t, self.next);
            self.map.insert(s, (key.to_vec(), kind));
            *slot = Some(s);
        }
    }

    /// Call `c` is gone: its entries go too.
    pub(super) fn forget(&mut self, c: &Call) {
        for s in [c.timers.final_at, c.timers.offer_at, c.timers.rtp_at]
            .into_iter()
            .flatten()
        {
            self.map.remove(&s);
        }
        self.idle.remove(&c.call_id);
    }

    /// The entries due by `now`, taken out of the map (the calls still hold their slots:
    /// [`take`] tells a live entry from a stale one).
    pub(super) fn due(&mut self, now: Instant) -> Vec<(Slot, Vec<u8>, Kind)> {
        let later = self.map.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut self.map, later);
        due.into_iter().map(|(s, (k, kind))| (s, k, kind)).collect()
    }

    /// A stream of call `key` went idle.
    pub(super) fn note_idle(&mut self, key: &[u8]) {
        if !self.idle.contains(key) {
            self.idle.insert(key.to_vec());
        }
    }

    /// Call `key` has no idle stream (any more).
    pub(super) fn not_idle(&mut self, key: &[u8]) {
        self.idle.remove(key);
    }

    /// The calls with an idle stream.
    pub(super) fn idle(&self) -> Vec<Vec<u8>> {
        self.idle.iter().cloned().collect()
    }

    /// Entries held (at most three per call).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::call::Leg;
    use std::time::Duration;

    fn call(id: &str, now: Instant) -> Call {
        Call {
            call_id: id.as_bytes().to_vec(),
            legs: [Leg::default(), Leg::default()],
            pairs: Vec::new(),
            state: CallState::Offered,
            created: now,
            last_signal: now,
            latch: dataplane::LatchMode::Heuristic,
            strict: false,
            handover: false,
            rtp_check: RtpCheck::NotYet,
            timers: CallTimers::default(),
        }
    }

    fn cfg() -> EngineConfig {
        EngineConfig {
            interfaces: Vec::new(),
            latching: dataplane::LatchMode::Heuristic,
            strict_source: false,
            offer_timeout: Duration::from_secs(60),
            final_timeout: Some(Duration::from_secs(7200)),
            delete_delay: Duration::ZERO,
            rtp_check: None,
            max_sessions: 0,
            cookie_ttl: Duration::from_secs(30),
            guard: crate::GuardConfig::loopback(),
            fastpath: false,
            epoch: Instant::now(),
        }
    }

    #[test]
    fn a_changed_deadline_replaces_its_entry_and_a_forgotten_call_leaves_none() {
        let (now, cfg) = (Instant::now(), cfg());
        let mut d = Deadlines::default();
        let mut c = call("a", now);
        d.sync(&mut c, &cfg);
        assert_eq!(d.len(), 2, "final and offer");
        // Offers again and again: still one offer entry, the latest.
        for s in 1..100 {
            c.last_signal = now + Duration::from_secs(s);
            d.sync(&mut c, &cfg);
        }
        assert_eq!(d.len(), 2);
        assert!(d.due(now + Duration::from_secs(100)).is_empty());
        // Answered, an RTP check armed: the offer entry goes, the check's comes.
        c.state = CallState::Answered;
        c.rtp_check = RtpCheck::Due(now + Duration::from_secs(5));
        d.sync(&mut c, &cfg);
        assert_eq!(d.len(), 2, "final and RTP check");
        let due = d.due(now + Duration::from_secs(5));
        assert_eq!(due.len(), 1);
        let (slot, key, kind) = due[0].clone();
        assert_eq!((key.as_slice(), kind), (b"a".as_slice(), Kind::RtpCheck));
        assert!(take(&mut c.timers, kind, slot), "the call's own entry");
        assert!(!take(&mut c.timers, kind, slot), "once");
        d.note_idle(b"a");
        d.forget(&c);
        assert_eq!(d.len(), 0);
        assert!(d.idle().is_empty());
    }
}
