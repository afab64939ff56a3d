//! Property tests: no panics on any input, response round trip, edits keep untouched bytes.

use proptest::prelude::*;
use sip::{frame_stream, parse, parse_head, parse_uri, response_for, Editor, Message};

/// Exercises every reader and editor on a parsed message; results are ignored, panics are not.
fn touch_everything(m: &Message<'_>) {
    let _ = m.check_proxy_headers();
    let _ = m.vias();
    let _ = m.top_via().map(|v| v.rport());
    let _ = m.contacts();
    let _ = m.retry_after();
    let _ = m.from().map(|f| f.parsed_uri().map(|u| u.lr()));
    for h in m.headers() {
        let _ = h.values();
    }
    let _ = response_for(m, 400, "Bad Request", Some("t"));
    let mut ed = Editor::new(m);
    ed.insert_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp")
        .insert_record_route("<sip:192.0.2.1;lr>")
        .set_request_uri("sip:x@192.0.2.9");
    let _ = ed.remove_top_via();
    let _ = ed.remove_top_route();
    let _ = ed.decrement_max_forwards();
    let _ = ed.finish();
}

/// Header-ish text built from SIP punctuation, to reach deeper parser paths.
fn sipish() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-zA-Z0-9 :;,<>"\\=@\[\]./%?\r\n\t-]{0,60}"#)
        .expect("valid regex")
}

