//! Media anchoring in the SIP path: the SDP of every call routed to a set whose media is
//! anchored (`[set.media]`, the default) is rewritten so that RTP flows through relay ports of
//! this element, decided in-process by the [`MediaAnchor`] (the media engine) while the
//! message passes, with no ng round trip and one parse of each SDP (the engine's).
//!
//! Offer/answer follows RFC 3264 over the SIP exchanges that carry it (RFC 3261 §13.2.1,
//! RFC 3262 §5, RFC 3311 §5.1):
//!
//! | request | its SDP | the response's SDP | the ACK's / PRACK's SDP |
//! |---|---|---|---|
//! | INVITE, re-INVITE, UPDATE with SDP | offer | answer (18x and 2xx) | - |
//! | INVITE, re-INVITE without SDP (late offer) | - | offer (reliable 18x or 2xx) | answer |
//!
//! An initial INVITE takes its relay ports before it is forwarded, so every member tried
//! (failover) receives the same relay addresses; a late 2xx of a branch given up is ended
//! (ACK + BYE) without touching the media. BYE, a failed or cancelled INVITE and dialog
//! expiry release the session. An offer the relay cannot take is refused before anything is
//! forwarded: 503 with Retry-After when it is out of ports or sessions, 488 with a Warning when
//! the SDP cannot be rewritten (RFC 3261 §21.4.26); an SDP is never forwarded unrewritten.

use crate::ctx::Target;
use crate::dialog::Ends;
use crate::info::ReqInfo;
use crate::slab::{CtxId, ServerId};
use crate::Proxy;
use media::{AnchorError, SdpExchange};
use sip::{Message, Method};
use std::time::Instant;

/// The relay the proxy anchors calls on, in the same process (the daemon's media engine
/// behind a lock; a test's engine as it is).
pub trait MediaAnchor: std::fmt::Debug + Send {
    /// An SDP offer: returns the SDP for the answerer.
    fn offer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError>;
    /// An SDP answer: returns the SDP for the offerer.
    fn answer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError>;
    /// The call is over: its media session is released (after the delete delay). Returns
    /// whether the relay held it.
    fn delete(&mut self, now: Instant, call_id: &[u8]) -> bool;
    /// The next call the relay ended on its own (no RTP, on hold too long, length cap): its
    /// SIP Call-ID and why. The proxy ends its dialog.
    fn poll_ended(&mut self) -> Option<(Vec<u8>, media::EndReason)>;
    /// The next answered call whose RTP check found parties that had sent no RTP: its SIP
    /// Call-ID and their tags.
    fn poll_silent(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)>;
}

impl MediaAnchor for media::Engine {
    fn offer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.anchor_offer(now, x)
    }

    fn answer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.anchor_answer(now, x)
    }

    fn delete(&mut self, now: Instant, call_id: &[u8]) -> bool {
        self.anchor_delete(now, call_id)
    }

    fn poll_ended(&mut self) -> Option<(Vec<u8>, media::EndReason)> {
        self.poll_anchored_end()
    }

    fn poll_silent(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        self.poll_anchored_silent()
    }
}

/// How a forwarded request's SDP is anchored (kept on its context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchored {
    /// Relay interfaces: toward the requester, toward the other party.
    pub sides: [String; 2],
    /// The request carried the offer, so its responses carry the answer; otherwise a
    /// response may carry the offer (a late offer).
    pub offered: bool,
}

/// A message body as anchoring sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body<'a> {
    /// No body (or only whitespace).
    Empty,
    /// An `application/sdp` body.
    Sdp(&'a [u8]),
    /// Any other body (a multipart with SDP in it, say): not rewritten, so not forwarded on an
    /// anchored call where it may carry an offer or answer.
    Other,
}

/// The body of `msg` by its Content-Type (RFC 3261 §20.15; parameters ignored).
fn body_of<'a>(msg: &Message<'a>) -> Body<'a> {
    let body = msg.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Body::Empty;
    }
    let sdp = msg.header("Content-Type").is_some_and(|h| {
        let media_type = h.value.split(|&c| c == b';').next().unwrap_or_default();
        media_type
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/sdp")
    });
    if sdp {
        Body::Sdp(body)
    } else {
        Body::Other
    }
}

