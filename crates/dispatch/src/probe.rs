//! Health: OPTIONS probe scheduling, probe results, passive detection, and the timers.

use std::time::Instant;

use crate::dispatcher::Dispatcher;
use crate::settings::AdminState;
use crate::types::{
    MemberId, Origin, PassiveEvent, ProbeId, ProbeOutcome, ProbeRequest, Reason, RemoveReason,
};

impl Dispatcher {
    /// The next member due for an OPTIONS probe at `now`, if any; call until `None`.
    ///
    /// Each probed member (every member but DISABLED ones and last resorts) is probed every
    /// `health.interval`, counted from when its previous probe was sent; members created
    /// together have their first probes spread evenly over one interval. A member never has
    /// two probes in flight: while one is outstanding the next waits for its reply or its
    /// deadline.
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeRequest> {
        if self.probes_paused {
            return None;
        }
        let id = self
            .members
            .values()
            .filter(|m| m.is_probed() && m.outstanding.is_none())
            .filter(|m| m.next_probe.is_some_and(|t| t <= now))
            .min_by_key(|m| (m.next_probe, m.id))
            .map(|m| m.id)?;
        self.probe_now(id, now)
    }

    /// Pauses (or resumes) the scheduled probes: an HA standby sends none, since it cannot
    /// send from the service address before it holds it, and its members keep their state;
    /// on resuming, the probes that fell due while paused go out at once.
    pub fn pause_probes(&mut self, paused: bool) {
        self.probes_paused = paused;
    }

    /// A probe to member `id` now, whatever its schedule (what an operator's "check it now"
    /// asks for; `poll_probe` uses it for the members that are due): marks it in flight and
    /// schedules the next one. `None` for an unknown member.
    pub fn probe_now(&mut self, id: MemberId, now: Instant) -> Option<ProbeRequest> {
        let set = self.members.get(&id)?.set;
        let health = self.set(set).map(|s| s.cfg.health.clone())?;
        self.next_probe_seq += 1;
        let seq = self.next_probe_seq;
        let m = self.members.get_mut(&id)?;
        let deadline = now + health.timeout;
        m.outstanding = Some((seq, deadline));
        m.probe_sent = Some(now);
        m.next_probe = Some(now + health.interval);
        m.counters.probes_sent += 1;
        Some(ProbeRequest {
            probe: ProbeId { member: id, seq },
            target: m.target,
            transport: m.transport,
            request_uri: m.uri.clone(),
            from: health.probe_from.text.clone(),
            deadline,
        })
    }

    /// The result of probe `probe`. Returns `false` when it is not the probe in flight for
    /// its member (a late answer after the deadline, a duplicate, a removed or disabled
    /// member); such results change nothing.
    ///
    /// A reply accepted by `ok_codes` is a success. 503 with a non-zero Retry-After makes the
    /// member BUSY that long (capped at an hour) without touching the failure/success counts;
    /// when it ends the member is back in the health state probes kept. Any other final
    /// reply, a timeout or a transport error is a failure. A provisional reply (below 200)
    /// is ignored and the probe stays in flight.
    pub fn probe_result(&mut self, probe: ProbeId, outcome: ProbeOutcome, now: Instant) -> bool {
        if let ProbeOutcome::Reply { code, .. } = outcome {
            if code < 200 {
                return false;
            }
        }
        let Some(m) = self.members.get_mut(&probe.member) else {
            return false;
        };
        if m.outstanding.map(|(seq, _)| seq) != Some(probe.seq) {
            return false;
        }
        m.outstanding = None;
        let set = m.set;
        let Some(health) = self.set(set).map(|s| s.cfg.health.clone()) else {
            return false;
        };
        self.update(probe.member, now, |m| {
            if let (ProbeOutcome::Reply { .. }, Some(sent)) = (outcome, m.probe_sent) {
                m.last_rtt = Some(now.saturating_duration_since(sent));
            }
            m.probe_sent = None;
            m.apply_probe(outcome, &health, now)
        })
    }

