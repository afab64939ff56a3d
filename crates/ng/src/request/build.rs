//! Building requests, for the client side (load tool, tests).

use std::net::IpAddr;

use super::types::{AddressFamily, Flag, Flags, IceMode, Replace, RtcpMux};
use crate::bencode::{DictBuilder, OwnedValue};
use crate::{frame, Command};

/// An ng request to send, with owned values. Set fields directly or chain the setters:
///
/// ```
/// use ng::{build_request, Command, Flag, IceMode, RequestBuilder};
/// let req = RequestBuilder::new(Command::Offer)
///     .call_id("a84b4c76e66710")
///     .from_tag("1928301774")
///     .sdp("v=0\r\n")
///     .flag(Flag::TrustAddress)
///     .ice(IceMode::Remove);
/// let datagram = req.to_datagram(b"5323_1");
/// assert!(datagram.starts_with(b"5323_1 d7:command5:offer"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBuilder {
    /// The command.
    pub command: Command,
    /// `call-id`.
    pub call_id: Option<Vec<u8>>,
    /// `from-tag`.
    pub from_tag: Option<Vec<u8>>,
    /// `to-tag`.
    pub to_tag: Option<Vec<u8>>,
    /// `via-branch`.
    pub via_branch: Option<Vec<u8>>,
    /// `sdp`.
    pub sdp: Option<Vec<u8>>,
    /// Recognised flags, sent by canonical name in the `flags` list.
    pub flags: Flags,
    /// Extra raw items appended to the `flags` list.
    pub extra_flags: Vec<Vec<u8>>,
    /// `replace`.
    pub replace: Replace,
    /// `direction` (interface names).
    pub direction: Vec<Vec<u8>>,
    /// `ICE`, if it should be sent.
    pub ice: Option<IceMode>,
    /// `rtcp-mux`.
    pub rtcp_mux: RtcpMux,
    /// `received-from`, sent as `[IP4|IP6, address]`.
    pub received_from: Option<IpAddr>,
    /// `media-address`.
    pub media_address: Option<IpAddr>,
    /// `address-family`.
    pub address_family: Option<AddressFamily>,
    /// `transport-protocol`.
    pub transport_protocol: Option<Vec<u8>>,
    /// `delete-delay` in seconds.
    pub delete_delay: Option<u32>,
    /// `label`.
    pub label: Option<Vec<u8>>,
    /// Send `supports: [load limit]` (Kamailio always does).
    pub supports_load_limit: bool,
    /// Further dictionary entries, appended as given.
    pub extra: Vec<(Vec<u8>, OwnedValue)>,
}

impl RequestBuilder {
    /// A request for `command` with nothing else set.
    pub fn new(command: Command) -> Self {
        RequestBuilder {
            command,
            call_id: None,
            from_tag: None,
            to_tag: None,
            via_branch: None,
            sdp: None,
            flags: Flags::default(),
            extra_flags: Vec::new(),
            replace: Replace::default(),
            direction: Vec::new(),
            ice: None,
            rtcp_mux: RtcpMux::default(),
            received_from: None,
            media_address: None,
            address_family: None,
            transport_protocol: None,
            delete_delay: None,
            label: None,
            supports_load_limit: false,
            extra: Vec::new(),
        }
    }

    /// Sets `call-id`.
    pub fn call_id(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.call_id = Some(v.into());
        self
    }

    /// Sets `from-tag`.
    pub fn from_tag(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.from_tag = Some(v.into());
        self
    }

    /// Sets `to-tag`.
    pub fn to_tag(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.to_tag = Some(v.into());
        self
    }

    /// Sets `via-branch`.
    pub fn via_branch(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.via_branch = Some(v.into());
        self
    }

    /// Sets `sdp`.
    pub fn sdp(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.sdp = Some(v.into());
        self
    }

    /// Adds a recognised flag.
    pub fn flag(mut self, f: Flag) -> Self {
        self.flags.insert(f);
        self
    }

    /// Adds a raw item to the `flags` list (e.g. `"ICE=remove"` or an unknown flag).
    pub fn raw_flag(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.extra_flags.push(v.into());
        self
    }

    /// Sets `replace`.
    pub fn replace(mut self, r: Replace) -> Self {
        self.replace = r;
        self
    }

