//! [`parse`]: body bytes to [`SessionDescription`].

use crate::fields::{self, AttrKind};
use crate::lines::{split_attr, split_type, Lines};
use crate::model::SessionDescription;
use crate::{SdpError, MAX_BODY_LEN, MAX_MEDIA};

/// Parses an SDP body.
///
/// Liberal but safe: CRLF or bare LF line endings (per line), trailing empty lines ignored,
/// unknown line types and attributes accepted (they are kept by [`crate::rewrite`]), non-UTF-8
/// bytes accepted in lines the parser does not interpret. Strict where the relay depends on
/// it: `v=` first, every line `<letter>=<value>`, `o=`/`c=`/`m=`/`a=rtcp` well formed, `c=`
/// and `a=rtcp` addresses IP literals. At most [`MAX_BODY_LEN`] bytes and [`MAX_MEDIA`]
/// m-lines.
///
/// Where an attribute that should appear once appears several times in one section
/// (`c=`, `a=rtcp`, direction), the first one is reported. `o=` is read at session level only;
/// `a=rtcp`, `a=rtcp-mux` and `a=rtpmap` at media level only.
pub fn parse(body: &[u8]) -> Result<SessionDescription<'_>, SdpError> {
    if body.len() > MAX_BODY_LEN {
        return Err(SdpError::TooLarge { len: body.len() });
    }
    let mut lines = Lines::new(body);
    // RFC 8866 §5: a session description starts with the `v=` line.
    match lines.next() {
        Some(first) if first.content.starts_with(b"v=") => {}
        _ => return Err(SdpError::VersionNotFirst),
    }
    let mut sd = SessionDescription {
        origin: None,
        connection: None,
        direction: None,
        media: Vec::new(),
        has_ice: false,
        body,
    };
    let mut blank: Option<usize> = None;
    for line in lines {
        if line.content.is_empty() {
            blank.get_or_insert(line.num);
            continue;
        }
        // Only trailing empty lines are tolerated.
        if let Some(num) = blank {
            return Err(SdpError::Syntax { line: num });
        }
        let (ty, value) = split_type(line.content).ok_or(SdpError::Syntax { line: line.num })?;
        match ty {
            b'm' => {
                if sd.media.len() >= MAX_MEDIA {
                    return Err(SdpError::TooManyMedia { line: line.num });
                }
                sd.media.push(fields::media(value, line.num)?.0);
            }
            b'c' => {
                let (conn, _) = fields::connection(value, line.num)?;
                match sd.media.last_mut() {
                    Some(md) => md.connection.get_or_insert(conn),
                    None => sd.connection.get_or_insert(conn),
                };
            }
            b'o' if sd.media.is_empty() && sd.origin.is_none() => {
                sd.origin = Some(fields::origin(value, line.num)?.0);
            }
            b'a' => attribute(&mut sd, value, line.num)?,
            _ => {}
        }
    }
    Ok(sd)
}

/// Records what an `a=` line tells, at session level or in the current media section.
fn attribute<'a>(
    sd: &mut SessionDescription<'a>,
    value: &'a [u8],
    line: usize,
) -> Result<(), SdpError> {
    let (name, val) = split_attr(value);
    let kind = fields::classify(name);
    let Some(md) = sd.media.last_mut() else {
        match kind {
            AttrKind::Direction(d) => {
                sd.direction.get_or_insert(d);
            }
            AttrKind::Ice => sd.has_ice = true,
            _ => {}
        }
        return Ok(());
    };
    match kind {
        AttrKind::Rtcp => {
            let rtcp = fields::rtcp(val, line)?;
            md.rtcp.get_or_insert(rtcp);
        }
        AttrKind::RtcpMux => md.rtcp_mux = true,
        AttrKind::Direction(d) => {
            md.direction.get_or_insert(d);
        }
        AttrKind::Ice => md.has_ice = true,
        AttrKind::RtpMap => {
            if let Some(map) = fields::rtpmap(val) {
                md.rtpmaps.push(map);
            }
        }
        AttrKind::Other => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
