//! The exception path of [`DpdkIo`]: frames for the host (not relay media, not answered by the
//! backend) go to the port's exception interface (`net_tap` / `virtio_user`), and what the host
//! sends there leaves through the port, both unchanged.

use super::drops::RxDrop;
use super::io::DpdkIo;
use wire::frame;
use wire::Endpoint;

impl DpdkIo {
    /// Passes a frame the relay does not take to the link's exception interface when there is
    /// one and the frame is not addressed to a relay address of the link (those are dropped
    /// by the relay's rules); otherwise counts it as dropped for `r`.
    #[inline]
    pub(super) fn host_or_drop(
        &mut self,
        link: usize,
        m: *mut dpdk_sys::rte_mbuf,
        r: RxDrop,
        bytes: &[u8],
    ) {
        let ours = l3_dst(bytes).is_some_and(|ip| self.local_addr(link, &ip).is_some());
        if !ours && self.pass_to_host(link, m) {
            return;
        }
        self.drop_frame(m, r);
    }

    /// Queues `m` for the link's exception interface; false (nothing done) without one.
    #[inline]
    pub(super) fn pass_to_host(&mut self, link: usize, m: *mut dpdk_sys::rte_mbuf) -> bool {
        if self.exc_ids.get(link).copied().flatten().is_none() {
            return false;
        }
        match self.host_out.get_mut(link) {
            Some(out) => {
                out.push(m);
                true
            }
            None => false,
        }
    }

    /// Passes the frames for the host to the exception interfaces, and queues what the host
    /// sent on them for transmission on their ports.
    pub(super) fn exchange_host(&mut self) {
        let room = u16::try_from(self.burst).unwrap_or(u16::MAX);
        for link in 0..self.exc_ids.len() {
            let Some(exc) = self.exc_ids[link] else {
                continue;
            };
            let out = &mut self.host_out[link];
            if !out.is_empty() {
                let n = u16::try_from(out.len()).unwrap_or(u16::MAX);
                // SAFETY: `out` holds owned mbufs; the driver takes the first `sent`; this
                // worker alone uses TX queue `self.queue` of the exception port, which stays
                // started while the link (holding its `Arc<EthPort>`) lives.
                let sent = usize::from(unsafe {
                    dpdk_sys::fv_tx_burst(exc, self.queue, out.as_mut_ptr(), n)
                });
                self.l2.to_host += sent as u64;
                self.l2.host_dropped += (out.len() - sent) as u64;
                self.free.extend_from_slice(&out[sent..]);
                out.clear();
            }
            // SAFETY: `rx` has `burst` slots; the driver writes at most `room` owned mbufs;
            // this worker alone polls RX queue `self.queue` of the exception port.
            let n = usize::from(unsafe {
                dpdk_sys::fv_rx_burst(exc, self.queue, self.rx.as_mut_ptr(), room)
            });
            self.l2.from_host += n as u64;
            for j in 0..n {
                let m = self.rx[j];
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
