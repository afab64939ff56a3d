//! The dictionary keys a request may carry, and how each one is applied.

use super::types::{AddressFamily, AllMode, IceMode, SipMessageType};
use super::Request;
use crate::bencode::Value;
use crate::names::{bracket_inner, comma_items, name_eq, parse_decimal, parse_ip, Tokens};
use crate::NgError;

macro_rules! keys {
    ($( $variant:ident = [$canonical:literal $(, $alias:literal)*], )*) => {
        /// A request key this codec interprets.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Key {
            $( $variant, )*
        }

        impl Key {
            /// Every key (tests check the tables).
            #[cfg(test)]
            pub(crate) const ALL: &'static [Key] = &[$(Key::$variant,)*];

            /// The spelling used in error messages and by the request builder.
            pub(crate) fn canonical(self) -> &'static str {
                match self {
                    $( Key::$variant => $canonical, )*
                }
            }

            /// Looks a key up by any accepted spelling (see [`crate::names`]).
            pub(crate) fn from_name(name: &[u8]) -> Option<Key> {
                $(
                    if name_eq(name, $canonical) $(|| name_eq(name, $alias))* {
                        return Some(Key::$variant);
                    }
                )*
                None
            }

            /// A distinct bit per key, to implement "first occurrence wins".
            pub(crate) fn bit(self) -> u64 {
                // Key has fewer than 64 variants (checked by a test).
                1u64 << (self as u32)
            }
        }
    };
}

keys! {
    Command = ["command"],
    CallId = ["call-id"],
    FromTag = ["from-tag"],
    ToTag = ["to-tag"],
    ViaBranch = ["via-branch"],
    Sdp = ["sdp"],
    Flags = ["flags"],
    RtppFlags = ["rtpp-flags"],
    Replace = ["replace"],
    Direction = ["direction"],
    Ice = ["ICE"],
    RtcpMux = ["rtcp-mux"],
    ReceivedFrom = ["received-from"],
    MediaAddress = ["media-address"],
    AddressFamily = ["address-family"],
    TransportProtocol = ["transport-protocol"],
    DeleteDelay = ["delete-delay"],
    Label = ["label", "from-label"],
    SetLabel = ["set-label"],
    ToLabel = ["to-label"],
    Dtls = ["DTLS"],
    Sdes = ["SDES"],
    Osrtp = ["OSRTP"],
    T38 = ["T.38", "T38"],
    RecordCall = ["record-call"],
    Metadata = ["metadata"],
    XmlrpcCallback = ["xmlrpc-callback"],
    Tos = ["TOS"],
    FromTags = ["from-tags"],
    All = ["all"],
    Supports = ["supports"],
    SipMessageType = ["sip-message-type"],
    Limit = ["limit"],
    Interface = ["interface"],
    Codec = ["codec"],
    EndpointLearning = ["endpoint-learning"],
}

/// A key's value: from the bencode dictionary, or from a `key=value` flag token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'v, 'a> {
    /// A dictionary value.
    Val(&'v Value<'a>),
    /// The text after `=` in a flag token (may be a bracketed `[a b]` list).
    Tok(&'a [u8]),
}

