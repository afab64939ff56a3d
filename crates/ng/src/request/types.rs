//! The typed option sets of a request: boolean flags, `replace`, `rtcp-mux`, `ICE`, ...

use crate::names::name_eq;

macro_rules! flags {
    ($( $(#[$doc:meta])* $variant:ident = [$canonical:literal $(, $alias:literal)*], )*) => {
        /// A boolean flag of the `flags` list that this codec recognises.
        ///
        /// Each flag is matched by its canonical rtpengine spelling and the aliases rtpengine
        /// documents, with spaces/hyphens/underscores and ASCII case folded together.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Flag {
            $( $(#[$doc])* $variant, )*
        }

        impl Flag {
            /// Every recognised flag.
            pub const ALL: &'static [Flag] = &[$(Flag::$variant,)*];

            /// The canonical wire spelling.
            pub fn name(self) -> &'static str {
                match self {
                    $( Flag::$variant => $canonical, )*
                }
            }

            /// Looks up a flag by any accepted spelling.
            pub fn from_name(name: &[u8]) -> Option<Flag> {
                $(
                    if name_eq(name, $canonical) $(|| name_eq(name, $alias))* {
                        return Some(Flag::$variant);
                    }
                )*
                None
            }
        }
    };
}

flags! {
    /// Trust the addresses in the SDP (rtpproxy `r`).
    TrustAddress = ["trust-address"],
    /// Ignore SDP addresses, use the SIP source address (`received-from`).
    SipSourceAddress = ["SIP-source-address"],
    /// Symmetric RTP (rtpproxy `w`; the default).
    Symmetric = ["symmetric"],
    /// Asymmetric RTP: do not learn endpoint addresses (rtpproxy `a`).
    Asymmetric = ["asymmetric"],
    /// Forward one-way media in the fast path too.
    Unidirectional = ["unidirectional"],
    /// After learning, drop packets from any other source.
    StrictSource = ["strict-source"],
    /// After learning, re-learn when the source changes (hijack risk).
    MediaHandover = ["media-handover"],
    /// Keep local ports when the remote port changes.
    PortLatching = ["port-latching"],
    /// Change local ports when the remote port changes, even with ICE.
    NoPortLatching = ["no-port-latching"],
    /// Record the call.
    RecordCall = ["record-call"],
    /// Mark the SDP so a looped message is not processed twice.
    LoopProtect = ["loop-protect"],
    /// Legacy: always engage transcoding.
    AlwaysTranscode = ["always-transcode"],
    /// Omit `a=rtcp` from the outgoing SDP.
    NoRtcpAttribute = ["no-rtcp-attribute"],
    /// Write the full `a=rtcp` form (with address).
    FullRtcpAttribute = ["full-rtcp-attribute"],
    /// Add `a=mid` where missing.
    GenerateMid = ["generate-mid"],
    /// Un-learn endpoint properties (ICE, SRTP support).
    Reset = ["reset"],
    /// `delete`: report errors as errors, not warnings.
    Fatal = ["fatal"],
    /// Leave the SDP direction attributes as received.
    OriginalSendrecv = ["original-sendrecv"],
    /// Start the audio player on the offer.
    EarlyMedia = ["early-media"],
    /// Send empty packets towards the peer to open NAT bindings.
    PierceNat = ["pierce-NAT"],
    /// Do not send to an endpoint before a packet came from it.
    NatWait = ["NAT-wait"],
    /// Reject offered ICE.
    RejectIce = ["reject-ICE", "ICE-reject"],
    /// Advertise trickle ICE.
    TrickleIce = ["trickle-ICE"],
    /// Consume RTCP and generate our own.
    GenerateRtcp = ["generate-RTCP"],
    /// Remove `a=extmap` attributes.
    StripExtmap = ["strip-extmap"],
    /// Answer with the first codec only.
    SingleCodec = ["single-codec"],
    /// Keep earlier codec preferences across re-offers.
    ReuseCodecs = ["reuse-codecs", "no-codec-renegotiation"],
    /// Accept an answer that rejects some codecs and transcode.
    AllowTranscoding = ["allow-transcoding"],
    /// Make the streams available for DTMF injection.
    InjectDtmf = ["inject-DTMF"],
    /// Detect in-band DTMF.
    DetectDtmf = ["detect-DTMF"],
    /// Legacy alias of `SDES=pad`.
    PadCrypto = ["pad-crypto"],
    /// Debug logging for this call.
    Debug = ["debug", "debugging"],
    /// `delete`: only the branch selected by the to-tag.
    ToTag = ["to-tag"],
    /// Tags select one direction of the call.
    Directional = ["directional"],
    /// The SDP is a trickle-ICE fragment.
    Fragment = ["fragment"],
    /// Force media pass-through.
    Passthrough = ["passthrough"],
    /// Disable media pass-through.
    NoPassthrough = ["no-passthrough"],
    /// Shorthand for the WebRTC-facing option set.
    WebRtc = ["WebRTC"],
    /// Drop RTP packets shorter than expected.
    BlockShort = ["block-short", "block-shorts", "block-short-packets"],
    /// Disable the jitter buffer.
    NoJitterBuffer = ["no-jitter-buffer"],
    /// Exclude this participant from recording.
    ExcludeRecording = ["exclude-recording"],
    /// Delete recordings of this call.
    DiscardRecording = ["discard-recording"],
}

/// The set of recognised boolean flags present in a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    bits: u64,
}

impl Flags {
    fn bit(flag: Flag) -> u64 {
        // Flag has fewer than 64 variants (checked by a test), so the shift is in range.
        1u64 << (flag as u32)
    }

    /// True if `flag` is set.
    pub fn contains(&self, flag: Flag) -> bool {
        self.bits & Self::bit(flag) != 0
    }

    /// Sets `flag`.
    pub fn insert(&mut self, flag: Flag) {
        self.bits |= Self::bit(flag);
    }

    /// Clears `flag`.
    pub fn remove(&mut self, flag: Flag) {
        self.bits &= !Self::bit(flag);
    }

    /// True if no flag is set.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The set flags, in [`Flag::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        Flag::ALL.iter().copied().filter(|f| self.contains(*f))
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Self {
        let mut flags = Flags::default();
        for f in iter {
            flags.insert(f);
        }
        flags
    }
}

/// The `replace` list: which parts of the SDP session description to rewrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Replace {
    /// `origin`: the address of the `o=` line.
    pub origin: bool,
    /// `origin-full`: the whole `o=` line.
    pub origin_full: bool,
    /// `session-connection`: the session-level `c=` line.
    pub session_connection: bool,
    /// `session-name`: the `s=` line.
    pub session_name: bool,
    /// `sdp-version`: own the `o=` version, bump it when the SDP changes.
    pub sdp_version: bool,
    /// `username`: keep the `o=` username stable per endpoint.
    pub username: bool,
    /// `zero-address`: replace a zero (hold) address by a real one.
    pub zero_address: bool,
    /// `force-increment-sdp-ver`: bump the SDP version even if unchanged.
    pub force_increment_sdp_version: bool,
}

