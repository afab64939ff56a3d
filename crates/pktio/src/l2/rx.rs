//! Received frames that are not relayed UDP: ARP, ICMP echo, neighbour discovery.

use super::build::{
    ALL_NODES, IPPROTO_ICMPV6, NA_OVERRIDE, NA_SOLICITED, ND_ADVERT, ND_HOP_LIMIT, ND_SOLICIT,
    OPT_SOURCE_LL, OPT_TARGET_LL,
};
use super::icmp::{echo_reply_v4, echo_reply_v6, IPPROTO_ICMP};
use super::{mapped, multicast_mac};
use wire::arp;
use wire::checksum::{fold, pseudo_v6, sum};
use wire::frame::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// The relay addresses of one port.
pub trait LocalAddrs {
    /// Our MAC for `ip` (IPv4 mapped) when it is one of this port's relay addresses.
    fn local_mac(&self, ip: &[u8; 16]) -> Option<[u8; 6]>;
}

/// What to send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Nothing; the frame is consumed.
    None,
    /// The frame was rewritten into the reply in place: transmit it.
    InPlace,
    /// Send a neighbour advertisement built with
    /// [`super::build::neighbour_advertisement`] from these values; the frame is consumed.
    Advertise {
        /// Our address (the solicitation's target).
        ip: [u8; 16],
        /// Our MAC for it.
        mac: [u8; 6],
        /// Ethernet destination.
        dst_mac: [u8; 6],
        /// IPv6 destination.
        dst: [u8; 16],
        /// Advertisement flags.
        flags: u8,
    },
}

/// What kind of frame it was (one counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An ARP request for one of our addresses (answered).
    ArpRequest,
    /// Another ARP packet (a reply, an announcement, a request for someone else).
    ArpOther,
    /// An ICMP or ICMPv6 echo request to one of our addresses (answered).
    Echo,
    /// A neighbour solicitation for one of our addresses (answered).
    Solicitation,
    /// A neighbour advertisement.
    Advertisement,
    /// Anything else: not for this port (counted as a drop by the caller).
    Other,
}

/// A neighbour mapping a frame taught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learn {
    /// The neighbour's address (IPv4 mapped).
    pub ip: [u8; 16],
    /// Its MAC.
    pub mac: [u8; 6],
    /// Create an entry if there is none (else update only), see
    /// [`super::NeighTable::learn`].
    pub create: bool,
}

/// The outcome of [`handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// What to send.
    pub reply: Reply,
    /// What to put in the neighbour table.
    pub learn: Option<Learn>,
    /// For the counters.
    pub kind: Kind,
}

const NOTHING: Handled = Handled {
    reply: Reply::None,
    learn: None,
    kind: Kind::Other,
};

/// Handles a received frame that is not relayed UDP. `frame` may be rewritten (only when the
/// result says [`Reply::InPlace`]).
pub fn handle(frame: &mut [u8], addrs: &impl LocalAddrs) -> Handled {
    let Some((ethertype, l3)) = wire::frame::ethertype(frame) else {
        return NOTHING;
    };
    match ethertype {
        ETHERTYPE_ARP => handle_arp(frame, addrs),
        ETHERTYPE_IPV4 => {
            let proto = frame.get(l3 + 9).copied();
            if proto != Some(IPPROTO_ICMP) {
                return NOTHING;
            }
            let mut mac = None;
            let ok = echo_reply_v4(frame, l3, [0; 6], |ip| {
                mac = addrs.local_mac(&mapped(*ip));
                mac.is_some()
            });
            echoed(frame, ok, mac)
        }
        ETHERTYPE_IPV6 => handle_icmpv6(frame, l3, addrs),
        _ => NOTHING,
    }
}

/// RFC 826 "Packet Reception": merge the sender into the table if it is there; if the target
/// is us, add it, and answer a request.
fn handle_arp(frame: &mut [u8], addrs: &impl LocalAddrs) -> Handled {
    let Ok(a) = arp::parse(frame) else {
        return NOTHING;
    };
    let ours = addrs.local_mac(&mapped(a.target_ip));
    // A probe (RFC 5227 §2.1.1) has sender IP 0.0.0.0: nothing to learn.
    let learn = (a.sender_ip != [0; 4] && a.sender_mac[0] & 1 == 0).then_some(Learn {
        ip: mapped(a.sender_ip),
        mac: a.sender_mac,
        create: ours.is_some() && !a.is_gratuitous(),
    });
    match ours {
        Some(mac) if a.op == arp::OP_REQUEST => {
            if arp::reply_in_place(frame, &a, mac).is_ok() {
                Handled {
                    reply: Reply::InPlace,
                    learn,
                    kind: Kind::ArpRequest,
                }
            } else {
                NOTHING
            }
        }
        _ => Handled {
            reply: Reply::None,
            learn,
            kind: Kind::ArpOther,
        },
    }
}

/// The link-layer address option of type `want` among neighbour-discovery `options`;
/// `Err` for a malformed option list (RFC 4861 §7.1.1: an option of length 0 invalidates the
/// message).
fn ll_option(options: &[u8], want: u8) -> Result<Option<[u8; 6]>, ()> {
    let mut rest = options;
    let mut found = None;
    while let [ty, len, ..] = *rest {
        let n = usize::from(len) * 8;
        if n == 0 || n > rest.len() {
            return Err(());
        }
        if ty == want && n >= 8 {
            found = Some([rest[2], rest[3], rest[4], rest[5], rest[6], rest[7]]);
        }
        rest = &rest[n..];
    }
    Ok(found)
}