fn request(branch: &str, tag: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK{branch}\r\n\
         Via: SIP/2.0/TCP h.example.net;branch=z9hG4bKz\r\n\
         Max-Forwards: 10\r\n\
         Route: <sip:r1.example.net;lr>,<sip:r2.example.net;lr>\r\n\
         From: <sip:alice@example.com>;tag={tag}\r\n\
         To: \"Bob\" <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} INVITE\r\n\
         X-Extra: {extra}\r\n\
         Content-Length: 3\r\n\r\nabc"
    )
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.!%*_+`'~-]{1,20}"
}

/// The comma split as it was written before it searched with `memchr`, one byte at a time:
/// the reference the faster split must agree with.
fn split_commas_bytewise(value: &str) -> Vec<&str> {
    fn trim(s: &str) -> &str {
        s.trim_matches([' ', '\t', '\r', '\n'])
    }
    let mut out = Vec::new();
    let (mut start, mut in_quote, mut in_angle, mut escaped) = (0, false, false, false);
    for (i, c) in value.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            b'"' => in_quote = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                out.push(trim(&value[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(trim(&value[start..]));
    out
}

/// The proxy's first reads (top Via, Call-ID, CSeq and its method, From, To), then the rest.
fn reads_then_rest(m: &Message<'_>) -> Result<(), sip::SipError> {
    m.top_via()?;
    m.call_id()?;
    let cseq = m.cseq()?;
    if m.method().is_some_and(|x| x != cseq.method) {
        return Err(sip::SipError::CSeqMethodMismatch);
    }
    m.from()?;
    m.to()?;
    m.check_fields_after_reads()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_host_is_ipv4_exactly_when_the_standard_parser_says_so(
        host in r"[0-9.]{1,17}|(25[0-9]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-9]|2[0-4][0-9]|0?1?[0-9]?[0-9])){3}",
    ) {
        let kind = sip::host_kind(&host);
        match host.parse::<std::net::Ipv4Addr>() {
            Ok(a) => prop_assert_eq!(kind, Ok(sip::HostKind::Ipv4(a))),
            Err(_) => prop_assert!(!matches!(kind, Ok(sip::HostKind::Ipv4(_)))),
        }
    }

    #[test]
    fn a_parameter_read_where_the_check_found_it_matches_a_scan(
        text in r#"( ?; ?(branch|BRANCH|rport|Rport|tag|TAG|x|received)( ?= ?([a-z0-9.]{1,6}|"[a-z;= ]{0,5}"))?){0,5}|[;a-zA-Z= "]{0,24}"#,
    ) {
        if let Ok(params) = sip::Params::parse(&text) {
            for name in ["branch", "rport", "tag", "RPort", "TAG", "x"] {
                let scanned = params
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v);
                prop_assert_eq!(params.get(name), scanned, "{} in {:?}", name, text);
            }
            let owned = params.clone().into_owned();
            prop_assert_eq!(owned.get("branch"), params.get("branch"));
        }
    }

    #[test]
    fn comma_split_matches_bytewise_reference(value in r#"[a-z ,;<>"\\\t=é]{0,48}"#) {
        prop_assert_eq!(sip::split_commas(&value), split_commas_bytewise(&value));
    }

    #[test]
    fn reads_and_rest_check_what_check_proxy_headers_checks(
        a in sipish(), b in sipish(), c in sipish(), second_via in sipish(),
    ) {
        let text = format!(
            "INVITE sip:x@{a} SIP/2.0\r\nVia: SIP/2.0/UDP lb;branch=z9hG4bKx\r\n\
             Via: SIP/2.0/UDP {second_via}\r\nTo: {c}\r\nFrom: {b}\r\nRoute: {a}\r\n\
             Contact: {b}\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\nMax-Forwards: 70\r\n\r\n"
        );
        if let Ok(m) = parse(text.as_bytes()) {
            prop_assert_eq!(reads_then_rest(&m), m.check_proxy_headers());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = parse(&bytes) {
            touch_everything(&m);
        }
        if let Ok(m) = parse_head(&bytes) {
            touch_everything(&m);
        }
        let _ = frame_stream(&bytes);
        let _ = parse_uri(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn sip_shaped_input_never_panics(
        a in sipish(), b in sipish(), c in sipish(), name in "[a-zA-Z]{1,3}",
    ) {
        let text = format!(
            "OPTIONS sip:{a} SIP/2.0\r\nVia: SIP/2.0/UDP {b}\r\n{name}: {c}\r\nRoute: {a}\r\n\
             Contact: {b}\r\nTo: {c}\r\nFrom: {a}\r\nCSeq: 1 OPTIONS\r\nCall-ID: x\r\n\r\n"
        );
        if let Ok(m) = parse(text.as_bytes()) {
            touch_everything(&m);
        }
        let _ = frame_stream(text.as_bytes());
        let _ = parse_uri(&format!("sip:{a}"));
        let _ = sip::parse_name_addr(&b);
        let _ = sip::parse_via(&c);
    }

    #[test]
    fn response_round_trip(
        branch in token(), tag in token(), call_id in token(), cseq in any::<u32>(),
        code in 100u16..=699, to_tag in token(),
    ) {
        let req_text = request(&branch, &tag, &call_id, cseq, "x");
        let req = parse(req_text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let resp_bytes = response_for(&req, code, "Some Reason", Some(&to_tag));
        let resp = parse(&resp_bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(resp.status(), Some(code));
        prop_assert_eq!(resp.vias().ok(), req.vias().ok());
        prop_assert_eq!(resp.from().ok(), req.from().ok());
        prop_assert_eq!(resp.to().ok().and_then(|t| t.tag().map(str::to_string)), Some(to_tag));
        prop_assert_eq!(resp.call_id().ok(), req.call_id().ok());
        prop_assert_eq!(resp.cseq().ok(), req.cseq().ok());
        prop_assert_eq!(resp.content_length(), Some(0));
        prop_assert!(resp.check_proxy_headers().is_ok());
    }

    #[test]
    fn edits_keep_untouched_bytes(
        branch in token(), tag in token(), extra in "[ -~]{0,40}", which in 0usize..6,
    ) {
        let text = request(&branch, &tag, "cid", 1, &extra);
        let raw = text.as_bytes();
        let m = parse(raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let via_at = m.header("Via").map(|h| h.line.start).unwrap_or(0);
        // No Record-Route yet: it goes right after the start line, where the first header (Via) is.
        let rr_at = via_at;
        let start_end = m.headers()[0].line.start;
        let route = m.header("Route").map(|h| (h.value_span.clone(), h.line.clone()));
        let mf = m.header("Max-Forwards").map(|h| h.value_span.clone());
        let uri = start_end - "sip:bob@example.com SIP/2.0\r\n".len()..start_end - " SIP/2.0\r\n".len();
        // (range replaced, new text) for each edit kind.
        let (range, new): (std::ops::Range<usize>, Vec<u8>) = match which {
            0 => (via_at..via_at, b"Via: SIP/2.0/UDP lb;branch=z9hG4bKn\r\n".to_vec()),
            1 => (rr_at..rr_at, b"Record-Route: <sip:lb;lr>\r\n".to_vec()),
            2 => {
                let (value, _) = route.clone().unwrap_or((0..0, 0..0));
                (value.start..value.start + "<sip:r1.example.net;lr>,".len(), Vec::new())
            }
            3 => (mf.clone().unwrap_or(0..0), b"9".to_vec()),
            4 => (uri.clone(), b"sip:bob@192.0.2.44".to_vec()),
            _ => {
                let h = m.header("Via").map(|h| h.line.clone()).unwrap_or(0..0);
                (h, Vec::new())
            }
        };
        let mut ed = Editor::new(&m);
        match which {
            0 => { ed.insert_via("SIP/2.0/UDP lb;branch=z9hG4bKn"); }
            1 => { ed.insert_record_route("<sip:lb;lr>"); }
            2 => { ed.remove_top_route().map_err(|e| TestCaseError::fail(e.to_string()))?; }
            3 => { ed.decrement_max_forwards().map_err(|e| TestCaseError::fail(e.to_string()))?; }
            4 => { ed.set_request_uri("sip:bob@192.0.2.44"); }
            _ => { ed.remove_top_via().map_err(|e| TestCaseError::fail(e.to_string()))?; }
        }
        let out = ed.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut want = raw[..range.start].to_vec();
        want.extend_from_slice(&new);
        want.extend_from_slice(&raw[range.end..]);
        prop_assert_eq!(&out, &want);
        prop_assert!(parse(&out).is_ok());
    }
}
