//! A small authoritative DNS responder for tests and the end-to-end harness: query bytes in,
//! response bytes out, no I/O.

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::DnsError;
use crate::name::Name;
use crate::wire::{
    encode_message, parse_message, Header, Message, Naptr, RData, Rcode, Record, RecordType, Soa,
    Srv, CLASS_IN, HEADER_LEN, MAX_UDP_LEN,
};

/// QTYPE/QCLASS `*` (RFC 1035 §3.2.3, §3.2.5).
const ANY: u16 = 255;
/// Most CNAME links the responder follows inside its own data.
const MAX_CHASE: usize = 8;
/// Largest message a TCP answer may hold (two-octet length prefix, RFC 1035 §4.2.2).
const MAX_TCP_LEN: usize = 65535;

/// An authoritative zone built from records.
///
/// ```
/// # fn main() -> Result<(), dns::DnsError> {
/// use std::net::Ipv4Addr;
/// let zone = dns::zone::Zone::new()
///     .soa("example.test", 60, 30)?
///     .srv("_sip._udp.example.test", 10, 5, 5060, "fs1.example.test", 300)?
///     .a("fs1.example.test", Ipv4Addr::new(127, 0, 0, 11), 300)?;
/// let query = dns::build_query(7, "_sip._udp.example.test", dns::RecordType::SRV)?;
/// let response = dns::parse_message(&zone.answer(&query).unwrap_or_default())?;
/// assert_eq!(response.answers.len(), 1);
/// assert_eq!(response.additionals.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: Vec<Record>,
    /// The zone apex and its SOA record, if set: names outside it are REFUSED, and the SOA
    /// goes into negative answers (RFC 2308 §3).
    soa: Option<Record>,
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds any record.
    pub fn record(mut self, rr: Record) -> Self {
        self.records.push(rr);
        self
    }

    /// Sets the zone apex `origin` with an SOA whose TTL is `ttl` and whose MINIMUM is
    /// `minimum`, so negative answers carry a negative-caching TTL of the lesser of the two.
    pub fn soa(mut self, origin: &str, ttl: u32, minimum: u32) -> Result<Self, DnsError> {
        let apex = Name::parse(origin)?;
        let soa = Soa {
            mname: apex.prepend(b"ns")?,
            rname: apex.prepend(b"hostmaster")?,
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum,
        };
        self.soa = Some(Record::new(apex, ttl, RData::Soa(soa)));
        Ok(self)
    }

    /// Adds an A record.
    pub fn a(self, name: &str, ip: Ipv4Addr, ttl: u32) -> Result<Self, DnsError> {
        Ok(self.record(Record::new(Name::parse(name)?, ttl, RData::A(ip))))
    }

    /// Adds an AAAA record.
    pub fn aaaa(self, name: &str, ip: Ipv6Addr, ttl: u32) -> Result<Self, DnsError> {
        Ok(self.record(Record::new(Name::parse(name)?, ttl, RData::Aaaa(ip))))
    }

    /// Adds a CNAME record: `name` is an alias of `target`.
    pub fn cname(self, name: &str, target: &str, ttl: u32) -> Result<Self, DnsError> {
        Ok(self.record(Record::new(
            Name::parse(name)?,
            ttl,
            RData::Cname(Name::parse(target)?),
        )))
    }

    /// Adds an SRV record (RFC 2782); a `target` of `.` means "not offered here".
    pub fn srv(
        self,
        name: &str,
        priority: u16,
        weight: u16,
        port: u16,
        target: &str,
        ttl: u32,
    ) -> Result<Self, DnsError> {
        let srv = Srv {
            priority,
            weight,
            port,
            target: Name::parse(target)?,
        };
        Ok(self.record(Record::new(Name::parse(name)?, ttl, RData::Srv(srv))))
    }

    /// Adds a NAPTR record with the `s` flag and no regexp, as RFC 3263 §4.1 uses them
    /// (`services` such as `SIP+D2U`, `replacement` an SRV name).
    pub fn sip_naptr(
        self,
        name: &str,
        order: u16,
        preference: u16,
        services: &str,
        replacement: &str,
        ttl: u32,
    ) -> Result<Self, DnsError> {
        let naptr = Naptr {
            order,
            preference,
            flags: b"s".to_vec(),
            services: services.as_bytes().to_vec(),
            regexp: Vec::new(),
            replacement: Name::parse(replacement)?,
        };
        self.naptr(name, ttl, naptr)
    }

    /// Adds a NAPTR record with any fields (RFC 3403 §4.1).
    pub fn naptr(self, name: &str, ttl: u32, naptr: Naptr) -> Result<Self, DnsError> {
        Ok(self.record(Record::new(Name::parse(name)?, ttl, RData::Naptr(naptr))))
    }

    /// Answers a query received over UDP: at most 512 octets (RFC 1035 §4.2.1), TC set when
    /// answer records had to be left out. `None` when the bytes are not a query worth an
    /// answer (shorter than a header, or a response: answering those could loop).
    pub fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        self.answer_with_limit(query, MAX_UDP_LEN)
    }

    /// Answers a query received over TCP (no length prefix on either side).
    pub fn answer_tcp(&self, query: &[u8]) -> Option<Vec<u8>> {
        self.answer_with_limit(query, MAX_TCP_LEN)
    }

    /// Answers a query, the response fitting in `max_len` octets.
    ///
    /// RFC 2181 §9: the additional section, then the authority section, are dropped first
    /// without setting TC; if the answer section still does not fit it is dropped whole and
    /// TC is set. A query that does not parse gets FORMERR (RFC 1035 §4.1.1), an opcode other
    /// than QUERY gets NOTIMP.
    pub fn answer_with_limit(&self, query: &[u8], max_len: usize) -> Option<Vec<u8>> {
        let head: [u8; 4] = query.get(..4)?.try_into().ok()?;
        if query.len() < HEADER_LEN || head[2] & 0x80 != 0 {
            return None;
        }
        let mut resp = match parse_message(query) {
            Ok(q) if q.header.opcode != 0 => error_response(q.header, q.questions, Rcode::NOTIMP),
            Ok(q) if q.questions.len() != 1 => error_response(q.header, Vec::new(), Rcode::FORMERR),
            Ok(q) => self.respond(&q),
            Err(_) => {
                let header = Header {
                    id: u16::from_be_bytes([head[0], head[1]]),
                    opcode: (head[2] >> 3) & 0x0f,
                    recursion_desired: head[2] & 0x01 != 0,
                    ..Header::default()
                };
                error_response(header, Vec::new(), Rcode::FORMERR)
            }
        };
        let full = encode_message(&resp).ok()?;
        if full.len() <= max_len {
            return Some(full);
        }
        resp.additionals.clear();
        let smaller = encode_message(&resp).ok()?;
        if smaller.len() <= max_len {
            return Some(smaller);
        }
        resp.authority.clear();
        resp.answers.clear();
        resp.header.truncated = true;
        encode_message(&resp).ok().filter(|b| b.len() <= max_len)
    }

    /// The full response to a parsed query with one question.
    pub fn respond(&self, query: &Message) -> Message {
        let mut resp = Message {
            header: Header {
                id: query.header.id,
                response: true,
                authoritative: true,
                recursion_desired: query.header.recursion_desired,
                ..Header::default()
            },
            questions: query.questions.clone(),
            ..Message::default()
        };
        let Some(q) = query.questions.first() else {
            resp.header.rcode = Rcode::FORMERR;
            return resp;
        };
        let outside = self
            .soa
            .as_ref()
            .is_some_and(|soa| !q.name.is_subdomain_of(&soa.name));
        if (q.qclass != CLASS_IN && q.qclass != ANY) || outside {
            resp.header.authoritative = false;
            resp.header.rcode = Rcode::REFUSED;
            return resp;
        }
        // RFC 1034 §4.3.2 step 3: follow CNAMEs within the zone's own data.
        let mut cur = q.name.clone();
        let mut seen = vec![cur.clone()];
        loop {
            let direct: Vec<&Record> = self
                .at(&cur)
                .filter(|rr| q.qtype.0 == ANY || rr.rtype() == q.qtype)
                .collect();
            if !direct.is_empty() {
                resp.answers.extend(direct.into_iter().cloned());
                break;
            }
            let Some(alias) = self.at(&cur).find(|rr| rr.rtype() == RecordType::CNAME) else {
                break;
            };
            resp.answers.push(alias.clone());
            let RData::Cname(target) = &alias.data else {
                break;
            };
            if seen.contains(target) || seen.len() > MAX_CHASE {
                break;
            }
            seen.push(target.clone());
            cur = target.clone();
        }
        self.add_additionals(&mut resp);
        let last_missing = !self.exists(&cur);
        let has_data = resp
            .answers
            .iter()
            .any(|rr| q.qtype.0 == ANY || rr.rtype() == q.qtype);
        if !has_data {
            // No data at the end of the chain: NXDOMAIN if the last name does not exist
            // (RFC 6604 §3), else NODATA; the SOA tells how long to cache that (RFC 2308 §3).
            if last_missing {
                resp.header.rcode = Rcode::NXDOMAIN;
            }
            resp.authority.extend(self.soa.iter().cloned());
        }
        resp
    }

    /// Records owned by `name`.
    fn at<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a Record> + 'a {
        self.records
            .iter()
            .chain(&self.soa)
            .filter(move |rr| rr.name == *name)
    }

    /// Whether `name` exists: it owns a record or lies above one (an empty non-terminal,
    /// RFC 8020 §2).
    fn exists(&self, name: &Name) -> bool {
        self.records
            .iter()
            .chain(&self.soa)
            .any(|rr| rr.name.is_subdomain_of(name))
    }

    /// Additional-section processing: addresses of SRV targets (RFC 2782), and the SRV
    /// records and addresses an `s` NAPTR leads to (RFC 3403 §4.2, RFC 3263 §4.1).
    fn add_additionals(&self, resp: &mut Message) {
        let mut srv_names: Vec<Name> = Vec::new();
        let mut hosts: Vec<Name> = Vec::new();
        for rr in &resp.answers {
            match &rr.data {
                RData::Srv(s) => hosts.push(s.target.clone()),
                RData::Naptr(n) if n.flags.eq_ignore_ascii_case(b"s") => {
                    srv_names.push(n.replacement.clone())
                }
                _ => {}
            }
        }
        let mut extra: Vec<Record> = Vec::new();
        for name in &srv_names {
            for rr in self.at(name).filter(|rr| rr.rtype() == RecordType::SRV) {
                if let RData::Srv(s) = &rr.data {
                    hosts.push(s.target.clone());
                }
                extra.push(rr.clone());
            }
        }
        for host in &hosts {
            let addrs = self
                .at(host)
                .filter(|rr| matches!(rr.rtype(), RecordType::A | RecordType::AAAA));
            extra.extend(addrs.cloned());
        }
        for rr in extra {
            if !resp.answers.contains(&rr) && !resp.additionals.contains(&rr) {
                resp.additionals.push(rr);
            }
        }
    }
}

/// A response carrying only an error code (and the question, when it was readable).
fn error_response(query: Header, questions: Vec<crate::wire::Question>, rcode: Rcode) -> Message {
    Message {
        header: Header {
            id: query.id,
            response: true,
            opcode: query.opcode,
            recursion_desired: query.recursion_desired,
            rcode,
            ..Header::default()
        },
        questions,
        ..Message::default()
    }
}
