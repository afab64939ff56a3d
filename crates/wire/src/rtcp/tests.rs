use super::*;
use proptest::prelude::*;

fn header(p: bool, count: u8, pt: u8, words_minus_one: u16) -> Vec<u8> {
    let mut h = vec![0x80 | (u8::from(p) << 5) | count, pt];
    h.extend_from_slice(&words_minus_one.to_be_bytes());
    h
}

fn report_block(ssrc: u32, fraction: u8, lost: i32, seq: u32, jitter: u32) -> Vec<u8> {
    let mut b = ssrc.to_be_bytes().to_vec();
    let l = (lost as u32) & 0x00ff_ffff;
    b.extend_from_slice(&((u32::from(fraction) << 24) | l).to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&jitter.to_be_bytes());
    b.extend_from_slice(&0x1111_2222u32.to_be_bytes());
    b.extend_from_slice(&0x0000_8000u32.to_be_bytes());
    b
}

fn sr(ssrc: u32, blocks: &[Vec<u8>]) -> Vec<u8> {
    let words = (4 + 4 + 20 + 24 * blocks.len()) / 4 - 1;
    let mut p = header(false, blocks.len() as u8, SR, words as u16);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
    p.extend_from_slice(&160u32.to_be_bytes());
    p.extend_from_slice(&10u32.to_be_bytes());
    p.extend_from_slice(&1600u32.to_be_bytes());
    for b in blocks {
        p.extend_from_slice(b);
    }
    p
}

fn rr(ssrc: u32, blocks: &[Vec<u8>]) -> Vec<u8> {
    let words = (8 + 24 * blocks.len()) / 4 - 1;
    let mut p = header(false, blocks.len() as u8, RR, words as u16);
    p.extend_from_slice(&ssrc.to_be_bytes());
    for b in blocks {
        p.extend_from_slice(b);
    }
    p
}

fn sdes_cname(ssrc: u32) -> Vec<u8> {
    // One chunk: SSRC, CNAME item "ab", end item, padded to a word boundary (RFC 3550 §6.5).
    let mut p = header(false, 1, SDES, 3);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[1, 2, b'a', b'b', 0, 0, 0, 0]);
    p
}

#[test]
fn sr_with_sdes_is_valid_compound() {
    // RFC 3550 §6.1: compound = report first, then SDES with CNAME.
    let mut p = sr(0xfebd6340, &[report_block(7, 25, 3, 0x1_0005, 40)]);
    p.extend(sdes_cname(0xfebd6340));
    let info = validate_compound(&p).unwrap();
    assert_eq!(
        info,
        RtcpInfo {
            first_type: SR,
            sender_ssrc: 0xfebd6340,
            packets: 2,
            reduced_size: false
        }
    );
    let pkts: Vec<_> = packets(&p).collect();
    assert_eq!(pkts.len(), 2);
    assert_eq!(pkts[0].packet_type(), SR);
    assert_eq!(pkts[1].packet_type(), SDES);
    let si = pkts[0].sender_info().unwrap();
    assert_eq!(si.ntp_timestamp, 0x1234_5678_9abc_def0);
    assert_eq!(
        (si.rtp_timestamp, si.packet_count, si.octet_count),
        (160, 10, 1600)
    );
    let blocks: Vec<_> = pkts[0].report_blocks().collect();
    assert_eq!(
        blocks,
        vec![ReportBlock {
            ssrc: 7,
            fraction_lost: 25,
            cumulative_lost: 3,
            ext_highest_seq: 0x1_0005,
            jitter: 40,
            lsr: 0x1111_2222,
            dlsr: 0x8000,
        }]
    );
    assert_eq!(pkts[1].report_blocks().count(), 0);
    assert_eq!(pkts[1].sender_info(), None);
    assert_eq!(pkts[1].ssrc(), Some(0xfebd6340));
}

#[test]
fn cumulative_lost_is_signed_24_bit() {
    // RFC 3550 §6.4.1: cumulative number of packets lost is a signed 24-bit integer
    // (negative when duplicates arrive).
    let p = rr(
        1,
        &[
            report_block(2, 0, -5, 0, 0),
            report_block(3, 0, 0x7f_ffff, 0, 0),
        ],
    );
    let info = validate_compound(&p).unwrap();
    assert_eq!(info.first_type, RR);
    let blocks: Vec<_> = packets(&p).next().unwrap().report_blocks().collect();
    assert_eq!(blocks[0].cumulative_lost, -5);
    assert_eq!(blocks[1].cumulative_lost, 0x7f_ffff);
}

#[test]
fn empty_rr_is_valid() {
    // RFC 3550 §6.1: an empty RR is sent when nothing was received.
    let p = rr(9, &[]);
    assert_eq!(validate_compound(&p).unwrap().packets, 1);
}

