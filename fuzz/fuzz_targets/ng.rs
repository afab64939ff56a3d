//! ng control protocol: cookie split, bencode decode and request parse on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The whole input as a bencoded body, and as a datagram "cookie body".
    if let Ok(v) = ng::bencode::decode(data) {
        let _ = ng::parse_request(&v);
    }
    if let Ok((_cookie, body)) = ng::split_cookie(data) {
        if let Ok(v) = ng::bencode::decode(body) {
            let _ = ng::parse_request(&v);
        }
    }
});
