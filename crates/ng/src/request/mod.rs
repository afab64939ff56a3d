//! Typed ng requests: parsing what Kamailio/OpenSIPS send, and building requests as a
//! client.
//!
//! # What is parsed
//!
//! [`parse_request`] reads the request dictionary in three passes:
//!
//! 1. **Dictionary keys**, in input order. Key names are matched with spaces, hyphens and
//!    underscores folded together and ASCII case ignored (`"address family"`,
//!    `"address-family"`, `"delete delay"`, `"ice"` all match). If an interpreted key occurs
//!    more than once, the **first occurrence wins** and later ones are skipped. Keys this
//!    codec does not interpret are kept, with their values, in [`Request::other_keys`].
//! 2. **The `flags` list** (a list of strings, or one comma-separated string). Each item is
//!    a bare flag (`trust-address`), a prefixed alias of another key's value
//!    (`replace-origin`, `rtcp-mux-demux`, `SDES-off`, `codec-strip-PCMA`, `from-tags-X`),
//!    a `key=value` pair (`ICE=remove`, `direction=internal`, `address-family=IP6`), or one
//!    of the transport shorthands Kamailio knows (`RTP`, `SRTP`, `AVPF`, `DTLS`,
//!    `RTP/SAVPF`, ...) or `internal`/`external` (a direction).
//! 3. **The `rtpp-flags` string** that newer Kamailio versions send instead of translating
//!    their flag string themselves: space-separated tokens of the same forms as above;
//!    `key=[a b c]` gives a list.
//!
//! Settings from passes 2 and 3 are applied after the dictionary keys: a scalar given there
//! replaces the dictionary's value (later tokens replace earlier ones), and list items are
//! appended. This matches rtpengine, where Kamailio places `rtpp-flags` after the keys it
//! derives from the SIP message so that e.g. `from-tag=...` can override them.
//!
//! # Error policy
//!
//! * A value of the wrong bencode type for an interpreted key is an error
//!   ([`NgError::WrongType`]); so is an address that does not parse
//!   ([`NgError::BadAddress`]) and an integer out of range ([`NgError::BadValue`]).
//! * A recognised key with an unrecognised value (`ICE=bogus`, `replace=foo`, a third
//!   `direction`) is not an error: rtpengine warns and carries on, so the pair is recorded in
//!   [`Request::unknown_values`] for the engine to log.
//! * A flag this codec does not recognise is recorded in [`Request::unknown_flags`]. Which
//!   recognised flags the engine honours, ignores or rejects is the engine's decision.
//! * Required keys (ng protocol documentation, per command): `offer` needs `sdp`, `call-id`
//!   and `from-tag`; `answer` also needs `to-tag`; `delete` and `query` need `call-id`. An
//!   absent or empty required key is [`NgError::MissingKey`].

mod build;
mod keys;
#[cfg(test)]
mod tests;
mod tokens;
pub(crate) mod types;

use std::net::IpAddr;

pub use build::{build_request, RequestBuilder};
pub use types::{
    AddressFamily, AllMode, Codecs, Flag, Flags, IceMode, Replace, RtcpMux, SipMessageType,
};

use crate::bencode::Value;
use crate::error::excerpt;
use crate::names::{name_eq, Tokens};
use crate::{Command, NgError};
use keys::{Arg, Key};
use tokens::TokenState;

