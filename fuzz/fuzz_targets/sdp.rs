//! SDP parse on arbitrary bytes; whatever parses is rewritten the way media anchoring does
//! (each m-line to a relay port on 127.0.0.1, ICE stripped), and the output must parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = sdp::parse(data) else { return };
    let relay = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let media = (0..sd.media.len())
        .map(|i| {
            // Even RTP port, RTCP on the next one, as the port allocator hands them out.
            let port = 30000u16.wrapping_add((i as u16).wrapping_mul(2));
            sdp::MediaRewrite {
                port,
                addr: relay,
                rtcp: sdp::RtcpRewrite::Port(port.wrapping_add(1)),
                rtcp_mux: sdp::MuxRewrite::Keep,
                direction: None,
            }
        })
        .collect();
    let plan = sdp::Rewrite {
        origin: Some(relay),
        session_connection: Some(relay),
        media,
        strip_ice: true,
    };
    if let Ok(out) = sdp::rewrite(data, &sd, &plan) {
        if let Err(e) = sdp::parse(&out) {
            panic!(
                "rewritten SDP does not parse: {e:?}\n--- out ---\n{}",
                String::from_utf8_lossy(&out)
            );
        }
    }
});