/// What the relay did with an anchored request's SDP.
#[derive(Debug)]
pub(crate) enum Anchoring {
    /// Forward as it is (not anchored, or nothing to rewrite); `Some` when the context is
    /// anchored.
    Keep(Option<Anchored>),
    /// Forward with this body.
    Rewritten(Vec<u8>, Anchored),
    /// Refused: answered with this code and reason (and Warning or Retry-After).
    Refused,
}

impl Proxy {
    /// Sets the relay that anchors the media of calls routed to anchored sets. Without one,
    /// every call is signalling only.
    pub fn set_media_anchor(&mut self, anchor: Box<dyn MediaAnchor>) {
        self.media = Some(anchor);
    }

    /// The relay interfaces of a request's call, from the requester's side: the routed set's
    /// for an initial INVITE, the dialog's for an in-dialog request. `None`: not anchored.
    fn sides_for(&self, info: &ReqInfo, target: &Target) -> Option<[String; 2]> {
        self.media.as_ref()?;
        if info.to_tag.is_some() {
            return self.dialogs.media_sides(info);
        }
        let Target::Set { set, .. } = target else {
            return None;
        };
        match (&info.method, &self.dispatcher.set_config(*set)?.media) {
            (Method::Invite, dispatch::MediaPlan::Anchor { caller, member }) => {
                Some([caller.clone(), member.clone()])
            }
            _ => None,
        }
    }

    /// The SDP of a request about to be forwarded to `target`: an offer gets its relay ports
    /// and is rewritten, a PRACK's answer completes the flows, a BYE releases the session.
    /// A refusal is answered on server transaction `id` here.
    pub(crate) fn anchor_request(
        &mut self,
        now: Instant,
        id: ServerId,
        msg: &Message<'_>,
        info: &ReqInfo,
        target: &Target,
    ) -> Anchoring {
        let Some(sides) = self.sides_for(info, target) else {
            return Anchoring::Keep(None);
        };
        let body = body_of(msg);
        let offered = matches!(body, Body::Sdp(_));
        let anchored = Anchored { sides, offered };
        match (&info.method, body) {
            (Method::Bye, _) => {
                self.release_media(now, &info.call_id);
                Anchoring::Keep(None)
            }
            (Method::Invite | Method::Update | Method::Prack | Method::Ack, Body::Other) => self
                .refuse_media(
                    now,
                    id,
                    msg,
                    &AnchorError::BadSdp("not application/sdp".into()),
                ),
            (Method::Invite | Method::Update, Body::Sdp(sdp)) => {
                let x = exchange(
                    &info.call_id,
                    &info.from_tag,
                    info.to_tag.as_deref(),
                    sdp,
                    &anchored,
                );
                let result = self.media_op(now, &x, true);
                self.anchored_body(now, id, msg, result, anchored)
            }
            (Method::Prack, Body::Sdp(sdp)) => {
                // RFC 3262 §5: the PRACK answers an offer the other party made in a reliable
                // provisional.
                let to = info.to_tag.as_deref().unwrap_or_default();
                let x = exchange(&info.call_id, to, Some(&info.from_tag), sdp, &anchored);
                let result = self.media_op(now, &x, false);
                self.anchored_body(now, id, msg, result, anchored)
            }
            (Method::Invite, Body::Empty) => Anchoring::Keep(Some(anchored)),
            _ => Anchoring::Keep(None),
        }
    }

    /// The outcome of a request's offer or answer: its new body, or the refusal answered.
    fn anchored_body(
        &mut self,
        now: Instant,
        id: ServerId,
        msg: &Message<'_>,
        result: Result<Vec<u8>, AnchorError>,
        anchored: Anchored,
    ) -> Anchoring {
        match result {
            Ok(body) => Anchoring::Rewritten(body, anchored),
            Err(e) => self.refuse_media(now, id, msg, &e),
        }
    }

    /// Answers a request whose SDP the relay refused: 503 with Retry-After when it is out of
    /// room, 488 with a Warning (RFC 3261 §20.43, code 305 "Incompatible media format")
    /// otherwise.
    fn refuse_media(
        &mut self,
        now: Instant,
        id: ServerId,
        msg: &Message<'_>,
        e: &AnchorError,
    ) -> Anchoring {
        tracing::debug!(error = %e, "SDP refused by the media relay");
        if let AnchorError::Overloaded(_) = e {
            self.counters.media.refused_overload += 1;
            self.unavailable(now, id, msg);
        } else {
            self.counters.media.refused_sdp += 1;
            let warning = format!("305 ferrovox \"{}\"", warning_text(&e.to_string()));
            let extra = [("Warning", warning.as_str())];
            self.respond(now, id, msg, 488, "Not Acceptable Here", &extra);
        }
        Anchoring::Refused
    }

