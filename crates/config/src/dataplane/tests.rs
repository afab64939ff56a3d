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
    assert_eq!(d.ports[0].next_hop_mac, Some([2, 0, 0, 0, 0, 1]));
    assert_eq!(d.ports[0].interfaces, vec!["pub".to_string()]);
    assert!(!d.ports[0].promiscuous);
    assert_eq!((d.ports[0].prefix_len, d.ports[0].prefix_len_v6), (24, 64));
    assert_eq!((d.ports[0].gateway, d.ports[0].gateway_v6), (None, None));
    assert_eq!(d.ports[0].vlan, None);
    assert_eq!(d.ports[0].exception, None);
    assert_eq!(d.steering, crate::dpdk::Steering::Flow);
}

/// The one-line message of the error `text` is refused with.
fn err_text(text: &str) -> String {
    err(text).to_string()
}

#[test]
fn dpdk_steering_and_exception_port() {
    use crate::dpdk::Steering;
    for (text, want) in [
        ("flow", Steering::Flow),
        ("auto", Steering::Auto),
        ("rss", Steering::Rss),
    ] {
        let doc = with_iface(&format!("[dataplane.dpdk]\nsteering = \"{text}\"\n{PORT}"));
        let d = ok(&doc).dataplane.dpdk.expect("dpdk section");
        assert_eq!(d.steering, want);
        assert_eq!(want.as_str(), text);
    }
    let e = err_text(&with_iface(&format!(
        "[dataplane.dpdk]\nsteering = \"spray\"\n{PORT}"
    )));
    assert!(e.contains("dataplane.dpdk.steering"), "{e}");
    let d = ok(&with_iface(&format!(
        "[dataplane.dpdk]\n{PORT}exception = \"net_tap0\"\n"
    )))
    .dataplane
    .dpdk
    .expect("dpdk section");
    assert_eq!(d.ports[0].exception.as_deref(), Some("net_tap0"));
    let e = err_text(&with_iface(&format!(
        "[dataplane.dpdk]\n{PORT}exception = \"net_ring0\"\n"
    )));
    assert!(e.contains("dataplane.dpdk.port[0].exception"), "{e}");
    let two = "[dataplane.dpdk]\n[[dataplane.dpdk.port]]\ndevice = \"net_ring0\"\n\
               interfaces = [\"pub\"]\nexception = \"net_tap0\"\n\
               [[dataplane.dpdk.port]]\ndevice = \"net_ring1\"\ninterfaces = [\"pub\"]\n\
               exception = \"net_tap0\"\n";
    let e = err_text(&with_iface(two));
    assert!(e.contains("dataplane.dpdk.port[1].exception"), "{e}");
}

