//! RTP view, RTCP compound validation and demux classification on arbitrary bytes: none may
//! panic, and what they accept must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::demux::{classify, Class};
use wire::{rtcp, rtp};

fuzz_target!(|data: &[u8]| {
    let class = classify(data);
    if matches!(class, Class::Rtp | Class::Rtcp) {
        assert!(data.len() >= 2);
    }
    if let Ok(v) = rtp::parse(data) {
        assert_eq!(v.version(), 2);
        assert_eq!(v.header_len() + v.payload().len() + v.padding_len(), data.len());
        assert_eq!(v.csrcs().count(), usize::from(v.csrc_count()));
        let _ = (v.seq(), v.timestamp(), v.ssrc(), v.marker(), v.payload_type(), v.extension());
    }
    let validated = rtcp::validate_compound(data);
    let mut count = 0usize;
    let mut total = 0usize;
    for pkt in rtcp::packets(data) {
        count += 1;
        total += pkt.len();
        assert!(pkt.body().len() < pkt.len());
        assert!(pkt.report_blocks().count() <= usize::from(pkt.count()));
        let _ = (pkt.ssrc(), pkt.sender_info());
    }
    if let Ok(info) = validated {
        assert_eq!(info.packets, count);
        assert_eq!(total, data.len());
    }
});
