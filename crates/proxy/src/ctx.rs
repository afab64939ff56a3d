//! Proxy contexts: one per forwarded request (RFC 3261 §16: the response context), holding
//! where its branches go, which members were tried, the best final response so far (§16.7
//! item 6) and how far the request got. The proxy drives them (`forward`, `branch`).

use crate::info::ReqInfo;
use crate::slab::{ClientId, ServerId};
use sip::Transport;
use std::net::SocketAddr;

/// Where a context sends its branches.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A destination set: members chosen by the dispatcher, failover on failure.
    /// The set's hash keys are the context's request's Call-ID, From and To users, and the
    /// user of the Request-URI as routed (`ruri_user`, after a Route was followed).
    Set {
        set: dispatch::SetId,
        ruri_user: String,
    },
    /// One next hop (in-dialog or pre-routed requests): no failover.
    Fixed(SocketAddr, Transport, Option<dispatch::MemberId>),
}

/// How far a context got. Each context starts in `Trying` and ends in `Done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Branches are tried one after another (failover); nothing final went upstream.
    Trying,
    /// Timer C fired on the live branch (RFC 3261 §16.8): it was CANCELled, and the 487 that
    /// ends it goes upstream as 408.
    TimerC,
    /// The caller CANCELled (§16.10): no new branch is tried, the live one is CANCELled as
    /// soon as it has had a provisional (§9.1), and its final ends the context.
    Cancelled,
    /// The final response went upstream. A 2xx from a branch is still forwarded (§16.7 item
    /// 4); the context goes with its server transaction.
    Done,
}

/// The best final outcome of the branches so far (RFC 3261 §16.7 item 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Best {
    /// No branch has ended yet.
    Nothing,
    /// A branch timed out; no final response came (taken as a 408, §16.7 item 6).
    TimedOut,
    /// A branch could not be sent (a transport error, §16.9: taken as a 503, which goes
    /// upstream as 500); no final response came.
    Unreachable,
    /// The best final response: its code and the bytes ready to go upstream.
    Response(u16, Vec<u8>),
}

/// What goes upstream when a context ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A branch's final response, forwarded.
    Forward(u16, Vec<u8>),
    /// A response this element generates: code and reason phrase.
    Local(u16, &'static str),
}

/// A forwarded request's context.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The server transaction of the request.
    pub server: ServerId,
    /// The request as every branch forwards it, before the branch's own Via.
    pub base: Vec<u8>,
    pub info: ReqInfo,
    pub target: Target,
    pub tried: Vec<dispatch::MemberId>,
    pub attempts: u32,
    /// The live branch.
    pub branch: Option<ClientId>,
    /// The member whose active-call count this call holds.
    pub counted: Option<dispatch::MemberId>,
    /// Where the request came from (the caller side of a new dialog).
    pub caller: (SocketAddr, Transport),
    /// How the request's SDP is anchored (`None`: signalling only).
    pub anchored: Option<crate::anchor::Anchored>,
    phase: Phase,
    best: Best,
    /// A provisional other than 100 went upstream (§16.7 item 5): the caller heard from a
    /// member, so no other member may take the call.
    relayed: bool,
}

impl Ctx {
    /// A context for the request of server transaction `server`, from `caller`.
    pub(crate) fn new(
        server: ServerId,
        info: ReqInfo,
        base: Vec<u8>,
        target: Target,
        caller: (SocketAddr, Transport),
    ) -> Self {
        Ctx {
            server,
            base,
            info,
            target,
            tried: Vec::new(),
            attempts: 0,
            branch: None,
            counted: None,
            caller,
            anchored: None,
            phase: Phase::Trying,
            best: Best::Nothing,
            relayed: false,
        }
    }

