//! Property tests: parse never panics, rewrites change only owned lines, and rewritten bodies
//! re-parse with the new ports and addresses.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use std::net::IpAddr;

use proptest::prelude::*;
use sdp::{parse, rewrite, Direction, MediaRewrite, MuxRewrite, Rewrite, RtcpRewrite};

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
        Just(IpAddr::from([0u8; 4])),
        Just(IpAddr::from([0u8; 16])),
    ]
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

/// Text without line breaks, possibly not UTF-8.
fn junk() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no line break", |b| *b != b'\n' && *b != b'\r'),
        0..12,
    )
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive),
    ]
}

/// One attribute (or b=) line of a media section.
fn media_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"b=AS:64".to_vec()),
        (0u8..128, 1u32..100_000).prop_map(|(pt, r)| format!("a=rtpmap:{pt} X/{r}").into_bytes()),
        any::<u16>().prop_map(|p| format!("a=rtcp:{p}").into_bytes()),
        (any::<u16>(), ip())
            .prop_map(|(p, a)| format!("a=rtcp:{p} IN {} {a}", family(a)).into_bytes()),
        Just(b"a=rtcp-mux".to_vec()),
        direction().prop_map(|d| format!("a={}", d.as_str()).into_bytes()),
        (ip(), any::<u16>()).prop_map(|(a, p)| {
            format!("a=candidate:1 1 UDP 2130706431 {a} {p} typ host").into_bytes()
        }),
        Just(b"a=ice-ufrag:F7gI".to_vec()),
        Just(b"a=end-of-candidates".to_vec()),
        Just(b"a=rtcp-fb:96 nack".to_vec()),
        junk().prop_map(|j| [b"a=x-".as_slice(), &j].concat()),
    ]
}

fn session_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"t=0 0".to_vec()),
        Just(b"a=ice-lite".to_vec()),
        Just(b"a=ice-pwd:x9cml".to_vec()),
        direction().prop_map(|d| format!("a={}", d.as_str()).into_bytes()),
        Just(b"a=group:BUNDLE 0 1".to_vec()),
        junk().prop_map(|j| [b"s=".as_slice(), &j].concat()),
    ]
}

/// An m-line with an optional c= and some attribute lines.
fn section() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop_oneof![Just(0u16), any::<u16>()],
        proptest::option::of(ip()),
        proptest::collection::vec(media_line(), 0..8),
    )
        .prop_map(|(port, conn, attrs)| {
            let mut lines = vec![format!("m=audio {port} RTP/AVP 0 96").into_bytes()];
            if let Some(a) = conn {
                lines.push(format!("c=IN {} {a}", family(a)).into_bytes());
            }
            lines.extend(attrs);
            lines
        })
}

/// A canonical SDP body (c= written as `Display` writes the address) with `n` m-lines, mixed
/// line endings, an optional final newline and trailing empty line.
fn body(n: usize) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::option::of(ip()),
        proptest::option::of(ip()),
        proptest::collection::vec(session_line(), 0..4),
        proptest::collection::vec(section(), n..=n),
        proptest::collection::vec(any::<bool>(), 64),
        0u8..3,
    )
        .prop_map(|(origin, conn, sess, sections, crlf, ending)| {
            let mut lines: Vec<Vec<u8>> = vec![b"v=0".to_vec()];
            if let Some(a) = origin {
                lines.push(format!("o=- 1 2 IN {} {a}", family(a)).into_bytes());
            }
            if let Some(a) = conn {
                lines.push(format!("c=IN {} {a}", family(a)).into_bytes());
            }
            lines.extend(sess);
            lines.extend(sections.into_iter().flatten());
            let mut out = Vec::new();
            let last = lines.len() - 1;
            for (i, line) in lines.iter().enumerate() {
                out.extend_from_slice(line);
                let cr = crlf.get(i % crlf.len()).copied().unwrap_or(true);
                if i < last || ending > 0 {
                    out.extend_from_slice(if cr { b"\r\n" } else { b"\n" });
                }
            }
            if ending == 2 {
                out.extend_from_slice(b"\r\n");
            }
            out
        })
}

