//! The NIC counters of the DPDK ports, for the metrics and the admin socket: a handle per
//! port that reads the driver's statistics on demand, from any thread (the workers are not
//! involved: `rte_eth_stats_get` reads the port's own counters).

/// One port's driver statistics (monotonic while the port runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because an RX queue was full (`imissed`).
    pub rx_missed: u64,
    /// Erroneous packets received (`ierrors`).
    pub rx_errors: u64,
    /// Failed transmissions (`oerrors`).
    pub tx_errors: u64,
    /// RX mbuf allocation failures (`rx_nombuf`).
    pub rx_no_mbuf: u64,
    /// Packets received per queue (queue `q` is worker `q`'s).
    pub rx_queue_packets: Vec<u64>,
    /// Packets sent per queue.
    pub tx_queue_packets: Vec<u64>,
}

/// A DPDK port whose counters can be read (none with the socket backend).
#[derive(Debug, Clone)]
pub struct NicPort {
    #[cfg(feature = "dpdk")]
    port: std::sync::Arc<crate::dpdk::EthPort>,
    #[cfg(not(feature = "dpdk"))]
    _none: std::convert::Infallible,
}

impl NicPort {
    /// The port's device name, as the EAL probed it (`0000:3b:00.0`, `net_af_packet0`).
    pub fn name(&self) -> &str {
        #[cfg(feature = "dpdk")]
        return self.port.name();
        #[cfg(not(feature = "dpdk"))]
        match self._none {}
    }

    /// The driver's statistics now.
    pub fn stats(&self) -> NicStats {
        #[cfg(feature = "dpdk")]
        {
            let s = self.port.stats();
            NicStats {
                rx_packets: s.rx_packets,
                tx_packets: s.tx_packets,
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
                rx_missed: s.rx_missed,
                rx_errors: s.rx_errors,
                tx_errors: s.tx_errors,
                rx_no_mbuf: s.rx_no_mbuf,
                rx_queue_packets: s.rx_queue_packets,
                tx_queue_packets: s.tx_queue_packets,
            }
        }
        #[cfg(not(feature = "dpdk"))]
        match self._none {}
    }

    /// A handle on `port`.
    #[cfg(feature = "dpdk")]
    pub(crate) fn new(port: std::sync::Arc<crate::dpdk::EthPort>) -> NicPort {
        NicPort { port }
    }
}
