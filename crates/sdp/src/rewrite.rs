//! [`rewrite`]: a new body with relay ports and addresses, every other line kept byte for byte.

use std::net::IpAddr;

use crate::fields::{self, AttrKind};
use crate::lines::{split_attr, split_type, Line, Lines};
use crate::model::{Direction, SessionDescription};
use crate::SdpError;

mod out;
mod section;

use out::{push_display, Out};
use section::Section;

/// What to change in a session description. See [`rewrite`] for which lines this owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Replace the `o=` address type and address (username, ids and version are kept).
    pub origin: Option<IpAddr>,
    /// Replace the session-level `c=` address. Media sections without their own `c=` use the
    /// session's, so set this whenever such a section is relayed.
    pub session_connection: Option<IpAddr>,
    /// One entry per m-line, in order; the length must match.
    pub media: Vec<MediaRewrite>,
    /// Remove ICE attributes (`a=candidate`, `a=ice-ufrag`, `a=ice-pwd`, `a=ice-options`,
    /// `a=ice-lite`, `a=end-of-candidates`, `a=remote-candidates`, `a=ice-mismatch`,
    /// `a=ice-pacing`) at session level and in enabled media sections.
    pub strip_ice: bool,
}

/// What to change in one media section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRewrite {
    /// New m= port; ignored (kept 0) for a disabled stream.
    pub port: u16,
    /// New media-level `c=` address (when the section has a `c=`) and `a=rtcp` address (when
    /// the original `a=rtcp` had one).
    pub addr: IpAddr,
    /// What to do with `a=rtcp`.
    pub rtcp: RtcpRewrite,
    /// What to do with `a=rtcp-mux`.
    pub rtcp_mux: MuxRewrite,
    /// `Some`: replace the media direction attribute (or insert one at the end of the
    /// section); `None`: keep whatever is there.
    pub direction: Option<Direction>,
}

/// What to do with a section's `a=rtcp` attribute (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RtcpRewrite {
    /// Keep it (or its absence) as it is.
    Keep,
    /// Delete it.
    Remove,
    /// Write `a=rtcp:PORT`, with ` IN IP4|IP6 addr` if the original had an address: in place
    /// of the existing line, else inserted before the section's first `a=` line (or at the
    /// section's end when it has none).
    Port(u16),
}

/// What to do with a section's `a=rtcp-mux` attribute (RFC 5761 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MuxRewrite {
    /// Keep it (or its absence) as it is.
    Keep,
    /// Insert it if absent: after the `a=rtcp` line, or where `a=rtcp` would be inserted.
    Add,
    /// Delete it.
    Remove,
}

