//! Errors of the DNS message codec.

use thiserror::Error;

/// Why a DNS message or domain name could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DnsError {
    /// The message ends before a field, name, or record it announces (RFC 1035 §4.1).
    #[error("message ends unexpectedly")]
    UnexpectedEnd,
    /// A label is longer than 63 octets (RFC 1035 §2.3.4).
    #[error("label longer than 63 octets")]
    LabelTooLong,
    /// A domain name is longer than 255 octets in wire form (RFC 1035 §2.3.4).
    #[error("domain name longer than 255 octets")]
    NameTooLong,
    /// A presentation-form name has an empty label (`a..b`, or a leading dot).
    #[error("empty label in domain name")]
    EmptyLabel,
    /// A presentation-form name has a malformed `\` escape (RFC 1035 §5.1).
    #[error("malformed escape in domain name")]
    BadEscape,
    /// A label starts with the reserved bit patterns `01` or `10` (RFC 1035 §4.1.4, RFC 6891 §5).
    #[error("reserved label type 0x{0:02x}")]
    BadLabelType(u8),
    /// A compression pointer points at or beyond the message end (RFC 1035 §4.1.4).
    #[error("compression pointer out of range")]
    PointerOutOfRange,
    /// A compression pointer does not point strictly before the labels already read, which is
    /// how loops are refused (RFC 1035 §4.1.4: a pointer refers to a *prior* occurrence).
    #[error("compression pointer loop")]
    PointerLoop,
    /// A record's RDLENGTH does not match what its type requires (RFC 1035 §3.3, §4.1.3).
    #[error("bad RDATA length for type {rtype}")]
    BadRdataLength {
        /// The record type whose RDATA was malformed.
        rtype: u16,
    },
    /// A character-string longer than 255 octets was to be encoded (RFC 1035 §3.3).
    #[error("character-string longer than 255 octets")]
    StringTooLong,
    /// A section holds more than 65535 entries, so its count does not fit the header.
    #[error("section holds more than 65535 entries")]
    TooManyRecords,
    /// An encoded record's RDATA would exceed 65535 octets.
    #[error("RDATA longer than 65535 octets")]
    RdataTooLong,
}
