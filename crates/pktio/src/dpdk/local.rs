//! The layer 2/3 duties of [`DpdkIo`] on its ports: ARP / neighbour-discovery / echo answers
//! for the relay addresses, next-hop resolution with the worker's neighbour table, and the
//! announcements at start. The protocol work is [`crate::l2`]'s; this file moves mbufs.

use super::config::DpdkLink;
use super::io::{Addrs, DpdkIo};
use super::mbuf::Mbuf;
use crate::l2::build::{self, ALL_NODES, NA_OVERRIDE};
use crate::l2::rx::{Kind, Learn, Reply};
use crate::l2::{self, Learned, LocalAddrs, Resolve, MAX_BUILT_FRAME};
use wire::Endpoint;

/// The relay addresses of one link, for [`l2::handle`].
struct LinkAddrs<'a> {
    addrs: &'a Addrs,
    link: usize,
}

impl LocalAddrs for LinkAddrs<'_> {
    fn local_mac(&self, ip: &[u8; 16]) -> Option<[u8; 6]> {
        let a = self.addrs.on_link(self.link, ip)?;
        self.addrs.relay.get(usize::from(a)).map(|r| r.mac)
    }
}

/// The VLAN tag (id) of a frame, if tagged.
fn frame_vlan(bytes: &[u8]) -> Option<u16> {
    match *bytes {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, t0, t1, ..] => {
            Some(u16::from_be_bytes([t0, t1]) & 0x0fff)
        }
        _ => None,
    }
}

impl DpdkIo {
    /// Handles received frame `m`, which is not relayed UDP. Gives it back when it is
    /// nothing this port answers or learns from (the caller counts the drop).
    pub(super) fn local(&mut self, link: usize, mut m: Mbuf) -> Option<Mbuf> {
        let vlan = self.ports.links.get(link).and_then(|l| l.vlan);
        let bytes = m.data_mut();
        if frame_vlan(bytes) != vlan {
            return Some(m);
        }
        let addrs = LinkAddrs {
            addrs: &self.addrs,
            link,
        };
        let h = l2::handle(bytes, &addrs);
        if h.kind == Kind::Other {
            return Some(m);
        }
        if let Some(l) = h.learn {
            self.learn(link, l, true);
        }
        let c = &mut self.stats.l2;
        match h.kind {
            Kind::ArpRequest => c.arp_replies += 1,
            Kind::Echo => c.echo_replies += 1,
            Kind::Solicitation => c.nd_replies += 1,
            Kind::ArpOther | Kind::Advertisement | Kind::Other => c.neighbour_packets += 1,
        }
        match h.reply {
            Reply::InPlace => self.send_local(link, m),
            // Observed (learned from), not answered: the host may want it (ARP or neighbour
            // discovery for its own address) when the port has an exception interface.
            Reply::None => {
                if let Err(m) = self.pass_to_host(link, m) {
                    self.free_later(m);
                }
            }
            Reply::Advertise {
                ip,
                mac,
                dst_mac,
                dst,
                flags,
            } => {
                self.free_later(m);
                self.emit(link, |out| {
                    build::neighbour_advertisement(out, vlan, mac, &ip, dst_mac, &dst, flags)
                });
            }
        }
        None
    }

    /// Puts a mapping in the table (and tells the other workers when `share`).
    fn learn(&mut self, link: usize, l: Learn, share: bool) {
        let Ok(link16) = u16::try_from(link) else {
            return;
        };
        let n = &mut self.neigh;
        if n.table.learn(link16, &l.ip, l.mac, n.now_ms, l.create) {
            self.stats.l2.learned += 1;
        }
        if share {
            if let Some(p) = &mut n.peer {
                p.share(Learned {
                    link: link16,
                    ip: l.ip,
                    mac: l.mac,
                    create: l.create,
                });
            }
        }
    }

    /// Applies what the other workers learned.
    pub(super) fn take_notes(&mut self) {
        let Some(mut peer) = self.neigh.peer.take() else {
            return;
        };
        peer.receive(NOTES, |n| {
            let l = Learn {
                ip: n.ip,
                mac: n.mac,
                create: n.create,
            };
            self.learn(usize::from(n.link), l, false);
        });
        self.neigh.peer = Some(peer);
    }

