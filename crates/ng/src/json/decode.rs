//! The strict, bounded JSON decoder (RFC 8259) onto [`OwnedValue`].

use super::{JsonError, MAX_DEPTH, MAX_INPUT_LEN};
use crate::bencode::OwnedValue;

/// Decodes `input`, which must hold exactly one JSON value (whitespace around it allowed).
///
/// Work is linear in the input and recursion is bounded by [`MAX_DEPTH`]; no input makes this
/// panic. See the module documentation for the mapping and what is refused.
pub fn decode(input: &[u8]) -> Result<OwnedValue, JsonError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(JsonError::TooLarge { len: input.len() });
    }
    // RFC 8259 §8.1: JSON text is UTF-8. Checking it once up front lets strings be copied
    // byte for byte.
    if let Err(e) = std::str::from_utf8(input) {
        return Err(JsonError::InvalidUtf8 {
            offset: e.valid_up_to(),
        });
    }
    let mut d = Decoder { input, pos: 0 };
    d.skip_ws();
    let value = d.value(0)?;
    d.skip_ws();
    if d.pos < input.len() {
        return Err(JsonError::TrailingBytes { offset: d.pos });
    }
    Ok(value)
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn peek(&self) -> Result<u8, JsonError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(JsonError::UnexpectedEof { offset: self.pos })
    }

    fn unexpected(&self, byte: u8) -> JsonError {
        JsonError::UnexpectedByte {
            offset: self.pos,
            byte,
        }
    }

    /// Skips RFC 8259 whitespace: space, tab, line feed, carriage return.
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Consumes `byte` (after whitespace) or fails.
    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        self.skip_ws();
        let b = self.peek()?;
        if b != byte {
            return Err(self.unexpected(b));
        }
        self.pos += 1;
        Ok(())
    }

    /// One value; `depth` is the number of enclosing containers.
    fn value(&mut self, depth: usize) -> Result<OwnedValue, JsonError> {
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(OwnedValue::Bytes),
            b'-' | b'0'..=b'9' => self.number().map(OwnedValue::Int),
            b't' | b'f' | b'n' => Err(JsonError::Literal { offset: self.pos }),
            b => Err(self.unexpected(b)),
        }
    }

    /// Consumes the `{`/`[` of a container that would sit at `depth + 1`.
    fn open(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(JsonError::TooDeep { offset: self.pos });
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<OwnedValue, JsonError> {
        self.open(depth)?;
        let mut entries = Vec::new();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(OwnedValue::Dict(entries));
        }
        loop {
            self.skip_ws();
            let b = self.peek()?;
            if b != b'"' {
                return Err(self.unexpected(b));
            }
            let key = self.string()?;
            self.expect(b':')?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(OwnedValue::Dict(entries));
                }
                b => return Err(self.unexpected(b)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<OwnedValue, JsonError> {
        self.open(depth)?;
        let mut items = Vec::new();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(OwnedValue::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(OwnedValue::List(items));
                }
                b => return Err(self.unexpected(b)),
            }
        }
    }

    /// An integer: `-?(0|[1-9][0-9]*)`; a fraction or exponent is refused.
    fn number(&mut self) -> Result<i64, JsonError> {
        let start = self.pos;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let first = self.pos;
        let mut value: i64 = 0;
        while let Some(&b @ b'0'..=b'9') = self.input.get(self.pos) {
            if self.pos > first && value == 0 {
                return Err(JsonError::BadNumber { offset: start });
            }
            let digit = i64::from(b - b'0');
            // Accumulate towards the sign so that i64::MIN is representable.
            value = value
                .checked_mul(10)
                .and_then(|v| {
                    if negative {
                        v.checked_sub(digit)
                    } else {
                        v.checked_add(digit)
                    }
                })
                .ok_or(JsonError::IntegerOverflow { offset: start })?;
            self.pos += 1;
        }
        if self.pos == first {
            return Err(JsonError::BadNumber { offset: start });
        }
        if let Some(b'.' | b'e' | b'E') = self.input.get(self.pos) {
            return Err(JsonError::NotAnInteger { offset: start });
        }
        Ok(value)
    }

    /// A string, escapes resolved, as UTF-8 bytes.
    fn string(&mut self) -> Result<Vec<u8>, JsonError> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => self.escape(&mut out)?,
                0x00..=0x1f => return Err(JsonError::ControlCharacter { offset: self.pos }),
                _ => {
                    // The input is valid UTF-8: multi-byte characters are copied byte by byte.
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// One escape sequence (RFC 8259 §7) at the backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let at = self.pos;
        self.pos += 1;
        let simple = match self.peek()? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode(at, out),
            _ => return Err(JsonError::BadEscape { offset: at }),
        };
        out.push(simple);
        self.pos += 1;
        Ok(())
    }

    /// `\uXXXX`, or a surrogate pair `\uD8xx\uDCxx`, at the `u`.
    fn unicode(&mut self, at: usize, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.pos += 1;
        let first = self.hex4(at)?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(JsonError::LoneSurrogate { offset: at });
                }
                self.pos += 2;
                let low = self.hex4(at)?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(JsonError::LoneSurrogate { offset: at });
                }
                0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(JsonError::LoneSurrogate { offset: at }),
            c => c,
        };
        let c = char::from_u32(code).ok_or(JsonError::BadEscape { offset: at })?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    /// Four hex digits.
    fn hex4(&mut self, at: usize) -> Result<u32, JsonError> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or(JsonError::BadEscape { offset: at })?;
        let mut v = 0u32;
        for &d in digits {
            let n = char::from(d)
                .to_digit(16)
                .ok_or(JsonError::BadEscape { offset: at })?;
            v = (v << 4) | n;
        }
        self.pos += 4;
        Ok(v)
    }
}
