//! The response path: a response is matched to its client transaction by our branch and its
//! CSeq method (RFC 3261 §17.1.3), taken only from the address and transport its request went
//! to, fed to the transaction, and what the transaction reports goes to the branch, probe or
//! CANCEL it belongs to. A response matching nothing is dropped (RFC 6026 keeps INVITE client
//! transactions for the 2xx retransmissions, so none needs relaying by its Vias).

use crate::tables::Role;
use crate::txn::ClientEvent;
use crate::types::Refusal;
use crate::Proxy;
use sip::{Message, Method, Transport};
use std::net::SocketAddr;
use std::time::Instant;

impl Proxy {
    /// Entry point for every parsed response, from `from` over `transport`.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        msg: &Message<'_>,
    ) {
        let (Ok(via), Ok(cseq), Some(code)) = (msg.top_via(), msg.cseq(), msg.status()) else {
            self.counters.dropped_malformed += 1;
            return;
        };
        let branch = via.branch().unwrap_or_default();
        let method = Method::parse(&cseq.method);
        let call_id = || msg.call_id().unwrap_or_default().into_owned();
        let Some(id) = self.txns.client_for(branch, &method) else {
            return self.refused(Refusal::StrayResponse, from, &call_id());
        };
        let Some(c) = self.txns.client_mut(id) else {
            return;
        };
        // A response counts only from where the request went: a forged one from elsewhere
        // (a 503 + Retry-After to make a member BUSY, a 2xx to end a call) is dropped.
        let hop = c.txn.hop();
        if hop.peer != from || hop.transport != transport {
            return self.refused(Refusal::WrongSource, from, &call_id());
        }
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
}
