//! The exception path of [`DpdkIo`]: frames for the host (not relay media, not answered by the
//! backend) go to the port's exception interface (`net_tap` / `virtio_user`), and what the host
//! sends there leaves through the port, both unchanged.

use super::drops::RxDrop;
use super::io::DpdkIo;
use super::mbuf::Mbuf;
use super::tx::tx_burst;
use wire::frame;
use wire::Endpoint;

impl DpdkIo {
    /// Passes a frame the relay does not take to the link's exception interface when there is
    /// one and the frame is not addressed to a relay address of the link (those are dropped
    /// by the relay's rules); otherwise counts it as dropped for `r`.
    #[inline]
    pub(super) fn host_or_drop(&mut self, link: usize, m: Mbuf, r: RxDrop) {
        let ours = l3_dst(m.data()).is_some_and(|ip| self.addrs.on_link(link, &ip).is_some());
        if ours {
            return self.drop_frame(m, r);
        }
        if let Err(m) = self.pass_to_host(link, m) {
            self.drop_frame(m, r);
        }
    }

    /// Queues `m` for the link's exception interface; gives it back without one.
    #[inline]
    pub(super) fn pass_to_host(&mut self, link: usize, m: Mbuf) -> Result<(), Mbuf> {
        if self.ports.exception.get(link).copied().flatten().is_none() {
            return Err(m);
        }
        match self.tx.host.get_mut(link) {
            Some(out) => {
                out.push(m);
                Ok(())
            }
            None => Err(m),
        }
    }

    /// Passes the frames for the host to the exception interfaces, and queues what the host
    /// sent on them for transmission on their ports.
    pub(super) fn exchange_host(&mut self) {
        let (room, queue) = (
            u16::try_from(self.rx.size).unwrap_or(u16::MAX),
            self.ports.queue,
        );
        for link in 0..self.ports.exception.len() {
            let Some(exc) = self.ports.exception[link] else {
                continue;
            };
            let out = &mut self.tx.host[link];
            if !out.is_empty() {
                let total = out.len();
                // SAFETY: this worker alone uses TX queue `queue` of the exception port, which
                // stays started while the link (holding its `Arc<EthPort>`) lives.
                let sent = unsafe { tx_burst(exc, queue, 1, out, &mut self.tx.free) };
                self.stats.l2.to_host += sent as u64;
                self.stats.l2.host_dropped += (total - sent) as u64;
            }
            // SAFETY: `raw` has `size` entries; the driver writes at most `room` owned mbufs;
            // this worker alone polls RX queue `queue` of the exception port.
            let n = usize::from(unsafe {
                dpdk_sys::fv_rx_burst(exc, queue, self.rx.raw.as_mut_ptr(), room)
            });
            self.stats.l2.from_host += n as u64;
            for j in 0..n {
                // SAFETY: entry `j < n` was just written by the driver: a valid mbuf, now
                // ours, taken here once.
                let m = unsafe { Mbuf::from_raw(self.rx.raw[j]) };
                self.send_local(link, m);
            }
        }
    }
}

/// The IP destination address (Endpoint form) of an IPv4 or IPv6 frame, after at most one
/// VLAN tag; `None` for other frames or when too short.
fn l3_dst(bytes: &[u8]) -> Option<[u8; 16]> {
    let (et, l3) = frame::ethertype(bytes)?;
    let ip = bytes.get(l3..)?;
    match et {
        frame::ETHERTYPE_IPV4 => {
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some(Endpoint::new_v4(d, 0).ip)
        }
        frame::ETHERTYPE_IPV6 => ip.get(24..40)?.try_into().ok(),
        _ => None,
    }
}
