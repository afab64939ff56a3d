//! The output buffer of the rewriter: lines with their endings, written once.

use std::fmt;

use crate::lines::Line;

/// Output under construction. A line's ending is written only when the next line starts (or
/// at [`Out::finish`]), so that a last line without a newline keeps none even when lines are
/// inserted or deleted around it.
pub(super) struct Out<'b> {
    buf: Vec<u8>,
    pending: &'b [u8],
    default_eol: &'b [u8],
}

impl<'b> Out<'b> {
    /// An empty output with room for `capacity` bytes; inserted lines end with `default_eol`.
    pub fn new(capacity: usize, default_eol: &'b [u8]) -> Self {
        Out {
            buf: Vec::with_capacity(capacity),
            pending: &[],
            default_eol,
        }
    }

    /// Starts a line: writes the previous line's ending and returns the buffer to append to.
    pub fn start(&mut self) -> &mut Vec<u8> {
        self.buf.extend_from_slice(self.pending);
        self.pending = &[];
        &mut self.buf
    }

    /// Ends the current line with `eol`; an ending that is not a newline (the body's last
    /// line) is replaced by the default one, since another line may follow.
    pub fn end(&mut self, eol: &'b [u8]) {
        self.pending = if eol.ends_with(b"\n") {
            eol
        } else {
            self.default_eol
        };
    }

    /// Copies a line of the body as it is.
    pub fn raw(&mut self, line: &Line<'b>) {
        self.start().extend_from_slice(line.content);
        self.end(line.eol);
    }

    /// Writes a whole inserted line made of `parts`, with the default ending.
    pub fn insert(&mut self, parts: &[&[u8]]) {
        let buf = self.start();
        for part in parts {
            buf.extend_from_slice(part);
        }
        self.end(&[]);
    }

    /// The finished output. `final_eol` is how the body's last line ended: a newline means the
    /// output's last line keeps its own ending; anything else (nothing, or a lone CR) is
    /// written as the output's last ending.
    pub fn finish(mut self, final_eol: &[u8]) -> Vec<u8> {
        if final_eol.ends_with(b"\n") {
            self.buf.extend_from_slice(self.pending);
        } else {
            self.buf.extend_from_slice(final_eol);
        }
        self.buf
    }
}

/// `fmt::Write` adaptor over a byte vector.
struct VecFmt<'v>(&'v mut Vec<u8>);

impl fmt::Write for VecFmt<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends the `Display` form of `v` (a port or an address) without a temporary `String`.
pub(super) fn push_display(buf: &mut Vec<u8>, v: impl fmt::Display) {
    // `VecFmt::write_str` never fails, and the `Display` impls used here (integers, IP
    // addresses) fail only when the writer does, so the result carries no information.
    let _ = fmt::Write::write_fmt(&mut VecFmt(buf), format_args!("{v}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_survive_insertion_after_unterminated_last_line() {
        let line = Line {
            num: 1,
            content: b"a=x",
            eol: b"",
        };
        let mut out = Out::new(16, b"\n");
        out.raw(&line);
        out.insert(&[b"a=y"]);
        assert_eq!(out.finish(b""), b"a=x\na=y");
    }

    #[test]
    fn final_newline_is_kept() {
        let line = Line {
            num: 1,
            content: b"a=x",
            eol: b"\r\n",
        };
        let mut out = Out::new(16, b"\n");
        out.raw(&line);
        assert_eq!(out.finish(b"\r\n"), b"a=x\r\n");
        let mut out = Out::new(16, b"\n");
        out.raw(&Line { eol: b"\r", ..line });
        assert_eq!(out.finish(b"\r"), b"a=x\r");
    }

    #[test]
    fn display_into_vec() {
        let mut v = b"x".to_vec();
        push_display(&mut v, 65535u16);
        push_display(&mut v, std::net::Ipv6Addr::LOCALHOST);
        assert_eq!(v, b"x65535::1");
    }
}
