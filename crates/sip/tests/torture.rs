//! RFC 4475 and RFC 5118 torture messages against their expected verdicts.

use std::mem::discriminant;

use sip::{parse, HostKind, Message, SipError};

/// Which check rejects an `invalid` message.
#[derive(Debug)]
enum Stage {
    /// `sip::parse` fails with this cause.
    Parse(SipError),
    /// `parse` succeeds and `Message::check_proxy_headers` (the typed accessors the proxy
    /// calls) fails with this cause.
    Check(SipError),
}

/// Per-file rejecting check for every `invalid` message. Causes are compared by variant.
fn invalid_table() -> Vec<(&'static str, Stage)> {
    use SipError as E;
    use Stage::{Check, Parse};
    vec![
        // Via "192.0.2.15;;,;,," has empty parameters (and Contact ";;;;").
        ("badinv01.dat", Check(E::BadVia(""))),
        // Content-Length 9999 with a 152-byte body (RFC 3261 §18.3).
        ("clerr.dat", Parse(E::BodyTooShort)),
        // Content-Length: -999.
        ("ncl.dat", Parse(E::BadContentLength)),
        // CSeq 36893488147419103232 > 2^32-1 (Max-Forwards 300 and Expires also fail).
        ("scalar02.dat", Check(E::BadCSeq)),
        // CSeq 9292394834772304023312 (Retry-After also out of range).
        ("scalarlg.dat", Check(E::BadCSeq)),
        // To: "Mr. J. User <sip:...> : quoted string never closed.
        ("quotbal.dat", Check(E::BadNameAddr(""))),
        // Request-URI "<sip:user@example.com>".
        ("ltgtruri.dat", Parse(E::BadRequestUri)),
        // "sip:user@example.com; lr": space splits the Request-Line into four parts.
        ("lwsruri.dat", Parse(E::BadStartLine)),
        // Two spaces between Request-Line elements.
        ("lwsstart.dat", Parse(E::BadStartLine)),
        // Spaces after SIP/2.0.
        ("trws.dat", Parse(E::BadStartLine)),
        // Request-URI with ?Route=... headers (RFC 3261 §19.1.5).
        ("escruri.dat", Parse(E::RequestUriHeaders)),
        // Date: ... EST (must be GMT, RFC 3261 §20.17).
        ("baddate.dat", Check(E::BadDate)),
        // Contact addr-spec with '?' outside <> (RFC 3261 §20.10).
        ("regbadct.dat", Check(E::BadNameAddr(""))),
        // To: "Watson, Thomas" < sip:t.watson@example.org > : white space inside <>.
        ("badaspec.dat", Check(E::BadNameAddr(""))),
        // The archive file never terminates its header section; with the empty line added the
        // unquoted display name "Bell, Alexander" is rejected by From (tested separately).
        ("baddn.dat", Parse(E::Incomplete)),
        // SIP/7.0: the server answers 505.
        ("badvers.dat", Parse(E::VersionNotSupported)),
        // OPTIONS with CSeq method INVITE (RFC 3261 §8.1.1.5).
        ("mismatch01.dat", Check(E::CSeqMethodMismatch)),
        // NEWMETHOD with CSeq method INVITE.
        ("mismatch02.dat", Check(E::CSeqMethodMismatch)),
        // Status code 4294967301.
        ("bigcode.dat", Parse(E::BadStatusCode)),
        // No Call-ID, From or To.
        ("insuf.dat", Check(E::MissingHeader(""))),
        // Two Call-ID, CSeq, From, To and Max-Forwards fields.
        ("multi01.dat", Check(E::DuplicateHeader(""))),
        // Content-Length 13 and 5.
        ("mcl01.dat", Parse(E::MultipleContentLength)),
        // "INVITE sip:alan@jasomi.com" has no SIP-Version.
        ("test.dat", Parse(E::BadStartLine)),
        // RFC 5118 §4.2: "sip:2001:db8::10" reads as host "2001" with port "db8::10".
        ("ipv6-bad.dat", Parse(E::BadRequestUri)),
    ]
}

fn read(dir: &str, file: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{dir}{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (directory prefix, file, verdict) for every row of both EXPECTED.tsv files.
fn expected() -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for dir in ["", "rfc5118/"] {
        let tsv = String::from_utf8(read(dir, "EXPECTED.tsv")).expect("EXPECTED.tsv is UTF-8");
        for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let mut cols = line.split('\t');
            let file = cols.next().expect("file column").to_string();
            let verdict = cols.next().expect("verdict column").to_string();
            out.push((dir, file, verdict));
        }
    }
    out
}

/// Reads the typed headers a proxy needs from a valid message.
fn read_typed(m: &Message<'_>) -> Result<(), SipError> {
    let via = m.top_via()?;
    let _ = via.branch();
    m.call_id()?;
    m.cseq()?;
    let _ = m.from()?.tag();
    let _ = m.to()?.tag();
    m.max_forwards()?;
    let _ = m.content_length();
    m.check_proxy_headers()
}

