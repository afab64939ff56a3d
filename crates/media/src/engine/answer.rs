//! `answer`: the answerer's side of each stream pair, rtcp-mux settled, the SDP toward the offerer.

use super::offer::{disabled, fresh_rewrite, relayed, sdp_reply, SdpRequest};
use super::{Engine, Refusal};
use crate::call::{Call, CallState};
use dataplane::FlowCommand;
use ng::bencode::OwnedValue;
use ng::Request;
use std::time::Instant;

impl Engine {
    /// ng `answer`.
    pub(super) fn answer(
        &mut self,
        now: Instant,
        req: &Request<'_>,
    ) -> Result<OwnedValue, Refusal> {
        let r = SdpRequest::of(req)?;
        let call_id = r.call_id;
        let mut call = self.calls.remove(call_id).ok_or("Unknown call-id")?;
        let result = self.answer_on(&mut call, now, req, &r);
        self.keep_call(call);
        result
    }

    fn answer_on(
        &mut self,
        call: &mut Call,
        now: Instant,
        req: &Request<'_>,
        r: &SdpRequest<'_>,
    ) -> Result<OwnedValue, Refusal> {
        let (from_tag, sd, body) = (r.from_tag, &r.sd, r.body);
        let x = call.leg_of(from_tag).ok_or("Unknown from-tag")?;
        let y = 1 - x;
        if let Some(t) = req.to_tag {
            // A later answer from another fork replaces the earlier one.
            call.legs[y].tag = Some(t.to_vec());
        }
        if sd.media.len() > call.pairs.len() {
            return Err(Refusal::bad_sdp(
                "Answer has more media sections than the offer",
            ));
        }
        let source = r.source;
        let accept = req.rtcp_mux.accept || req.rtcp_mux.demux || req.rtcp_mux.require;
        let mut rw = fresh_rewrite();
        let mut first_addr = None;
        for (i, m) in sd.media.iter().enumerate() {
            let Some(p) = call.pairs.get_mut(i).and_then(Option::as_mut) else {
                rw.media.push(disabled());
                continue;
            };
            p.remote[y] = Self::remote_of(sd, m, source);
            let y_accepts = m.rtcp_mux;
            p.mux[y] = p.mux_offered[y] && y_accepts;
            p.mux[x] = p.mux_offered[x] && !req.rtcp_mux.reject && (p.mux[y] || accept);
            for leg in [x, y] {
                let spec = p.spec(leg, call.latch, call.strict, call.handover);
                self.commands
                    .push_back((p.worker, FlowCommand::Update(spec)));
            }
            let key = p.keys[x];
            let addr = self.sdp_addr(key.addr).ok_or("bad relay address")?;
            first_addr.get_or_insert(addr);
            let port = if m.port == 0 { 0 } else { key.port };
            let rtcp_port = if p.mux[x] { key.port } else { key.port | 1 };
            rw.media
                .push(relayed(req, port, addr, rtcp_port, y_accepts, p.mux[x]));
        }
        self.finish_rewrite(&mut rw, req, sd, first_addr);
        let out = sdp::rewrite(body, sd, &rw)
            .map_err(|e| Refusal::bad_sdp(format!("Failed to rewrite SDP: {e}")))?;
        call.state = CallState::Answered;
        call.last_signal = now;
        Ok(sdp_reply(out))
    }
}