fn handle_icmpv6(frame: &mut [u8], l3: usize, addrs: &impl LocalAddrs) -> Handled {
    let Some(ip) = frame.get(l3..) else {
        return NOTHING;
    };
    if ip.len() < 48 || ip[0] >> 4 != 6 || ip[6] != IPPROTO_ICMPV6 {
        return NOTHING;
    }
    let ty = ip[40];
    if ty != ND_SOLICIT && ty != ND_ADVERT {
        return handle_echo_v6(frame, l3, addrs);
    }
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if plen < 24 || 40 + plen > ip.len() {
        return NOTHING;
    }
    let nd = Nd {
        src: ip[8..24].try_into().unwrap_or([0; 16]),
        dst: ip[24..40].try_into().unwrap_or([0; 16]),
        target: ip[48..64].try_into().unwrap_or([0; 16]),
        msg: &ip[40..40 + plen],
    };
    // RFC 4861 §7.1.1 / §7.1.2 validation: hop limit 255, code 0, checksum, length, target
    // not multicast, options well formed. A multicast source is no sender at all (RFC 4291
    // §2.7): answering it would send a solicited advertisement to a multicast group, which
    // §7.1.2 tells every receiver to discard.
    if ip[7] != ND_HOP_LIMIT
        || nd.msg[1] != 0
        || nd.target[0] == 0xff
        || nd.src[0] == 0xff
        || fold(sum(
            nd.msg,
            pseudo_v6(&nd.src, &nd.dst, IPPROTO_ICMPV6, plen as u32),
        )) != 0
    {
        return NOTHING;
    }
    if ty == ND_SOLICIT {
        let eth_src = frame.get(6..12).map_or([0; 6], |s| {
            let mut m = [0u8; 6];
            m.copy_from_slice(s);
            m
        });
        return nd_solicitation(&nd, eth_src, addrs);
    }
    nd_advertisement(&nd)
}

/// A neighbour discovery message (RFC 4861 §4.3, §4.4) that passed the §7.1 checks.
struct Nd<'a> {
    src: [u8; 16],
    dst: [u8; 16],
    target: [u8; 16],
    /// The ICMPv6 message (its options from byte 24).
    msg: &'a [u8],
}

/// An ICMPv6 message other than neighbour discovery: an echo request to a local address is
/// answered in place (from that address's MAC).
fn handle_echo_v6(frame: &mut [u8], l3: usize, addrs: &impl LocalAddrs) -> Handled {
    let mut mac = None;
    let ok = echo_reply_v6(frame, l3, [0; 6], |a| {
        mac = addrs.local_mac(a);
        mac.is_some()
    });
    echoed(frame, ok, mac)
}

/// An echo reply written in place (`ok`) from local address MAC `mac`: the reply was written
/// with a placeholder source MAC, so ours goes in.
fn echoed(frame: &mut [u8], ok: bool, mac: Option<[u8; 6]>) -> Handled {
    match (ok, mac) {
        (true, Some(m)) => {
            if let Some(s) = frame.get_mut(6..12) {
                s.copy_from_slice(&m);
            }
            Handled {
                reply: Reply::InPlace,
                learn: None,
                kind: Kind::Echo,
            }
        }
        _ => NOTHING,
    }
}

/// A neighbour solicitation from `eth_src`: an advertisement when its target is local, and
/// the sender learnt when it gave its link-layer address.
fn nd_solicitation(nd: &Nd<'_>, eth_src: [u8; 6], addrs: &impl LocalAddrs) -> Handled {
    let Ok(sll) = ll_option(&nd.msg[24..], OPT_SOURCE_LL) else {
        return NOTHING;
    };
    let unspecified = nd.src == [0; 16];
    // §7.1.1: from the unspecified address, only to a solicited-node group and without a
    // source link-layer option.
    if unspecified && (nd.dst != super::solicited_node(&nd.target) || sll.is_some()) {
        return NOTHING;
    }
    // §7.2.3: learn the sender when it gave its link-layer address.
    let learn = match (unspecified, sll) {
        (false, Some(mac)) => Some(Learn {
            ip: nd.src,
            mac,
            create: true,
        }),
        _ => None,
    };
    let Some(mac) = addrs.local_mac(&nd.target) else {
        return Handled {
            reply: Reply::None,
            learn: None,
            kind: Kind::Other,
        };
    };
    // §7.2.4: to the solicitation's source (solicited, override), or to all nodes when the
    // source is unspecified (duplicate address detection; S clear).
    let (dst_mac, dst, flags) = if unspecified {
        (multicast_mac(&ALL_NODES), ALL_NODES, NA_OVERRIDE)
    } else {
        (sll.unwrap_or(eth_src), nd.src, NA_SOLICITED | NA_OVERRIDE)
    };
    Handled {
        reply: Reply::Advertise {
            ip: nd.target,
            mac,
            dst_mac,
            dst,
            flags,
        },
        learn,
        kind: Kind::Solicitation,
    }
}

/// A neighbour advertisement: updates an existing entry only (§7.2.5).
fn nd_advertisement(nd: &Nd<'_>) -> Handled {
    // §7.1.2: to a multicast destination the solicited flag must be clear.
    if nd.dst[0] == 0xff && nd.msg[4] & NA_SOLICITED != 0 {
        return NOTHING;
    }
    let Ok(tll) = ll_option(&nd.msg[24..], OPT_TARGET_LL) else {
        return NOTHING;
    };
    Handled {
        reply: Reply::None,
        learn: tll.map(|mac| Learn {
            ip: nd.target,
            mac,
            create: false,
        }),
        kind: Kind::Advertisement,
    }
}
