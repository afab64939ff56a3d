//! `delete` and `query`: stats gathered from the workers, and the ports released (after the
//! delete-delay).

use super::{Engine, Purpose, Refusal};
use dataplane::PortKey;
use ng::bencode::OwnedValue;
use ng::Request;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl Engine {
    /// ng `delete`: replies with the call's final stats; media keeps flowing for the
    /// delete-delay, then the ports are released.
    pub(super) fn delete(
        &mut self,
        now: Instant,
        cookie: &[u8],
        from: SocketAddr,
        req: &Request<'_>,
    ) -> Result<Option<OwnedValue>, Refusal> {
        let call_id = Self::require(req.call_id, "call-id")?;
        let call = self
            .take_call(call_id)
            .ok_or("Call-ID not found or tags didn't match")?;
        self.counters.deleted += 1;
        let delay = req
            .delete_delay
            .map_or(self.cfg.delete_delay, |s| Duration::from_secs(u64::from(s)));
        let pairs: Vec<(usize, [PortKey; 2])> =
            call.live_pairs().map(|p| (p.worker, p.keys)).collect();
        let purpose = Purpose::Reply {
            cookie: cookie.to_vec(),
            to: from,
        };
        self.gather(now, purpose, call);
        if delay.is_zero() {
            for (w, keys) in pairs {
                self.remove_pair(w, keys);
            }
        } else {
            self.retire(now + delay, pairs);
        }
        Ok(None)
    }

    /// ng `query`.
    pub(super) fn query(
        &mut self,
        now: Instant,
        cookie: &[u8],
        from: SocketAddr,
        req: &Request<'_>,
    ) -> Result<Option<OwnedValue>, Refusal> {
        let call_id = Self::require(req.call_id, "call-id")?;
        let call = self.calls.get(call_id).cloned().ok_or("Unknown call-id")?;
        let purpose = Purpose::Reply {
            cookie: cookie.to_vec(),
            to: from,
        };
        self.gather(now, purpose, call);
        Ok(None)
    }
}
