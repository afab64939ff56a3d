//! The response path: matching responses to client transactions (RFC 3261 §17.1.3),
//! retransmissions (Timers A and E), and stateless forwarding of stray responses (§16.7).

use super::ctx;
use super::request::BRANCH_PREFIX;
use super::timers::Timer;
use super::txn::{self, ClientRole, ClientState};
use super::types::Transport;
use super::{util, Proxy};
use sip::{Message, Method};
use std::net::SocketAddr;
use std::time::Instant;

/// Entry point for every parsed response.
pub(super) fn handle(
    p: &mut Proxy,
    now: Instant,
    _transport: Transport,
    _from: SocketAddr,
    msg: &Message<'_>,
) {
    let (Ok(via), Ok(cseq), Some(code)) = (msg.top_via(), msg.cseq(), msg.status()) else {
        p.counters.dropped_malformed += 1;
        return;
    };
    let branch = via.branch().unwrap_or_default();
    let method = Method::parse(&cseq.method);
    let key = txn::client_key(branch, &method);
    let Some(t) = p.client.get_mut(&key) else {
        return stray(p, msg, branch, code, &method);
    };
    match t.role {
        ClientRole::Branch { .. } => ctx::on_branch_response(p, now, &key, msg, code),
        ClientRole::Probe { probe } => {
            if code >= 200 {
                p.client.remove(&key);
                let retry_after = msg.retry_after().ok().flatten().map(|r| r.seconds);
                p.dispatcher.probe_result(
                    probe,
                    dispatch::ProbeOutcome::Reply { code, retry_after },
                    now,
                );
            } else if t.state == ClientState::Calling {
                t.state = ClientState::Proceeding;
            }
        }
        ClientRole::Cancel | ClientRole::Cleanup => {
            if code >= 200 && t.state != ClientState::Completed {
                t.state = ClientState::Completed;
                t.gen += 1;
                let linger = if t.transport.unreliable() {
                    p.cfg.t4
                } else {
                    std::time::Duration::ZERO
                };
                p.timers
                    .arm(now + linger, Timer::ClientEnd { key: key.clone() });
            } else if t.state == ClientState::Calling {
                t.state = ClientState::Proceeding;
            }
        }
    }
}

/// A response matching no client transaction (RFC 3261 §16.7 / §17.1.1.2 with RFC 6026): a
/// 2xx to an INVITE with our Via on top is forwarded statelessly by the next Via; anything
/// else is dropped and counted.
fn stray(p: &mut Proxy, msg: &Message<'_>, branch: &str, code: u16, method: &Method) {
    p.counters.stray_responses += 1;
    if !(branch.starts_with(BRANCH_PREFIX) && (200..300).contains(&code) && method.is_invite()) {
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
    let src = p.local_for(dst);
    p.send(t, src, dst, fwd);
}

/// Timers A and E: resend the request of a client transaction still waiting (RFC 3261
/// §17.1.1.2, §17.1.2.2).
pub(super) fn retransmit_client(p: &mut Proxy, now: Instant, key: &str, gen: u32) {
    let t2 = p.cfg.t2;
    let Some(t) = p.client.get_mut(key) else {
        return;
    };
    let waiting =
        t.state == ClientState::Calling || (!t.invite && t.state == ClientState::Proceeding);
    if t.gen != gen || !waiting || t.abandoned {
        return;
    }
    // Timer A doubles without bound; Timer E doubles up to T2 (and is T2 once proceeding).
    t.retransmit_every = if t.invite {
        t.retransmit_every * 2
    } else if t.state == ClientState::Proceeding {
        t2
    } else {
        (t.retransmit_every * 2).min(t2)
    };
    let next = now + t.retransmit_every;
    let (tr, s, d, bytes) = (t.transport, t.src, t.dst, t.request.clone());
    p.timers.arm(
        next,
        Timer::ClientRetransmit {
            key: key.to_string(),
            gen,
        },
    );
    p.counters.retransmissions_sent += 1;
    p.send(tr, s, d, bytes);
}
