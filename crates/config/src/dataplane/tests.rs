//! `[dataplane.dpdk]` parsing (as part of a whole document).

use crate::tests::{err, ok, with_iface};
use crate::Backend;

const PORT: &str = r#"
[[dataplane.dpdk.port]]
device = "net_ring0"
interfaces = ["pub"]
next_hop_mac = "02:00:00:00:00:01"
"#;

#[test]
fn dpdk_section_defaults_and_values() {
    let text = with_iface(&format!(
        "[dataplane]\nbackend = \"dpdk\"\n[dataplane.dpdk]\nvdevs = [\"net_ring0\"]\nno_huge = true\nmemory_mb = 128\n{PORT}"
    ));
    let cfg = ok(&text);
    assert_eq!(cfg.dataplane.backend, Backend::Dpdk);
    let d = cfg.dataplane.dpdk.expect("dpdk section");
    assert_eq!(d.vdevs, vec!["net_ring0".to_string()]);
    assert!(d.no_huge);
    assert_eq!(d.memory_mb, Some(128));
    assert_eq!(d.file_prefix, "ferrovox");
    assert_eq!((d.mbufs, d.rx_desc, d.tx_desc), (16383, 1024, 1024));
    assert!(d.verify_udp_checksum);
    assert_eq!(d.ports.len(), 1);
    assert_eq!(d.ports[0].next_hop_mac, [2, 0, 0, 0, 0, 1]);
    assert_eq!(d.ports[0].interfaces, vec!["pub".to_string()]);
    assert!(!d.ports[0].promiscuous);
}

#[test]
fn dpdk_section_is_optional_and_checked_with_any_backend() {
    let cfg = ok(&with_iface("[dataplane]\nbackend = \"dpdk\"\n"));
    assert_eq!(cfg.dataplane.dpdk, None);
    // The section is accepted (and checked) with the socket backend too.
    let cfg = ok(&with_iface(&format!("[dataplane.dpdk]\n{PORT}")));
    assert_eq!(cfg.dataplane.backend, Backend::Socket);
    assert!(cfg.dataplane.dpdk.is_some());
}

#[test]
fn dpdk_errors_name_the_key() {
    let cases = [
        ("[dataplane.dpdk]\n", "dataplane.dpdk.port"),
        (
            "[[dataplane.dpdk.port]]\ndevice = \"x\"\ninterfaces = [\"pub\"]\nnext_hop_mac = \"01:00:5e:00:00:01\"\n",
            "dataplane.dpdk.port[0].next_hop_mac",
        ),
        (
            "[[dataplane.dpdk.port]]\ndevice = \"x\"\ninterfaces = [\"pub\"]\nnext_hop_mac = \"02:00:5e:00:00\"\n",
            "dataplane.dpdk.port[0].next_hop_mac",
        ),
        (
            "[[dataplane.dpdk.port]]\ndevice = \"x\"\ninterfaces = []\nnext_hop_mac = \"02:00:5e:00:00:01\"\n",
            "dataplane.dpdk.port[0].interfaces",
        ),
        (
            "[[dataplane.dpdk.port]]\ninterfaces = [\"pub\"]\nnext_hop_mac = \"02:00:5e:00:00:01\"\n",
            "dataplane.dpdk.port[0].device",
        ),
        (&format!("[dataplane.dpdk]\nmemory_mb = 1\n{PORT}"), "dataplane.dpdk.memory_mb"),
        (&format!("[dataplane.dpdk]\nrx_desc = 1\n{PORT}"), "dataplane.dpdk.rx_desc"),
        (&format!("[dataplane.dpdk]\nvdevs = [\"a b\"]\n{PORT}"), "dataplane.dpdk.vdevs[0]"),
        (&format!("{PORT}{PORT}"), "dataplane.dpdk.port[1].device"),
    ];
    for (text, path) in cases {
        let e = err(&with_iface(text));
        assert!(
            e.to_string().starts_with(&format!("{path}:")),
            "expected an error at {path}, got: {e}"
        );
    }
    let e = err(&with_iface(&format!("[dataplane.dpdk]\nbogus = 1\n{PORT}")));
    assert!(e.to_string().contains("bogus"), "{e}");
}
