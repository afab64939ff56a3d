//! The response path: a response is matched to its client transaction by our branch and its
//! CSeq method (RFC 3261 §17.1.3), fed to it, and what the transaction reports goes to the
//! branch, probe or CANCEL it belongs to; a response matching nothing is a stray (§16.7).

use crate::info::BRANCH_PREFIX;
use crate::tables::Role;
use crate::txn::ClientEvent;
use crate::{util, Proxy};
use sip::{Message, Method};
use std::time::Instant;

impl Proxy {
    /// Entry point for every parsed response.
    pub(crate) fn on_response(&mut self, now: Instant, msg: &Message<'_>) {
        let (Ok(via), Ok(cseq), Some(code)) = (msg.top_via(), msg.cseq(), msg.status()) else {
            self.counters.dropped_malformed += 1;
            return;
        };
        let branch = via.branch().unwrap_or_default();
        let method = Method::parse(&cseq.method);
        let Some(id) = self.txns.client_for(branch, &method) else {
            return self.stray(msg, branch, code, &method);
        };
        let Some(c) = self.txns.client_mut(id) else {
            return;
        };
        let event = c.txn.on_response(now, code, msg);
        let role = c.role;
        // What the transaction sends itself (the ACK of a final) goes first.
        self.flush_client(id);
        let Some(event) = event else {
            return;
        };
        match role {
            Role::Branch { .. } | Role::Abandoned => {
                self.on_branch_response(now, id, event, msg, code)
            }
            Role::Probe { probe } => {
                if let ClientEvent::Final { .. } = event {
                    self.txns.remove_client(id);
                    let retry_after = msg.retry_after().ok().flatten().map(|r| r.seconds);
                    let outcome = dispatch::ProbeOutcome::Reply { code, retry_after };
                    self.dispatcher.probe_result(probe, outcome, now);
                }
            }
            Role::Cancel | Role::Cleanup => {}
        }
    }

    /// A response matching no client transaction (RFC 3261 §16.7 / §17.1.1.2 with RFC
    /// 6026): a 2xx to an INVITE with our Via on top is forwarded statelessly by the next
    /// Via; anything else is dropped and counted.
    fn stray(&mut self, msg: &Message<'_>, branch: &str, code: u16, method: &Method) {
        self.counters.stray_responses += 1;
        if !(branch.starts_with(BRANCH_PREFIX) && (200..300).contains(&code) && method.is_invite())
        {
            return;
        }
        let Ok(vias) = msg.vias() else {
            return;
        };
        let Some((dst, t)) = vias.get(1).and_then(util::via_target) else {
            return;
        };
        let Ok(fwd) = sip::Editor::new(msg)
            .remove_top_via()
            .and_then(|e| e.finish())
        else {
            return;
        };
        let src = self.local_for(dst);
        self.send(t, src, dst, fwd);
    }
}
