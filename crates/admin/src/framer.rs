//! Sans-IO line framing with a hard cap on the line length.
//!
//! Bytes go in as they arrive ([`LineFramer::push`]); whole lines come out
//! ([`LineFramer::next_line`]), without their `\n` (or `\r\n`). Each byte is looked at once,
//! so framing is linear in the bytes read however they are split. A line that grows past the
//! cap is an error for good: the framer holds at most `max + chunk` bytes (the cap plus what
//! one `push` added), and the caller closes the connection rather than read the rest.

/// What [`LineFramer::next_line`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole line, without its terminator.
    Line(Vec<u8>),
    /// The line under way is longer than the cap; nothing more comes out of this framer.
    TooLong,
}

/// Splits a byte stream into lines of at most `max` bytes.
#[derive(Debug, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no `\n`.
    scanned: usize,
    max: usize,
    broken: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes (terminator not counted).
    pub fn new(max: usize) -> LineFramer {
        LineFramer {
            buf: Vec::new(),
            scanned: 0,
            max,
            broken: false,
        }
    }

    /// Adds bytes read from the stream. Call [`LineFramer::next_line`] until `None` after each
    /// push, so the buffer stays bounded. Ignored once the framer reported `TooLong`.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole line, `TooLong` once the cap is passed, or `None` when more bytes are
    /// needed.
    pub fn next_line(&mut self) -> Option<Frame> {
        if self.broken {
            return Some(Frame::TooLong);
        }
        let tail = self.buf.get(self.scanned..).unwrap_or_default();
        match tail.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = self.scanned + i;
                if end > self.max + usize::from(self.ends_cr(end)) {
                    return Some(self.break_off());
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                Some(Frame::Line(line))
            }
            None if self.buf.len() > self.max + 1 => Some(self.break_off()),
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// Bytes held (a partial line).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn ends_cr(&self, end: usize) -> bool {
        end > 0 && self.buf.get(end - 1) == Some(&b'\r')
    }

    fn break_off(&mut self) -> Frame {
        self.broken = true;
        self.buf = Vec::new();
        self.scanned = 0;
        Frame::TooLong
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(f: &mut LineFramer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_line()).take(100).collect()
    }

    #[test]
    fn lines_split_anywhere_come_out_whole() {
        let mut f = LineFramer::new(100);
        f.push(b"ab");
        assert_eq!(f.next_line(), None);
        f.push(b"c\r\nde\nf");
        assert_eq!(
            lines(&mut f),
            [Frame::Line(b"abc".to_vec()), Frame::Line(b"de".to_vec())]
        );
        assert_eq!(f.buffered(), 1);
    }

    #[test]
    fn a_line_at_the_cap_passes_and_one_byte_more_does_not() {
        let mut f = LineFramer::new(4);
        f.push(b"abcd\nabcd\r\n");
        assert_eq!(lines(&mut f).len(), 2);
        f.push(b"abcde\n");
        assert_eq!(f.next_line(), Some(Frame::TooLong));
        f.push(b"x\n");
        assert_eq!(f.next_line(), Some(Frame::TooLong));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn an_endless_line_is_cut_without_waiting_for_its_end() {
        let mut f = LineFramer::new(1000);
        let chunk = [b'x'; 512];
        let mut pushes = 0;
        loop {
            f.push(&chunk);
            pushes += 1;
            if f.next_line() == Some(Frame::TooLong) {
                break;
            }
            assert!(f.buffered() <= 1001 + chunk.len());
        }
        assert_eq!(pushes, 2);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_lines(
            text in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b'{')], 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..10),
        ) {
            let mut whole = LineFramer::new(40);
            whole.push(&text);
            let expect = lines(&mut whole);
            let mut parts = LineFramer::new(40);
            let mut got = Vec::new();
            let mut at = 0;
            let mut cuts = cuts;
            cuts.sort_unstable();
            for c in cuts.into_iter().chain([text.len()]) {
                let c = c.min(text.len()).max(at);
                parts.push(&text[at..c]);
                at = c;
                got.extend(lines(&mut parts));
            }
            // Once broken, the framer repeats TooLong; compare up to the first.
            let cut = |v: Vec<Frame>| {
                let n = v.iter().position(|f| *f == Frame::TooLong).map_or(v.len(), |i| i + 1);
                v.into_iter().take(n).collect::<Vec<_>>()
            };
            prop_assert_eq!(cut(got), cut(expect));
        }
    }
}