    /// How far the context got.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// The final response went upstream.
    pub(crate) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The caller CANCELled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.phase == Phase::Cancelled
    }

    /// An initial INVITE: the context routes a call.
    pub(crate) fn initial_invite(&self) -> bool {
        self.info.initial_invite()
    }

    /// `id` is the live branch and nothing final went upstream yet: what happens on it
    /// decides the context.
    pub(crate) fn is_live(&self, id: ClientId) -> bool {
        self.branch == Some(id) && !self.is_done()
    }

    /// A provisional other than 100 was sent to the caller.
    pub(crate) fn relayed_provisional(&mut self) {
        self.relayed = true;
    }

    /// Another member may be tried after the live branch failed: the target is a set, no
    /// provisional but 100 reached the caller (a 100 is hop by hop, §16.7 item 2: the caller
    /// heard nothing of the member) and the caller did not CANCEL (RFC 3261 §16.7 item 6
    /// leaves the choice to the proxy).
    pub(crate) fn may_fail_over(&self) -> bool {
        !self.relayed && !self.is_cancelled() && matches!(self.target, Target::Set { .. })
    }

    /// The caller's CANCEL (§16.10): `Cancelled` unless the final response went up already.
    /// Returns whether it took effect.
    pub(crate) fn cancel(&mut self) -> bool {
        if self.is_done() {
            return false;
        }
        self.phase = Phase::Cancelled;
        true
    }

    /// Timer C fired on the live branch (§16.8).
    pub(crate) fn timer_c(&mut self) {
        if self.phase == Phase::Trying {
            self.phase = Phase::TimerC;
        }
    }

    /// The first 2xx went upstream (§16.7 item 4): `Done`. Returns whether it was the first
    /// final response of the context.
    pub(crate) fn answered(&mut self) -> bool {
        std::mem::replace(&mut self.phase, Phase::Done) != Phase::Done
    }

    /// A branch timed out or failed to send.
    pub(crate) fn timed_out(&mut self) {
        // A 408 ranks before a 503 (§16.7 item 6: the lowest class).
        if matches!(self.best, Best::Nothing | Best::Unreachable) {
            self.best = Best::TimedOut;
        }
    }

    /// A branch failed on a transport error (RFC 3261 §16.9: as if it had answered 503).
    pub(crate) fn unreachable(&mut self) {
        if self.best == Best::Nothing {
            self.best = Best::Unreachable;
        }
    }

    /// Records a final response if it beats the best so far (§16.7 item 6: 6xx first, then
    /// the lowest class).
    pub(crate) fn remember(&mut self, code: u16, bytes: Vec<u8>) {
        let better = match &self.best {
            Best::Response(b, _) => rank(code) < rank(*b),
            Best::Nothing | Best::TimedOut | Best::Unreachable => true,
        };
        if better {
            self.best = Best::Response(code, bytes);
        }
    }

    /// The context ends: `Done`, and what goes upstream (§16.7 items 6–10, §16.8); `None`
    /// when a final response went up already.
    pub(crate) fn conclude(&mut self) -> Option<Verdict> {
        let was = std::mem::replace(&mut self.phase, Phase::Done);
        if was == Phase::Done {
            return None;
        }
        let best = std::mem::replace(&mut self.best, Best::Nothing);
        Some(match best {
            // §16.7 item 6: a 503 is not passed on; the caller would take it as this proxy's
            // state.
            Best::Response(503, _) => Verdict::Local(500, "Server Internal Error"),
            Best::Response(487, _) if was == Phase::TimerC => {
                Verdict::Local(408, "Request Timeout")
            }
            Best::Response(code, bytes) => Verdict::Forward(code, bytes),
            _ if was == Phase::Cancelled => Verdict::Local(487, "Request Terminated"),
            Best::TimedOut => Verdict::Local(408, "Request Timeout"),
            Best::Unreachable => Verdict::Local(500, "Server Internal Error"),
            Best::Nothing => Verdict::Local(503, "Service Unavailable"),
        })
    }

    /// The context ends with a response of its own (`Done`); false when a final response
    /// went up already.
    pub(crate) fn conclude_locally(&mut self) -> bool {
        std::mem::replace(&mut self.phase, Phase::Done) != Phase::Done
    }
}

