//! The one error type of this crate, and the helpers that build it.
//!
//! Every error renders as a single line that names where the problem is: a line and column for
//! TOML syntax errors, the key path (for example `interface[1].port_min`) for everything else.

use serde_path_to_error::Segment;

/// Why a configuration text was refused.
///
/// The `Display` form is one line: `line L, column C: ...` for syntax errors and
/// `<key path>: <reason>` for the others, so the daemon can print it as is and exit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not valid TOML (bad quoting, a duplicated key or table, a stray character...).
    #[error("TOML syntax error at line {line}, column {col}: {msg}")]
    Syntax {
        /// 1-based line of the offending character.
        line: usize,
        /// 1-based column (in characters) of the offending character.
        col: usize,
        /// What the TOML parser objected to.
        msg: String,
    },
    /// A key is unknown, missing, of the wrong type, out of range, or contradicts another key.
    #[error("{path}: {reason}")]
    Key {
        /// Dotted key path, with `[n]` for the n-th (0-based) entry of an array, e.g.
        /// `interface[1].port_min`.
        path: String,
        /// What is wrong with the value found there.
        reason: String,
    },
    /// The configuration is valid on its own but names something this host does not have
    /// (reported by [`crate::validate_host`]).
    #[error("{path}: {reason}")]
    Host {
        /// Key path of the setting that does not fit the host, e.g. `dataplane.worker_cores[2]`.
        path: String,
        /// What the host lacks.
        reason: String,
    },
}

impl ConfigError {
    /// The key path this error is about, or `None` for a syntax error.
    pub fn path(&self) -> Option<&str> {
        match self {
            ConfigError::Syntax { .. } => None,
            ConfigError::Key { path, .. } | ConfigError::Host { path, .. } => Some(path),
        }
    }
}

/// A [`ConfigError::Key`] for `path`; the reason is forced onto one line.
pub(crate) fn key(path: impl Into<String>, reason: impl AsRef<str>) -> ConfigError {
    ConfigError::Key {
        path: path.into(),
        reason: one_line(reason.as_ref()),
    }
}

/// A [`ConfigError::Host`] for `path`; the reason is forced onto one line.
pub(crate) fn host(path: impl Into<String>, reason: impl AsRef<str>) -> ConfigError {
    ConfigError::Host {
        path: path.into(),
        reason: one_line(reason.as_ref()),
    }
}

/// A [`ConfigError::Syntax`] from the TOML parser's error, with the line and column computed
/// from the byte offset it reports in `text`.
pub(crate) fn syntax(text: &str, err: &toml::de::Error) -> ConfigError {
    // The parser reports a span for every syntax error; should one ever come without, point at
    // the start of the document rather than invent a position.
    let offset = err.span().map_or(0, |span| span.start);
    let (line, col) = line_col(text, offset);
    ConfigError::Syntax {
        line,
        col,
        msg: one_line(err.message()),
    }
}

/// 1-based line and column (counted in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    // Step back to a character boundary so the slice below cannot fail.
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let before = text.get(..end).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// A [`ConfigError::Key`] from a serde error raised while mapping the TOML tree onto the raw
/// schema (unknown key, wrong type), named by the path serde was at.
pub(crate) fn from_serde(err: serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
    let path = render_path(err.path().iter());
    let reason = err.inner().message();
    // Every integer key is read as i64 and range-checked afterwards; say "an integer".
    let reason = match reason.strip_suffix("expected i64") {
        Some(head) => format!("{head}expected an integer"),
        None => reason.to_owned(),
    };
    key(path, reason)
}

/// Renders serde path segments as a TOML-style key path: `a.b[2].c`, quoting keys that are not
/// bare TOML keys.
fn render_path<'a>(segments: impl Iterator<Item = &'a Segment>) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    if out.is_empty() {
        // An error about the document as a whole (never seen in practice: the document is
        // always a table) still needs a name.
        out.push_str("(document)");
    }
    out
}

/// Appends `.key` (or just `key` at the start), quoted when it is not a bare TOML key.
pub(crate) fn push_key(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        out.push_str(key);
    } else {
        out.push_str(&format!("{key:?}"));
    }
}

/// Replaces line breaks and other control characters with escapes so a message stays on one line.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
