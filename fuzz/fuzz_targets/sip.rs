//! SIP framing and parsing on arbitrary bytes; whatever parses goes through every typed reader a
//! proxy uses, a response is built for requests, and the forwarding edits are applied.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sip::frame_stream(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = sip::parse_uri(s);
    }
    let Ok(msg) = sip::parse(data) else { return };
    let _ = msg.check_proxy_headers();
    let _ = (msg.vias(), msg.top_via(), msg.from(), msg.to(), msg.call_id(), msg.cseq());
    let _ = (msg.max_forwards(), msg.routes(), msg.record_routes(), msg.contacts(), msg.retry_after());
    if msg.is_request() {
        let resp = sip::response_for(&msg, 400, "Bad Request", Some("fz"));
        assert!(sip::parse(&resp).is_ok(), "a built response parses");
        let mut ed = sip::Editor::new(&msg);
        let _ = ed.decrement_max_forwards();
        let _ = ed.remove_top_route();
        if let Ok(out) = ed.finish() {
            let _ = sip::parse(&out);
        }
    }
});
