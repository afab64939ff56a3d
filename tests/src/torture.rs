//! The RFC 4475 / RFC 5118 torture corpus (`crates/sip/testdata`) as the daemon test sends
//! it: each message with its expected verdict from `EXPECTED.tsv`, the port its responses go
//! to, and the rule its answers must keep.

use std::fmt;
use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

pub mod member;
pub mod sender;

/// Whether RFC 4475 / RFC 5118 call a message well-formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed: an element may answer it with a specific error (416, 420, 483...) or
    /// drop it, but never with 400 Bad Request.
    Valid,
    /// Malformed: rejected (400, 505, 501...) or discarded, never accepted with a 1xx/2xx.
    Invalid,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
        })
    }
}

/// One corpus message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The file name, with `rfc5118/` in front for the RFC 5118 messages.
    pub name: String,
    /// The exact bytes, sent as one datagram.
    pub bytes: Vec<u8>,
    /// The verdict of `EXPECTED.tsv`.
    pub verdict: Verdict,
    /// The port of the top Via's sent-by (5060 when it names none or cannot be read):
    /// responses go to the source address at this port (RFC 3261 §18.2.2).
    pub via_port: u16,
}

/// Reads every message of `dir` (RFC 4475) and `dir/rfc5118` with its verdict. Every `.dat`
/// file must have a row in its directory's `EXPECTED.tsv`, and every row a file.
pub fn corpus(dir: &Path) -> Result<Vec<Message>> {
    let mut all = read_dir(dir, "")?;
    all.extend(read_dir(&dir.join("rfc5118"), "rfc5118/")?);
    Ok(all)
}

fn read_dir(dir: &Path, prefix: &str) -> Result<Vec<Message>> {
    let tsv = dir.join("EXPECTED.tsv");
    let text = fs::read_to_string(&tsv).map_err(|e| Error::io(tsv.display().to_string(), e))?;
    let mut out = Vec::new();
    for (file, verdict) in rows(&text).map_err(|reason| bad(&tsv, reason))? {
        let path = dir.join(file);
        let bytes = fs::read(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        out.push(Message {
            name: format!("{prefix}{file}"),
            via_port: top_via_port(&bytes).unwrap_or(5060),
            bytes,
            verdict,
        });
    }
    let listed = fs::read_dir(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    for entry in listed {
        let name = entry
            .map_err(|e| Error::io(dir.display().to_string(), e))?
            .file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".dat") && !out.iter().any(|m| m.name == format!("{prefix}{name}")) {
            return Err(bad(&tsv, format!("{name} has no verdict")));
        }
    }
    Ok(out)
}

fn bad(tsv: &Path, reason: String) -> Error {
    Error::Corpus {
        file: tsv.display().to_string(),
        reason,
    }
}

/// The `(file, verdict)` rows of an `EXPECTED.tsv` (comment lines start with `#`).
fn rows(text: &str) -> std::result::Result<Vec<(&str, Verdict)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut cols = l.split('\t');
            let file = cols.next().unwrap_or_default();
            match cols.next() {
                Some("valid") => Ok((file, Verdict::Valid)),
                Some("invalid") => Ok((file, Verdict::Invalid)),
                other => Err(format!("{file}: verdict {other:?}")),
            }
        })
        .collect()
}

/// The port of the first Via value's sent-by, if the message names one.
pub fn top_via_port(msg: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(msg);
    let value = text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v")).then_some(value)
    })?;
    // "SIP/2.0/UDP host:port;params, next-value": the sent-by is the token after the
    // protocol, up to the first ';' or ','.
    let sent_by = value.split([';', ',']).next()?.split_whitespace().last()?;
    let port = match sent_by.rsplit_once(']') {
        Some((_, rest)) => rest.strip_prefix(':')?,
        None => sent_by.split_once(':')?.1,
    };
    port.parse().ok()
}

/// The status code of a SIP response datagram.
pub fn status_code(datagram: &[u8]) -> Option<u16> {
    let rest = datagram.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

/// Whether the `codes` a message got keep its verdict's rule: a valid message never gets
/// 400; an invalid one never gets a 1xx or 2xx. `Err` says which code broke it.
pub fn judge(verdict: Verdict, codes: &[u16]) -> std::result::Result<(), String> {
    let broke = match verdict {
        Verdict::Valid => codes.iter().find(|&&c| c == 400),
        Verdict::Invalid => codes.iter().find(|&&c| (100..300).contains(&c)),
    };
    match broke {
        None => Ok(()),
        Some(code) => Err(format!("a {verdict} message got {code}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn the_top_via_port_is_read_from_each_form() {
        let port =
            |via: &str| top_via_port(format!("OPTIONS x SIP/2.0\r\n{via}\r\n\r\n").as_bytes());
        assert_eq!(
            port("Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z"),
            Some(5050)
        );
        assert_eq!(
            port("v: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z"),
            Some(19823)
        );
        assert_eq!(port("Via: SIP/2.0/UDP [2001:db8::9:1];branch=z"), None);
        assert_eq!(
            port("Via: SIP/2.0/UDP host.example.com, SIP/2.0/UDP b:7"),
            None
        );
        assert_eq!(port("To: <sip:a@b:9>"), None);
    }

    #[test]
    fn the_corpus_has_a_verdict_for_every_message() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sip/testdata");
        let all = corpus(&dir).unwrap();
        assert_eq!(all.len(), 62);
        let invalid = all.iter().filter(|m| m.verdict == Verdict::Invalid).count();
        assert_eq!(invalid, 24, "23 of RFC 4475 and ipv6-bad of RFC 5118");
        let quotbal = all.iter().find(|m| m.name == "quotbal.dat").unwrap();
        assert_eq!(quotbal.via_port, 5050);
    }

    #[test]
    fn verdicts_forbid_400_for_valid_and_acceptance_for_invalid() {
        assert!(judge(Verdict::Valid, &[100, 503, 416, 483]).is_ok());
        assert!(judge(Verdict::Valid, &[]).is_ok());
        assert_eq!(
            judge(Verdict::Valid, &[100, 400]),
            Err("a valid message got 400".to_owned())
        );
        assert!(judge(Verdict::Invalid, &[400, 505, 501]).is_ok());
        assert!(judge(Verdict::Invalid, &[100]).is_err());
        assert!(judge(Verdict::Invalid, &[400, 200]).is_err());
        assert_eq!(status_code(b"SIP/2.0 483 Too Many Hops\r\n"), Some(483));
        assert_eq!(status_code(b"OPTIONS sip:x SIP/2.0\r\n"), None);
    }
}
