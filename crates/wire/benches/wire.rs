//! Per-packet costs of the wire layer on the relay's hot path.
//!
//! Figure this is for: the data plane's whole relay decision + rewrite must stay well under
//! 50 ns per packet; parse + demux + RTP view + in-place rewrite here is the wire share of it.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use wire::demux::classify;
use wire::frame::{build_udp, parse_udp, rewrite_udp, verify_udp_checksum};
use wire::{checksum, rtp, Endpoint};

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn rtp_payload() -> Vec<u8> {
    // A 20 ms G.711 packet: 12-byte header + 160 bytes.
    let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78];
    p.resize(172, 0xd5);
    p
}

fn frame(v6: bool) -> Vec<u8> {
    let (s, d) = if v6 {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut b = a;
        a[15] = 1;
        b[15] = 2;
        (Endpoint::new_v6(a, 30000), Endpoint::new_v6(b, 40000))
    } else {
        (
            Endpoint::new_v4([192, 0, 2, 1], 30000),
            Endpoint::new_v4([198, 51, 100, 2], 40000),
        )
    };
    let mut f = Vec::new();
    build_udp(&mut f, MAC_A, MAC_B, &s, &d, &rtp_payload());
    f
}

fn relay(c: &mut Criterion, name: &str, v6: bool) {
    let f = frame(v6);
    let (ns, nd) = if v6 {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut b = a;
        a[15] = 9;
        b[15] = 10;
        (Endpoint::new_v6(a, 20000), Endpoint::new_v6(b, 6000))
    } else {
        (
            Endpoint::new_v4([203, 0, 113, 9], 20000),
            Endpoint::new_v4([192, 0, 2, 10], 6000),
        )
    };
    let mut buf = f.clone();
    c.bench_function(
        &format!("{name}: parse_udp + classify + rtp::parse + rewrite_udp"),
        |b| {
            b.iter(|| {
                // Rewriting back and forth keeps the buffer valid without a copy per iteration.
                let u = parse_udp(black_box(&buf)).ok()?;
                let p = u.payload_bytes(&buf);
                let _ = black_box(classify(p));
                let ssrc = rtp::parse(p).ok()?.ssrc();
                let (s, d) = if u.src == ns { (nd, ns) } else { (ns, nd) };
                rewrite_udp(&mut buf, &u, MAC_B, MAC_A, &s, &d).ok()?;
                Some(ssrc)
            })
        },
    );
    c.bench_function(&format!("{name}: parse_udp"), |b| {
        b.iter(|| parse_udp(black_box(&f)))
    });
    let u = parse_udp(&f).ok();
    c.bench_function(
        &format!("{name}: verify_udp_checksum (172-byte payload)"),
        |b| b.iter(|| u.map(|u| verify_udp_checksum(black_box(&f), &u))),
    );
}

fn benches(c: &mut Criterion) {
    println!(
        "figure: wire share of the per-packet relay budget (whole decision + rewrite < 50 ns)"
    );
    relay(c, "ipv4", false);
    relay(c, "ipv6", true);
    let data = vec![0xa5u8; 1500];
    c.bench_function("checksum::sum 1500 bytes", |b| {
        b.iter(|| checksum::sum(black_box(&data), 0))
    });
}

criterion_group!(wire_benches, benches);
criterion_main!(wire_benches);