/// A parsed ng request. Byte strings borrow from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The command.
    pub command: Command,
    /// `call-id`: the SIP Call-ID.
    pub call_id: Option<&'a [u8]>,
    /// `from-tag`: the SIP From tag (for an answer: of the offerer).
    pub from_tag: Option<&'a [u8]>,
    /// `to-tag`: the SIP To tag.
    pub to_tag: Option<&'a [u8]>,
    /// `via-branch`: refines which call branch is meant.
    pub via_branch: Option<&'a [u8]>,
    /// `sdp`: the SDP body to rewrite.
    pub sdp: Option<&'a [u8]>,
    /// The recognised boolean flags.
    pub flags: Flags,
    /// `replace`: which session-level SDP parts to rewrite.
    pub replace: Replace,
    /// `direction`: logical interface names, in order (0, 1 or 2 entries).
    pub direction: Vec<&'a [u8]>,
    /// `ICE`: [`IceMode::Default`] when absent.
    pub ice: IceMode,
    /// `rtcp-mux`: RFC 5761 multiplexing policy.
    pub rtcp_mux: RtcpMux,
    /// `received-from`: the source address of the SIP message.
    pub received_from: Option<IpAddr>,
    /// `media-address`: overrides the SDP and `received-from` addresses.
    pub media_address: Option<IpAddr>,
    /// `address-family`: the family to put into the rewritten SDP.
    pub address_family: Option<AddressFamily>,
    /// `transport-protocol`: the SDP protocol to use towards the recipient (`RTP/AVP`, ...).
    pub transport_protocol: Option<&'a [u8]>,
    /// `delete-delay`: seconds to keep a deleted call (0 = immediately).
    pub delete_delay: Option<u32>,
    /// `label` (or `from-label`): a free-form label for this participant.
    pub label: Option<&'a [u8]>,
    /// `set-label`: label to set while `label` selects a participant.
    pub set_label: Option<&'a [u8]>,
    /// `to-label`: selects the second participant.
    pub to_label: Option<&'a [u8]>,
    /// `DTLS`: `off`/`no`/`disable`, `passive`, `active` (raw).
    pub dtls: Option<&'a [u8]>,
    /// `SDES` list (and `SDES-...` flags), raw items.
    pub sdes: Vec<&'a [u8]>,
    /// `OSRTP` list (and `OSRTP-...` flags), raw items.
    pub osrtp: Vec<&'a [u8]>,
    /// `T.38` list (and `T38-...` flags), raw items.
    pub t38: Vec<&'a [u8]>,
    /// `record-call`: `yes`/`no`/`on`/`off` (raw); see also [`Flag::RecordCall`].
    pub record_call: Option<&'a [u8]>,
    /// `metadata`: recording metadata.
    pub metadata: Option<&'a [u8]>,
    /// `xmlrpc-callback`: address for timeout callbacks (raw text).
    pub xmlrpc_callback: Option<&'a [u8]>,
    /// `TOS`: TOS byte for the call's media (negative: unchanged; 256 or more: default).
    pub tos: Option<i64>,
    /// `from-tags` list (and `from-tags-...` flags).
    pub from_tags: Vec<&'a [u8]>,
    /// `all` key, or the bare `all` flag.
    pub all: Option<AllMode>,
    /// `supports` contains `load limit`: the client understands `result: load limit`.
    pub supports_load_limit: bool,
    /// `sip-message-type`: whether the SDP came in a SIP request or reply.
    pub sip_message_type: Option<SipMessageType>,
    /// `limit` (for `list`): maximum number of call-ids to return.
    pub limit: Option<u32>,
    /// `interface`: a single logical interface name.
    pub interface: Option<&'a [u8]>,
    /// `endpoint-learning` (or `endpoint-learning-...` flag), raw.
    pub endpoint_learning: Option<&'a [u8]>,
    /// `codec` dictionary and `codec-...` / `transcode-...` flags.
    pub codec: Codecs<'a>,
    /// The raw `rtpp-flags` string, if Kamailio sent one (already applied).
    pub rtpp_flags: Option<&'a [u8]>,
    /// Bare flags not recognised by this codec, as received.
    pub unknown_flags: Vec<&'a [u8]>,
    /// Recognised keys with a value not recognised: (canonical key, value).
    pub unknown_values: Vec<(&'static str, &'a [u8])>,
    /// Dictionary keys (and `key=value` flag tokens) this codec does not interpret, with
    /// their values, in input order.
    pub other_keys: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Request<'a> {
    /// An empty request for `command` (every option absent).
    pub fn new(command: Command) -> Self {
        Request {
            command,
            call_id: None,
            from_tag: None,
            to_tag: None,
            via_branch: None,
            sdp: None,
            flags: Flags::default(),
            replace: Replace::default(),
            direction: Vec::new(),
            ice: IceMode::Default,
            rtcp_mux: RtcpMux::default(),
            received_from: None,
            media_address: None,
            address_family: None,
            transport_protocol: None,
            delete_delay: None,
            label: None,
            set_label: None,
            to_label: None,
            dtls: None,
            sdes: Vec::new(),
            osrtp: Vec::new(),
            t38: Vec::new(),
            record_call: None,
            metadata: None,
            xmlrpc_callback: None,
            tos: None,
            from_tags: Vec::new(),
            all: None,
            supports_load_limit: false,
            sip_message_type: None,
            limit: None,
            interface: None,
            endpoint_learning: None,
            codec: Codecs::default(),
            rtpp_flags: None,
            unknown_flags: Vec::new(),
            unknown_values: Vec::new(),
            other_keys: Vec::new(),
        }
    }

    /// True if `flag` was given.
    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(flag)
    }

    /// `call-id` as UTF-8 text, if present and valid (handy for logging).
    pub fn call_id_str(&self) -> Option<&'a str> {
        self.call_id.and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Parses a decoded request dictionary (see the module documentation for the rules).
