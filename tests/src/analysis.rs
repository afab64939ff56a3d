//! What a capture shows about the calls of a run: the SDP endpoints each side announced and
//! saw, and whether every RTP packet went through the relay where the SDP said it would.
//!
//! Names used below, per call: `U` the UAC's own RTP endpoint (its INVITE SDP), `R` the relay
//! endpoint the UAC was told (the SDP of the 183/2xx it received), `R'` the relay endpoint the
//! UAS was told (the SDP of the INVITE it received), `S` the UAS's own endpoint (its 183/2xx
//! SDP). Media must flow `U -> R`, `R' -> S`, `S -> R'`, `R -> U`, and nothing else may reach
//! `U` or `S`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::pcap::Datagram;
use crate::rtp::RtpView;
use crate::sip::SipMessage;

/// The SIP addresses of the three signalling parties.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    /// Kamailio.
    pub proxy: SocketAddr,
    /// The sipp UAC.
    pub uac: SocketAddr,
    /// The sipp UAS.
    pub uas: SocketAddr,
}

/// What one call's signalling announced, as seen on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallSdp {
    /// `U`: the UAC's endpoint (its INVITE's SDP, or its ACK's after a late offer).
    pub uac_offer: BTreeSet<SocketAddr>,
    /// `R'`: the relay endpoint the UAS was told (the INVITE's SDP, or the ACK's).
    pub uas_offer: BTreeSet<SocketAddr>,
    /// `S`: the UAS's answers (183/2xx UAS -> proxy).
    pub uas_answer: BTreeSet<SocketAddr>,
    /// `R`: the answers the UAC received (183/2xx proxy -> UAC).
    pub uac_answer: BTreeSet<SocketAddr>,
    /// When the first 2xx to the INVITE reached the UAC.
    pub answered_at: Option<Duration>,
    /// Final INVITE response codes the UAC received.
    pub final_codes: BTreeSet<u16>,
}

impl CallSdp {
    /// Every relay endpoint of the call (`R` and `R'`).
    pub fn relay_endpoints(&self) -> BTreeSet<SocketAddr> {
        self.uac_answer.union(&self.uas_offer).copied().collect()
    }
}

/// Reads the calls of a capture, keyed by Call-ID.
pub fn calls(datagrams: &[Datagram], roles: &Roles) -> BTreeMap<String, CallSdp> {
    let mut calls: BTreeMap<String, CallSdp> = BTreeMap::new();
    for d in datagrams {
        let Some(msg) = SipMessage::parse(&d.payload) else {
            continue;
        };
        let invite = msg.cseq_method == "INVITE";
        // An UPDATE (RFC 3311) offers and its 2xx answers, as an INVITE and its 2xx do.
        let offer_answer = invite || msg.cseq_method == "UPDATE";
        let call = calls.entry(msg.call_id.clone()).or_default();
        let from_to = (d.src, d.dst);
        // RFC 3264 / RFC 3261 13.2.1: the caller's own endpoint is in its INVITE, or in its
        // ACK when the INVITE had no SDP (a late offer: the 2xx offers, the ACK answers).
        if msg.is_request("INVITE") || msg.is_request("ACK") || msg.is_request("UPDATE") {
            if from_to == (roles.uac, roles.proxy) {
                call.uac_offer.extend(&msg.audio);
            } else if from_to == (roles.proxy, roles.uas) {
                call.uas_offer.extend(&msg.audio);
            }
        } else if let (Some(code), true) = (msg.status(), offer_answer) {
            // RFC 3264 / RFC 3261 13.2.1: the answer comes in a reliable or early response.
            let sdp_response = code == 183 || (200..300).contains(&code);
            if from_to == (roles.uas, roles.proxy) && sdp_response {
                call.uas_answer.extend(&msg.audio);
            } else if from_to == (roles.proxy, roles.uac) {
                if sdp_response {
                    call.uac_answer.extend(&msg.audio);
                }
                if invite && (200..300).contains(&code) && call.answered_at.is_none() {
                    call.answered_at = Some(d.ts);
                }
                if invite && code >= 200 {
                    call.final_codes.insert(code);
                }
            }
        }
    }
    calls.retain(|_, c| !c.uac_offer.is_empty() || !c.uas_offer.is_empty());
    calls
}

/// What a run is expected to show.
#[derive(Debug, Clone)]
pub struct Expect {
    /// How many calls the UAC placed.
    pub calls: usize,
    /// Whether the calls were answered (else cancelled: no media at all).
    pub answered: bool,
    /// Whether media must already flow both ways before the 2xx (183 early media).
    pub early_media: bool,
    /// The fewest RTP packets each call must carry on each of its four hops.
    pub min_packets: usize,
    /// Ports the relay may announce to the caller.
    pub external: RangeInclusive<u16>,
    /// Ports the relay may announce to the callee.
    pub internal: RangeInclusive<u16>,
    /// The 20 ms payloads the UAC streams.
    pub uac_frames: HashSet<Vec<u8>>,
    /// The 20 ms payloads the UAS streams.
    pub uas_frames: HashSet<Vec<u8>>,
}