fn media_plan() -> impl Strategy<Value = MediaRewrite> {
    (
        1u16..,
        ip(),
        prop_oneof![
            Just(RtcpRewrite::Keep),
            Just(RtcpRewrite::Remove),
            any::<u16>().prop_map(RtcpRewrite::Port)
        ],
        prop_oneof![
            Just(MuxRewrite::Keep),
            Just(MuxRewrite::Add),
            Just(MuxRewrite::Remove)
        ],
        proptest::option::of(direction()),
    )
        .prop_map(|(port, addr, rtcp, rtcp_mux, direction)| MediaRewrite {
            port,
            addr,
            rtcp,
            rtcp_mux,
            direction,
        })
}

fn plan(n: usize) -> impl Strategy<Value = Rewrite> {
    (
        proptest::option::of(ip()),
        proptest::option::of(ip()),
        proptest::collection::vec(media_plan(), n..=n),
        any::<bool>(),
    )
        .prop_map(|(origin, session_connection, media, strip_ice)| Rewrite {
            origin,
            session_connection,
            media,
            strip_ice,
        })
}

fn body_and_plan() -> impl Strategy<Value = (Vec<u8>, Rewrite)> {
    (0usize..5).prop_flat_map(|n| (body(n), plan(n)))
}

/// Overwrites, inserts or deletes bytes at the given positions.
fn mutate(mut body: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, op, byte) in edits {
        let at = pos % (body.len() + 1);
        match op % 3 {
            0 if at < body.len() => body[at] = byte,
            1 => body.insert(at, byte),
            _ if at < body.len() => {
                body.remove(at);
            }
            _ => {}
        }
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&bytes);
        let mut with_header = b"v=0\r\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = parse(&with_header);
    }

    #[test]
    fn generated_bodies_parse((body, _) in body_and_plan()) {
        prop_assert!(parse(&body).is_ok(), "{}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn rewrite_changes_only_owned_lines_and_reparses((body, rw) in body_and_plan()) {
        let sd = parse(&body).unwrap();
        let out = rewrite(&body, &sd, &rw).unwrap();
        if let Err(e) = common::check_rewrite(&body, &rw, &out) {
            prop_assert!(
                false,
                "{e}\n--- in\n{}\n--- out\n{}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[test]
    fn identity_plan_is_byte_identical((body, _) in body_and_plan()) {
        let sd = parse(&body).unwrap();
        let keep = Rewrite {
            origin: None,
            session_connection: None,
            media: sd
                .media
                .iter()
                .map(|m| MediaRewrite {
                    port: m.port,
                    // Sections without c= never use the address under Keep.
                    addr: m.connection.map_or(IpAddr::from([192, 0, 2, 1]), |c| c.addr),
                    rtcp: RtcpRewrite::Keep,
                    rtcp_mux: MuxRewrite::Keep,
                    direction: None,
                })
                .collect(),
            strip_ice: false,
        };
        let out = rewrite(&body, &sd, &keep).unwrap();
        prop_assert_eq!(out, body);
    }

    #[test]
    fn mutated_bodies_never_panic_and_rewrites_stay_valid(
        (body, rw) in body_and_plan(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let body = mutate(body, &edits);
        let Ok(sd) = parse(&body) else { return Ok(()) };
        let mut rw = rw;
        rw.media.resize(sd.media.len(), MediaRewrite {
            port: 1000,
            addr: IpAddr::from([198, 51, 100, 1]),
            rtcp: RtcpRewrite::Port(1001),
            rtcp_mux: MuxRewrite::Add,
            direction: Some(Direction::SendOnly),
        });
        let out = rewrite(&body, &sd, &rw).unwrap();
        if let Err(e) = common::check_rewrite(&body, &rw, &out) {
            prop_assert!(
                false,
                "{e}\n--- in\n{:?}\n--- out\n{:?}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&out)
            );
        }
    }
}