/// Rewrites `body` (the body `sd` was parsed from) according to `rw`.
///
/// Every line the rewriter does not own is kept byte for byte, in order, with its own line
/// ending; inserted lines take the ending of the body's first line. A last line without a
/// newline keeps none. Owned lines:
/// * `o=` (the first, session level) when `rw.origin` is set: address type and address.
/// * Session `c=` when `rw.session_connection` is set; media `c=` always (enabled sections).
///   A `c=` with address 0.0.0.0 or `::` is kept as it is: that is an RFC 2543-style hold
///   (RFC 3264 §8.4) and the other side must keep seeing it, as rtpengine does. The address
///   type follows the new address (IP4/IP6); a `/ttl` or `/count` suffix is kept only when the
///   new address is a multicast address of the same family (RFC 8866 §5.7).
/// * m= port (not its `/count`); `a=rtcp`; `a=rtcp-mux`; direction attributes when
///   `direction` is set; ICE attributes when `strip_ice` is set.
///
/// A disabled stream (port 0, RFC 3264 §8.2) keeps its whole section unchanged.
pub fn rewrite(
    body: &[u8],
    sd: &SessionDescription<'_>,
    rw: &Rewrite,
) -> Result<Vec<u8>, SdpError> {
    if !(std::ptr::eq(body, sd.body) || body == sd.body) {
        return Err(SdpError::BodyMismatch);
    }
    if rw.media.len() != sd.media.len() {
        return Err(SdpError::MediaCountMismatch {
            expected: sd.media.len(),
            got: rw.media.len(),
        });
    }
    let first_eol = Lines::new(body).next().map_or(&b""[..], |l| l.eol);
    let default_eol: &[u8] = if first_eol.ends_with(b"\n") {
        first_eol
    } else {
        b"\r\n"
    };
    let final_eol: &[u8] = match body.last() {
        Some(b'\n') => b"\n",
        Some(b'\r') => b"\r",
        _ => b"",
    };
    let mut out = Out::new(body.len() + 128 + 96 * sd.media.len(), default_eol);
    let mut origin_done = false;
    let mut section: Option<Section<'_, '_>> = None;
    let mut plans = sd.media.iter().zip(&rw.media);
    for line in Lines::new(body) {
        let Some((ty, value)) = split_type(line.content) else {
            // `parse` lets only trailing empty lines through here; the last section ends
            // before them.
            if let Some(s) = section.as_mut() {
                s.finish(&mut out);
            }
            out.raw(&line);
            continue;
        };
        if ty == b'm' {
            if let Some(s) = section.as_mut() {
                s.finish(&mut out);
            }
            // `parse` made one description per m-line and the plan has as many entries.
            let Some((md, plan)) = plans.next() else {
                out.raw(&line);
                continue;
            };
            let s = Section::new(md, plan, rw.strip_ice);
            s.m_line(&mut out, &line, value)?;
            section = Some(s);
            continue;
        }
        match section.as_mut() {
            Some(s) => s.line(&mut out, &line, ty, value)?,
            None => session_line(&mut out, rw, &mut origin_done, &line, ty, value)?,
        }
    }
    if let Some(s) = section.as_mut() {
        s.finish(&mut out);
    }
    Ok(out.finish(final_eol))
}

/// A line before the first m-line.
fn session_line<'b>(
    out: &mut Out<'b>,
    rw: &Rewrite,
    origin_done: &mut bool,
    line: &Line<'b>,
    ty: u8,
    value: &'b [u8],
) -> Result<(), SdpError> {
    match ty {
        b'o' if !*origin_done => {
            *origin_done = true;
            let Some(addr) = rw.origin else {
                out.raw(line);
                return Ok(());
            };
            // RFC 8866 §5.2: only <addrtype> and <unicast-address> change.
            let (_, addrtype_off) = fields::origin(value, line.num)?;
            let buf = out.start();
            buf.extend_from_slice(b"o=");
            buf.extend_from_slice(value.get(..addrtype_off).unwrap_or_default());
            buf.extend_from_slice(fields::addrtype(addr).as_bytes());
            buf.push(b' ');
            push_display(buf, addr);
            out.end(line.eol);
        }
        b'c' => match rw.session_connection {
            Some(addr) => connection_line(out, line, value, addr)?,
            None => out.raw(line),
        },
        b'a' if rw.strip_ice && fields::classify(split_attr(value).0) == AttrKind::Ice => {}
        _ => out.raw(line),
    }
    Ok(())
}

/// Writes a `c=` line with `addr`, or keeps it when it holds a null (hold) address.
fn connection_line<'b>(
    out: &mut Out<'b>,
    line: &Line<'b>,
    value: &'b [u8],
    addr: IpAddr,
) -> Result<(), SdpError> {
    let (old, suffix) = fields::connection(value, line.num)?;
    if old.addr.is_unspecified() {
        out.raw(line);
        return Ok(());
    }
    let buf = out.start();
    buf.extend_from_slice(b"c=IN ");
    buf.extend_from_slice(fields::addrtype(addr).as_bytes());
    buf.push(b' ');
    push_display(buf, addr);
    // RFC 8866 §5.7: TTL and count belong to multicast addresses only.
    if addr.is_multicast() && addr.is_ipv4() == old.addr.is_ipv4() {
        buf.extend_from_slice(suffix.as_bytes());
    }
    out.end(line.eol);
    Ok(())
}

#[cfg(test)]
mod tests;
