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
            Key::ReceivedFrom => self.apply_received_from(arg)?,
            Key::MediaAddress => {
                let v = arg.string(name)?;
                self.media_address =
                    Some(parse_ip(v).ok_or_else(|| NgError::bad_address(name, v))?);
            }
            Key::TransportProtocol => self.transport_protocol = Some(arg.string(name)?),
            Key::Label => self.label = Some(arg.string(name)?),
            Key::SetLabel => self.set_label = Some(arg.string(name)?),
            Key::ToLabel => self.to_label = Some(arg.string(name)?),
            Key::Dtls => self.dtls = Some(arg.string(name)?),
            Key::RecordCall => self.record_call = Some(arg.string(name)?),
            Key::Metadata => self.metadata = Some(arg.string(name)?),
            Key::XmlrpcCallback => self.xmlrpc_callback = Some(arg.string(name)?),
            Key::Interface => self.interface = Some(arg.string(name)?),
            Key::Codec => self.apply_codec(arg)?,
            Key::EndpointLearning => self.endpoint_learning = Some(arg.string(name)?),
            Key::DeleteDelay | Key::Limit | Key::Tos => self.apply_number(key, arg)?,
            Key::Ice | Key::AddressFamily | Key::All | Key::SipMessageType => {
                self.apply_choice(key, arg.string(name)?)
            }
            Key::Replace
            | Key::Direction
            | Key::RtcpMux
            | Key::Sdes
            | Key::Osrtp
            | Key::T38
            | Key::FromTags
            | Key::Supports => arg.items(name, |item| {
                self.apply_item(key, item);
                Ok(())
            })?,
        }
        Ok(())
    }

    /// A key whose value is an integer.
    fn apply_number(&mut self, key: Key, arg: Arg<'_, 'a>) -> Result<(), NgError> {
        let name = key.canonical();
        let v = arg.int(name)?;
        let bad = || NgError::bad_value(name, v.to_string().as_bytes());
        match key {
            Key::DeleteDelay => self.delete_delay = Some(u32::try_from(v).map_err(|_| bad())?),
            Key::Limit => self.limit = Some(u32::try_from(v).map_err(|_| bad())?),
            Key::Tos => self.tos = Some(v),
            _ => {}
        }
        Ok(())
    }

    /// A key whose value is one of a few names; another name is reported in
    /// `unknown_values`.
    fn apply_choice(&mut self, key: Key, v: &'a [u8]) {
        let known = match key {
            Key::Ice => IceMode::from_name(v).map(|m| self.ice = m),
            Key::AddressFamily => {
                AddressFamily::from_name(v).map(|a| self.address_family = Some(a))
            }
            Key::All => AllMode::from_name(v).map(|a| self.all = Some(a)),
            Key::SipMessageType => {
                SipMessageType::from_name(v).map(|t| self.sip_message_type = Some(t))
            }
            _ => Some(()),
        };
        if known.is_none() {
            self.unknown_values.push((key.canonical(), v));
        }
    }

    /// One item of a key whose value is a list; an item it does not know is reported in
    /// `unknown_values`.
    fn apply_item(&mut self, key: Key, item: &'a [u8]) {
        let known = match key {
            Key::Replace => self.replace.set_by_name(item),
            Key::RtcpMux => self.rtcp_mux.set_by_name(item),
            Key::Supports if name_eq(item, "load limit") => {
                self.supports_load_limit = true;
                true
            }
            Key::Supports => false,
            Key::Direction => {
                self.push_direction(item);
                true
            }
            Key::Sdes => push(&mut self.sdes, item),
            Key::Osrtp => push(&mut self.osrtp, item),
            Key::T38 => push(&mut self.t38, item),
            Key::FromTags => push(&mut self.from_tags, item),
            _ => true,
        };
        if !known {
            self.unknown_values.push((key.canonical(), item));
        }
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

/// Appends `item` to `list`; always known.
fn push<'a>(list: &mut Vec<&'a [u8]>, item: &'a [u8]) -> bool {
    list.push(item);
    true
}
