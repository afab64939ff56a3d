//! Line splitting and field tokenising shared by the parser and the rewriter.

/// One line of the body: its content without the line ending, and the ending itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub num: usize,
    /// The bytes of the line without its ending.
    pub content: &'a [u8],
    /// `\r\n`, `\n`, or (last line only) `\r` or nothing.
    pub eol: &'a [u8],
}

/// Iterator over the lines of a body. RFC 8866 §5 asks for CRLF; bare LF is accepted too
/// (as RFC 8866 §5 tells parsers to), and each line's own ending is reported.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    num: usize,
}

impl<'a> Lines<'a> {
    /// Lines of `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Lines { rest: body, num: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        self.num += 1;
        let line_len = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |i| i + 1);
        let (whole, rest) = self.rest.split_at(line_len.min(self.rest.len()));
        self.rest = rest;
        let mut content_len = whole.len();
        if whole.last() == Some(&b'\n') {
            content_len -= 1;
        }
        if content_len > 0 && whole.get(content_len - 1) == Some(&b'\r') {
            content_len -= 1;
        }
        let (content, eol) = whole.split_at(content_len);
        Some(Line {
            num: self.num,
            content,
            eol,
        })
    }
}

/// Iterator over the fields of a value separated by runs of spaces or tabs, with the byte
/// offset of each field in the value.
#[derive(Debug, Clone)]
pub(crate) struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    /// Fields of `s`.
    pub fn new(s: &'a str) -> Self {
        Tokens { s, pos: 0 }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let bytes = self.s.as_bytes();
        let is_sep = |b: &u8| *b == b' ' || *b == b'\t';
        let start = self.pos + bytes.get(self.pos..)?.iter().position(|b| !is_sep(b))?;
        let len = bytes
            .get(start..)?
            .iter()
            .position(is_sep)
            .unwrap_or(bytes.len() - start);
        self.pos = start + len;
        // Separators are ASCII, so `start` and `start + len` are char boundaries.
        self.s.get(start..start + len).map(|t| (start, t))
    }
}

/// Splits a line into its type letter and value (`<type>=<value>`, RFC 8866 §5). `None` when
/// the line does not have that shape.
pub(crate) fn split_type(content: &[u8]) -> Option<(u8, &[u8])> {
    match content {
        [ty, b'=', value @ ..] if ty.is_ascii_alphabetic() => Some((*ty, value)),
        _ => None,
    }
}

/// Splits an attribute value (`a=<name>[:<value>]`, RFC 8866 §5.13) into name and value.
/// Trailing spaces and tabs after the name are not part of it.
pub(crate) fn split_attr(value: &[u8]) -> (&[u8], &[u8]) {
    let (name, rest) = match value.iter().position(|&b| b == b':') {
        Some(i) => {
            let (n, r) = value.split_at(i);
            (n, r.get(1..).unwrap_or_default())
        }
        None => (value, &[][..]),
    };
    let trimmed = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(&[][..], |last| name.get(..=last).unwrap_or_default());
    (trimmed, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &[u8]) -> Vec<(usize, &[u8], &[u8])> {
        Lines::new(body)
            .map(|l| (l.num, l.content, l.eol))
            .collect()
    }

    #[test]
    fn splits_mixed_endings() {
        let got = collect(b"v=0\r\ns=-\nt=0 0");
        assert_eq!(
            got,
            vec![
                (1, &b"v=0"[..], &b"\r\n"[..]),
                (2, &b"s=-"[..], &b"\n"[..]),
                (3, &b"t=0 0"[..], &b""[..]),
            ]
        );
    }

    #[test]
    fn final_cr_and_empty_lines() {
        let got = collect(b"v=0\r\n\r\nx\r");
        assert_eq!(
            got,
            vec![
                (1, &b"v=0"[..], &b"\r\n"[..]),
                (2, &b""[..], &b"\r\n"[..]),
                (3, &b"x"[..], &b"\r"[..]),
            ]
        );
        assert!(collect(b"").is_empty());
        assert_eq!(collect(b"\n"), vec![(1, &b""[..], &b"\n"[..])]);
    }

    #[test]
    fn tokens_with_offsets() {
        let got: Vec<_> = Tokens::new("  IN\tIP4  1.2.3.4 ").collect();
        assert_eq!(got, vec![(2, "IN"), (5, "IP4"), (10, "1.2.3.4")]);
        assert_eq!(Tokens::new("   ").count(), 0);
    }

    #[test]
    fn type_and_attr_split() {
        assert_eq!(split_type(b"m=audio"), Some((b'm', &b"audio"[..])));
        assert_eq!(split_type(b"1=x"), None);
        assert_eq!(split_type(b"m"), None);
        assert_eq!(
            split_attr(b"rtcp:9 IN IP4 0.0.0.0"),
            (&b"rtcp"[..], &b"9 IN IP4 0.0.0.0"[..])
        );
        assert_eq!(split_attr(b"sendrecv "), (&b"sendrecv"[..], &b""[..]));
        assert_eq!(split_attr(b":x"), (&b""[..], &b"x"[..]));
    }
}
