//! Ending a dialog from the proxy itself: a BYE to each party (RFC 3261 §15.1.1), sent as the
//! other party on a client transaction of its own whose responses are absorbed. The relay's
//! media timeouts (`anchor`) and the admin socket's `calls.terminate` (`admin_calls`) both
//! end calls this way.

use crate::info::BRANCH_PREFIX;
use crate::tables::Role;
use crate::txn::{ClientTxn, Expiry, Hop};
use crate::Proxy;
use sip::{Method, Transport};
use std::net::SocketAddr;
use std::time::Instant;

impl Proxy {
    /// Ends confirmed call `call_id` with a BYE to each party carrying `reason` (a Reason
    /// header value, RFC 3326): its active-call count is released, the dialog kept until
    /// retransmissions are over. `false` (nothing sent) when the dialog is not confirmed,
    /// already ended, or its parties were not kept (a signalling-only call).
    pub(crate) fn hang_up(&mut self, now: Instant, call_id: &str, reason: &str) -> bool {
        let linger = now + self.cfg.t64();
        let Some((ends, caller_hop, member_hop)) =
            self.dialogs
                .end_by_us(call_id, linger, &mut self.dispatcher)
        else {
            return false;
        };
        // To the callee as the caller, and to the caller as the callee.
        let [caller, callee] = &ends.contact;
        let [from, to] = &ends.party;
        let byes = [
            (callee, from, to, ends.cseq[0], member_hop),
            (caller, to, from, ends.cseq[1], caller_hop),
        ];
        for (target, from, to, cseq, hop) in byes {
            let bye = Bye {
                target,
                from,
                to,
                call_id,
                cseq: cseq.saturating_add(1),
                reason,
            };
            self.send_bye(now, &bye, hop);
        }
        true
    }

    /// Sends `bye` to `hop` on a client transaction of its own (its responses absorbed).
    fn send_bye(&mut self, now: Instant, bye: &Bye<'_>, (dst, transport): (SocketAddr, Transport)) {
        let local = self.local_for(dst);
        let sent_by = self.sent_by(transport, local);
        let branch = format!("{BRANCH_PREFIX}00000000{}", self.ids.token());
        let bytes = bye.to_bytes(transport, &sent_by, &branch);
        let hop = Hop {
            transport,
            local,
            peer: dst,
        };
        let expiry = Expiry::Silent(now + self.cfg.t64());
        let txn = ClientTxn::new(now, Method::Bye, hop, bytes, self.timing(), expiry);
        let id = self.txns.add_client(branch, txn, Role::Cleanup, None);
        self.flush_client(id);
    }
}

/// A BYE this element sends to end a dialog (RFC 3261 §15.1.1).
struct Bye<'a> {
    target: &'a str,
    from: &'a str,
    to: &'a str,
    call_id: &'a str,
    cseq: u32,
    reason: &'a str,
}

impl Bye<'_> {
    fn to_bytes(&self, transport: Transport, sent_by: &str, branch: &str) -> Vec<u8> {
        format!(
            "BYE {target} SIP/2.0\r\nVia: SIP/2.0/{t} {sent_by};branch={branch}\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} BYE\r\nReason: {reason}\r\n\
             Content-Length: 0\r\n\r\n",
            target = self.target,
            t = transport.via_token(),
            from = self.from,
            to = self.to,
            call_id = self.call_id,
            cseq = self.cseq,
            reason = self.reason,
        )
        .into_bytes()
    }
}
