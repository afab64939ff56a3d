//! An Ethernet port: configured with one RX and one TX queue per worker, started, stopped and
//! closed on drop; link state, statistics and what the NIC offloads.

use super::{strerror, DpdkError, Eal, Mempool};
use std::ffi::{CStr, CString};
use std::sync::Arc;

// Offload and RSS bits of rte_ethdev.h (as enumerators of the bindings' wrapper header: the
// macros are function-like, which bindgen cannot evaluate).
const RX_OFFLOAD_IPV4_CKSUM: u64 = dpdk_sys::FV_ETH_RX_OFFLOAD_IPV4_CKSUM as u64;
const RX_OFFLOAD_UDP_CKSUM: u64 = dpdk_sys::FV_ETH_RX_OFFLOAD_UDP_CKSUM as u64;
const RSS_IPV4: u64 = dpdk_sys::FV_ETH_RSS_IPV4 as u64;
const RSS_NONFRAG_IPV4_UDP: u64 = dpdk_sys::FV_ETH_RSS_NONFRAG_IPV4_UDP as u64;
const RSS_IPV6: u64 = dpdk_sys::FV_ETH_RSS_IPV6 as u64;
const RSS_NONFRAG_IPV6_UDP: u64 = dpdk_sys::FV_ETH_RSS_NONFRAG_IPV6_UDP as u64;

/// How to set up a port.
#[derive(Debug, Clone)]
pub struct PortSetup {
    /// Queue pairs: one RX and one TX queue per worker, queue `i` for worker `i`.
    pub queues: u16,
    /// RX descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// The pool each RX queue fills from (one per queue, or one for all); normally the pool of
    /// the NUMA socket of the queue's worker.
    pub pools: Vec<Arc<Mempool>>,
    /// Receive every frame, not only those to the port's MAC (needed when the relay
    /// addresses use other MACs, or on `net_af_packet`/`net_tap`).
    pub promiscuous: bool,
    /// MTU to set; `None` keeps the device's.
    pub mtu: Option<u16>,
    /// Use the NIC's IPv4/UDP receive checksum verification where it has it.
    pub rx_checksum_offload: bool,
}

impl Default for PortSetup {
    fn default() -> Self {
        Self {
            queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            pools: Vec::new(),
            promiscuous: false,
            mtu: None,
            rx_checksum_offload: true,
        }
    }
}

/// What the port does for us (decided at start from the device's capabilities).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    /// The NIC verifies IPv4 header checksums (mbuf flags say good/bad).
    pub rx_ipv4_checksum: bool,
    /// The NIC verifies UDP checksums (mbuf flags say good/bad).
    pub rx_udp_checksum: bool,
    /// Receive-side scaling spreads flows over the queues.
    pub rss: bool,
}

/// Link state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s (0 unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Port statistics as the driver counts them (`rte_eth_stats`), with the per-queue packet
/// counts of the first 16 queues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because the RX queue was full.
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_no_mbuf: u64,
    /// Packets received per queue.
    pub rx_queue_packets: Vec<u64>,
    /// Packets sent per queue.
    pub tx_queue_packets: Vec<u64>,
}

/// A started Ethernet port. Stopped and closed when dropped.
#[derive(Debug)]
pub struct EthPort {
    id: u16,
    name: String,
    queues: u16,
    mac: [u8; 6],
    offloads: Offloads,
    driver: String,
    /// Entries of the RSS redirection table (0: none).
    reta_size: u16,
    _pools: Vec<Arc<Mempool>>,
}

fn port_err(port: u16, op: &'static str, rc: i32) -> DpdkError {
    DpdkError::Port {
        port,
        op,
        reason: strerror(rc),
    }
}

fn check(port: u16, op: &'static str, rc: i32) -> Result<(), DpdkError> {
    if rc < 0 {
        Err(port_err(port, op, rc))
    } else {
        Ok(())
    }
}