    /// What a call told about member `id` (when the set's `health.passive` is on; otherwise,
    /// and for a last resort, nothing changes). Returns `false` for an unknown member.
    pub fn passive(&mut self, id: MemberId, ev: PassiveEvent, now: Instant) -> bool {
        let Some(m) = self.members.get(&id) else {
            return false;
        };
        let Some(health) = self.set(m.set).map(|s| s.cfg.health.clone()) else {
            return false;
        };
        if !health.passive || m.last_resort {
            return true;
        }
        self.update(id, now, |m| {
            let busy = match ev {
                PassiveEvent::ServiceUnavailable {
                    retry_after: Some(secs),
                } if secs > 0 => Some(secs),
                PassiveEvent::ServiceUnavailable { .. } => health
                    .busy_default
                    .map(|d| u32::try_from(d.as_secs()).unwrap_or(crate::MAX_BUSY_SECS)),
                PassiveEvent::InviteTimeout | PassiveEvent::TransportError => None,
            };
            match busy {
                Some(secs) => {
                    m.counters.passive_busy += 1;
                    m.make_busy(secs, now)
                }
                None => {
                    m.counters.passive_failures += 1;
                    Reason::PassiveFailure {
                        consecutive: m.record_failure(&health),
                    }
                }
            }
        })
    }

    /// A call member `id` answered brought no RTP from it by the relay's RTP check: counted,
    /// and a failure when its set's `no_rtp_suspect` says so. Returns false for an unknown
    /// member.
    pub fn no_rtp(&mut self, id: MemberId, now: Instant) -> bool {
        let Some(m) = self.members.get_mut(&id) else {
            return false;
        };
        m.counters.calls_without_rtp += 1;
        let set = m.set;
        let last_resort = m.last_resort;
        let Some(health) = self.set(set).map(|s| s.cfg.health.clone()) else {
            return false;
        };
        if !health.no_rtp_suspect || last_resort {
            return true;
        }
        self.update(id, now, |m| Reason::NoRtp {
            consecutive: m.record_failure(&health),
        })
    }

    /// When `handle_timeout` (or `poll_probe`) next has something to do: a probe due, a probe
    /// deadline, the end of a BUSY time, a registration expiring.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| {
                let probe = match m.outstanding {
                    Some((_, deadline)) => Some(deadline),
                    None if m.is_probed() && !self.probes_paused => m.next_probe,
                    None => None,
                };
                let expiry = match m.origin {
                    Origin::Registered { expires_at } => Some(expires_at),
                    _ => None,
                };
                [probe, m.busy_until, expiry]
            })
            .flatten()
            .min()
    }

    /// Applies everything due by `now`: probes past their deadline fail (timeout), BUSY
    /// times that passed end, registrations that lapsed are removed. Probes that are due are
    /// handed out by `poll_probe`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        for id in ids {
            let Some(m) = self.members.get(&id) else {
                continue;
            };
            if let Origin::Registered { expires_at } = m.origin {
                if expires_at <= now {
                    self.remove_member(id, RemoveReason::Expired);
                    continue;
                }
            }
            let timed_out = m
                .outstanding
                .filter(|(_, deadline)| *deadline <= now)
                .map(|(seq, _)| seq);
            let busy_over = m.busy_until.is_some_and(|t| t <= now);
            if let Some(seq) = timed_out {
                self.probe_result(ProbeId { member: id, seq }, ProbeOutcome::Timeout, now);
            }
            if busy_over {
                self.update(id, now, |m| {
                    m.busy_until = None;
                    Reason::BusyOver
                });
            }
        }
    }

    /// Whether member `id` is probed at all (not DISABLED, not a last resort).
    pub fn is_probed(&self, id: MemberId) -> bool {
        self.members
            .get(&id)
            .is_some_and(|m| m.is_probed() && m.admin != AdminState::Disabled)
    }
}
