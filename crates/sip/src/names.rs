//! Header names: compact forms and which headers may be split on commas.

/// Compact header forms: RFC 3261 §7.3.3 and the IANA "Header Fields" registry.
const COMPACT: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Headers whose values are not comma-separated lists, or whose grammar lets commas appear
/// inside one value (RFC 3261 §7.3.1: only `#` list headers may be combined with commas).
const NOT_LIST: &[&str] = &[
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authentication-Info",
    "Date",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "From",
    "To",
    "Subject",
    "Server",
    "User-Agent",
    "Organization",
    "Retry-After",
    "Timestamp",
    "Expires",
    "MIME-Version",
    "Priority",
    "Reply-To",
    "Min-Expires",
];

/// The long form of a header name: compact one-letter names are expanded, others returned as is.
pub fn long_name(name: &str) -> &str {
    if let [c] = name.as_bytes() {
        let lc = c.to_ascii_lowercase();
        if let Some((_, long)) = COMPACT.iter().find(|(k, _)| *k == lc) {
            return long;
        }
    }
    name
}

/// True when `received` (as on the wire, long or compact) names the header `wanted` (long form);
/// header names are case-insensitive (RFC 3261 §7.3.1).
pub fn name_matches(received: &str, wanted: &str) -> bool {
    long_name(received).eq_ignore_ascii_case(wanted)
}

/// True when values of this header may be split on top-level commas.
pub fn is_list_header(name: &str) -> bool {
    let long = long_name(name);
    !NOT_LIST.iter().any(|n| n.eq_ignore_ascii_case(long))
}