/// The device's capabilities and its driver's name.
fn device_info(id: u16) -> Result<(dpdk_sys::rte_eth_dev_info, String), DpdkError> {
    // SAFETY: rte_eth_dev_info is plain data; all-zero is a valid value to be overwritten.
    let mut info: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer; an invalid port id is reported as an error.
    check(id, "rte_eth_dev_info_get", unsafe {
        dpdk_sys::rte_eth_dev_info_get(id, &mut info)
    })?;
    let driver = if info.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-NULL driver name is a static NUL-terminated string of the driver.
        unsafe { CStr::from_ptr(info.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((info, driver))
}

/// Configures port `id` with `q` queue pairs, RSS when there are several and the device hashes
/// UDP, and the receive checksum offloads `setup` asks for where the device has them (then
/// sets the MTU); returns what it offloads.
fn configure(
    id: u16,
    q: u16,
    setup: &PortSetup,
    info: &dpdk_sys::rte_eth_dev_info,
) -> Result<Offloads, DpdkError> {
    let mut conf = dpdk_sys::rte_eth_conf::default();
    let rss_hf = (RSS_IPV4 | RSS_NONFRAG_IPV4_UDP | RSS_IPV6 | RSS_NONFRAG_IPV6_UDP)
        & info.flow_type_rss_offloads;
    let rss = q > 1 && rss_hf != 0;
    if rss {
        conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    let mut offloads = Offloads {
        rss,
        ..Offloads::default()
    };
    if setup.rx_checksum_offload {
        conf.rxmode.offloads =
            (RX_OFFLOAD_IPV4_CKSUM | RX_OFFLOAD_UDP_CKSUM) & info.rx_offload_capa;
        offloads.rx_ipv4_checksum = conf.rxmode.offloads & RX_OFFLOAD_IPV4_CKSUM != 0;
        offloads.rx_udp_checksum = conf.rxmode.offloads & RX_OFFLOAD_UDP_CKSUM != 0;
    }
    // SAFETY: a valid port (info succeeded), stopped (not started by us yet); conf lives
    // through the call.
    check(id, "rte_eth_dev_configure", unsafe {
        dpdk_sys::rte_eth_dev_configure(id, q, q, &conf)
    })?;
    if let Some(mtu) = setup.mtu {
        // SAFETY: a configured port.
        check(id, "rte_eth_dev_set_mtu", unsafe {
            dpdk_sys::rte_eth_dev_set_mtu(id, mtu)
        })?;
    }
    Ok(offloads)
}

/// Sets up the `q` RX and TX queues of configured port `id`, RX queue `i` filling from pool
/// `i mod pools`, with the descriptor counts of `setup` adjusted to the device's limits.
fn setup_queues(id: u16, q: u16, setup: &PortSetup) -> Result<(), DpdkError> {
    let (mut rxd, mut txd) = (setup.rx_desc, setup.tx_desc);
    // SAFETY: valid out-pointers to the two counts.
    check(id, "rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
        dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd)
    })?;
    // SAFETY: a configured port; socket id lookup has no preconditions.
    let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
    let socket = if socket < 0 { 0 } else { socket as u32 };
    for i in 0..q {
        let pool = &setup.pools[usize::from(i) % setup.pools.len()];
        // SAFETY: a configured port, queue index below the configured count; NULL conf
        // means the driver's defaults; the pool outlives the port (kept in `_pools`).
        check(id, "rte_eth_rx_queue_setup", unsafe {
            dpdk_sys::rte_eth_rx_queue_setup(id, i, rxd, socket, std::ptr::null(), pool.as_ptr())
        })?;
        // SAFETY: as above.
        check(id, "rte_eth_tx_queue_setup", unsafe {
            dpdk_sys::rte_eth_tx_queue_setup(id, i, txd, socket, std::ptr::null())
        })?;
    }
    Ok(())
}

/// The MAC address (zero when the driver gives none) and device name of port `id`.
fn identity(id: u16) -> ([u8; 6], String) {
    let mut mac = [0u8; 6];
    // SAFETY: rte_ether_addr is 6 bytes (bindgen's layout checks); `mac` is 6 bytes.
    let rc = unsafe { dpdk_sys::rte_eth_macaddr_get(id, mac.as_mut_ptr().cast()) };
    if rc != 0 {
        mac = [0; 6];
    }
    let mut name_buf = [0 as std::ffi::c_char; 64];
    // SAFETY: the buffer is RTE_ETH_NAME_MAX_LEN (64) bytes as the call requires.
    let rc = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, name_buf.as_mut_ptr()) };
    let name = if rc == 0 {
        // SAFETY: on success the buffer holds a NUL-terminated name.
        unsafe { CStr::from_ptr(name_buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    } else {
        format!("port{id}")
    };
    (mac, name)
}

impl EthPort {
    /// The id of the probed port named `name` (a PCI address or a vdev name).
    pub fn lookup(_eal: &Eal, name: &str) -> Result<u16, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::BadName(name.into()))?;
        let mut id = 0u16;
        // SAFETY: the EAL is running; `c` is NUL-terminated and `id` a valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(DpdkError::NoSuchPort(name.into()));
        }
        Ok(id)
    }

    /// Number of usable ports.
    pub fn count(_eal: &Eal) -> u16 {
        // SAFETY: the EAL is running.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// Configures and starts port `id` as `setup` says.
    pub fn start(_eal: &Eal, id: u16, setup: &PortSetup) -> Result<Self, DpdkError> {
        let q = setup.queues.max(1);
        if setup.pools.is_empty() {
            return Err(DpdkError::Port {
                port: id,
                op: "setup",
                reason: "no mempool given".into(),
            });
        }
        let (info, driver) = device_info(id)?;
        let max = info.max_rx_queues.min(info.max_tx_queues);
        if q > max {
            return Err(DpdkError::TooManyQueues {
                port: id,
                want: q,
                max,
            });
        }
        let offloads = configure(id, q, setup, &info)?;
        setup_queues(id, q, setup)?;
        if setup.promiscuous {
            // SAFETY: a configured port.
            check(id, "rte_eth_promiscuous_enable", unsafe {
                dpdk_sys::rte_eth_promiscuous_enable(id)
            })?;
        }
        // SAFETY: a configured port with all queues set up.
        check(id, "rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(id)
        })?;
        let (mac, name) = identity(id);
        Ok(Self {
            id,
            name,
            queues: q,
            mac,
            offloads,
            driver,
            reta_size: if offloads.rss { info.reta_size } else { 0 },
            _pools: setup.pools.clone(),
        })
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name (PCI address or vdev name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The driver (`net_ring`, `net_ice`...).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// Queue pairs.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The pool receive queue `queue` fills from (for frames a worker builds itself).
    pub fn pool(&self, queue: u16) -> Option<&Arc<Mempool>> {
        let n = self._pools.len();
        if n == 0 {
            return None;
        }
        self._pools.get(usize::from(queue) % n)
    }

    /// What the NIC offloads.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Programs the RSS redirection table to spread hash buckets evenly over the queues
    /// (entry `i` to queue `i mod queues`). False when the port has no RSS, no table, or the
    /// driver refused it.
    pub fn spread_reta(&self) -> bool {
        let size = usize::from(self.reta_size);
        if size == 0 || self.queues <= 1 {
            return false;
        }
        let groups = size.div_ceil(64);
        let mut conf: Vec<dpdk_sys::rte_eth_rss_reta_entry64> = (0..groups)
            .map(|g| {
                let n = (size - g * 64).min(64);
                let mut e = dpdk_sys::rte_eth_rss_reta_entry64 {
                    mask: if n == 64 { u64::MAX } else { (1u64 << n) - 1 },
                    reta: [0; 64],
                };
                for (j, r) in e.reta.iter_mut().enumerate().take(n) {
                    *r = ((g * 64 + j) % usize::from(self.queues)) as u16;
                }
                e
            })
            .collect();
        // SAFETY: a started port with RSS; `conf` holds ceil(reta_size / 64) groups as the
        // call reads for `reta_size` entries.
        let rc = unsafe {
            dpdk_sys::rte_eth_dev_rss_reta_update(self.id, conf.as_mut_ptr(), self.reta_size)
        };
        rc == 0
    }

    /// The link state now (does not wait).
    pub fn link(&self) -> LinkState {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: a started port; `l` is a valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l) };
        if rc != 0 {
            return LinkState::default();
        }
        LinkState {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        }
    }

    /// The driver's statistics.
    pub fn stats(&self) -> PortStats {
        // SAFETY: plain counters; zero is valid.
        let mut s: dpdk_sys::rte_eth_stats = unsafe { std::mem::zeroed() };
        // SAFETY: a valid port and out-pointer.
        if unsafe { dpdk_sys::rte_eth_stats_get(self.id, &mut s) } != 0 {
            return PortStats::default();
        }
        let nq = usize::from(self.queues).min(s.q_ipackets.len());
        PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
            rx_queue_packets: s.q_ipackets[..nq].to_vec(),
            tx_queue_packets: s.q_opackets[..nq].to_vec(),
        }
    }

    /// The driver's extended statistics, by name (empty if the driver has none).
    pub fn xstats(&self) -> Vec<(String, u64)> {
        // SAFETY: a NULL array with size 0 asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        let Ok(n) = usize::try_from(n) else {
            return Vec::new();
        };
        if n == 0 {
            return Vec::new();
        }
        let mut names = vec![dpdk_sys::rte_eth_xstat_name { name: [0; 64] }; n];
        let mut vals = vec![dpdk_sys::rte_eth_xstat { id: 0, value: 0 }; n];
        let cap = u32::try_from(n).unwrap_or(u32::MAX);
        // SAFETY: both arrays hold `n` entries, as the calls are told.
        let (a, b) = unsafe {
            (
                dpdk_sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), cap),
                dpdk_sys::rte_eth_xstats_get(self.id, vals.as_mut_ptr(), cap),
            )
        };
        if a < 0 || b < 0 {
            return Vec::new();
        }
        vals.iter()
            .take(usize::try_from(b).unwrap_or(0).min(n))
            .filter_map(|v| {
                let nm = names.get(usize::try_from(v.id).ok()?)?;
                // SAFETY: the driver writes NUL-terminated names into the 64-byte buffers, and
                // the buffer was zeroed, so a NUL is always within it.
                let s = unsafe { CStr::from_ptr(nm.name.as_ptr()) };
                Some((s.to_string_lossy().into_owned(), v.value))
            })
            .collect()
    }
}

impl Drop for EthPort {
    fn drop(&mut self) {
        // SAFETY: the port was started by `start`; it is stopped and closed once, when the last
        // owner lets go: every `DpdkIo` polling it holds an `Arc<EthPort>`, so none is left.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}
