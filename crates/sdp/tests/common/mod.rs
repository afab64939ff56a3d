//! Invariants every rewrite must satisfy, shared by the conformance and property tests.

use sdp::{parse, Address, MuxRewrite, Rewrite, RtcpAttr, RtcpRewrite};

/// ICE attribute names (RFC 8839 §5, RFC 8840), owned at both levels.
const ICE_ATTRS: [&str; 9] = [
    "candidate",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "end-of-candidates",
    "remote-candidates",
    "ice-mismatch",
    "ice-pacing",
];

/// Attribute names owned in media sections only.
const MEDIA_ATTRS: [&str; 6] = [
    "rtcp", "rtcp-mux", "sendrecv", "sendonly", "recvonly", "inactive",
];

fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn may_be_owned(line: &[u8], session: bool) -> bool {
    if line.starts_with(b"c=") || (session && line.starts_with(b"o=")) {
        return true;
    }
    let Some(attr) = line.strip_prefix(b"a=") else {
        return false;
    };
    let name = attr.split(|&b| b == b':').next().unwrap_or_default();
    let name = name.trim_ascii_end();
    let is = |n: &&str| name.eq_ignore_ascii_case(n.as_bytes());
    ICE_ATTRS.iter().any(is) || (!session && MEDIA_ATTRS.iter().any(is))
}

/// The lines of `body` that no rewrite may change, in order. `disabled[i]` says whether the
/// i-th m-line of the original was a disabled stream (all of its lines are kept then).
pub fn unowned<'b>(body: &'b [u8], disabled: &[bool]) -> Vec<&'b [u8]> {
    let mut section: Option<usize> = None;
    let mut out = Vec::new();
    for line in lines(body) {
        if line.starts_with(b"m=") {
            section = Some(section.map_or(0, |s| s + 1));
        }
        let keep = match section {
            None => !may_be_owned(line, true),
            Some(i) if disabled.get(i).copied().unwrap_or(false) => true,
            Some(_) => !line.starts_with(b"m=") && !may_be_owned(line, false),
        };
        if keep {
            out.push(line);
        }
    }
    out
}

/// How many lines of the i-th media section of `body` are `a=<one of names>`.
fn count_attrs(body: &[u8], section: usize, names: &[&str]) -> usize {
    let mut current: Option<usize> = None;
    let mut n = 0;
    for line in lines(body) {
        if line.starts_with(b"m=") {
            current = Some(current.map_or(0, |s| s + 1));
        }
        if current != Some(section) {
            continue;
        }
        if let Some(attr) = line.strip_prefix(b"a=") {
            let name = attr.split(|&b| b == b':').next().unwrap_or_default();
            let name = name.trim_ascii_end();
            n += usize::from(
                names
                    .iter()
                    .any(|w| name.eq_ignore_ascii_case(w.as_bytes())),
            );
        }
    }
    n
}

/// Checks that `out` is a correct rewrite of `body` under `rw`; `Err` says what is wrong.
pub fn check_rewrite(body: &[u8], rw: &Rewrite, out: &[u8]) -> Result<(), String> {
    let sd = parse(body).map_err(|e| format!("original does not parse: {e}"))?;
    let sd2 = parse(out).map_err(|e| format!("output does not parse: {e}"))?;
    if sd.media.len() != sd2.media.len() {
        return Err("media count changed".into());
    }
    let origin_ok = match (sd.origin, sd2.origin, rw.origin) {
        (Some(a), Some(b), Some(ip)) => {
            b.addr == Address::Ip(ip)
                && (a.username, a.sess_id, a.sess_version)
                    == (b.username, b.sess_id, b.sess_version)
        }
        (a, b, _) => a == b,
    };
    if !origin_ok {
        return Err(format!("origin {:?} -> {:?}", sd.origin, sd2.origin));
    }
    let want_conn = match (sd.connection, rw.session_connection) {
        (Some(c), Some(ip)) if !c.addr.is_unspecified() => Some(ip),
        (c, _) => c.map(|c| c.addr),
    };
    if sd2.connection.map(|c| c.addr) != want_conn {
        return Err(format!("session c= {:?}", sd2.connection));
    }
    if sd2.direction != sd.direction || sd2.has_ice != (sd.has_ice && !rw.strip_ice) {
        return Err("session direction or ICE".into());
    }
    for (i, ((md, md2), mr)) in sd.media.iter().zip(&sd2.media).zip(&rw.media).enumerate() {
        if md.port == 0 {
            if md != md2 {
                return Err(format!("disabled media {i} changed"));
            }
            continue;
        }
        let same = (md.media, md.port_count, md.proto, &md.formats, &md.rtpmaps)
            == (
                md2.media,
                md2.port_count,
                md2.proto,
                &md2.formats,
                &md2.rtpmaps,
            );
        if !same || md2.port != mr.port {
            return Err(format!("m-line {i}: {md2:?}"));
        }
        let want_conn = md.connection.map(|c| {
            if c.addr.is_unspecified() {
                c.addr
            } else {
                mr.addr
            }
        });
        if md2.connection.map(|c| c.addr) != want_conn {
            return Err(format!("media {i} c= {:?}", md2.connection));
        }
        let want_rtcp = match mr.rtcp {
            RtcpRewrite::Keep => md.rtcp,
            RtcpRewrite::Remove => None,
            RtcpRewrite::Port(port) => Some(RtcpAttr {
                port,
                addr: md.rtcp.and_then(|r| r.addr).map(|_| mr.addr),
            }),
        };
        if md2.rtcp != want_rtcp {
            return Err(format!("media {i} rtcp {:?} want {want_rtcp:?}", md2.rtcp));
        }
        let want_mux = match mr.rtcp_mux {
            MuxRewrite::Keep => md.rtcp_mux,
            MuxRewrite::Add => true,
            MuxRewrite::Remove => false,
        };
        if md2.rtcp_mux != want_mux {
            return Err(format!("media {i} rtcp-mux"));
        }
        if md2.direction != mr.direction.or(md.direction) {
            return Err(format!("media {i} direction {:?}", md2.direction));
        }
        let dirs = count_attrs(out, i, &MEDIA_ATTRS[2..]);
        let rtcps = count_attrs(out, i, &["rtcp"]);
        let muxes = count_attrs(out, i, &["rtcp-mux"]);
        let counts_ok = (mr.direction.is_none() || dirs == 1)
            && match mr.rtcp {
                RtcpRewrite::Keep => rtcps == count_attrs(body, i, &["rtcp"]),
                RtcpRewrite::Remove => rtcps == 0,
                RtcpRewrite::Port(_) => rtcps == 1,
            }
            && match mr.rtcp_mux {
                MuxRewrite::Keep => muxes == count_attrs(body, i, &["rtcp-mux"]),
                MuxRewrite::Add => muxes >= 1,
                MuxRewrite::Remove => muxes == 0,
            }
            && (!rw.strip_ice || count_attrs(out, i, &ICE_ATTRS) == 0);
        if !counts_ok {
            return Err(format!("media {i}: wrong number of owned attribute lines"));
        }
        if md2.has_ice != (md.has_ice && !rw.strip_ice) {
            return Err(format!("media {i} ICE"));
        }
    }
    let disabled: Vec<bool> = sd.media.iter().map(|m| m.port == 0).collect();
    if unowned(body, &disabled) != unowned(out, &disabled) {
        return Err("a line the rewriter does not own changed".into());
    }
    if (body.last() == Some(&b'\n')) != (out.last() == Some(&b'\n')) {
        return Err("final newline changed".into());
    }
    Ok(())
}
