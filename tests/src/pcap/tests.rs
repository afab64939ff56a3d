#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use super::*;

/// An Ethernet + IPv4 + UDP frame from 127.0.0.1:`sport` to 127.0.0.1:`dport`.
fn eth_udp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = u16::try_from(20 + 8 + payload.len()).unwrap();
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn file(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(100 + u32::try_from(i).unwrap()).to_le_bytes());
        out.extend_from_slice(&250_000u32.to_le_bytes());
        let len = u32::try_from(f.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[test]
fn reads_udp_over_ethernet_and_skips_the_rest() {
    let mut tcp = eth_udp4(1, 2, b"x");
    tcp[14 + 9] = 6;
    let mut frag = eth_udp4(1, 2, b"y");
    frag[14 + 6] = 0x20; // MF
    let bytes = file(
        LINKTYPE_ETHERNET,
        &[
            eth_udp4(5060, 5062, b"INVITE"),
            tcp,
            frag,
            eth_udp4(7, 8, b""),
        ],
    );
    let got = parse_udp(&bytes).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].src, "127.0.0.1:5060".parse().unwrap());
    assert_eq!(got[0].dst, "127.0.0.1:5062".parse().unwrap());
    assert_eq!(got[0].payload, b"INVITE");
    assert_eq!(got[0].ts, Duration::from_millis(100_250));
    assert!(got[1].payload.is_empty());
}

#[test]
fn reads_raw_ip_and_tolerates_a_cut_last_record() {
    let frame = eth_udp4(9, 10, b"rtp")[14..].to_vec();
    let mut bytes = file(LINKTYPE_RAW, &[frame.clone(), frame]);
    bytes.truncate(bytes.len() - 5);
    let got = parse_udp(&bytes).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"rtp");
}

#[test]
fn refuses_what_is_not_a_pcap_and_never_panics_on_garbage() {
    assert!(parse_udp(b"").is_err());
    assert!(parse_udp(&[0u8; 24]).is_err());
    let good = file(LINKTYPE_ETHERNET, &[eth_udp4(1, 2, b"abc")]);
    for cut in 0..good.len() {
        let _ = parse_udp(&good[..cut]);
    }
    let mut bent = good.clone();
    for i in 24..bent.len() {
        bent[i] = bent[i].wrapping_mul(31).wrapping_add(7);
        let _ = parse_udp(&bent);
    }
}