/// Ranks a final response for §16.7 item 6: 6xx first, then the lowest class.
fn rank(code: u16) -> u16 {
    if code >= 600 {
        0
    } else {
        code / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::{ClientId, Slab};

    fn ctx() -> Ctx {
        let msg =
            b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.10;branch=z9hG4bK1\r\n\
                    From: <sip:a@127.0.0.10>;tag=f\r\nTo: <sip:1@127.0.0.1>\r\nCall-ID: c\r\n\
                    CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let info = ReqInfo::read(&sip::parse(msg).expect("parses")).expect("reads");
        let mut servers: Slab<ServerId, ()> = Slab::default();
        let text = crate::tests::config_text("", &["uri = \"sip:127.0.0.20:5060\""]);
        let cfg = config::parse(&text).expect("config");
        let d = dispatch::Dispatcher::new(&cfg.sets, &cfg.routes, std::time::Instant::now());
        let set = d.set_id("pool").expect("the set");
        let target = Target::Set {
            set,
            ruri_user: "1".into(),
        };
        let caller = ("127.0.0.10:5060".parse().expect("addr"), Transport::Udp);
        Ctx::new(servers.insert(()), info, msg.to_vec(), target, caller)
    }

    fn local(code: u16) -> Option<Verdict> {
        let reason = match code {
            408 => "Request Timeout",
            487 => "Request Terminated",
            500 => "Server Internal Error",
            _ => "Service Unavailable",
        };
        Some(Verdict::Local(code, reason))
    }

    #[test]
    fn the_best_response_goes_up_and_a_503_becomes_500() {
        let mut c = ctx();
        c.timed_out();
        c.remember(486, b"486".to_vec());
        c.remember(503, b"503".to_vec());
        c.remember(404, b"404".to_vec());
        // The lowest class wins; within a class the first one stays.
        assert_eq!(c.conclude(), Some(Verdict::Forward(486, b"486".to_vec())));
        assert_eq!((c.phase(), c.conclude()), (Phase::Done, None));
        let mut c = ctx();
        c.remember(503, b"503".to_vec());
        c.remember(603, b"603".to_vec());
        assert_eq!(c.conclude(), Some(Verdict::Forward(603, b"603".to_vec())));
        let mut c = ctx();
        c.remember(503, b"503".to_vec());
        c.timed_out();
        assert_eq!(c.conclude(), local(500));
    }

    #[test]
    fn without_a_response_a_timeout_is_408_and_nothing_503() {
        let mut c = ctx();
        c.timed_out();
        assert_eq!(c.conclude(), local(408));
        assert_eq!(ctx().conclude(), local(503));
    }

    #[test]
    fn cancel_stops_failover_and_ends_in_487_unless_done() {
        let mut c = ctx();
        assert!(c.may_fail_over());
        let mut ringing = ctx();
        ringing.relayed_provisional();
        assert!(!ringing.may_fail_over());
        assert!(c.cancel());
        assert_eq!(c.phase(), Phase::Cancelled);
        assert!(c.is_cancelled() && !c.may_fail_over());
        c.timer_c();
        assert_eq!(
            c.phase(),
            Phase::Cancelled,
            "the caller's CANCEL wins over Timer C"
        );
        c.timed_out();
        assert_eq!(c.conclude(), local(487));
        assert!(!c.cancel(), "a CANCEL after the final has no effect");
        let mut c = ctx();
        c.remember(487, b"487".to_vec());
        assert!(c.cancel());
        assert_eq!(c.conclude(), Some(Verdict::Forward(487, b"487".to_vec())));
    }

    #[test]
    fn timer_c_turns_the_487_into_408() {
        let mut c = ctx();
        c.timer_c();
        assert_eq!(c.phase(), Phase::TimerC);
        c.remember(487, b"487".to_vec());
        assert_eq!(c.conclude(), local(408));
        let mut c = ctx();
        c.timer_c();
        assert!(c.cancel());
        c.remember(487, b"487".to_vec());
        assert_eq!(c.conclude(), Some(Verdict::Forward(487, b"487".to_vec())));
    }

    #[test]
    fn a_2xx_or_a_local_final_ends_it_once() {
        let mut c = ctx();
        let mut clients: Slab<ClientId, ()> = Slab::default();
        let b = clients.insert(());
        c.branch = Some(b);
        assert!(c.is_live(b));
        assert!(c.answered());
        assert!(c.is_done() && !c.is_live(b));
        assert!(
            !c.answered(),
            "a retransmitted or second 2xx is not the first"
        );
        assert_eq!(c.conclude(), None);
        let mut c = ctx();
        assert!(c.conclude_locally());
        assert!(!c.conclude_locally());
    }
}