/// Per-hop RTP packet counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hops {
    /// `U -> R`
    pub uac_to_relay: usize,
    /// `R' -> S`
    pub relay_to_uas: usize,
    /// `S -> R'`
    pub uas_to_relay: usize,
    /// `R -> U`
    pub relay_to_uac: usize,
}

/// The result of [`check`]: the calls seen, their hop counts, and one line per failed check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The calls by Call-ID.
    pub calls: BTreeMap<String, CallSdp>,
    /// RTP packet counts per call.
    pub hops: BTreeMap<String, Hops>,
    /// Failed checks (empty: all passed).
    pub failures: Vec<String>,
}

/// At most this many offending packets are described per check.
const MAX_EXAMPLES: usize = 3;

/// Checks a run's capture against `expect`.
pub fn check(datagrams: &[Datagram], roles: &Roles, expect: &Expect) -> Report {
    let calls = calls(datagrams, roles);
    let mut failures = Vec::new();
    if calls.len() != expect.calls {
        failures.push(format!(
            "{} calls seen on the wire, {} placed",
            calls.len(),
            expect.calls
        ));
    }
    for (id, c) in &calls {
        check_sdp(id, c, expect, &mut failures);
    }
    let mut hops = BTreeMap::new();
    for (id, c) in &calls {
        let h = count_hops(datagrams, c);
        if expect.answered {
            for (name, n) in [
                ("UAC -> relay", h.uac_to_relay),
                ("relay -> UAS", h.relay_to_uas),
                ("UAS -> relay", h.uas_to_relay),
                ("relay -> UAC", h.relay_to_uac),
            ] {
                if n < expect.min_packets {
                    failures.push(format!(
                        "call {id}: {n} RTP packets {name}, expected at least {}",
                        expect.min_packets
                    ));
                }
            }
            check_payloads(id, datagrams, c, expect, &mut failures);
            if expect.early_media {
                check_early(id, datagrams, c, &mut failures);
            }
        }
        hops.insert(id.clone(), h);
    }
    check_sources(datagrams, &calls, &mut failures);
    Report {
        calls,
        hops,
        failures,
    }
}

fn check_sdp(id: &str, c: &CallSdp, expect: &Expect, failures: &mut Vec<String>) {
    let mut need = |what: &str, set: &BTreeSet<SocketAddr>| {
        if set.is_empty() {
            failures.push(format!("call {id}: no audio endpoint in {what}"));
        }
    };
    need("the INVITE the UAC sent", &c.uac_offer);
    need("the INVITE the UAS received", &c.uas_offer);
    if expect.answered {
        need("the answer the UAS sent", &c.uas_answer);
        need("the answer the UAC received", &c.uac_answer);
        if c.answered_at.is_none() {
            failures.push(format!("call {id}: no 2xx reached the UAC"));
        }
    } else if c.answered_at.is_some() || !c.final_codes.contains(&487) {
        failures.push(format!(
            "call {id}: expected 487 and no 2xx for the cancelled INVITE, UAC got {:?}",
            c.final_codes
        ));
    }
    let anchored = |told: &BTreeSet<SocketAddr>, own: &BTreeSet<SocketAddr>| told.is_disjoint(own);
    if !anchored(&c.uas_offer, &c.uac_offer) {
        failures.push(format!(
            "call {id}: the UAS was told the UAC's own endpoint {:?}: the offer was not anchored",
            c.uas_offer
        ));
    }
    if !anchored(&c.uac_answer, &c.uas_answer) {
        failures.push(format!(
            "call {id}: the UAC was told the UAS's own endpoint {:?}: the answer was not anchored",
            c.uac_answer
        ));
    }
    for (what, set, range) in [
        ("told to the UAC", &c.uac_answer, &expect.external),
        ("told to the UAS", &c.uas_offer, &expect.internal),
    ] {
        for a in set {
            if !a.ip().is_loopback() || !range.contains(&a.port()) {
                failures.push(format!(
                    "call {id}: relay endpoint {a} {what} is outside 127.0.0.1:{}-{}",
                    range.start(),
                    range.end()
                ));
            }
        }
    }
}

fn count(datagrams: &[Datagram], from: &BTreeSet<SocketAddr>, to: &BTreeSet<SocketAddr>) -> usize {
    datagrams
        .iter()
        .filter(|d| from.contains(&d.src) && to.contains(&d.dst))
        .count()
}

fn count_hops(datagrams: &[Datagram], c: &CallSdp) -> Hops {
    Hops {
        uac_to_relay: count(datagrams, &c.uac_offer, &c.uac_answer),
        relay_to_uas: count(datagrams, &c.uas_offer, &c.uas_answer),
        uas_to_relay: count(datagrams, &c.uas_answer, &c.uas_offer),
        relay_to_uac: count(datagrams, &c.uac_answer, &c.uac_offer),
    }
}

