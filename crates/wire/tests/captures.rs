//! Real traffic from public captures: every RTP packet of the known media flows parses
//! through the frame, demux and RTP layers with the documented fields, and survives a relay
//! rewrite.
//!
//! The MIT-licensed `pkts-sip_rtp.pcap` is in the repository (`tests/data/`). The other
//! captures may not be redistributed with the project (GPL, MPL, no stated licence): they are
//! read from the shared conformance set next to the repository (`shared/conformance/pcap/`, or
//! `FERROVOX_CONFORMANCE`). A test that needs one fails when it is absent, saying where it
//! looked, unless the developer opts out explicitly with `FERROVOX_TEST_SKIP=corpus`
//! (tests/README.md).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use wire::demux::{classify, Class};
use wire::frame::{parse_udp, rewrite_udp, verify_udp_checksum, FrameError};
use wire::{rtcp, rtp, Endpoint};

/// Link types (pcap LINKTYPE_*) this reader handles.
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_LINUX_SLL: u32 = 113;

/// The capture in the repository.
const IN_REPO: &str = "pkts-sip_rtp.pcap";

/// The bytes of capture `name`: `tests/data/` for [`IN_REPO`], else the shared set's
/// `pcap/`. A shared capture that cannot be read fails the test, unless opted out
/// (`testkit::need`): then the result is `None`, and the test returns.
fn capture(name: &str) -> Option<Vec<u8>> {
    if name == IN_REPO {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        return Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    testkit::need::conformance_file("wire captures", &format!("pcap/{name}"))
}

/// A minimal classic-pcap reader: returns the frames as Ethernet II frames (Linux cooked
/// frames get an Ethernet header synthesised from their protocol field).
fn frames(file: &[u8]) -> Vec<Vec<u8>> {
    let magic = u32::from_le_bytes(file[..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a classic pcap file: magic {m:#x}"),
    };
    let rd = |b: &[u8]| -> u32 {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd(&file[20..24]);
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let incl = rd(&file[at + 8..at + 12]) as usize;
        let data = &file[at + 16..at + 16 + incl];
        at += 16 + incl;
        match linktype {
            LINKTYPE_ETHERNET => out.push(data.to_vec()),
            LINKTYPE_LINUX_SLL if data.len() >= 16 => {
                let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
                f.extend_from_slice(&data[14..]);
                out.push(f);
            }
            LINKTYPE_LINUX_SLL => {}
            l => panic!("unsupported link type {l}"),
        }
    }
    out
}

/// What the capture's README says about one RTP flow.
struct Flow {
    src_port: u16,
    dst_port: u16,
    packets: usize,
    payload_types: &'static [u8],
    ssrc: Option<u32>,
    payload_len: Option<usize>,
}

/// Walks every frame; checks the described flows; returns drop reasons and demux counts.
fn check_capture(name: &str, flows: &[Flow]) -> Option<(BTreeMap<&'static str, usize>, usize)> {
    let file = capture(name)?;
    let mut drops = BTreeMap::new();
    let mut seen = vec![0usize; flows.len()];
    let mut rtcp_valid = 0;
    for f in frames(&file) {
        let u = match parse_udp(&f) {
            Ok(u) => u,
            Err(e) => {
                *drops.entry(e.as_str()).or_default() += 1;
                continue;
            }
        };
        let payload = u.payload_bytes(&f);
        if classify(payload) == Class::Rtcp && rtcp::validate_compound(payload).is_ok() {
            rtcp_valid += 1;
        }
        let Some(i) = flows
            .iter()
            .position(|fl| fl.src_port == u.src.port && fl.dst_port == u.dst.port)
        else {
            continue;
        };
        let flow = &flows[i];
        if classify(payload) != Class::Rtp {
            continue;
        }
        let v = rtp::parse(payload).unwrap_or_else(|e| panic!("{name}: RTP rejected: {e}"));
        assert!(
            flow.payload_types.contains(&v.payload_type()),
            "{name}: PT {}",
            v.payload_type()
        );
        if let Some(ssrc) = flow.ssrc {
            assert_eq!(v.ssrc(), ssrc, "{name}");
        }
        if let Some(n) = flow.payload_len {
            assert_eq!(v.payload().len(), n, "{name}");
        }
        seen[i] += 1;
        // Relay it: new addresses/ports, same family; the result parses and its UDP checksum
        // verifies exactly when the original's did.
        let verified = verify_udp_checksum(&f, &u);
        let (s, d) = if u.v6 {
            let mut a = [0u8; 16];
            a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            let mut b = a;
            a[15] = 1;
            b[15] = 2;
            (Endpoint::new_v6(a, 20000), Endpoint::new_v6(b, 6000))
        } else {
            (
                Endpoint::new_v4([127, 0, 0, 1], 20000),
                Endpoint::new_v4([127, 0, 0, 2], 6000),
            )
        };
        let mut g = f.clone();
        rewrite_udp(&mut g, &u, [2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], &s, &d).unwrap();
        let r = parse_udp(&g).unwrap();
        assert_eq!((r.src, r.dst), (s, d));
        assert_eq!(r.payload_bytes(&g), payload, "payload passes unchanged");
        assert_eq!(verify_udp_checksum(&g, &r), verified, "{name}");
    }
    for (flow, n) in flows.iter().zip(&seen) {
        assert_eq!(
            *n, flow.packets,
            "{name}: RTP packets {}->{}",
            flow.src_port, flow.dst_port
        );
    }
    println!("{name}: drops {drops:?}, valid RTCP {rtcp_valid}");
    Some((drops, rtcp_valid))
}

#[test]
fn pkts_sip_rtp_pcmu() {
    check_capture(
        "pkts-sip_rtp.pcap",
        &[Flow {
            src_port: 6001,
            dst_port: 6000,
            packets: 501,
            payload_types: &[0],
            ssrc: Some(0xfebd_6340),
            payload_len: Some(160),
        }],
    );
}

#[test]
fn pkts_sip_rtp_sequence_and_timestamps() {
    // RFC 3550 §5.1: sequence increments by one, timestamp by the samples per packet (160).
    let Some(file) = capture("pkts-sip_rtp.pcap") else {
        return;
    };
    let mut last: Option<(u16, u32)> = None;
    let mut n = 0;
    for f in frames(&file) {
        let Ok(u) = parse_udp(&f) else { continue };
        if u.src.port != 6001 {
            continue;
        }
        let v = rtp::parse(u.payload_bytes(&f)).unwrap();
        if let Some((seq, ts)) = last {
            assert_eq!(v.seq(), seq.wrapping_add(1));
            assert_eq!(v.timestamp(), ts.wrapping_add(160));
        } else {
            assert_eq!(v.seq(), 0);
        }
        last = Some((v.seq(), v.timestamp()));
        n += 1;
    }
    assert_eq!(n, 501);
    assert_eq!(last.map(|l| l.0), Some(500));
}

#[test]
fn sipp_g711a() {
    check_capture(
        "sipp-g711a.pcap",
        &[Flow {
            src_port: 5000,
            dst_port: 2006,
            packets: 236,
            payload_types: &[8],
            ssrc: Some(0xdee0_ee8f),
            // 240-byte (30 ms) PCMA payloads in this capture, whatever its README says.
            payload_len: Some(240),
        }],
    );
}

#[test]
fn freeswitch_milliwatt() {
    check_capture(
        "freeswitch-milliwatt.pcmu.rtp.pcap",
        &[Flow {
            src_port: 26264,
            dst_port: 7078,
            packets: 232,
            payload_types: &[0],
            ssrc: Some(0x61dc_f074),
            payload_len: None,
        }],
    );
}

#[test]
fn sipp_dtmf_2833() {
    // RFC 4733 §2.3: telephone-event; marker on the first packet, E bit on the last three.
    check_capture(
        "sipp-dtmf_2833_1.pcap",
        &[Flow {
            src_port: 49176,
            dst_port: 10000,
            packets: 10,
            payload_types: &[101],
            ssrc: None,
            payload_len: Some(4),
        }],
    );
    let Some(file) = capture("sipp-dtmf_2833_1.pcap") else {
        return;
    };
    let events: Vec<(bool, u8, u8)> = frames(&file)
        .iter()
        .filter_map(|f| {
            let u = parse_udp(f).ok()?;
            let v = rtp::parse(u.payload_bytes(f)).ok()?;
            let p = v.payload();
            Some((v.marker(), p[0], p[1] & 0x80))
        })
        .collect();
    assert_eq!(events.len(), 10);
    assert!(events[0].0);
    assert!(events.iter().all(|e| e.1 == 1), "event 1");
    assert_eq!(events.iter().filter(|e| e.2 != 0).count(), 3);
}

#[test]
fn sngrep_aaa_early_media_and_rtcp() {
    let Some((_, rtcp_valid)) = check_capture(
        "sngrep-aaa.pcap",
        &[Flow {
            src_port: 30000,
            dst_port: 40392,
            packets: 9,
            payload_types: &[8],
            ssrc: None,
            payload_len: None,
        }],
    ) else {
        return;
    };
    assert_eq!(rtcp_valid, 1, "the one RTCP compound packet validates");
}

#[test]
fn snort_eyebeam_audio_video() {
    let Some(file) = capture("snort3demo-SIP_Eyebeam2Eyebeam_Video_Audio.pcap") else {
        return;
    };
    // Audio BV32 PT 107 on 5062 <-> 5062, video H.264 PT 125/126 on 5064 <-> 5064.
    let mut audio = 0;
    let mut video = 0;
    for f in frames(&file) {
        let Ok(u) = parse_udp(&f) else { continue };
        let p = u.payload_bytes(&f);
        if classify(p) != Class::Rtp {
            continue;
        }
        match (u.src.port, u.dst.port) {
            (5062, 5062) => {
                assert_eq!(rtp::parse(p).unwrap().payload_type(), 107);
                audio += 1;
            }
            (5064, 5064) => {
                assert!(matches!(rtp::parse(p).unwrap().payload_type(), 125 | 126));
                video += 1;
            }
            _ => {}
        }
    }
    assert_eq!(audio + video, 3538);
    assert!(audio > 0 && video > 0);
}

#[test]
fn sngrep_ipv6_fragments() {
    // IPv6 SIP with fragmentation (RFC 8200 §4.5): fragments are dropped with their own
    // reason, unfragmented UDP parses.
    let Some(file) = capture("sngrep-ipv6frag.pcap") else {
        return;
    };
    let mut ok = 0;
    let mut frag = 0;
    for f in frames(&file) {
        match parse_udp(&f) {
            Ok(u) => {
                assert!(u.v6);
                ok += 1;
            }
            Err(FrameError::Fragment) => frag += 1,
            Err(e) => panic!("unexpected drop {e:?}"),
        }
    }
    println!("ipv6frag: {ok} UDP, {frag} fragments");
    assert!(ok > 0 && frag > 0);
}
