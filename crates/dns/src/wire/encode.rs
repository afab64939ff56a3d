//! Message encoding (RFC 1035 §4.1) with name compression (§4.1.4).

use super::{Message, Naptr, Question, RData, Record, Soa, Srv};
use crate::error::DnsError;
use crate::name::Name;

/// Encodes a message; the header counts are the section lengths.
///
/// Owner names, question names and the names inside CNAME and SOA RDATA are compressed
/// (RFC 1035 §4.1.4); SRV and NAPTR targets are written whole, as RFC 2782 and RFC 3597 §4
/// require for types defined after RFC 1035.
pub fn encode_message(msg: &Message) -> Result<Vec<u8>, DnsError> {
    let mut e = Encoder {
        out: Vec::with_capacity(512),
        names: Vec::new(),
    };
    let h = &msg.header;
    let flags = (u16::from(h.response) << 15)
        | (u16::from(h.opcode & 0x0f) << 11)
        | (u16::from(h.authoritative) << 10)
        | (u16::from(h.truncated) << 9)
        | (u16::from(h.recursion_desired) << 8)
        | (u16::from(h.recursion_available) << 7)
        | (u16::from(h.z & 0x07) << 4)
        | u16::from(h.rcode.0 & 0x0f);
    e.u16(h.id);
    e.u16(flags);
    for n in [
        msg.questions.len(),
        msg.answers.len(),
        msg.authority.len(),
        msg.additionals.len(),
    ] {
        e.u16(u16::try_from(n).map_err(|_| DnsError::TooManyRecords)?);
    }
    for q in &msg.questions {
        e.question(q);
    }
    for rr in msg
        .answers
        .iter()
        .chain(&msg.authority)
        .chain(&msg.additionals)
    {
        e.record(rr)?;
    }
    Ok(e.out)
}

/// Encoder state: the output and the names already written, for compression.
struct Encoder {
    out: Vec<u8>,
    /// (offset, lowercased wire suffix) of every name suffix written at a pointable offset.
    names: Vec<(u16, Vec<u8>)>,
}

impl Encoder {
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn question(&mut self, q: &Question) {
        self.name(&q.name, true);
        self.u16(q.qtype.0);
        self.u16(q.qclass);
    }

    fn record(&mut self, rr: &Record) -> Result<(), DnsError> {
        self.name(&rr.name, true);
        self.u16(rr.rtype().0);
        self.u16(rr.class);
        self.u32(rr.ttl);
        let len_at = self.out.len();
        self.u16(0);
        match &rr.data {
            RData::A(ip) => self.out.extend_from_slice(&ip.octets()),
            RData::Aaaa(ip) => self.out.extend_from_slice(&ip.octets()),
            RData::Cname(n) => self.name(n, true),
            RData::Soa(soa) => self.soa(soa),
            RData::Srv(srv) => self.srv(srv),
            RData::Naptr(n) => self.naptr(n)?,
            RData::Other { data, .. } => self.out.extend_from_slice(data),
        }
        let rdlen = self.out.len() - len_at - 2;
        let rdlen = u16::try_from(rdlen).map_err(|_| DnsError::RdataTooLong)?;
        self.out[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        Ok(())
    }

    fn soa(&mut self, soa: &Soa) {
        self.name(&soa.mname, true);
        self.name(&soa.rname, true);
        for v in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
            self.u32(v);
        }
    }

    fn srv(&mut self, srv: &Srv) {
        self.u16(srv.priority);
        self.u16(srv.weight);
        self.u16(srv.port);
        self.name(&srv.target, false);
    }

    fn naptr(&mut self, n: &Naptr) -> Result<(), DnsError> {
        self.u16(n.order);
        self.u16(n.preference);
        for s in [&n.flags, &n.services, &n.regexp] {
            let len = u8::try_from(s.len()).map_err(|_| DnsError::StringTooLong)?;
            self.out.push(len);
            self.out.extend_from_slice(s);
        }
        self.name(&n.replacement, false);
        Ok(())
    }

    /// Writes `name`, ending in a pointer to an earlier copy of its longest known suffix when
    /// `compress` is set. Every suffix written becomes a target for later names.
    fn name(&mut self, name: &Name, compress: bool) {
        let wire = name.as_wire();
        let mut i = 0;
        while i < wire.len() && wire[i] != 0 {
            let suffix = &wire[i..];
            if compress {
                let hit = self
                    .names
                    .iter()
                    .find(|(_, s)| s.eq_ignore_ascii_case(suffix));
                if let Some(&(off, _)) = hit {
                    self.u16(0xc000 | off);
                    return;
                }
            }
            // Pointers hold 14 bits of offset (RFC 1035 §4.1.4).
            if let Ok(off) = u16::try_from(self.out.len()) {
                if off < 0x4000 {
                    self.names.push((off, suffix.to_ascii_lowercase()));
                }
            }
            let len = usize::from(wire[i]);
            self.out.extend_from_slice(&wire[i..i + 1 + len]);
            i += 1 + len;
        }
        self.out.push(0);
    }
}
