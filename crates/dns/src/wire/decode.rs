//! Message decoding (RFC 1035 §4.1) with name decompression (§4.1.4).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Header, Message, Naptr, Question, RData, Rcode, Record, RecordType, Soa, Srv};
use crate::error::DnsError;
use crate::name::{Name, MAX_NAME_LEN};

/// Parses a whole DNS message.
///
/// Compression pointers must point strictly before every label already read for the name,
/// so loops and forward references are refused ([`DnsError::PointerLoop`]) and decoding a name
/// takes at most one pass over the message. When the header's TC bit is set, the records
/// that arrived whole are kept and the cut-off rest is dropped (RFC 2181 §9); without TC a
/// short message is an error. Bytes after the last announced record are ignored.
pub fn parse_message(buf: &[u8]) -> Result<Message, DnsError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    let header = header_from_flags(id, flags);
    let mut msg = Message {
        header,
        ..Message::default()
    };
    match read_sections(&mut r, counts, &mut msg) {
        Ok(()) => Ok(msg),
        Err(DnsError::UnexpectedEnd) if header.truncated => Ok(msg),
        Err(e) => Err(e),
    }
}

/// Decodes the 16 flag bits of the header (RFC 1035 §4.1.1).
fn header_from_flags(id: u16, flags: u16) -> Header {
    // Each field is masked to its width before the narrowing casts.
    Header {
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        authoritative: flags & 0x0400 != 0,
        truncated: flags & 0x0200 != 0,
        recursion_desired: flags & 0x0100 != 0,
        recursion_available: flags & 0x0080 != 0,
        z: ((flags >> 4) & 0x07) as u8,
        rcode: Rcode((flags & 0x0f) as u8),
    }
}

fn read_sections(r: &mut Reader<'_>, counts: [u16; 4], msg: &mut Message) -> Result<(), DnsError> {
    for _ in 0..counts[0] {
        let name = r.name()?;
        let qtype = RecordType(r.u16()?);
        let qclass = r.u16()?;
        msg.questions.push(Question {
            name,
            qtype,
            qclass,
        });
    }
    for (count, section) in
        counts[1..]
            .iter()
            .zip([&mut msg.answers, &mut msg.authority, &mut msg.additionals])
    {
        for _ in 0..*count {
            section.push(read_record(r)?);
        }
    }
    Ok(())
}

fn read_record(r: &mut Reader<'_>) -> Result<Record, DnsError> {
    let name = r.name()?;
    let rtype = RecordType(r.u16()?);
    let class = r.u16()?;
    let ttl = r.u32()?;
    let rdlen = usize::from(r.u16()?);
    let start = r.pos;
    let end = start.checked_add(rdlen).ok_or(DnsError::UnexpectedEnd)?;
    if end > r.buf.len() {
        return Err(DnsError::UnexpectedEnd);
    }
    // RDATA is read from a view that ends where the RDATA ends; compression pointers inside it
    // point backwards (RFC 1035 §4.1.4), so they stay inside that view.
    let mut rd = Reader {
        buf: &r.buf[..end],
        pos: start,
    };
    let bad = DnsError::BadRdataLength { rtype: rtype.0 };
    let data = read_rdata(&mut rd, rtype, rdlen).map_err(|e| match e {
        DnsError::UnexpectedEnd => bad.clone(),
        other => other,
    })?;
    if rd.pos != end {
        return Err(bad);
    }
    r.pos = end;
    Ok(Record {
        name,
        class,
        ttl,
        data,
    })
}

fn read_rdata(r: &mut Reader<'_>, rtype: RecordType, rdlen: usize) -> Result<RData, DnsError> {
    Ok(match rtype {
        RecordType::A => {
            let b: [u8; 4] = r.array()?;
            RData::A(Ipv4Addr::from(b))
        }
        RecordType::AAAA => {
            let b: [u8; 16] = r.array()?;
            RData::Aaaa(Ipv6Addr::from(b))
        }
        RecordType::CNAME => RData::Cname(r.name()?),
        RecordType::SOA => RData::Soa(Soa {
            mname: r.name()?,
            rname: r.name()?,
            serial: r.u32()?,
            refresh: r.u32()?,
            retry: r.u32()?,
            expire: r.u32()?,
            minimum: r.u32()?,
        }),
        // RFC 2782 forbids compressing the target; decoding a pointer anyway is harmless.
        RecordType::SRV => RData::Srv(Srv {
            priority: r.u16()?,
            weight: r.u16()?,
            port: r.u16()?,
            target: r.name()?,
        }),
        RecordType::NAPTR => RData::Naptr(Naptr {
            order: r.u16()?,
            preference: r.u16()?,
            flags: r.char_string()?,
            services: r.char_string()?,
            regexp: r.char_string()?,
            replacement: r.name()?,
        }),
        _ => RData::Other {
            rtype,
            data: r.bytes(rdlen)?.to_vec(),
        },
    })
}

/// A cursor over a message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end = self.pos.checked_add(n).ok_or(DnsError::UnexpectedEnd)?;
        let s = self.buf.get(self.pos..end).ok_or(DnsError::UnexpectedEnd)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DnsError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A `<character-string>`: a length octet and that many octets (RFC 1035 §3.3).
    fn char_string(&mut self) -> Result<Vec<u8>, DnsError> {
        let len = self.bytes(1)?[0];
        Ok(self.bytes(usize::from(len))?.to_vec())
    }

    /// A possibly compressed domain name (RFC 1035 §4.1.4).
    fn name(&mut self) -> Result<Name, DnsError> {
        let buf = self.buf;
        let mut wire = Vec::with_capacity(32);
        let mut p = self.pos;
        // Every pointer must target an offset below `limit`, which then drops to that target:
        // offsets strictly decrease, so decoding ends even on hostile input.
        let mut limit = p;
        let mut jumped = false;
        loop {
            let len = *buf.get(p).ok_or(DnsError::UnexpectedEnd)?;
            match len & 0xc0 {
                0x00 => {
                    if len == 0 {
                        wire.push(0);
                        if !jumped {
                            self.pos = p + 1;
                        }
                        return Ok(Name::from_checked_wire(wire));
                    }
                    let l = usize::from(len);
                    let label = buf.get(p + 1..p + 1 + l).ok_or(DnsError::UnexpectedEnd)?;
                    // This label, plus the root label still to come.
                    if wire.len() + 1 + l + 1 > MAX_NAME_LEN {
                        return Err(DnsError::NameTooLong);
                    }
                    wire.push(len);
                    wire.extend_from_slice(label);
                    p += 1 + l;
                }
                0xc0 => {
                    let low = *buf.get(p + 1).ok_or(DnsError::UnexpectedEnd)?;
                    let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                    if !jumped {
                        self.pos = p + 2;
                        jumped = true;
                    }
                    if target >= buf.len() {
                        return Err(DnsError::PointerOutOfRange);
                    }
                    if target >= limit {
                        return Err(DnsError::PointerLoop);
                    }
                    limit = target;
                    p = target;
                }
                _ => return Err(DnsError::BadLabelType(len)),
            }
        }
    }
}
