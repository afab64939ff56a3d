//! The pure parts of RFC 3263 §4: which NAPTR records to follow, which SRV names to ask for,
//! and how SRV records and addresses become targets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Target, Transport};
use crate::name::Name;
use crate::wire::{RData, Record, Srv};

/// Most NAPTR-derived SRV names tried by one lookup.
pub(super) const MAX_CANDIDATES: usize = 16;

/// An SRV name to ask for, and the transport its targets use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate {
    pub name: Name,
    pub transport: Transport,
}

/// The host as an IP address, if it is one (an IPv6 reference may be in brackets,
/// RFC 3261 §25.1). RFC 3263 §4.1, §4.2: a numeric host is used as is, without DNS.
pub(super) fn numeric_host(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// The SIP transport a NAPTR SERVICES field names (RFC 3263 §4.1, compared without case as
/// RFC 3403 §4.1 requires); other services (SCTP, non-SIP) are not ours.
fn naptr_transport(services: &[u8]) -> Option<Transport> {
    [
        (&b"SIP+D2U"[..], Transport::Udp),
        (b"SIP+D2T", Transport::Tcp),
        (b"SIPS+D2T", Transport::Tls),
    ]
    .into_iter()
    .find(|(s, _)| s.eq_ignore_ascii_case(services))
    .map(|(_, t)| t)
}

/// The SRV names to try, from a NAPTR record set, best first; and the least TTL among the
/// records followed.
///
/// RFC 3263 §4.1: only services this client supports (SIP+D2U, SIP+D2T, SIPS+D2T; only
/// SIPS+D2T for a SIPS URI) are kept, ordered by ORDER then PREFERENCE (RFC 3403 §4.1). Only
/// records with the terminal `s` flag, whose REPLACEMENT is an SRV name, are followed; a
/// record that also carries a REGEXP is malformed (RFC 3403 §4.1: the two are exclusive).
pub(super) fn naptr_candidates(records: &[Record], secure: bool) -> (Vec<Candidate>, Option<u32>) {
    let mut usable: Vec<(u16, u16, Candidate, u32)> = records
        .iter()
        .filter_map(|rr| {
            let RData::Naptr(n) = &rr.data else {
                return None;
            };
            if !n.flags.eq_ignore_ascii_case(b"s")
                || !n.regexp.is_empty()
                || n.replacement.is_root()
            {
                return None;
            }
            let transport = naptr_transport(&n.services)?;
            if secure && transport != Transport::Tls {
                return None;
            }
            let cand = Candidate {
                name: n.replacement.clone(),
                transport,
            };
            Some((n.order, n.preference, cand, rr.ttl))
        })
        .collect();
    // Stable: records equal in ORDER and PREFERENCE stay in the order the server sent.
    usable.sort_by_key(|(order, pref, _, _)| (*order, *pref));
    let ttl = usable.iter().map(|u| u.3).min();
    let mut cands: Vec<Candidate> = Vec::new();
    for (_, _, cand, _) in usable {
        if !cands.contains(&cand) && cands.len() < MAX_CANDIDATES {
            cands.push(cand);
        }
    }
    (cands, ttl)
}

/// The SRV name for a transport: `_sip._udp`, `_sip._tcp`, or `_sips._tcp` for TLS
/// (RFC 3263 §4.1, RFC 2782 service and protocol labels).
pub(super) fn srv_candidate(host: &Name, transport: Transport) -> Option<Candidate> {
    let (service, proto): (&[u8], &[u8]) = match transport {
        Transport::Udp => (b"_sip", b"_udp"),
        Transport::Tcp => (b"_sip", b"_tcp"),
        Transport::Tls => (b"_sips", b"_tcp"),
    };
    let name = host.prepend(proto).and_then(|n| n.prepend(service)).ok()?;
    Some(Candidate { name, transport })
}

/// SRV names to try when there is no usable NAPTR record (RFC 3263 §4.1, last paragraphs):
/// `_sips._tcp` for a SIPS URI, else `_sip._udp` then `_sip._tcp`.
pub(super) fn fallback_candidates(host: &Name, secure: bool) -> Vec<Candidate> {
    let transports: &[Transport] = if secure {
        &[Transport::Tls]
    } else {
        &[Transport::Udp, Transport::Tcp]
    };
    transports
        .iter()
        .filter_map(|&t| srv_candidate(host, t))
        .collect()
}

/// The usable SRV records of a set, by ascending priority (record order kept within one).
/// A record whose target is `.` says the service is not offered (RFC 2782), so it is dropped.
pub(super) fn usable_srvs(records: &[Record]) -> Vec<Srv> {
    let mut srvs: Vec<Srv> = records
        .iter()
        .filter_map(|rr| match &rr.data {
            RData::Srv(s) if !s.target.is_root() => Some(s.clone()),
            _ => None,
        })
        .collect();
    srvs.sort_by_key(|s| s.priority);
    srvs
}

/// One target per (SRV record, address of its target), duplicates dropped.
pub(super) fn srv_targets(
    srvs: &[Srv],
    addrs: &[(Name, IpAddr)],
    transport: Transport,
) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for srv in srvs {
        for (_, ip) in addrs.iter().filter(|(n, _)| *n == srv.target) {
            let t = Target {
                addr: SocketAddr::new(*ip, srv.port),
                transport,
                priority: srv.priority,
                weight: srv.weight,
            };
            if !out
                .iter()
                .any(|o| o.addr == t.addr && o.transport == t.transport)
            {
                out.push(t);
            }
        }
    }
    out
}

/// The address in an A or AAAA record.
pub(super) fn record_ip(rr: &Record) -> Option<IpAddr> {
    match rr.data {
        RData::A(ip) => Some(IpAddr::V4(ip)),
        RData::Aaaa(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

/// `secs` clamped to [`min`, `max`].
pub(super) fn clamp_ttl(secs: u32, min: Duration, max: Duration) -> Duration {
    Duration::from_secs(u64::from(secs))
        .max(min)
        .min(max.max(min))
}
