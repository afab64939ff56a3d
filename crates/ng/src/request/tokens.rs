//! Flag tokens: items of the `flags` list and tokens of the `rtpp-flags` string.

use super::keys::{Arg, Key};
use super::types::{AllMode, Flag};
use super::Request;
use crate::bencode::Value;
use crate::names::{name_eq, split_key_value, strip_name_prefix};
use crate::NgError;

/// Transport shorthand bits, as Kamailio's rtpengine module composes them:
/// `SET` means a protocol was chosen, `SRTP`/`AVPF` add "S"/"F", `DTLS` selects UDP/TLS.
const SET: u16 = 0x100;
const SRTP: u16 = 0x001;
const AVPF: u16 = 0x002;
const DTLS: u16 = 0x004;

/// Via-branch selectors that only Kamailio's module understands (which Via to read); they
/// are not branch values.
const VIA_SELECTORS: [&str; 9] = [
    "1",
    "2",
    "auto",
    "extra",
    "next",
    "auto-next",
    "next-auto",
    "auto-extra",
    "extra-auto",
];

/// Prefixed flag aliases of other keys' list items.
#[derive(Clone, Copy)]
enum Prefixed {
    Replace,
    RtcpMux,
    Sdes,
    Osrtp,
    T38,
    FromTags,
    EndpointLearning,
    Codec(&'static str),
}

const PREFIXES: [(&str, Prefixed); 17] = [
    ("replace-", Prefixed::Replace),
    ("rtcp-mux-", Prefixed::RtcpMux),
    ("SDES-", Prefixed::Sdes),
    ("OSRTP-", Prefixed::Osrtp),
    ("T38-", Prefixed::T38),
    ("T.38-", Prefixed::T38),
    ("from-tags-", Prefixed::FromTags),
    ("endpoint-learning-", Prefixed::EndpointLearning),
    ("codec-strip-", Prefixed::Codec("strip")),
    ("codec-offer-", Prefixed::Codec("offer")),
    ("codec-transcode-", Prefixed::Codec("transcode")),
    ("transcode-", Prefixed::Codec("transcode")),
    ("codec-mask-", Prefixed::Codec("mask")),
    ("codec-accept-", Prefixed::Codec("accept")),
    ("codec-consume-", Prefixed::Codec("consume")),
    ("codec-except-", Prefixed::Codec("except")),
    ("codec-set-", Prefixed::Codec("set")),
];

/// State carried across the tokens of one request.
#[derive(Debug, Default)]
pub(crate) struct TokenState {
    transport: u16,
}

impl TokenState {
    /// Applies one token to `req`.
    pub(crate) fn apply<'a>(
        &mut self,
        req: &mut Request<'a>,
        token: &'a [u8],
    ) -> Result<(), NgError> {
        match split_key_value(token) {
            (key, Some(value)) => self.apply_pair(req, key, value),
            (_, None) => {
                self.apply_bare(req, token);
                Ok(())
            }
        }
    }

    /// Sets `transport-protocol` from the transport shorthands, if any were given.
    pub(crate) fn finish(&self, req: &mut Request<'_>) {
        if self.transport & SET == 0 {
            return;
        }
        let proto: &'static [u8] = match self.transport & (SRTP | AVPF | DTLS) {
            0 => b"RTP/AVP",
            SRTP => b"RTP/SAVP",
            AVPF => b"RTP/AVPF",
            x if x == SRTP | AVPF => b"RTP/SAVPF",
            x if x & AVPF != 0 => b"UDP/TLS/RTP/SAVPF",
            _ => b"UDP/TLS/RTP/SAVP",
        };
        req.transport_protocol = Some(proto);
    }

    /// A transport shorthand; true if `t` was one.
    fn transport_token(&mut self, t: &[u8]) -> bool {
        let exact = |v: u16| SET | v;
        self.transport = match t {
            b"RTP" => (self.transport | SET) & !SRTP,
            b"AVP" => (self.transport | SET) & !AVPF,
            b"SRTP" => self.transport | SET | SRTP,
            b"AVPF" => self.transport | SET | AVPF,
            b"DTLS" => self.transport | SET | DTLS,
            b"RTP/AVP" => exact(0),
            b"RTP/SAVP" => exact(SRTP),
            b"RTP/AVPF" => exact(AVPF),
            b"RTP/SAVPF" => exact(SRTP | AVPF),
            b"UDP/TLS/RTP/SAVP" => exact(DTLS),
            b"UDP/TLS/RTP/SAVPF" => exact(DTLS | AVPF),
            _ => return false,
        };
        true
    }

    fn apply_bare<'a>(&mut self, req: &mut Request<'a>, t: &'a [u8]) {
        if t.is_empty() {
            return;
        }
        if let Some(flag) = Flag::from_name(t) {
            req.flags.insert(flag);
            return;
        }
        if name_eq(t, "all") {
            req.all = Some(AllMode::All);
            return;
        }
        if name_eq(t, "internal") || name_eq(t, "external") {
            req.push_direction(t);
            return;
        }
        if self.transport_token(t) {
            return;
        }
        let prefixed = PREFIXES
            .iter()
            .find_map(|(p, kind)| strip_name_prefix(t, p).map(|rest| (*kind, rest)));
        match prefixed {
            Some((kind, rest)) => apply_prefixed(req, kind, rest),
            None => req.unknown_flags.push(t),
        }
    }

    fn apply_pair<'a>(
        &mut self,
        req: &mut Request<'a>,
        key: &'a [u8],
        value: &'a [u8],
    ) -> Result<(), NgError> {
        if let Some(k) = Key::from_name(key) {
            let name = k.canonical();
            match k {
                // Never taken from tokens: no recursion, and the command is fixed.
                Key::Command | Key::Flags | Key::RtppFlags => {
                    req.unknown_values.push((name, value))
                }
                Key::ViaBranch if VIA_SELECTORS.iter().any(|s| name_eq(value, s)) => {
                    req.unknown_values.push((name, value));
                }
                Key::FromTag => {
                    req.flags.insert(Flag::Directional);
                    req.apply(k, Arg::Tok(value))?;
                }
                _ => req.apply(k, Arg::Tok(value))?,
            }
            return Ok(());
        }
        let codec_op =
            strip_name_prefix(key, "codec-").or_else(|| name_eq(key, "transcode").then_some(key));
        if let Some(list) = codec_op.and_then(|op| req.codec.list_mut(op)) {
            return Arg::Tok(value).items("codec", |item| {
                list.push(item);
                Ok(())
            });
        }
        req.other_keys.push((key, Value::Bytes(value)));
        Ok(())
    }
}

fn apply_prefixed<'a>(req: &mut Request<'a>, kind: Prefixed, rest: &'a [u8]) {
    match kind {
        Prefixed::Replace => {
            if !req.replace.set_by_name(rest) {
                req.unknown_values.push((Key::Replace.canonical(), rest));
            }
        }
        Prefixed::RtcpMux => {
            if !req.rtcp_mux.set_by_name(rest) {
                req.unknown_values.push((Key::RtcpMux.canonical(), rest));
            }
        }
        Prefixed::Sdes => req.sdes.push(rest),
        Prefixed::Osrtp => req.osrtp.push(rest),
        Prefixed::T38 => req.t38.push(rest),
        Prefixed::FromTags => req.from_tags.push(rest),
        Prefixed::EndpointLearning => req.endpoint_learning = Some(rest),
        Prefixed::Codec(op) => {
            if let Some(list) = req.codec.list_mut(op.as_bytes()) {
                list.push(rest);
            }
        }
    }
}
