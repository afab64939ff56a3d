//! Raw smoke test of the bindings and the shim: EAL on `--no-huge` with a `net_null` vdev, a
//! mempool, a `net_ring` port built from two rings, and one frame round trip through it.
#![cfg(feature = "dpdk")]
#![allow(unsafe_code, clippy::unwrap_used)]

use dpdk_sys::*;
use std::ffi::{c_char, CString};
use std::ptr;

#[test]
fn eal_ring_port_round_trip() {
    let args: Vec<CString> = [
        "dpdk-sys-test",
        "-l",
        "0",
        "--no-huge",
        "-m",
        "64",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        "fv-dpdk-sys-test",
        "--vdev",
        "net_null0",
        "--log-level",
        "lib.eal:error",
    ]
    .iter()
    .map(|s| CString::new(*s).unwrap())
    .collect();
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    // SAFETY: argv holds argc valid NUL-terminated strings that outlive the EAL (they are only
    // read during init); init runs once in this process.
    let rc = unsafe { rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
    assert!(rc >= 0, "rte_eal_init failed: errno {}", unsafe {
        fv_errno()
    });
    // SAFETY: EAL is initialised.
    assert_eq!(unsafe { rte_eth_dev_count_avail() }, 1, "the net_null vdev");

    let name = CString::new("fv-test-pool").unwrap();
    // SAFETY: EAL is up; the name is a valid C string.
    let pool = unsafe {
        rte_pktmbuf_pool_create(
            name.as_ptr(),
            1023,
            32,
            0,
            RTE_MBUF_DEFAULT_BUF_SIZE as u16,
            0,
        )
    };
    assert!(!pool.is_null());

    let mk = |n: &str| {
        let c = CString::new(n).unwrap();
        // SAFETY: EAL is up; a single-producer single-consumer ring of 256 slots.
        let r = unsafe { rte_ring_create(c.as_ptr(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ) };
        assert!(!r.is_null());
        r
    };
    let (rx, tx) = (mk("fv-t-rx"), mk("fv-t-tx"));
    let port_name = CString::new("fv_ring_t").unwrap();
    let (mut rxs, mut txs) = ([rx], [tx]);
    // SAFETY: both arrays hold one valid ring each; numa node 0.
    let port = unsafe {
        rte_eth_from_rings(
            port_name.as_ptr(),
            rxs.as_mut_ptr(),
            1,
            txs.as_mut_ptr(),
            1,
            0,
        )
    };
    assert!(port >= 0, "rte_eth_from_rings");
    let port = port as u16;
    let conf = rte_eth_conf::default();
    // SAFETY: a valid port id; queues are set up before start with the pool above.
    unsafe {
        assert_eq!(rte_eth_dev_configure(port, 1, 1, &conf), 0);
        assert_eq!(
            rte_eth_rx_queue_setup(port, 0, 128, 0, ptr::null(), pool),
            0
        );
        assert_eq!(rte_eth_tx_queue_setup(port, 0, 128, 0, ptr::null()), 0);
        assert_eq!(rte_eth_dev_start(port), 0);
    }

    // SAFETY: the pool is valid; the mbuf is fresh and has room for 60 bytes.
    unsafe {
        let m = fv_pktmbuf_alloc(pool);
        assert!(!m.is_null());
        let d = fv_pktmbuf_append(m, 60) as *mut u8;
        assert!(!d.is_null());
        for i in 0..60 {
            *d.add(i) = i as u8;
        }
        let objs = [m as *mut std::ffi::c_void];
        assert_eq!(fv_ring_enqueue_burst(rx, objs.as_ptr(), 1), 1);
        let mut got = [ptr::null_mut::<rte_mbuf>(); 4];
        assert_eq!(fv_rx_burst(port, 0, got.as_mut_ptr(), 4), 1);
        assert_eq!((*got[0]).data_len, 60);
        assert_eq!(*(fv_pktmbuf_mtod(got[0]) as *const u8).add(59), 59);
        assert_eq!(fv_tx_burst(port, 0, got.as_mut_ptr(), 1), 1);
        let mut back = [ptr::null_mut::<std::ffi::c_void>(); 4];
        assert_eq!(fv_ring_dequeue_burst(tx, back.as_mut_ptr(), 4), 1);
        assert_eq!(back[0], m as *mut std::ffi::c_void);
        fv_pktmbuf_free(m);
        assert!(fv_rdtsc() > 0);
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
        rte_eal_cleanup();
    }
}