impl Replace {
    /// Sets the item named `name`; false if the name is not recognised.
    pub fn set_by_name(&mut self, name: &[u8]) -> bool {
        let slot = if name_eq(name, "origin") {
            &mut self.origin
        } else if name_eq(name, "origin-full") {
            &mut self.origin_full
        } else if name_eq(name, "session-connection") {
            &mut self.session_connection
        } else if name_eq(name, "session-name") {
            &mut self.session_name
        } else if name_eq(name, "sdp-version") {
            &mut self.sdp_version
        } else if name_eq(name, "username") {
            &mut self.username
        } else if name_eq(name, "zero-address") {
            &mut self.zero_address
        } else if name_eq(name, "force-increment-sdp-ver")
            || name_eq(name, "force-increment-sdp-version")
        {
            &mut self.force_increment_sdp_version
        } else {
            return false;
        };
        *slot = true;
        true
    }

    /// The canonical names of the set items, in declaration order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.origin, "origin"),
            (self.origin_full, "origin-full"),
            (self.session_connection, "session-connection"),
            (self.session_name, "session-name"),
            (self.sdp_version, "sdp-version"),
            (self.username, "username"),
            (self.zero_address, "zero-address"),
            (self.force_increment_sdp_version, "force-increment-sdp-ver"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// The `rtcp-mux` list (RFC 5761 RTP/RTCP multiplexing policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RtcpMux {
    /// `offer`: offer rtcp-mux even if the client did not.
    pub offer: bool,
    /// `require`: behave as if rtcp-mux were already accepted (WebRTC).
    pub require: bool,
    /// `demux`: accept it from the offerer but do not offer it onwards.
    pub demux: bool,
    /// `accept`: accept it and offer it onwards if offered.
    pub accept: bool,
    /// `reject`: reject it if offered.
    pub reject: bool,
}

impl RtcpMux {
    /// Sets the item named `name`; false if the name is not recognised.
    pub fn set_by_name(&mut self, name: &[u8]) -> bool {
        let slot = if name_eq(name, "offer") {
            &mut self.offer
        } else if name_eq(name, "require") {
            &mut self.require
        } else if name_eq(name, "demux") {
            &mut self.demux
        } else if name_eq(name, "accept") {
            &mut self.accept
        } else if name_eq(name, "reject") {
            &mut self.reject
        } else {
            return false;
        };
        *slot = true;
        true
    }