    /// An offer (`offer`) or answer through the relay, counted.
    fn media_op(
        &mut self,
        now: Instant,
        x: &SdpExchange<'_>,
        offer: bool,
    ) -> Result<Vec<u8>, AnchorError> {
        let Some(m) = self.media.as_mut() else {
            return Err(AnchorError::Refused("no media relay".into()));
        };
        let out = if offer {
            m.offer(now, x)
        } else {
            m.answer(now, x)
        };
        if out.is_ok() {
            let c = &mut self.counters.media;
            *(if offer { &mut c.offers } else { &mut c.answers }) += 1;
            if self.dialogs.tracking() {
                if let Ok(id) = std::str::from_utf8(x.call_id) {
                    self.dialogs.touch(id);
                }
            }
        }
        out
    }

    /// The new body of a response on anchored context `ctx` (`None`: forward as it is): the
    /// answer to the request's offer, or an offer when the request had none. An SDP the relay
    /// refuses is removed (the response still goes: a 2xx must reach the caller), counted.
    pub(crate) fn anchor_response(
        &mut self,
        now: Instant,
        ctx: CtxId,
        msg: &Message<'_>,
    ) -> Option<Vec<u8>> {
        self.ctxs.get(ctx)?.anchored.as_ref()?;
        let sdp = match body_of(msg) {
            Body::Empty => return None,
            Body::Sdp(sdp) => sdp,
            Body::Other => return Some(self.sdp_removed("not application/sdp")),
        };
        let Some(to) = msg.to().ok().and_then(|t| t.tag().map(str::to_string)) else {
            return Some(self.sdp_removed("an SDP in a response without a To tag"));
        };
        // The relay's work needs `self` while the exchange borrows the context's fields: the
        // two tags are copied, the sides taken out for the time of it and put back.
        let c = self.ctxs.get_mut(ctx)?;
        let mut a = c.anchored.take()?;
        let (call_id, from_tag) = (c.info.call_id.clone(), c.info.from_tag.clone());
        let result = if a.offered {
            let x = exchange(&call_id, &from_tag, Some(&to), sdp, &a);
            self.media_op(now, &x, false)
        } else {
            // The response makes the offer: its sender's side first.
            a.sides.swap(0, 1);
            let x = exchange(&call_id, &to, Some(&from_tag), sdp, &a);
            let r = self.media_op(now, &x, true);
            a.sides.swap(0, 1);
            r
        };
        if let Some(c) = self.ctxs.get_mut(ctx) {
            c.anchored = Some(a);
        }
        match result {
            Ok(body) => Some(body),
            Err(e) => Some(self.sdp_removed(&e.to_string())),
        }
    }

    /// Counts and logs an SDP taken out of a response; the empty body that replaces it.
    fn sdp_removed(&mut self, why: &str) -> Vec<u8> {
        self.counters.media.sdp_removed += 1;
        tracing::info!(
            reason = why,
            "SDP removed from a response: the relay refused it"
        );
        Vec::new()
    }

    /// The SDP of an ACK along an anchored dialog: the answer to an offer made in the 2xx
    /// (RFC 3261 §13.2.1). Returns the new body; `Err` when the ACK must not be forwarded
    /// (its SDP could not be rewritten: the call has no media path, and the ACK's SDP would
    /// bypass the relay).
    pub(crate) fn anchor_ack(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        info: &ReqInfo,
    ) -> Result<Option<Vec<u8>>, AnchorError> {
        if self.media.is_none() {
            return Ok(None);
        }
        let Some(sides) = self.dialogs.media_sides(info) else {
            return Ok(None);
        };
        let sdp = match body_of(msg) {
            Body::Empty => return Ok(None),
            Body::Sdp(sdp) => sdp,
            Body::Other => return Err(AnchorError::BadSdp("not application/sdp".into())),
        };
        let a = Anchored {
            sides,
            offered: false,
        };
        let to = info.to_tag.as_deref().unwrap_or_default();
        let x = exchange(&info.call_id, to, Some(&info.from_tag), sdp, &a);
        self.media_op(now, &x, false).map(Some)
    }