///
/// The result borrows only from the datagram (`'a`), not from `body`, so `body` may be
/// dropped afterwards.
pub fn parse_request<'a>(body: &Value<'a>) -> Result<Request<'a>, NgError> {
    let entries = body.as_dict().ok_or(NgError::NotADict)?;
    let command = command_of(entries)?;
    let mut req = Request::new(command);

    // Pass 1: dictionary keys, first occurrence wins.
    let mut seen = 0u64;
    let mut flags_value = None;
    for (name, value) in entries {
        let Some(key) = Key::from_name(name) else {
            req.other_keys.push((name, value.clone()));
            continue;
        };
        if seen & key.bit() != 0 {
            continue;
        }
        seen |= key.bit();
        match key {
            Key::Flags => flags_value = Some(value),
            Key::RtppFlags => req.rtpp_flags = Some(Arg::Val(value).string(key.canonical())?),
            _ => req.apply(key, Arg::Val(value))?,
        }
    }

    // Passes 2 and 3: the flags list, then the rtpp-flags string.
    let mut state = TokenState::default();
    if let Some(value) = flags_value {
        Arg::Val(value).items(Key::Flags.canonical(), |item| state.apply(&mut req, item))?;
    }
    if let Some(rtpp) = req.rtpp_flags {
        for token in Tokens::new(rtpp) {
            state.apply(&mut req, token)?;
        }
    }
    state.finish(&mut req);

    validate(&req)?;
    Ok(req)
}

/// The `command` of a request dictionary.
fn command_of(entries: &[(&[u8], Value<'_>)]) -> Result<Command, NgError> {
    let (_, value) = entries
        .iter()
        .find(|(k, _)| name_eq(k, "command"))
        .ok_or(NgError::MissingCommand)?;
    let name = value.as_bytes().ok_or(NgError::WrongType {
        key: "command",
        expected: "string",
    })?;
    Command::from_name(name).ok_or_else(|| NgError::UnknownCommand(excerpt(name)))
}

/// Per-command required keys (ng protocol documentation, `offer`/`answer`/`delete`/`query`).
fn validate(req: &Request<'_>) -> Result<(), NgError> {
    fn need(v: Option<&[u8]>, what: &'static str) -> Result<(), NgError> {
        match v {
            Some(b) if !b.is_empty() => Ok(()),
            _ => Err(NgError::MissingKey(what)),
        }
    }
    match req.command {
        Command::Offer | Command::Answer => {
            need(req.sdp, "SDP body")?;
            need(req.call_id, "call-id")?;
            need(req.from_tag, "from-tag")?;
            if req.command == Command::Answer {
                need(req.to_tag, "to-tag")?;
            }
        }
        Command::Delete | Command::Query => need(req.call_id, "call-id")?,
        Command::Ping | Command::List | Command::Statistics => {}
    }
    Ok(())
}