#[test]
fn version_must_be_two_in_every_packet() {
    // RFC 3550 A.2.
    let mut p = rr(1, &[]);
    p[0] = 0x40;
    assert_eq!(validate_compound(&p), Err(RtcpError::BadVersion));
    let mut p = rr(1, &[]);
    let mut s = sdes_cname(1);
    s[0] = 0xc1;
    p.extend(s);
    assert_eq!(validate_compound(&p), Err(RtcpError::BadVersion));
}

#[test]
fn lengths_must_add_up() {
    // RFC 3550 A.2: the length fields must add up to the overall length.
    let mut p = rr(1, &[]);
    p.push(0);
    assert_eq!(validate_compound(&p), Err(RtcpError::TooShort));
    let mut p = rr(1, &[]);
    p.extend_from_slice(&[0x80, SDES, 0, 5, 0, 0, 0, 0]);
    assert_eq!(validate_compound(&p), Err(RtcpError::LengthMismatch));
    assert_eq!(validate_compound(&[]), Err(RtcpError::TooShort));
    assert_eq!(validate_compound(&[0x80, RR, 0]), Err(RtcpError::TooShort));
}

#[test]
fn padding_only_on_last_packet() {
    // RFC 3550 §6.4.1 / A.2: padding only on the last packet of a compound packet.
    let mut first = rr(1, &[]);
    first[0] |= 0x20;
    first[3] += 1;
    first.extend_from_slice(&[0, 0, 0, 4]);
    let mut p = first.clone();
    p.extend(sdes_cname(1));
    assert_eq!(validate_compound(&p), Err(RtcpError::PaddingNotLast));
    // Alone, it is the last packet: valid, and the padding is not part of the body.
    let info = validate_compound(&first).unwrap();
    assert_eq!(info.sender_ssrc, 1);
    assert_eq!(packets(&first).next().unwrap().body().len(), 4);
}

#[test]
fn padding_count_must_fit() {
    // RFC 3550 §6.4.1: the last padding octet counts the padding octets including itself.
    let mut p = rr(1, &[]);
    p[0] |= 0x20;
    p[3] += 1;
    p.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(validate_compound(&p), Err(RtcpError::BadPadding));
    let n = p.len();
    p[n - 1] = 9;
    assert_eq!(validate_compound(&p), Err(RtcpError::BadPadding));
    // Padding that eats the SSRC leaves no sender SSRC.
    p[n - 1] = 8;
    assert_eq!(validate_compound(&p), Err(RtcpError::ReportOverrun));
}

#[test]
fn report_count_must_fit() {
    // RFC 3550 §6.4.1-2: RC blocks of 24 octets each.
    let mut p = rr(1, &[report_block(2, 0, 0, 0, 0)]);
    p[0] = 0x82;
    assert_eq!(validate_compound(&p), Err(RtcpError::ReportOverrun));
    let mut p = sr(1, &[]);
    p[0] = 0x81;
    assert_eq!(validate_compound(&p), Err(RtcpError::ReportOverrun));
}

#[test]
fn reduced_size_feedback_is_allowed() {
    // RFC 5506 §3: a single feedback packet (here a PLI, RFC 4585 §6.3.1) without a report.
    let mut p = header(false, 1, PSFB, 2);
    p.extend_from_slice(&0xaaaa_aaaau32.to_be_bytes());
    p.extend_from_slice(&0xbbbb_bbbbu32.to_be_bytes());
    let info = validate_compound(&p).unwrap();
    assert!(info.reduced_size);
    assert_eq!(info.first_type, PSFB);
    assert_eq!(info.sender_ssrc, 0xaaaa_aaaa);
}

#[test]
fn first_packet_needs_sender_ssrc() {
    // A BYE with SC = 0 carries no SSRC.
    let p = header(false, 0, BYE, 0);
    assert_eq!(validate_compound(&p), Err(RtcpError::NoSenderSsrc));
}

#[test]
fn iterator_stops_at_garbage() {
    let mut p = rr(1, &[]);
    p.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(packets(&p).count(), 1);
}

proptest! {
    #[test]
    fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..200)) {
        let r = validate_compound(&p);
        let mut n = 0;
        for pkt in packets(&p) {
            n += 1;
            let _ = (pkt.body(), pkt.ssrc(), pkt.sender_info(), pkt.report_blocks().count());
        }
        if let Ok(info) = r {
            prop_assert_eq!(info.packets, n);
        }
    }

    #[test]
    fn never_panics_with_valid_headers(
        pt in 192u8..=223, count in 0u8..32, p_bit in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let words = (body.len() / 4) as u16;
        let mut p = header(p_bit, count, pt, words);
        p.extend_from_slice(&body[..body.len() / 4 * 4]);
        p.extend_from_slice(&[0, 0, 0, 0]);
        let _ = validate_compound(&p);
        for pkt in packets(&p) {
            prop_assert!(pkt.report_blocks().count() <= usize::from(count));
        }
    }
}