/// Every datagram reaching a `U` (or `S`) came from an `R` (or `R'`) announced for a call with
/// that `U` (or `S`). (sipp may give several calls the same media port, so the allowed sources
/// of an endpoint are those of every call that uses it.)
fn check_sources(
    datagrams: &[Datagram],
    calls: &BTreeMap<String, CallSdp>,
    failures: &mut Vec<String>,
) {
    let mut allowed: BTreeMap<SocketAddr, (&str, BTreeSet<SocketAddr>)> = BTreeMap::new();
    for c in calls.values() {
        for u in &c.uac_offer {
            allowed
                .entry(*u)
                .or_insert(("UAC", BTreeSet::new()))
                .1
                .extend(&c.uac_answer);
        }
        for s in &c.uas_answer {
            allowed
                .entry(*s)
                .or_insert(("UAS", BTreeSet::new()))
                .1
                .extend(&c.uas_offer);
        }
    }
    let mut bad: BTreeMap<(SocketAddr, SocketAddr), usize> = BTreeMap::new();
    for d in datagrams {
        if let Some((_, sources)) = allowed.get(&d.dst) {
            if !sources.contains(&d.src) {
                *bad.entry((d.src, d.dst)).or_default() += 1;
            }
        }
    }
    for ((src, dst), n) in bad {
        let (who, sources) = allowed
            .get(&dst)
            .map_or(("?", String::new()), |(w, s)| (*w, format!("{s:?}")));
        failures.push(format!(
            "{n} packets reached the {who} at {dst} from {src}, which no SDP it received \
             announced (announced: {sources})"
        ));
    }
}

/// Media integrity: what the relay delivers on a call is that call's stream from the other
/// side, unchanged: the SSRCs that entered on the other leg and payloads of the other side's
/// audio file.
fn check_payloads(
    id: &str,
    datagrams: &[Datagram],
    c: &CallSdp,
    expect: &Expect,
    failures: &mut Vec<String>,
) {
    let ssrcs = |from: &BTreeSet<SocketAddr>, to: &BTreeSet<SocketAddr>| -> BTreeSet<u32> {
        datagrams
            .iter()
            .filter(|d| from.contains(&d.src) && to.contains(&d.dst))
            .filter_map(|d| RtpView::parse(&d.payload).map(|r| r.ssrc))
            .collect()
    };
    let legs = [
        (
            "relay -> UAS",
            &c.uas_offer,
            &c.uas_answer,
            ssrcs(&c.uac_offer, &c.uac_answer),
            &expect.uac_frames,
        ),
        (
            "relay -> UAC",
            &c.uac_answer,
            &c.uac_offer,
            ssrcs(&c.uas_answer, &c.uas_offer),
            &expect.uas_frames,
        ),
    ];
    for (name, from, to, sent_ssrcs, frames) in legs {
        let mut examples = Vec::new();
        let mut bad = 0usize;
        for d in datagrams
            .iter()
            .filter(|d| from.contains(&d.src) && to.contains(&d.dst))
        {
            let problem = match RtpView::parse(&d.payload) {
                None => Some("not RTP".to_owned()),
                Some(r) if !sent_ssrcs.contains(&r.ssrc) => Some(format!(
                    "SSRC {:#010x} not among those sent on the other leg {sent_ssrcs:x?}",
                    r.ssrc
                )),
                Some(r) if !frames.contains(r.payload) => Some(format!(
                    "seq {} payload ({} bytes) is not the other side's audio",
                    r.seq,
                    r.payload.len()
                )),
                Some(_) => None,
            };
            if let Some(p) = problem {
                bad += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(p);
                }
            }
        }
        if bad > 0 {
            failures.push(format!(
                "call {id}: {bad} packets {name} are not the other side's stream: {}",
                examples.join("; ")
            ));
        }
    }
}

/// With early media, RTP crossed the relay both ways before the 2xx reached the UAC.
fn check_early(id: &str, datagrams: &[Datagram], c: &CallSdp, failures: &mut Vec<String>) {
    let Some(answered) = c.answered_at else {
        return;
    };
    let before = |from: &BTreeSet<SocketAddr>, to: &BTreeSet<SocketAddr>| {
        datagrams
            .iter()
            .filter(|d| d.ts < answered && from.contains(&d.src) && to.contains(&d.dst))
            .count()
    };
    for (name, n) in [
        ("relay -> UAC", before(&c.uac_answer, &c.uac_offer)),
        ("relay -> UAS", before(&c.uas_offer, &c.uas_answer)),
    ] {
        if n == 0 {
            failures.push(format!(
                "call {id}: no early media {name} before the 200 OK reached the UAC"
            ));
        }
    }
}

#[cfg(test)]
mod tests;
