//! The canonical bencode encoder (shared by [`Value`] and [`OwnedValue`]).

use super::{OwnedValue, Value};

/// Appends the canonical encoding of `v` to `out`.
///
/// Dictionary entries are written in the order they are stored (not re-sorted), so
/// `encode(decode(x)) == x` for every input `decode` accepts.
pub fn encode(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) => write_int(*i, out),
        Value::Bytes(b) => write_bytes(b, out),
        Value::List(items) => {
            out.push(b'l');
            for item in items {
                encode(item, out);
            }
            out.push(b'e');
        }
        Value::Dict(entries) => {
            out.push(b'd');
            for (k, v) in entries {
                write_bytes(k, out);
                encode(v, out);
            }
            out.push(b'e');
        }
    }
}

/// Appends the canonical encoding of an owned value to `out` (through its borrowed view, so
/// there is one encoder).
pub(super) fn encode_owned(v: &OwnedValue, out: &mut Vec<u8>) {
    encode(&v.as_value(), out);
}

fn write_int(i: i64, out: &mut Vec<u8>) {
    out.push(b'i');
    if i < 0 {
        out.push(b'-');
    }
    write_decimal(i.unsigned_abs(), out);
    out.push(b'e');
}

fn write_bytes(b: &[u8], out: &mut Vec<u8>) {
    // usize -> u64 is lossless on every supported target.
    write_decimal(b.len() as u64, out);
    out.push(b':');
    out.extend_from_slice(b);
}

/// Writes `n` in decimal without allocating.
fn write_decimal(mut n: u64, out: &mut Vec<u8>) {
    // u64::MAX has 20 decimal digits.
    let mut buf = [0u8; 20];
    let mut used = 0;
    for slot in buf.iter_mut().rev() {
        // n % 10 < 10, so the cast cannot truncate.
        *slot = b'0' + (n % 10) as u8;
        used += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.get(buf.len() - used..).unwrap_or_default();
    out.extend_from_slice(digits);
}