#[test]
fn dpdk_port_neighbour_keys() {
    let text = with_iface(
        "[dataplane.dpdk]\n[[dataplane.dpdk.port]]\ndevice = \"net_af_packet0\"\n\
         interfaces = [\"pub\"]\nprefix_len = 16\nprefix_len_v6 = 48\n\
         gateway = \"192.0.2.254\"\ngateway_v6 = \"2001:db8::fe\"\nvlan = 100\n",
    );
    let d = ok(&text).dataplane.dpdk.expect("dpdk section");
    let p = &d.ports[0];
    assert_eq!(p.next_hop_mac, None, "resolved with ARP/ND when absent");
    assert_eq!((p.prefix_len, p.prefix_len_v6), (16, 48));
    assert_eq!(p.gateway, "192.0.2.254".parse().ok());
    assert_eq!(p.gateway_v6, "2001:db8::fe".parse().ok());
    assert_eq!(p.vlan, Some(100));
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
        (&format!("{PORT}vlan = 4095\n"), "dataplane.dpdk.port[0].vlan"),
        (&format!("{PORT}prefix_len = 33\n"), "dataplane.dpdk.port[0].prefix_len"),
        (&format!("{PORT}gateway = \"2001:db8::1\"\n"), "dataplane.dpdk.port[0].gateway"),
        (&format!("{PORT}gateway_v6 = \"192.0.2.1\"\n"), "dataplane.dpdk.port[0].gateway_v6"),
        (&format!("{PORT}gateway = \"0.0.0.0\"\n"), "dataplane.dpdk.port[0].gateway"),
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

/// An AF_XDP port on `eth1` with the `af_xdp` table `xdp`, after `head` (e.g. `[dataplane]`).
fn xdp_doc(head: &str, xdp: &str) -> String {
    with_iface(&format!(
        "{head}\n[dataplane.dpdk]\n[[dataplane.dpdk.port]]\naf_xdp = {xdp}\ninterfaces = [\"pub\"]\n"
    ))
}

#[test]
fn dpdk_af_xdp_port_gets_its_vdev_and_one_queue_per_worker() {
    let two = "[dataplane]\nworker_cores = [2, 3]";
    let e = err(&xdp_doc(two, "{ iface = \"eth1\" }")).to_string();
    assert!(e.starts_with("dataplane.dpdk.steering"), "{e}");
    let d = ok(
        &xdp_doc(two, "{ iface = \"eth1\", start_queue = 4 }").replace(
            "[dataplane.dpdk]\n",
            "[dataplane.dpdk]\nsteering = \"auto\"\n",
        ),
    )
    .dataplane
    .dpdk
    .expect("dpdk section");
    let p = &d.ports[0];
    assert_eq!(p.device, "net_af_xdp0");
    let x = p.af_xdp.as_ref().expect("af_xdp");
    assert_eq!(
        (x.iface.as_str(), x.start_queue, x.queues, x.copy),
        ("eth1", 4, 2, false)
    );
    assert_eq!(
        d.eal_vdevs(),
        vec!["net_af_xdp0,iface=eth1,start_queue=4,queue_count=2".to_string()]
    );
    let doc = with_iface(
        "[dataplane.dpdk]\nvdevs = [\"net_tap0,iface=fv0\"]\n[[dataplane.dpdk.port]]\n\
         device = \"net_af_xdp_ext\"\n\
         af_xdp = { iface = \"ens1f0\", queues = 1, copy = true, busy_budget = 0 }\n\
         interfaces = [\"pub\"]\nexception = \"net_tap0\"\n",
    );
    let d = ok(&doc).dataplane.dpdk.expect("dpdk section");
    assert_eq!(
        d.eal_vdevs(),
        vec![
            "net_tap0,iface=fv0".to_string(),
            "net_af_xdp_ext,iface=ens1f0,start_queue=0,queue_count=1,force_copy=1,busy_budget=0"
                .to_string()
        ]
    );
}

#[test]
fn dpdk_af_xdp_port_refusals_name_the_key() {
    let cases: &[(String, &str)] = &[
        (
            xdp_doc("", "{ start_queue = 0 }"),
            "dataplane.dpdk.port[0].af_xdp.iface",
        ),
        (
            xdp_doc("", "{ iface = \"eth1,x=1\" }"),
            "dataplane.dpdk.port[0].af_xdp.iface",
        ),
        (
            xdp_doc("", "{ iface = \"a-name-far-too-long\" }"),
            "dataplane.dpdk.port[0].af_xdp.iface",
        ),
        (
            xdp_doc("", "{ iface = \"eth1\", start_queue = -1 }"),
            "dataplane.dpdk.port[0].af_xdp.start_queue",
        ),
        (
            xdp_doc("", "{ iface = \"eth1\", busy_budget = 1025 }"),
            "dataplane.dpdk.port[0].af_xdp.busy_budget",
        ),
        (
            xdp_doc("", "{ iface = \"eth1\", queues = 2 }"),
            "dataplane.dpdk.port[0].af_xdp.queues",
        ),
        (
            xdp_doc("", "{ iface = \"eth1\", zerocopy = true }"),
            "dataplane.dpdk.port[0].af_xdp",
        ),
        (
            with_iface(
                "[[dataplane.dpdk.port]]\ndevice = \"net_ring0\"\naf_xdp = { iface = \"eth1\" }\n\
                 interfaces = [\"pub\"]\n",
            ),
            "dataplane.dpdk.port[0].device",
        ),
        (
            with_iface(
                "[dataplane.dpdk]\nvdevs = [\"net_af_xdp0,iface=eth1\"]\n[[dataplane.dpdk.port]]\n\
                 af_xdp = { iface = \"eth1\" }\ninterfaces = [\"pub\"]\n",
            ),
            "dataplane.dpdk.vdevs",
        ),
        (
            with_iface(
                "[[dataplane.dpdk.port]]\naf_xdp = { iface = \"eth1\" }\ninterfaces = [\"pub\"]\n\
                 [[dataplane.dpdk.port]]\naf_xdp = { iface = \"eth1\" }\ninterfaces = [\"pub\"]\n",
            ),
            "dataplane.dpdk.port[1].af_xdp.iface",
        ),
    ];
    for (text, path) in cases {
        let e = err(text).to_string();
        assert!(e.starts_with(path), "expected an error at {path}, got: {e}");
    }
}
