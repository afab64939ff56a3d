//! The HA key schema's record decoder on arbitrary bytes (what a node reads back from Redis is
//! input like any other): it never panics; a record it accepts passes its own bound checks and
//! encodes to JSON that decodes to the same record.
#![no_main]

use ha::CallRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = CallRecord::decode(data) {
        assert_eq!(rec.check(), Ok(()));
        let again = CallRecord::decode(rec.encode().as_bytes());
        assert_eq!(again.as_ref(), Ok(&rec));
    }
});
