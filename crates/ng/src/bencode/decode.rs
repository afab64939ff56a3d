//! The strict, bounded bencode decoder.

use super::{BencodeError, Value, MAX_DEPTH, MAX_INPUT_LEN};

/// Decodes `input`, which must hold exactly one bencode value.
///
/// Work is linear in the input and recursion is bounded by [`MAX_DEPTH`]; no input makes
/// this panic. See the module documentation for what is rejected.
pub fn decode(input: &[u8]) -> Result<Value<'_>, BencodeError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(BencodeError::TooLarge { len: input.len() });
    }
    let mut d = Decoder { input, pos: 0 };
    let value = d.value(0)?;
    if d.pos < input.len() {
        return Err(BencodeError::TrailingBytes { offset: d.pos });
    }
    Ok(value)
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(BencodeError::UnexpectedEof { offset: self.pos })
    }

    /// Decodes one value; `depth` is the number of enclosing containers.
    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        let start = self.pos;
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                self.open(depth, start)?;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.open(depth, start)?;
                let mut entries = Vec::new();
                loop {
                    match self.peek()? {
                        b'e' => break,
                        b'0'..=b'9' => {
                            let key = self.bytes()?;
                            let value = self.value(depth + 1)?;
                            entries.push((key, value));
                        }
                        _ => return Err(BencodeError::KeyNotString { offset: self.pos }),
                    }
                }
                self.pos += 1;
                Ok(Value::Dict(entries))
            }
            byte => Err(BencodeError::UnexpectedByte {
                offset: start,
                byte,
            }),
        }
    }

    /// Consumes the `l`/`d` of a container that would sit at `depth + 1`.
    fn open(&mut self, depth: usize, start: usize) -> Result<(), BencodeError> {
        if depth >= MAX_DEPTH {
            return Err(BencodeError::TooDeep { offset: start });
        }
        self.pos += 1;
        Ok(())
    }

    /// `i<canonical decimal>e`.
    fn int(&mut self) -> Result<i64, BencodeError> {
        let start = self.pos;
        self.pos += 1; // the 'i'
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let first_digit = self.pos;
        let mut value: i64 = 0;
        loop {
            let byte = self.peek()?;
            match byte {
                b'0'..=b'9' => {
                    if self.pos > first_digit && value == 0 {
                        // A digit after a leading zero ("i03e", "i-0e" handled below).
                        return Err(BencodeError::BadInteger { offset: start });
                    }
                    let digit = i64::from(byte - b'0');
                    // Accumulate towards the sign so that i64::MIN is representable.
                    let next = value.checked_mul(10).and_then(|v| {
                        if negative {
                            v.checked_sub(digit)
                        } else {
                            v.checked_add(digit)
                        }
                    });
                    value = next.ok_or(BencodeError::IntegerOverflow { offset: start })?;
                    self.pos += 1;
                }
                b'e' => break,
                _ => {
                    return Err(BencodeError::UnexpectedByte {
                        offset: self.pos,
                        byte,
                    })
                }
            }
        }
        let digits = self.pos - first_digit;
        if digits == 0 || (negative && value == 0) {
            return Err(BencodeError::BadInteger { offset: start });
        }
        self.pos += 1; // the 'e'
        Ok(value)
    }

    /// `<canonical length>:<bytes>`.
    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let start = self.pos;
        let mut len: u64 = 0;
        loop {
            let byte = self.peek()?;
            match byte {
                b'0'..=b'9' => {
                    if self.pos > start && len == 0 {
                        return Err(BencodeError::BadLength { offset: start });
                    }
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(u64::from(byte - b'0')))
                        .ok_or(BencodeError::BadLength { offset: start })?;
                    self.pos += 1;
                }
                b':' => break,
                _ => {
                    return Err(BencodeError::UnexpectedByte {
                        offset: self.pos,
                        byte,
                    })
                }
            }
        }
        self.pos += 1; // the ':'
        let remaining = self.input.len().saturating_sub(self.pos);
        let too_long = BencodeError::StringTooLong {
            offset: start,
            len,
            remaining,
        };
        let n = usize::try_from(len).map_err(|_| too_long)?;
        let end = self.pos.checked_add(n).ok_or(too_long)?;
        let slice = self.input.get(self.pos..end).ok_or(too_long)?;
        self.pos = end;
        Ok(slice)
    }
}
