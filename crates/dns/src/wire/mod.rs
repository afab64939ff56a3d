//! DNS messages (RFC 1035 §4): types, decoding with name decompression, and encoding.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::DnsError;
use crate::name::Name;

pub use decode::parse_message;
pub use encode::encode_message;

/// Largest DNS message carried over UDP without EDNS (RFC 1035 §2.3.4, §4.2.1).
pub const MAX_UDP_LEN: usize = 512;
/// Length of the fixed message header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// The Internet class, `IN` (RFC 1035 §3.2.4).
pub const CLASS_IN: u16 = 1;

/// A resource record TYPE or query QTYPE (RFC 1035 §3.2.2, §3.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u16);

impl RecordType {
    /// IPv4 host address (RFC 1035 §3.4.1).
    pub const A: RecordType = RecordType(1);
    /// Authoritative name server (RFC 1035 §3.3.11); kept opaque.
    pub const NS: RecordType = RecordType(2);
    /// Canonical name for an alias (RFC 1035 §3.3.1).
    pub const CNAME: RecordType = RecordType(5);
    /// Start of a zone of authority (RFC 1035 §3.3.13).
    pub const SOA: RecordType = RecordType(6);
    /// IPv6 host address (RFC 3596 §2).
    pub const AAAA: RecordType = RecordType(28);
    /// Service location (RFC 2782).
    pub const SRV: RecordType = RecordType(33);
    /// Naming authority pointer (RFC 3403 §4).
    pub const NAPTR: RecordType = RecordType(35);
    /// EDNS pseudo-record (RFC 6891 §6); kept opaque.
    pub const OPT: RecordType = RecordType(41);
    /// QTYPE `*`: every record at the name (RFC 1035 §3.2.3).
    pub const ANY: RecordType = RecordType(255);

    /// Whether this crate decodes the type's RDATA (otherwise it is kept opaque).
    pub fn is_decoded(self) -> bool {
        matches!(
            self,
            Self::A | Self::CNAME | Self::SOA | Self::AAAA | Self::SRV | Self::NAPTR
        )
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::A => "A",
            Self::NS => "NS",
            Self::CNAME => "CNAME",
            Self::SOA => "SOA",
            Self::AAAA => "AAAA",
            Self::SRV => "SRV",
            Self::NAPTR => "NAPTR",
            Self::OPT => "OPT",
            Self::ANY => "ANY",
            RecordType(n) => return write!(f, "TYPE{n}"),
        };
        f.write_str(name)
    }
}

/// A response code, the 4-bit RCODE of the header (RFC 1035 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rcode(pub u8);

impl Rcode {
    /// No error.
    pub const NOERROR: Rcode = Rcode(0);
    /// The server could not interpret the query.
    pub const FORMERR: Rcode = Rcode(1);
    /// The server failed to process the query.
    pub const SERVFAIL: Rcode = Rcode(2);
    /// The queried name does not exist (authoritative).
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// The server does not support the kind of query.
    pub const NOTIMP: Rcode = Rcode(4);
    /// The server refuses to answer, by policy.
    pub const REFUSED: Rcode = Rcode(5);
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::NOERROR => "NOERROR",
            Self::FORMERR => "FORMERR",
            Self::SERVFAIL => "SERVFAIL",
            Self::NXDOMAIN => "NXDOMAIN",
            Self::NOTIMP => "NOTIMP",
            Self::REFUSED => "REFUSED",
            Rcode(n) => return write!(f, "RCODE{n}"),
        };
        f.write_str(name)
    }
}

/// The message header without its section counts, which come from the sections themselves
/// (RFC 1035 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Query identifier, copied into the response.
    pub id: u16,
    /// QR: this is a response.
    pub response: bool,
    /// OPCODE (4 bits); 0 is a standard query.
    pub opcode: u8,
    /// AA: the responding server is an authority for the name.
    pub authoritative: bool,
    /// TC: the message was truncated to fit the transport (RFC 1035 §4.1.1, RFC 2181 §9).
    pub truncated: bool,
    /// RD: recursion desired.
    pub recursion_desired: bool,
    /// RA: recursion available.
    pub recursion_available: bool,
    /// The three bits between RA and RCODE (Z, and AD/CD of RFC 4035 §3.2), kept as read.
    pub z: u8,
    /// RCODE (4 bits).
    pub rcode: Rcode,
}