impl<'v, 'a> Arg<'v, 'a> {
    /// A byte string.
    pub(crate) fn string(self, key: &'static str) -> Result<&'a [u8], NgError> {
        match self {
            Arg::Val(&Value::Bytes(b)) | Arg::Tok(b) => Ok(b),
            Arg::Val(_) => Err(NgError::WrongType {
                key,
                expected: "string",
            }),
        }
    }

    /// An integer, given as a bencode integer or as decimal text (rtpengine accepts both).
    pub(crate) fn int(self, key: &'static str) -> Result<i64, NgError> {
        match self {
            Arg::Val(&Value::Int(i)) => Ok(i),
            Arg::Val(&Value::Bytes(b)) | Arg::Tok(b) => {
                parse_decimal(b).ok_or_else(|| NgError::bad_value(key, b))
            }
            Arg::Val(_) => Err(NgError::WrongType {
                key,
                expected: "integer",
            }),
        }
    }

    /// Calls `f` on each item of a list of strings. A dictionary value may be a list or a
    /// comma-separated string; a token value may be a bracketed, space-separated group or
    /// a single item.
    pub(crate) fn items(
        self,
        key: &'static str,
        mut f: impl FnMut(&'a [u8]) -> Result<(), NgError>,
    ) -> Result<(), NgError> {
        match self {
            Arg::Val(Value::List(items)) => {
                for item in items {
                    match item {
                        Value::Bytes(b) => f(b)?,
                        _ => {
                            return Err(NgError::WrongType {
                                key,
                                expected: "list of strings",
                            })
                        }
                    }
                }
                Ok(())
            }
            Arg::Val(Value::Bytes(b)) => comma_items(b).try_for_each(f),
            Arg::Val(_) => Err(NgError::WrongType {
                key,
                expected: "list of strings",
            }),
            Arg::Tok(b) => match bracket_inner(b) {
                Some(inner) => Tokens::new(inner).try_for_each(f),
                None if b.is_empty() => Ok(()),
                None => f(b),
            },
        }
    }
}

impl<'a> Request<'a> {
    /// Applies one interpreted key. `Command`, `Flags` and `RtppFlags` are handled by the
    /// caller and ignored here.
    pub(crate) fn apply(&mut self, key: Key, arg: Arg<'_, 'a>) -> Result<(), NgError> {
        let name = key.canonical();
        match key {
            Key::Command | Key::Flags | Key::RtppFlags => {}
            Key::CallId => self.call_id = Some(arg.string(name)?),
            Key::FromTag => self.from_tag = Some(arg.string(name)?),
            Key::ToTag => self.to_tag = Some(arg.string(name)?),
            Key::ViaBranch => self.via_branch = Some(arg.string(name)?),
            Key::Sdp => self.sdp = Some(arg.string(name)?),
            Key::Replace => arg.items(name, |item| {
                if !self.replace.set_by_name(item) {
                    self.unknown_values.push((name, item));
                }
                Ok(())
            })?,
            Key::Direction => arg.items(name, |item| {
                self.push_direction(item);
                Ok(())
            })?,
            Key::Ice => {
                let v = arg.string(name)?;
                match IceMode::from_name(v) {
                    Some(mode) => self.ice = mode,
                    None => self.unknown_values.push((name, v)),
                }
            }
            Key::RtcpMux => arg.items(name, |item| {
                if !self.rtcp_mux.set_by_name(item) {
                    self.unknown_values.push((name, item));
                }
                Ok(())
            })?,
            Key::ReceivedFrom => self.apply_received_from(arg)?,
            Key::MediaAddress => {
                let v = arg.string(name)?;
                self.media_address =
                    Some(parse_ip(v).ok_or_else(|| NgError::bad_address(name, v))?);
            }
            Key::AddressFamily => {
                let v = arg.string(name)?;
                match AddressFamily::from_name(v) {
                    Some(af) => self.address_family = Some(af),
                    None => self.unknown_values.push((name, v)),
                }
            }
            Key::TransportProtocol => self.transport_protocol = Some(arg.string(name)?),
            Key::DeleteDelay => {
                let v = arg.int(name)?;
                let secs = u32::try_from(v)
                    .map_err(|_| NgError::bad_value(name, v.to_string().as_bytes()))?;
                self.delete_delay = Some(secs);
            }
            Key::Label => self.label = Some(arg.string(name)?),
            Key::SetLabel => self.set_label = Some(arg.string(name)?),
            Key::ToLabel => self.to_label = Some(arg.string(name)?),
            Key::Dtls => self.dtls = Some(arg.string(name)?),
            Key::Sdes => arg.items(name, |item| {
                self.sdes.push(item);
                Ok(())
            })?,
            Key::Osrtp => arg.items(name, |item| {
                self.osrtp.push(item);
                Ok(())
            })?,
            Key::T38 => arg.items(name, |item| {
                self.t38.push(item);
                Ok(())
            })?,
            Key::RecordCall => self.record_call = Some(arg.string(name)?),
            Key::Metadata => self.metadata = Some(arg.string(name)?),
            Key::XmlrpcCallback => self.xmlrpc_callback = Some(arg.string(name)?),
            Key::Tos => self.tos = Some(arg.int(name)?),
            Key::FromTags => arg.items(name, |item| {
                self.from_tags.push(item);
                Ok(())
            })?,
            Key::All => {
                let v = arg.string(name)?;
                match AllMode::from_name(v) {
                    Some(all) => self.all = Some(all),
                    None => self.unknown_values.push((name, v)),
                }
            }
            Key::Supports => arg.items(name, |item| {
                if name_eq(item, "load limit") {
                    self.supports_load_limit = true;
                } else {
                    self.unknown_values.push((name, item));
                }
                Ok(())
            })?,
            Key::SipMessageType => {
                let v = arg.string(name)?;
                match SipMessageType::from_name(v) {
                    Some(t) => self.sip_message_type = Some(t),
                    None => self.unknown_values.push((name, v)),
                }
            }
            Key::Limit => {
                let v = arg.int(name)?;
                let limit = u32::try_from(v)
                    .map_err(|_| NgError::bad_value(name, v.to_string().as_bytes()))?;
                self.limit = Some(limit);
            }
            Key::Interface => self.interface = Some(arg.string(name)?),
            Key::Codec => self.apply_codec(arg)?,
            Key::EndpointLearning => self.endpoint_learning = Some(arg.string(name)?),
        }
        Ok(())
    }

    /// Appends an interface name to `direction`; a third and later name is reported in
    /// `unknown_values` (rtpengine also uses only the first two).
    pub(crate) fn push_direction(&mut self, item: &'a [u8]) {
        if self.direction.len() < 2 {
            self.direction.push(item);
        } else {
            self.unknown_values.push((Key::Direction.canonical(), item));
        }
    }

    /// `received-from`: `[family, address]`, or just the address.
    fn apply_received_from(&mut self, arg: Arg<'_, 'a>) -> Result<(), NgError> {
        let name = Key::ReceivedFrom.canonical();
        let mut parts: [Option<&'a [u8]>; 2] = [None, None];
        let mut count = 0usize;
        let is_list = matches!(arg, Arg::Val(Value::List(_)))
            || matches!(arg, Arg::Tok(b) if bracket_inner(b).is_some());
        if is_list {
            arg.items(name, |item| {
                if let Some(slot) = parts.get_mut(count) {
                    *slot = Some(item);
                }
                count += 1;
                Ok(())
            })?;
            if count != 2 {
                return Err(NgError::WrongType {
                    key: name,
                    expected: "list of [family, address]",
                });
            }
        } else {
            parts[1] = Some(arg.string(name)?);
        }
        let [family, address] = parts;
        let address = address.unwrap_or_default();
        let family = match family {
            None => None,
            Some(f) => match AddressFamily::from_name(f) {
                Some(af) => Some(af),
                None => {
                    // Kamailio sends "?" for a non-IP transport: nothing usable.
                    self.unknown_values.push((name, address));
                    return Ok(());
                }
            },
        };
        let ip = parse_ip(address).ok_or_else(|| NgError::bad_address(name, address))?;
        let matches = match family {
            None => true,
            Some(AddressFamily::Ip4) => ip.is_ipv4(),
            Some(AddressFamily::Ip6) => ip.is_ipv6(),
        };
        if !matches {
            return Err(NgError::bad_address(name, address));
        }
        self.received_from = Some(ip);
        Ok(())
    }

    /// The `codec` dictionary: `{strip: [...], offer: [...], ...}`.
    fn apply_codec(&mut self, arg: Arg<'_, 'a>) -> Result<(), NgError> {
        let name = Key::Codec.canonical();
        let entries = match arg {
            Arg::Val(Value::Dict(entries)) => entries,
            Arg::Val(_) => {
                return Err(NgError::WrongType {
                    key: name,
                    expected: "dictionary",
                })
            }
            Arg::Tok(b) => {
                // The nested rtpp-flags dictionary syntax is not interpreted here.
                self.other_keys.push((name.as_bytes(), Value::Bytes(b)));
                return Ok(());
            }
        };
        for (op, value) in entries {
            match self.codec.list_mut(op) {
                Some(list) => Arg::Val(value).items(name, |item| {
                    list.push(item);
                    Ok(())
                })?,
                None => self.unknown_values.push((name, op)),
            }
        }
        Ok(())
    }
}