    /// The MAC a frame from relay address `ai` on `link` to `dst` goes to; `None` (counted)
    /// when there is no route or the next hop is not resolved yet (a request goes out).
    #[inline]
    pub(super) fn next_hop(&mut self, link: usize, ai: usize, dst: &[u8; 16]) -> Option<[u8; 6]> {
        let (l, our) = (self.ports.links.get(link)?, self.addrs.eps.get(ai)?);
        if let Some(mac) = l.next_hop_mac {
            return Some(mac);
        }
        let Some(hop) = on_link_hop(l, &our.ip, dst) else {
            self.stats.l2.no_route += 1;
            return None;
        };
        let link16 = u16::try_from(link).ok()?;
        match (self.neigh.table).resolve(link16, &hop, self.neigh.now_ms) {
            Resolve::Known(mac) => Some(mac),
            Resolve::Refresh(mac) => {
                self.request(link, ai, &hop);
                Some(mac)
            }
            Resolve::Ask => {
                self.request(link, ai, &hop);
                self.stats.l2.unresolved += 1;
                None
            }
            Resolve::Pending | Resolve::Full => {
                self.stats.l2.unresolved += 1;
                None
            }
        }
    }

    /// Sends an ARP request (IPv4) or a neighbour solicitation (IPv6) for `hop` from relay
    /// address `ai` on `link`.
    fn request(&mut self, link: usize, ai: usize, hop: &[u8; 16]) {
        let (addrs, eps, links) = (&self.addrs.relay, &self.addrs.eps, &self.ports.links);
        let (Some(a), Some(ep), Some(l)) = (addrs.get(ai), eps.get(ai), links.get(link)) else {
            return;
        };
        let (mac, ip, vlan) = (a.mac, ep.ip, l.vlan);
        let hop = *hop;
        let sent = match (l2::unmapped(&ip), l2::unmapped(&hop)) {
            (Some(src), Some(t)) => {
                self.emit(link, |out| build::arp_request(out, vlan, mac, src, t))
            }
            (None, None) => self.emit(link, |out| {
                build::neighbour_solicitation(out, vlan, mac, &ip, &hop)
            }),
            _ => false,
        };
        if sent {
            self.stats.l2.requests_sent += 1;
        }
    }

    /// Announces every relay address on its link: gratuitous ARP (RFC 5227 §3) or an
    /// unsolicited neighbour advertisement to all nodes (RFC 4861 §7.2.6).
    pub(super) fn announce_all(&mut self) {
        let (addrs, eps, addr_link) = (&self.addrs.relay, &self.addrs.eps, &self.addrs.link);
        let links = &self.ports.links;
        let todo: Vec<Announce> = addrs
            .iter()
            .zip(eps)
            .zip(addr_link)
            .filter_map(|((a, e), &l)| Some((l, a.mac, e.ip, links.get(l)?.vlan)))
            .collect();
        for (link, mac, ip, vlan) in todo {
            let sent = match l2::unmapped(&ip) {
                Some(v4) => self.emit(link, |out| build::arp_request(out, vlan, mac, v4, v4)),
                None => self.emit(link, |out| {
                    let group = l2::multicast_mac(&ALL_NODES);
                    build::neighbour_advertisement(
                        out,
                        vlan,
                        mac,
                        &ip,
                        group,
                        &ALL_NODES,
                        NA_OVERRIDE,
                    )
                }),
            };
            if sent {
                self.stats.l2.announcements += 1;
            }
        }
    }

    /// Builds a frame with `f` in a fresh mbuf of the link's pool and queues it on the link;
    /// false (counted) when there is no mbuf.
    fn emit(&mut self, link: usize, f: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let queue = self.ports.queue;
        let Some(pool) = self.ports.links.get(link).and_then(|l| l.port.pool(queue)) else {
            return false;
        };
        let Some(mut m) = Mbuf::alloc(pool) else {
            self.stats.l2.no_mbuf += 1;
            return false;
        };
        let Some(out) = m.append(MAX_BUILT_FRAME as u16) else {
            self.stats.l2.no_mbuf += 1;
            self.free_later(m);
            return false;
        };
        match f(out) {
            Some(n) if n <= MAX_BUILT_FRAME => {
                m.truncate(n as u16);
                self.send_local(link, m);
                true
            }
            _ => {
                self.free_later(m);
                false
            }
        }
    }
}

/// One address to announce: link, MAC, address, VLAN.
type Announce = (usize, [u8; 6], [u8; 16], Option<u16>);

/// Notes from other workers taken per receive at most.
const NOTES: usize = 64;

/// The next hop toward `dst` from relay address `our` on link `l`: the destination itself on
/// the address's subnet, else the family's gateway.
fn on_link_hop(l: &DpdkLink, our: &[u8; 16], dst: &[u8; 16]) -> Option<[u8; 16]> {
    let v4 = Endpoint::new_v6(*dst, 0).is_v4();
    let prefix = if v4 { l.prefix_v4 } else { l.prefix_v6 };
    if l2::same_subnet(our, dst, prefix) {
        return Some(*dst);
    }
    if v4 {
        l.gateway_v4.map(l2::mapped)
    } else {
        l.gateway_v6
    }
}