/// An entry of the question section (RFC 1035 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// QNAME.
    pub name: Name,
    /// QTYPE.
    pub qtype: RecordType,
    /// QCLASS, normally [`CLASS_IN`].
    pub qclass: u16,
}

/// SRV RDATA (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower values are tried first.
    pub priority: u16,
    /// Relative weight among records of equal priority; 0 means "very small chance".
    pub weight: u16,
    /// The service's port on the target.
    pub port: u16,
    /// The target host; the root name means "service not available here".
    pub target: Name,
}

/// NAPTR RDATA (RFC 3403 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    /// Records with lower ORDER are processed first.
    pub order: u16,
    /// Among equal ORDER, lower PREFERENCE first.
    pub preference: u16,
    /// FLAGS character-string (`s`, `a`, `u`, `p`, or empty).
    pub flags: Vec<u8>,
    /// SERVICES character-string (for SIP: `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, RFC 3263 §4.1).
    pub services: Vec<u8>,
    /// REGEXP character-string.
    pub regexp: Vec<u8>,
    /// REPLACEMENT domain name.
    pub replacement: Name,
}

/// SOA RDATA (RFC 1035 §3.3.13); MINIMUM bounds negative caching (RFC 2308 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// Primary name server of the zone.
    pub mname: Name,
    /// Mailbox of the person responsible.
    pub rname: Name,
    /// Zone serial number.
    pub serial: u32,
    /// Refresh interval, seconds.
    pub refresh: u32,
    /// Retry interval, seconds.
    pub retry: u32,
    /// Expire limit, seconds.
    pub expire: u32,
    /// Negative-caching TTL, seconds (RFC 2308 §4).
    pub minimum: u32,
}

/// Record data, decoded for the types server location needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The canonical name of an alias.
    Cname(Name),
    /// A start of authority.
    Soa(Soa),
    /// A service location.
    Srv(Srv),
    /// A naming authority pointer.
    Naptr(Naptr),
    /// Any other type, RDATA kept as it was on the wire (RFC 3597 §5). `rtype` must not be a
    /// type this crate decodes (see [`RecordType::is_decoded`]), or it would re-parse as that.
    Other {
        /// The record type.
        rtype: RecordType,
        /// The raw RDATA.
        data: Vec<u8>,
    },
}

impl RData {
    /// The TYPE of this data.
    pub fn rtype(&self) -> RecordType {
        match self {
            RData::A(_) => RecordType::A,
            RData::Aaaa(_) => RecordType::AAAA,
            RData::Cname(_) => RecordType::CNAME,
            RData::Soa(_) => RecordType::SOA,
            RData::Srv(_) => RecordType::SRV,
            RData::Naptr(_) => RecordType::NAPTR,
            RData::Other { rtype, .. } => *rtype,
        }
    }
}

/// A resource record (RFC 1035 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name.
    pub name: Name,
    /// CLASS, normally [`CLASS_IN`].
    pub class: u16,
    /// Time to live, seconds.
    pub ttl: u32,
    /// The typed data.
    pub data: RData,
}

impl Record {
    /// A record of class IN.
    pub fn new(name: Name, ttl: u32, data: RData) -> Self {
        Record {
            name,
            class: CLASS_IN,
            ttl,
            data,
        }
    }

    /// The record's TYPE.
    pub fn rtype(&self) -> RecordType {
        self.data.rtype()
    }
}

/// A whole DNS message (RFC 1035 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The header; the section counts are the lengths of the vectors below.
    pub header: Header,
    /// Question section.
    pub questions: Vec<Question>,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section.
    pub additionals: Vec<Record>,
}

/// Builds a standard query for `name`/`qtype`, class IN, with RD set (RFC 1035 §4.1.1).
pub fn build_query(id: u16, name: &str, qtype: RecordType) -> Result<Vec<u8>, DnsError> {
    let name = Name::parse(name)?;
    encode_message(&query_message(id, name, qtype))
}

/// The message [`build_query`] encodes, for a name already parsed.
pub fn query_message(id: u16, name: Name, qtype: RecordType) -> Message {
    Message {
        header: Header {
            id,
            recursion_desired: true,
            ..Header::default()
        },
        questions: vec![Question {
            name,
            qtype,
            qclass: CLASS_IN,
        }],
        ..Message::default()
    }
}