    /// Sets `direction` to the two interface names.
    pub fn direction(mut self, from: impl Into<Vec<u8>>, to: impl Into<Vec<u8>>) -> Self {
        self.direction = vec![from.into(), to.into()];
        self
    }

    /// Sets `ICE`.
    pub fn ice(mut self, mode: IceMode) -> Self {
        self.ice = Some(mode);
        self
    }

    /// Sets `rtcp-mux`.
    pub fn rtcp_mux(mut self, r: RtcpMux) -> Self {
        self.rtcp_mux = r;
        self
    }

    /// Sets `received-from`.
    pub fn received_from(mut self, ip: IpAddr) -> Self {
        self.received_from = Some(ip);
        self
    }

    /// Sets `media-address`.
    pub fn media_address(mut self, ip: IpAddr) -> Self {
        self.media_address = Some(ip);
        self
    }

    /// Sets `address-family`.
    pub fn address_family(mut self, af: AddressFamily) -> Self {
        self.address_family = Some(af);
        self
    }

    /// Sets `transport-protocol`.
    pub fn transport_protocol(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.transport_protocol = Some(v.into());
        self
    }

    /// Sets `delete-delay`.
    pub fn delete_delay(mut self, secs: u32) -> Self {
        self.delete_delay = Some(secs);
        self
    }

    /// Sets `label`.
    pub fn label(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.label = Some(v.into());
        self
    }

    /// Announces support for `result: load limit` replies.
    pub fn supports_load_limit(mut self) -> Self {
        self.supports_load_limit = true;
        self
    }

    /// Appends a further dictionary entry.
    pub fn extra(mut self, key: impl Into<Vec<u8>>, value: impl Into<OwnedValue>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// The request dictionary (same as [`build_request`]).
    pub fn build(&self) -> OwnedValue {
        build_request(self)
    }

    /// The framed datagram `<cookie> <bencoded request>`.
    pub fn to_datagram(&self, cookie: &[u8]) -> Vec<u8> {
        frame(cookie, &self.build())
    }
}

/// The request dictionary for `req`, keys in a fixed order (command first). Empty lists and
/// unset options are left out.
pub fn build_request(req: &RequestBuilder) -> OwnedValue {
    let mut d = DictBuilder::new().with("command", req.command.as_str());
    let strings = [
        ("call-id", &req.call_id),
        ("from-tag", &req.from_tag),
        ("to-tag", &req.to_tag),
        ("via-branch", &req.via_branch),
        ("sdp", &req.sdp),
    ];
    for (key, value) in strings {
        if let Some(v) = value {
            d.set(key, v.clone());
        }
    }
    let flags: Vec<&[u8]> = req
        .flags
        .iter()
        .map(|f| f.name().as_bytes())
        .chain(req.extra_flags.iter().map(Vec::as_slice))
        .collect();
    if !flags.is_empty() {
        d.set("flags", OwnedValue::str_list(flags));
    }
    let replace = req.replace.names();
    if !replace.is_empty() {
        d.set("replace", OwnedValue::str_list(replace));
    }
    if !req.direction.is_empty() {
        d.set("direction", OwnedValue::str_list(&req.direction));
    }
    if let Some(ice) = req.ice {
        d.set("ICE", ice.as_str());
    }
    let rtcp_mux = req.rtcp_mux.names();
    if !rtcp_mux.is_empty() {
        d.set("rtcp-mux", OwnedValue::str_list(rtcp_mux));
    }
    if let Some(ip) = req.received_from {
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        d.set(
            "received-from",
            OwnedValue::str_list([family.to_owned(), ip.to_string()]),
        );
    }
    if let Some(ip) = req.media_address {
        d.set("media-address", ip.to_string());
    }
    if let Some(af) = req.address_family {
        d.set("address-family", af.as_str());
    }
    if let Some(t) = &req.transport_protocol {
        d.set("transport-protocol", t.clone());
    }
    if let Some(secs) = req.delete_delay {
        d.set("delete-delay", secs);
    }
    if let Some(l) = &req.label {
        d.set("label", l.clone());
    }
    if req.supports_load_limit {
        d.set("supports", OwnedValue::str_list(["load limit"]));
    }
    let mut out = d.build();
    if let OwnedValue::Dict(entries) = &mut out {
        entries.extend(req.extra.iter().cloned());
    }
    out
}
