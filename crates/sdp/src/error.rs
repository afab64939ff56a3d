//! Errors of [`crate::parse`] and [`crate::rewrite`].

/// Why a body could not be parsed or rewritten. Line numbers count from 1 and include every
/// line of the body (empty ones too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is larger than [`crate::MAX_BODY_LEN`].
    #[error(
        "SDP body of {len} bytes is larger than the limit of {} bytes",
        crate::MAX_BODY_LEN
    )]
    TooLarge {
        /// Length of the body in bytes.
        len: usize,
    },
    /// The body has more m-lines than [`crate::MAX_MEDIA`].
    #[error("line {line}: more than {} m-lines", crate::MAX_MEDIA)]
    TooManyMedia {
        /// The first m-line over the limit.
        line: usize,
    },
    /// The first line is not `v=` (RFC 8866 §5: the description starts with `v=`).
    #[error("SDP must start with a v= line")]
    VersionNotFirst,
    /// A line is not `<letter>=<value>` (RFC 8866 §5), or is an empty line before the end.
    #[error("line {line}: not a <type>=<value> line")]
    Syntax {
        /// The offending line.
        line: usize,
    },
    /// A line the parser interprets (`o=`, `c=`, `m=`, `a=rtcp`) is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// The offending line.
        line: usize,
    },
    /// An `o=` line has fewer than six fields (RFC 8866 §5.2).
    #[error("line {line}: malformed o= line")]
    BadOrigin {
        /// The offending line.
        line: usize,
    },
    /// A `c=` line is not `<nettype> <addrtype> <address>[/ttl[/count]]` (RFC 8866 §5.7).
    #[error("line {line}: malformed c= line")]
    BadConnection {
        /// The offending line.
        line: usize,
    },
    /// A `c=` line names a network other than `IN` or an address type other than `IP4`/`IP6`.
    #[error("line {line}: c= network or address type is not IN IP4/IP6")]
    UnsupportedNetwork {
        /// The offending line.
        line: usize,
    },
    /// A `c=` or `a=rtcp` address is not an IP literal (a hostname): the relay cannot anchor it.
    #[error("line {line}: connection address is not an IP literal")]
    NotIpLiteral {
        /// The offending line.
        line: usize,
    },
    /// An `m=` line lacks media, a valid port (u16, optional `/count`), proto or a format
    /// (RFC 8866 §5.14).
    #[error("line {line}: malformed m= line")]
    BadMedia {
        /// The offending line.
        line: usize,
    },
    /// An `a=rtcp` attribute is not `PORT [IN IP4|IP6 address]` (RFC 3605 §2.1).
    #[error("line {line}: malformed a=rtcp attribute")]
    BadRtcp {
        /// The offending line.
        line: usize,
    },
    /// The rewrite plan has a different number of media entries than the body has m-lines.
    #[error("rewrite plan has {got} media entries, the SDP has {expected} m-lines")]
    MediaCountMismatch {
        /// Number of m-lines in the parsed SDP.
        expected: usize,
        /// Number of entries in `Rewrite::media`.
        got: usize,
    },
    /// The body passed to [`crate::rewrite`] is not the one the description was parsed from.
    #[error("the body differs from the one the session description was parsed from")]
    BodyMismatch,
}
