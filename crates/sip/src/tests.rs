//! Unit tests of the parsers, builders and framing.

use super::*;

const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK776asdhds;rport\r\n\
v: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKx;received=192.0.2.1;rport=5070,\r\n SIP/2.0/UDP h3;branch=z9hG4bKy\r\n\
Max-Forwards: 070\r\n\
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
To: Bob <sip:bob@example.com>\r\n\
f: \"Alice, A.\" <sip:alice@example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
m: <sip:alice@pc33.example.com>;expires=60, sip:a2@h\r\n\
WWW-Authenticate: Digest realm=\"a\", nonce=\"b\"\r\n\
Content-Length: 4\r\n\
\r\n\
body";

#[test]
fn parses_request_and_typed_headers() -> Result<(), SipError> {
    let m = parse(INVITE)?;
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.request_uri(), Some("sip:bob@example.com"));
    assert_eq!(m.body(), b"body");
    let vias = m.vias()?;
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(vias[0].port, Some(5066));
    assert_eq!(vias[0].rport()?, Some(None));
    assert_eq!(vias[1].host, "[2001:db8::1]");
    assert_eq!(vias[1].host_kind, HostKind::Ipv6);
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].received(), Some("192.0.2.1"));
    assert_eq!(vias[1].rport()?, Some(Some(5070)));
    assert_eq!(vias[2].host, "h3");
    assert_eq!(m.max_forwards()?, Some(70));
    let routes = m.routes()?;
    assert_eq!(routes.len(), 2);
    assert!(routes[0].lr());
    assert_eq!(m.from()?.tag(), Some("1928301774"));
    assert_eq!(m.from()?.display_name.as_deref(), Some("\"Alice, A.\""));
    assert_eq!(m.to()?.tag(), None);
    assert_eq!(m.call_id()?, "a84b4c76e66710@pc33.example.com");
    assert_eq!(
        m.cseq()?,
        CSeq {
            number: 314159,
            method: "INVITE".into()
        }
    );
    let Some(Contacts::List(c)) = m.contacts()? else {
        return Err(SipError::MissingHeader("Contact"));
    };
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].expires()?, Some(60));
    assert!(!c[1].bracketed);
    let auth = m.header("WWW-Authenticate").ok_or(SipError::Empty)?;
    assert_eq!(auth.values()?.len(), 1);
    m.check_proxy_headers()
}

#[test]
fn folded_value_unfolds() -> Result<(), SipError> {
    let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n  two\r\nl: 0\r\n\r\n")?;
    let h = m.header("Subject").ok_or(SipError::Empty)?;
    assert_eq!(h.value, b"one\r\n  two");
    assert_eq!(h.unfolded()?, "one two");
    Ok(())
}

#[test]
fn start_line_errors() {
    let cases: &[(&[u8], SipError)] = &[
        (b"INVITE  sip:a@b SIP/2.0\r\n\r\n", SipError::BadStartLine),
        (b"INVITE sip:a@b SIP/2.0 \r\n\r\n", SipError::BadStartLine),
        (
            b"INVITE sip:a@b SIP/3.0\r\n\r\n",
            SipError::VersionNotSupported,
        ),
        (b"INVITE <sip:a@b> SIP/2.0\r\n\r\n", SipError::BadRequestUri),
        (
            b"INVITE sip:a@b?X=y SIP/2.0\r\n\r\n",
            SipError::RequestUriHeaders,
        ),
        (b"SIP/2.0 99 x\r\n\r\n", SipError::BadStatusCode),
        (b"SIP/2.0 1000 x\r\n\r\n", SipError::BadStatusCode),
        (b"SIP/2.0 700 x\r\n\r\n", SipError::BadStatusCode),
        (b"\r\n\r\n", SipError::Empty),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).err().as_ref(), Some(want), "{input:?}");
    }
}

