//! ng JSON bodies and ng over TCP on arbitrary bytes: the JSON decoder (and the request parser
//! behind it), the encoder's round trip, and the TCP stream framer cut at every split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ng::{json, StreamFramer};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = json::decode(data) {
        let _ = ng::parse_request(&v.as_value());
        // Decoded strings are UTF-8, so encoding and decoding again gives the same tree.
        let again = json::decode(&json::to_bytes(&v));
        assert_eq!(again.as_ref(), Ok(&v), "JSON round trip changed the value");
    }
    if let Ok((_cookie, body)) = ng::split_cookie(data) {
        if let Ok((_enc, v)) = ng::decode_any(body) {
            let _ = ng::parse_request(&v.as_value());
        }
    }
    // The framer sees the input as a stream, cut in two at a point the input chooses; the
    // messages it yields are the input's prefix, each starting with a cookie.
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut framer = StreamFramer::new(4096);
    let mut framed = 0;
    for part in [&data[..cut], &data[cut..]] {
        framer.push(part);
        loop {
            match framer.next_message() {
                Ok(Some(m)) => {
                    assert!(ng::split_cookie(&m).is_ok(), "a framed message has no cookie");
                    assert_eq!(&data[framed..framed + m.len()], &m[..]);
                    framed += m.len();
                }
                Ok(None) => break,
                // A framing error closes the connection: nothing more is read.
                Err(_) => return,
            }
        }
    }
});