    /// Releases the media session of `call_id`, if the relay holds one.
    pub(crate) fn release_media(&mut self, now: Instant, call_id: &str) {
        if let Some(m) = self.media.as_mut() {
            if m.delete(now, call_id.as_bytes()) {
                self.counters.media.released += 1;
            }
        }
    }
}

impl Proxy {
    /// An anchored call's 2xx confirmed its dialog: what ending it from here needs is kept
    /// (the Contacts, From and To of both parties, from the INVITE of `ctx` and its 2xx).
    pub(crate) fn keep_ends(&mut self, ctx: CtxId, resp: &Message<'_>) {
        let Some(c) = self.ctxs.get(ctx).filter(|c| c.anchored.is_some()) else {
            return;
        };
        let Ok(inv) = sip::parse(&c.base) else {
            return;
        };
        let contact = |m: &Message<'_>| match m.contacts().ok().flatten() {
            Some(sip::Contacts::List(l)) => l.into_iter().next().map(|n| n.uri.into_owned()),
            _ => None,
        };
        let value = |m: &Message<'_>, h: &str| {
            m.header(h)
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let (Some(caller), Some(callee), Some(from), Some(to)) = (
            contact(&inv),
            contact(resp),
            value(&inv, "From"),
            value(resp, "To"),
        ) else {
            return;
        };
        let ends = Ends {
            contact: [caller, callee],
            party: [from, to],
            cseq: [c.info.cseq, 0],
        };
        let call_id = c.info.call_id.clone();
        self.dialogs.set_ends(&call_id, ends);
    }

    /// Takes the calls the relay ended on a timeout and ends their dialogs: a BYE to each
    /// party with a Reason (RFC 3326: Q.850 cause 102, recovery on timer expiry), counted by
    /// reason.
    pub(crate) fn collect_media_ends(&mut self, now: Instant) {
        while let Some((call_id, why)) = self.media.as_mut().and_then(|m| m.poll_ended()) {
            let call_id = String::from_utf8_lossy(&call_id).into_owned();
            let c = &mut self.counters.media;
            *match why {
                media::EndReason::NoRtp => &mut c.timeout_no_rtp,
                media::EndReason::OnHold => &mut c.timeout_on_hold,
                media::EndReason::OfferTimeout | media::EndReason::FinalTimeout => {
                    &mut c.timeout_final
                }
            } += 1;
            tracing::info!(
                call_id,
                reason = why.name(),
                "anchored call ended by the relay: BYE to both parties"
            );
            let reason = format!("Q.850;cause=102;text=\"{}\"", why.name());
            self.hang_up(now, &call_id, &reason);
        }
    }

    /// Takes the answered calls whose member had sent no RTP at the relay's check: counted
    /// per member (and a failure where its set's `no_rtp_suspect` says so), logged once per
    /// call.
    pub(crate) fn collect_silent_members(&mut self, now: Instant) {
        while let Some((call_id, tags)) = self.media.as_mut().and_then(|m| m.poll_silent()) {
            let call_id = String::from_utf8_lossy(&call_id).into_owned();
            let Some((member, callee_tag)) = self.dialogs.member_of(&call_id) else {
                continue;
            };
            if !tags.iter().any(|t| t.as_slice() == callee_tag.as_bytes()) {
                continue;
            }
            self.counters.media.member_no_rtp += 1;
            let uri = self
                .dispatcher
                .member(member)
                .map(|m| m.uri().to_string())
                .unwrap_or_default();
            tracing::info!(call_id, member = %uri, "answered call brought no RTP from the member");
            self.dispatcher.no_rtp(member, now);
        }
    }
}

/// The exchange of call `call_id` with `offerer` and `answerer`.
fn exchange<'a>(
    call_id: &'a str,
    offerer: &'a str,
    answerer: Option<&'a str>,
    sdp: &'a [u8],
    a: &'a Anchored,
) -> SdpExchange<'a> {
    SdpExchange {
        call_id: call_id.as_bytes(),
        offerer_tag: offerer.as_bytes(),
        answerer_tag: answerer.map(str::as_bytes),
        sdp,
        interfaces: [a.sides[0].as_str(), a.sides[1].as_str()],
    }
}

/// A Warning text (RFC 3261 §20.43 quoted-string): printable ASCII without quotes or
/// backslashes, at most 100 characters (also a Reason header's `text`, RFC 3326).
pub(crate) fn warning_text(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .filter(|c| !matches!(c, '"' | '\\'))
        .take(100)
        .collect()
}