#[test]
fn body_length_rules() {
    let short = b"OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\n\r\nab";
    let err = parse(short).err();
    assert!(err.as_ref().is_some_and(SipError::is_request_parsed));
    assert_eq!(
        err.as_ref().map(SipError::cause),
        Some(&SipError::BodyTooShort)
    );
    assert_eq!(parse_head(short).map(|m| m.body().len()), Ok(2));
    let long = b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\n\r\nabc";
    assert_eq!(parse(long).map(|m| m.body().to_vec()), Ok(b"a".to_vec()));
    let neg = b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n";
    assert_eq!(parse(neg).err(), Some(SipError::BadContentLength));
}

#[test]
fn limits() {
    let mut many = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    for _ in 0..=MAX_HEADERS {
        many.extend_from_slice(b"X: y\r\n");
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(
        parse(&many).err().map(|e| e.cause().clone()),
        Some(SipError::TooManyHeaders)
    );
    let big = vec![b'a'; MAX_MESSAGE_LEN + 1];
    assert_eq!(parse(&big).err(), Some(SipError::TooLarge));
    assert_eq!(frame_stream(&big).err(), Some(SipError::TooLarge));
}

#[test]
fn uri_parts() -> Result<(), SipError> {
    let u = parse_uri("sips:al%69ce:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x")?;
    assert_eq!(u.scheme, Scheme::Sips);
    assert_eq!(u.user, Some("al%69ce"));
    assert_eq!(unescape(u.user.unwrap_or_default()), b"alice");
    assert_eq!(u.password, Some("pw"));
    assert_eq!(u.host, "[2001:db8::1]");
    assert_eq!(u.port, Some(5061));
    assert!(u.lr());
    assert_eq!(u.transport(), Some("tcp"));
    assert_eq!(u.headers, Some("subject=x"));
    let t = parse_uri("tel:+1-201-555-0123;phone-context=example.com")?;
    assert_eq!(t.scheme, Scheme::Tel);
    assert_eq!(t.user, Some("+1-201-555-0123"));
    assert!(parse_uri("sip:2001:db8::10").is_err());
    assert!(parse_uri("sip:a@b:99999").is_err());
    assert!(parse_uri("sip:a b@c").is_err());
    assert!(parse_uri("sip:a@%zz").is_err());
    Ok(())
}

#[test]
fn retry_after_and_date() -> Result<(), SipError> {
    let r = parse_retry_after("18000 (in a meeting) ;duration=3600")?;
    assert_eq!(r.seconds, 18000);
    assert_eq!(r.comment.as_deref(), Some("in a meeting"));
    assert_eq!(r.duration, Some(3600));
    assert!(parse_retry_after("99999999999").is_err());
    check_date("Sat, 13 Nov 2010 23:29:00 GMT")?;
    assert_eq!(
        check_date("Fri, 01 Jan 2010 16:00:00 EST"),
        Err(SipError::BadDate)
    );
    Ok(())
}

#[test]
fn framing() -> Result<(), SipError> {
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(msg);
    buf.extend_from_slice(b"NEXT");
    assert_eq!(frame_stream(&buf)?, Some(4 + msg.len()));
    assert_eq!(frame_stream(buf.get(..10).unwrap_or_default())?, None);
    assert_eq!(
        frame_stream(buf.get(..buf.len() - 5).unwrap_or_default())?,
        None
    );
    assert_eq!(frame_stream(b"\r\n\r\n")?, None);
    assert_eq!(keepalive_len(b"\r\n\r\nX"), 4);
    assert_eq!(
        frame_stream(b"A sip:a@b SIP/2.0\r\nl: -1\r\n\r\n").err(),
        Some(SipError::BadContentLength)
    );
    Ok(())
}

#[test]
fn response_for_copies_headers() -> Result<(), SipError> {
    let req = parse(INVITE)?;
    let resp = response_for(&req, 180, "Ringing", Some("abc"));
    let m = parse(&resp)?;
    assert_eq!(m.status(), Some(180));
    assert_eq!(m.vias()?, req.vias()?);
    assert_eq!(m.to()?.tag(), Some("abc"));
    assert_eq!(m.from()?, req.from()?);
    assert_eq!(m.call_id()?, req.call_id()?);
    assert_eq!(m.cseq()?, req.cseq()?);
    assert_eq!(m.content_length(), Some(0));
    m.check_proxy_headers()
}

#[test]
fn editor_edits() -> Result<(), SipError> {
    let req = parse(INVITE)?;
    let out = Editor::new(&req)
        .insert_via("SIP/2.0/UDP lb.example.net;branch=z9hG4bKlb")
        .insert_record_route("<sip:lb.example.net;lr>")
        .set_request_uri("sip:bob@10.0.0.5")
        .remove_top_route()?
        .decrement_max_forwards()?
        .finish()?;
    let m = parse(&out)?;
    assert_eq!(m.request_uri(), Some("sip:bob@10.0.0.5"));
    assert_eq!(m.top_via()?.host, "lb.example.net");
    assert_eq!(m.vias()?.len(), 4);
    assert_eq!(m.max_forwards()?, Some(69));
    assert_eq!(m.routes()?.len(), 1);
    assert_eq!(m.record_routes()?.len(), 1);
    assert_eq!(m.body(), b"body");
    let resp_bytes = response_for(&req, 200, "OK", None);
    let resp = parse(&resp_bytes)?;
    let fwd = Editor::new(&resp).remove_top_via()?.finish()?;
    let fwd = parse(&fwd)?;
    assert_eq!(fwd.vias()?.len(), 2);
    assert_eq!(fwd.top_via()?.transport, "TCP");
    let twice = Editor::new(&req)
        .remove_top_route()?
        .remove_top_route()?
        .finish();
    assert_eq!(twice.err(), Some(SipError::EditConflict));
    Ok(())
}

#[test]
fn set_body_replaces_the_body_and_its_length() -> Result<(), SipError> {
    // Compact Content-Length, edited together with a Via insertion.
    let req =
        parse(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody")?;
    let out = Editor::new(&req)
        .insert_via("SIP/2.0/UDP lb;branch=z9hG4bK2")
        .set_body(b"v=0\r\nnew\r\n")?
        .finish()?;
    let m = parse(&out)?;
    assert_eq!(m.body(), b"v=0\r\nnew\r\n");
    assert_eq!(m.content_length(), Some(10));
    assert_eq!(m.vias()?.len(), 2);
    // No Content-Length (a datagram): one is added; an empty body empties the message's.
    let bare = parse(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nxy")?;
    let out = Editor::new(&bare).set_body(b"")?.finish()?;
    let m = parse(&out)?;
    assert_eq!((m.body(), m.content_length()), (&b""[..], Some(0)));
    Ok(())
}

#[test]
fn max_forwards_insert_and_exhaust() -> Result<(), SipError> {
    let none = parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n")?;
    let out = Editor::new(&none).decrement_max_forwards()?.finish()?;
    assert_eq!(parse(&out)?.max_forwards()?, Some(70));
    let zero = parse(b"OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 0\r\nl: 0\r\n\r\n")?;
    assert_eq!(
        Editor::new(&zero).decrement_max_forwards().err(),
        Some(SipError::TooManyHops)
    );
    Ok(())
}

#[test]
fn remove_first_of_folded_list() -> Result<(), SipError> {
    let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1,\r\n SIP/2.0/UDP b;branch=z9hG4bK2\r\nl: 0\r\n\r\n";
    let m = parse(raw)?;
    let out = Editor::new(&m).remove_top_via()?.finish()?;
    assert_eq!(
        out,
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nl: 0\r\n\r\n".to_vec()
    );
    let h = m.header("Via").ok_or(SipError::Empty)?;
    assert_eq!(raw.get(h.name_span()), Some(&b"Via"[..]));
    Ok(())
}

#[test]
fn cancel_and_ack_derive_from_the_sent_request() -> Result<(), SipError> {
    let req = b"INVITE sip:bob@10.0.0.2:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n\
Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKup\r\n\
Route: <sip:10.0.0.2;lr>\r\n\
Max-Forwards: 69\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    let req = crate::parse(req)?;
    let cancel = crate::build_cancel(&req)?;
    let c = crate::parse(&cancel)?;
    assert_eq!(c.method(), Some("CANCEL"));
    assert_eq!(c.request_uri(), Some("sip:bob@10.0.0.2:5080"));
    assert_eq!(c.vias()?.len(), 1);
    assert_eq!(c.top_via()?.branch(), Some("z9hG4bKabc"));
    assert_eq!(c.cseq()?.number, 7);
    assert_eq!(c.cseq()?.method, "CANCEL");
    assert_eq!(c.routes()?.len(), 1);
    assert!(c.to()?.tag().is_none());
    let resp = b"SIP/2.0 486 Busy Here\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=5060\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=uas\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    let resp = crate::parse(resp)?;
    let ack = crate::build_ack(&req, &resp)?;
    let a = crate::parse(&ack)?;
    assert_eq!(a.method(), Some("ACK"));
    assert_eq!(a.to()?.tag(), Some("uas"));
    assert_eq!(a.cseq()?.method, "ACK");
    assert_eq!(a.call_id()?, "c1");
    assert!(crate::build_ack(&resp, &resp).is_err());
    Ok(())
}

#[test]
fn editor_fills_received_and_rport_and_appends_fields() -> Result<(), SipError> {
    let req = b"OPTIONS sip:x SIP/2.0\r\n\
Via: SIP/2.0/UDP host.example;branch=z9hG4bK1;rport, SIP/2.0/UDP b;branch=z9hG4bK2\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";
    let req = crate::parse(req)?;
    let out = Editor::new(&req)
        .set_top_via_source(Some("192.0.2.1"), Some(5099))?
        .append_header("X-Test", "1\r\nInjected: yes")
        .finish()?;
    let m = crate::parse(&out)?;
    let vias = m.vias()?;
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].received(), Some("192.0.2.1"));
    assert_eq!(vias[0].rport()?, Some(Some(5099)));
    assert_eq!(vias[1].branch(), Some("z9hG4bK2"));
    assert!(m.header("Injected").is_none());
    assert_eq!(
        m.header("X-Test").map(|h| h.value),
        Some(&b"1Injected: yes"[..])
    );
    let stripped = Editor::new(&m).remove_headers("X-Test").finish()?;
    assert!(crate::parse(&stripped)?.header("X-Test").is_none());
    let with = crate::response_with(&req, 503, "Busy", Some("t"), &[("Retry-After", "30")]);
    let r = crate::parse(&with)?;
    assert_eq!(r.retry_after()?.map(|r| r.seconds), Some(30));
    Ok(())
}

#[test]
fn set_top_via_source_keeps_the_parameter_order() -> Result<(), SipError> {
    let req = b"OPTIONS sip:x SIP/2.0\r\n\
Via: SIP/2.0/UDP h:5070 ;received=10.0.0.1;rport;branch=z9hG4bK1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";
    let req = crate::parse(req)?;
    let out = Editor::new(&req)
        .set_top_via_source(Some("192.0.2.1"), Some(5099))?
        .finish()?;
    let m = crate::parse(&out)?;
    let via = m.header("Via").map(|h| h.value);
    let want = &b"SIP/2.0/UDP h:5070;rport=5099;branch=z9hG4bK1;received=192.0.2.1"[..];
    assert_eq!(via, Some(want));
    Ok(())
}

/// The typed reads borrow the message bytes; a folded field is read from its unfolded copy
/// and gives the same values (RFC 3261 §7.3.1).
#[test]
fn typed_reads_borrow_and_folded_fields_read_the_same() -> Result<(), SipError> {
    use std::borrow::Cow;
    let plain = parse(INVITE)?;
    let via = plain.top_via()?;
    assert!(matches!(via.host, Cow::Borrowed("pc33.example.com")));
    assert!(matches!(plain.call_id()?, Cow::Borrowed(_)));
    assert!(matches!(plain.cseq()?.method, Cow::Borrowed("INVITE")));
    assert!(matches!(
        plain.from()?.uri,
        Cow::Borrowed("sip:alice@example.com")
    ));
    let folded = parse(
        b"INVITE sip:b@h SIP/2.0\r\n\
Via: SIP/2.0/UDP\r\n a.example : 5062\r\n ;branch=z9hG4bKf;rport, SIP/2.0/UDP b\r\n\
From: A\r\n <sip:a@h>;tag=\r\n x1\r\nTo: <sip:b@h>\r\nCall-ID: f1\r\n\
CSeq: 7\r\n INVITE\r\nRoute: <sip:r1;lr>,\r\n <sip:r2;lr>\r\n\
Contact: <sip:a@h>\r\n ;expires=30\r\nContent-Length: 0\r\n\r\n",
    )?;
    let via = folded.top_via()?;
    assert_eq!((via.host.as_ref(), via.port), ("a.example", Some(5062)));
    assert_eq!((via.branch(), via.rport()?), (Some("z9hG4bKf"), Some(None)));
    assert_eq!(folded.vias()?.len(), 2);
    let from = folded.from()?;
    assert_eq!((from.uri.as_ref(), from.tag()), ("sip:a@h", Some("x1")));
    assert_eq!(from.display_name.as_deref(), Some("A"));
    assert_eq!(
        folded.cseq()?,
        CSeq {
            number: 7,
            method: "INVITE".into()
        }
    );
    let routes: Vec<String> = folded
        .routes()?
        .into_iter()
        .map(|r| r.uri.into_owned())
        .collect();
    assert_eq!(routes, ["sip:r1;lr", "sip:r2;lr"]);
    let Some(Contacts::List(c)) = folded.contacts()? else {
        return Err(SipError::MissingHeader("Contact"));
    };
    assert_eq!(
        c.first().map(NameAddr::expires).transpose()?,
        Some(Some(30))
    );
    folded.check_proxy_headers()
}

#[test]
fn params_read_in_place() -> Result<(), SipError> {
    let p = Params::parse(" ; a = 1 ;b; c=\"x;y\"")?;
    let all: Vec<_> = p.iter().collect();
    assert_eq!(all, [("a", Some("1")), ("b", None), ("c", Some("\"x;y\""))]);
    assert_eq!((p.get("B"), p.get("d"), p.len()), (Some(None), None, 3));
    assert!(Params::parse("").is_ok_and(|p| p.is_empty()));
    assert!(Params::parse(";a=").is_err() && Params::parse("a").is_err());
    Ok(())
}

/// RFC 3261 §7: every line ends with CRLF; a CR or LF alone is refused wherever it is, and a
/// line without its CRLF is incomplete.
#[test]
fn lone_cr_or_lf_is_a_bare_line_end() {
    let head = "OPTIONS sip:a@b SIP/2.0\r\n";
    let bare = |e: Result<Message<'_>, SipError>| match e {
        Err(SipError::BareLineEnd) => true,
        Err(SipError::InRequest(inner)) => *inner == SipError::BareLineEnd,
        _ => false,
    };
    for text in [
        format!("{head}Subject: a\rb\r\nl: 0\r\n\r\n"),
        format!("{head}Subject: a\nb\r\nl: 0\r\n\r\n"),
        format!("{head}Subject: a\r\r\nl: 0\r\n\r\n"),
        "OPTIONS sip:a@b\rx SIP/2.0\r\nl: 0\r\n\r\n".to_string(),
        "OPTIONS sip:a@b SIP/2.0\n\r\nl: 0\r\n\r\n".to_string(),
    ] {
        assert!(bare(parse(text.as_bytes())), "{text:?}");
    }
    let cut = format!("{head}Subject: a\nb");
    assert!(matches!(
        parse(cut.as_bytes()),
        Err(SipError::InRequest(e)) if *e == SipError::Incomplete
    ));
    assert_eq!(
        parse(b"OPTIONS sip:a@b SIP/2.0").err(),
        Some(SipError::Incomplete)
    );
}

#[test]
fn decimal_digits_are_what_display_writes() {
    for n in [0u64, 7, 10, 69, 70, 255, 5060, 65535, 1 << 32, u64::MAX] {
        let mut out = String::from("x");
        build::push_decimal(&mut out, n);
        assert_eq!(out, format!("x{n}"));
    }
}

#[test]
fn common_header_names_are_tokens_and_indexed_as_written() {
    let msg = parse(INVITE).unwrap_or_else(|e| panic!("{e}"));
    for h in msg.headers() {
        assert!(crate::lex::is_token(h.name), "{}", h.name);
        assert_eq!(msg.raw().get(h.name_span()), Some(h.name.as_bytes()));
    }
}