    /// The names of the set items, in declaration order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.offer, "offer"),
            (self.require, "require"),
            (self.demux, "demux"),
            (self.accept, "accept"),
            (self.reject, "reject"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// Generates a small string enum with canonical names and aliases.
macro_rules! string_enum {
    ($(#[$tdoc:meta])* $name:ident { $( $(#[$doc:meta])* $variant:ident = [$canonical:literal $(, $alias:literal)*], )* }) => {
        $(#[$tdoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$doc])* $variant, )*
        }

        impl $name {
            /// The canonical wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $canonical, )*
                }
            }

            /// Looks up a value by any accepted spelling.
            pub fn from_name(name: &[u8]) -> Option<Self> {
                $(
                    if name_eq(name, $canonical) $(|| name_eq(name, $alias))* {
                        return Some($name::$variant);
                    }
                )*
                None
            }
        }
    };
}

string_enum! {
    /// The `ICE` key; absent means [`IceMode::Default`].
    #[derive(Default)]
    IceMode {
        /// Force our own candidates only if the offer had ICE; same as absent.
        #[default]
        Default = ["default"],
        /// Strip all ICE attributes.
        Remove = ["remove"],
        /// Replace the candidates by our own.
        Force = ["force"],
        /// Keep candidates, add ourselves as a relay candidate.
        ForceRelay = ["force-relay"],
        /// Add ourselves as a low-priority candidate.
        Optional = ["optional"],
    }
}

string_enum! {
    /// The `address-family` key.
    AddressFamily {
        /// IPv4.
        Ip4 = ["IP4", "IPv4"],
        /// IPv6.
        Ip6 = ["IP6", "IPv6"],
    }
}

string_enum! {
    /// The `all` key (or the bare `all` flag, meaning [`AllMode::All`]).
    AllMode {
        /// No extra behaviour.
        None = ["none"],
        /// Every participant/flow.
        All = ["all"],
        /// Flows created by offer/answer.
        OfferAnswer = ["offer-answer"],
        /// Flows not created by offer/answer.
        ExceptOfferAnswer = ["except-offer-answer", "not-offer-answer", "non-offer-answer"],
        /// All established media flows.
        Flows = ["flows"],
    }
}

string_enum! {
    /// The `sip-message-type` key Kamailio adds: whether the SDP came in a request or a reply.
    SipMessageType {
        /// A SIP request.
        Request = ["sip_request", "request", "sip-request"],
        /// A SIP reply.
        Reply = ["sip_reply", "reply", "sip-response", "response"],
    }
}

/// Codec manipulations (the `codec` dictionary and the `codec-*` flags). Items are raw
/// codec specifications such as `PCMA` or `opus/48000/2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Codecs<'a> {
    /// `strip`: remove these codecs.
    pub strip: Vec<&'a [u8]>,
    /// `offer`: keep only these, in this order.
    pub offer: Vec<&'a [u8]>,
    /// `transcode`: add these (transcoding).
    pub transcode: Vec<&'a [u8]>,
    /// `mask`: remove but accept for transcoding.
    pub mask: Vec<&'a [u8]>,
    /// `accept`: accept for transcoding if rejected.
    pub accept: Vec<&'a [u8]>,
    /// `consume`: like mask, always transcoding.
    pub consume: Vec<&'a [u8]>,
    /// `except`: keep these when stripping all.
    pub except: Vec<&'a [u8]>,
    /// `set`: codec options for implicitly accepted codecs.
    pub set: Vec<&'a [u8]>,
}

impl<'a> Codecs<'a> {
    /// The list for operation `op` (`strip`, `offer`, ...), if recognised.
    pub fn list_mut(&mut self, op: &[u8]) -> Option<&mut Vec<&'a [u8]>> {
        let list = if name_eq(op, "strip") {
            &mut self.strip
        } else if name_eq(op, "offer") {
            &mut self.offer
        } else if name_eq(op, "transcode") {
            &mut self.transcode
        } else if name_eq(op, "mask") {
            &mut self.mask
        } else if name_eq(op, "accept") {
            &mut self.accept
        } else if name_eq(op, "consume") {
            &mut self.consume
        } else if name_eq(op, "except") {
            &mut self.except
        } else if name_eq(op, "set") {
            &mut self.set
        } else {
            return None;
        };
        Some(list)
    }

    /// True if no manipulation is requested.
    pub fn is_empty(&self) -> bool {
        self.strip.is_empty()
            && self.offer.is_empty()
            && self.transcode.is_empty()
            && self.mask.is_empty()
            && self.accept.is_empty()
            && self.consume.is_empty()
            && self.except.is_empty()
            && self.set.is_empty()
    }
}
