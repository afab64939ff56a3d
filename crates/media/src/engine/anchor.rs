//! The SIP proxy's way in: offers, answers and deletes of the calls it anchors, decided
//! in-process. They run the same code as ng `offer`/`answer`/`delete` on a request built in
//! memory, under a key of their own: an anchored call's key is its Call-ID behind
//! [`ANCHOR_PREFIX`], which no SIP Call-ID can produce (it holds a space, RFC 3261 §25.1
//! `callid`), so a SIP caller can never name, re-offer or delete a call an ng client drives,
//! nor the other way round by accident.

use super::{AnchorError, Engine, Purpose, Refusal, SdpExchange, Zombie};
use crate::call::{Call, CallStats, RtpCheck};
use dataplane::{PortKey, StreamStats};
use ng::bencode::OwnedValue;
use ng::{Command, Request};
use std::time::Instant;

/// What an anchored call's key starts with.
pub const ANCHOR_PREFIX: &[u8] = b"sip ";

/// The engine's key of the anchored call `call_id`.
pub fn anchor_key(call_id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(ANCHOR_PREFIX.len() + call_id.len());
    key.extend_from_slice(ANCHOR_PREFIX);
    key.extend_from_slice(call_id);
    key
}

/// The SIP Call-ID of an engine key, when it is an anchored call's.
pub fn anchored_call_id(key: &[u8]) -> Option<&[u8]> {
    key.strip_prefix(ANCHOR_PREFIX)
}

/// The `sdp` of a successful reply.
fn sdp_of(reply: OwnedValue) -> Result<Vec<u8>, AnchorError> {
    match reply {
        OwnedValue::Dict(items) => items
            .into_iter()
            .find(|(k, _)| k.as_slice() == b"sdp")
            .and_then(|(_, v)| match v {
                OwnedValue::Bytes(b) => Some(b),
                _ => None,
            })
            .ok_or_else(|| AnchorError::Refused("no SDP in the engine's reply".into())),
        _ => Err(AnchorError::Refused("no SDP in the engine's reply".into())),
    }
}

impl Engine {
    /// An offer of anchored call `x.call_id` from `x.offerer_tag`: relay ports for each new
    /// m-line (the same ones again for a re-offer), the offer's side of each flow installed,
    /// and the SDP for the answerer returned, every line but the addresses and ports the
    /// relay owns kept byte for byte.
    pub fn anchor_offer(
        &mut self,
        now: Instant,
        x: &SdpExchange<'_>,
    ) -> Result<Vec<u8>, AnchorError> {
        let key = anchor_key(x.call_id);
        let req = Self::anchor_request(Command::Offer, &key, x);
        self.counters.anchor_offers += 1;
        let out = self
            .offer(now, &req)
            .map_err(|Refusal(e)| e)
            .and_then(sdp_of);
        self.counters.anchor_refused += u64::from(out.is_err());
        out
    }

    /// The answer to the last offer of anchored call `x.call_id` (`x.offerer_tag` still names
    /// the offerer): the flows completed, the SDP for the offerer returned.
    pub fn anchor_answer(
        &mut self,
        now: Instant,
        x: &SdpExchange<'_>,
    ) -> Result<Vec<u8>, AnchorError> {
        let key = anchor_key(x.call_id);
        let req = Self::anchor_request(Command::Answer, &key, x);
        self.counters.anchor_answers += 1;
        let out = self
            .answer(now, &req)
            .map_err(|Refusal(e)| e)
            .and_then(sdp_of);
        self.counters.anchor_refused += u64::from(out.is_err());
        if out.is_ok() {
            self.arm_rtp_check(now, &key);
        }
        out
    }

    /// Ends anchored call `call_id`: media keeps flowing for the delete-delay, then its ports
    /// go back to the pool. Returns whether the call was held.
    pub fn anchor_delete(&mut self, now: Instant, call_id: &[u8]) -> bool {
        let Some(call) = self.take_call(&anchor_key(call_id)) else {
            return false;
        };
        self.counters.deleted += 1;
        let pairs: Vec<(usize, [PortKey; 2])> =
            call.live_pairs().map(|p| (p.worker, p.keys)).collect();
        self.retire(now + self.cfg.delete_delay, pairs);
        true
    }

    /// The next anchored call whose RTP check found a silent party: its SIP Call-ID and the
    /// tags of the parties that had sent no RTP on any stream by then.
    pub fn poll_anchored_silent(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        self.anchored_silent.pop_front()
    }

    /// The first answer of anchored call `key` schedules its RTP check.
    fn arm_rtp_check(&mut self, now: Instant, key: &[u8]) {
        let Some(after) = self.cfg.rtp_check else {
            return;
        };
        if let Some(c) = self.calls.get_mut(key) {
            if c.rtp_check == RtpCheck::NotYet {
                c.rtp_check = RtpCheck::Due(now + after);
                self.timers.sync(c, &self.cfg);
            }
        }
    }

    /// Asks the workers for the stats of the anchored calls `due` (their RTP check's time
    /// came).
    pub(super) fn run_rtp_checks(&mut self, now: Instant, due: Vec<Vec<u8>>) {
        for key in due {
            let Some(c) = self.calls.get_mut(&key) else {
                continue;
            };
            if matches!(c.rtp_check, RtpCheck::Due(t) if t <= now) {
                c.rtp_check = RtpCheck::Done;
                let call = c.clone();
                self.gather(now, Purpose::RtpCheck, call);
            }
        }
    }

    /// The stats of an RTP check came in: the parties (legs) whose streams all received
    /// nothing are reported, when the call is still held.
    pub(super) fn rtp_checked(&mut self, call: &Call, stats: &CallStats) {
        let Some(call_id) = anchored_call_id(&call.call_id) else {
            return;
        };
        if !self.calls.contains_key(&call.call_id) {
            return;
        }
        let seen: Vec<&[StreamStats; 2]> = stats.pairs.iter().flatten().collect();
        if seen.is_empty() {
            return;
        }
        let silent: Vec<Vec<u8>> = (0..2)
            .filter(|&leg| seen.iter().all(|s| s[leg].rtp_packets == 0))
            .filter_map(|leg| call.legs[leg].tag.clone())
            .collect();
        if silent.is_empty() {
            return;
        }
        self.counters.anchor_silent += 1;
        if self.anchored_silent.len() >= super::MAX_ANCHORED_ENDED {
            self.anchored_silent.pop_front();
        }
        self.anchored_silent.push_back((call_id.to_vec(), silent));
    }

    /// Whether anchored call `call_id` is held.
    pub fn is_anchored(&self, call_id: &[u8]) -> bool {
        self.calls.contains_key(&anchor_key(call_id))
    }

    /// Keeps `pairs` relaying until `due`, then removes them (now when `due` has come).
    pub(super) fn retire(&mut self, due: Instant, pairs: Vec<(usize, [PortKey; 2])>) {
        // Zombies are kept in due order; delays differ per request, so insert in place.
        let pos = self
            .zombies
            .iter()
            .position(|z| z.due > due)
            .unwrap_or(self.zombies.len());
        self.zombies.insert(pos, Zombie { due, pairs });
    }

    /// The ng request an anchored exchange stands for.
    fn anchor_request<'a>(command: Command, key: &'a [u8], x: &SdpExchange<'a>) -> Request<'a> {
        let mut req = Request::new(command);
        req.call_id = Some(key);
        req.from_tag = Some(x.offerer_tag);
        req.to_tag = x.answerer_tag;
        req.sdp = Some(x.sdp);
        req.direction = x.interfaces.iter().map(|n| n.as_bytes()).collect();
        req
    }
}