#[test]
fn every_torture_message_matches_its_verdict() {
    let table = invalid_table();
    let rows = expected();
    assert_eq!(rows.len(), 50 + 12, "row count");
    let mut mismatches = Vec::new();
    for (dir, file, verdict) in &rows {
        let bytes = read(dir, file);
        let parsed = parse(&bytes);
        match verdict.as_str() {
            "valid" => match parsed {
                Err(e) => mismatches.push(format!("{file}: valid but parse failed: {e}")),
                Ok(m) => {
                    if let Err(e) = read_typed(&m) {
                        mismatches.push(format!("{file}: valid but typed access failed: {e}"));
                    }
                }
            },
            "invalid" => {
                let Some((_, stage)) = table.iter().find(|(f, _)| f == file) else {
                    mismatches.push(format!("{file}: invalid but not in the table"));
                    continue;
                };
                let got = match (&parsed, stage) {
                    (Err(e), Stage::Parse(want)) => discriminant(e.cause()) == discriminant(want),
                    (Ok(m), Stage::Check(want)) => m
                        .check_proxy_headers()
                        .err()
                        .is_some_and(|e| discriminant(&e) == discriminant(want)),
                    _ => false,
                };
                if !got {
                    let check = parsed.as_ref().map(|m| m.check_proxy_headers());
                    mismatches.push(format!("{file}: expected {stage:?}, got {check:?}"));
                }
            }
            other => mismatches.push(format!("{file}: unknown verdict {other}")),
        }
    }
    let invalid_rows = rows.iter().filter(|r| r.2 == "invalid").count();
    assert_eq!(invalid_rows, table.len(), "table covers every invalid row");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn wsinv_values() -> Result<(), SipError> {
    let bytes = read("", "wsinv.dat");
    let m = parse(&bytes)?;
    assert_eq!(m.max_forwards()?, Some(68));
    assert_eq!(m.cseq()?.number, 9);
    assert_eq!(m.cseq()?.method, "INVITE");
    assert_eq!(m.to()?.tag(), Some("1918181833n"));
    assert_eq!(m.from()?.tag(), Some("98asjd8"));
    let vias = m.vias()?;
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].host, "192.0.2.2");
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert!(m.routes()?.first().is_some_and(|r| r.lr()));
    assert_eq!(m.body().len(), 150);
    Ok(())
}

#[test]
fn scalar_and_dblreq_details() -> Result<(), SipError> {
    let bytes = read("", "scalar02.dat");
    let m = parse(&bytes)?;
    assert_eq!(m.max_forwards(), Err(SipError::BadMaxForwards));
    assert!(m.expires().is_err());
    let bytes = read("", "scalarlg.dat");
    assert_eq!(parse(&bytes)?.retry_after(), Err(SipError::BadRetryAfter));
    let bytes = read("", "dblreq.dat");
    let m = parse(&bytes)?;
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body().is_empty());
    assert!(m.as_bytes().len() < bytes.len());
    let bytes = read("", "inv2543.dat");
    let m = parse(&bytes)?;
    assert_eq!(m.content_length(), None);
    assert!(!m.body().is_empty());
    assert_eq!(m.top_via()?.branch(), None);
    assert_eq!(m.max_forwards()?, None);
    Ok(())
}

#[test]
fn baddn_with_terminated_headers_fails_on_display_name() {
    let mut bytes = read("", "baddn.dat");
    bytes.extend_from_slice(b"\r\n");
    let m = parse(&bytes);
    assert!(matches!(
        m.as_ref().map(|m| m.from()),
        Ok(Err(SipError::BadNameAddr(_)))
    ));
}

#[test]
fn rfc5118_hosts() -> Result<(), SipError> {
    let bytes = read("rfc5118/", "port-ambiguous.dat");
    let m = parse(&bytes)?;
    let uri = sip::parse_uri(m.request_uri().unwrap_or_default())?;
    assert_eq!(uri.host, "[2001:db8::10:5070]");
    assert_eq!(uri.port, None);
    let bytes = read("rfc5118/", "port-unambiguous.dat");
    let m = parse(&bytes)?;
    let uri = sip::parse_uri(m.request_uri().unwrap_or_default())?;
    assert_eq!((uri.host, uri.port), ("[2001:db8::10]", Some(5070)));
    assert_eq!(uri.host_kind()?, HostKind::Ipv6);
    let bytes = read("rfc5118/", "via-received-param-with-delim.dat");
    assert_eq!(
        parse(&bytes)?.top_via()?.received(),
        Some("[2001:db8::9:255]")
    );
    let bytes = read("rfc5118/", "via-received-param-no-delim.dat");
    assert_eq!(
        parse(&bytes)?.top_via()?.received(),
        Some("2001:db8::9:255")
    );
    Ok(())
}

#[test]
fn stream_framing_agrees_with_parse() -> Result<(), SipError> {
    let mut framed = 0;
    for (dir, file, _) in expected() {
        let bytes = read(dir, &file);
        let Ok(m) = parse(&bytes) else { continue };
        if m.content_length().is_none() {
            continue;
        }
        let len = sip::frame_stream(&bytes)?.ok_or(SipError::Incomplete)?;
        let again = parse(bytes.get(..len).unwrap_or_default())?;
        assert_eq!(again.as_bytes(), m.as_bytes(), "{file}");
        framed += 1;
    }
    assert!(framed > 40, "framed {framed}");
    Ok(())
}
