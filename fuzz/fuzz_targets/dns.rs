//! DNS message parse on arbitrary bytes (whatever parses must re-encode and re-parse to the
//! same message), the zone responder on the same bytes as a query, and the RFC 3263 lookup
//! fed the parsed message as the answer to each of its queries.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dns::resolve::{Lookup, LookupOptions, LookupSpec};
use dns::zone::Zone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let zone = Zone::new()
        .sip_naptr(
            "example.test",
            10,
            10,
            "SIP+D2U",
            "_sip._udp.example.test",
            60,
        )
        .and_then(|z| z.srv("_sip._udp.example.test", 1, 1, 5060, "fs.example.test", 60))
        .and_then(|z| z.a("fs.example.test", Ipv4Addr::LOCALHOST, 60))
        .expect("a valid fixed zone");
    if let Some(reply) = zone.answer(data) {
        assert!(reply.len() <= 512, "UDP answers fit 512 octets");
        dns::parse_message(&reply).expect("the responder's answers parse");
    }
    let Ok(msg) = dns::parse_message(data) else {
        return;
    };
    let again = dns::encode_message(&msg).expect("a parsed message re-encodes");
    assert_eq!(dns::parse_message(&again).expect("and re-parses"), msg);

    // Answer every query of a lookup with the fuzzed message, its ID and question patched.
    let server = SocketAddr::from(([127, 0, 0, 53], 53));
    let now = Instant::now();
    let opts = LookupOptions {
        max_queries: 16,
        ..LookupOptions::default()
    };
    let mut lookup = Lookup::new(&LookupSpec::host("example.test"), &[server], opts, now, [1; 32]);
    for round in 0..32u32 {
        let t_now = now + Duration::from_secs(u64::from(round));
        while let Some(t) = lookup.poll_transmit() {
            let Ok(query) = dns::parse_message(&t.bytes) else {
                return;
            };
            let mut resp = msg.clone();
            resp.header.id = query.header.id;
            resp.header.response = true;
            resp.header.opcode = 0;
            resp.questions = query.questions;
            if let Ok(bytes) = dns::encode_message(&resp) {
                lookup.handle_response(server, &bytes, t_now);
            }
        }
        if lookup.is_done() {
            break;
        }
        lookup.handle_timeout(t_now + Duration::from_secs(60));
    }
    if let Some(Ok(resolved)) = lookup.result() {
        assert!(
            !resolved.targets.is_empty(),
            "success means at least one target"
        );
    }
});
