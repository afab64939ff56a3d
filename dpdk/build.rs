//! Binds the system DPDK when the `dpdk` feature is on; does nothing otherwise.
//!
//! DPDK is found with pkg-config (`libdpdk` >= 22.11). The complete `pkg-config --cflags libdpdk`
//! (include paths, `-include rte_config.h`, `-march=...`) goes to both bindgen and the C compiler
//! of the shim, so the bindings and the shim see the same struct layouts as the installed
//! libraries were built with.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    bind::run();
}

#[cfg(feature = "dpdk")]
mod bind {
    use std::env;
    use std::path::PathBuf;
    use std::process::Command;

    const HINT: &str = "install DPDK and libclang: apt-get install libdpdk-dev libclang-dev clang pkg-config (Debian 12 / Ubuntu 22.04+)";

    fn fail(what: &str) -> ! {
        // One clear line for the operator; cargo shows the panic message of a build script.
        eprintln!("dpdk-sys: {what}; {HINT}");
        println!("cargo:warning=dpdk-sys: {what}; {HINT}");
        std::process::exit(1);
    }

    fn cflags() -> Vec<String> {
        let pc = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
        let out = match Command::new(&pc).args(["--cflags", "libdpdk"]).output() {
            Ok(o) if o.status.success() => o,
            Ok(_) => fail("pkg-config knows no libdpdk"),
            Err(_) => fail("pkg-config is not installed"),
        };
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Gives the mbuf offload flags (`RTE_MBUF_F_*`, `1ULL << n` in the headers) the type of the
    /// field they are tested against, `ol_flags: u64`; by value alone bindgen would make the
    /// small ones `u32`.
    #[derive(Debug)]
    struct MbufFlags;

    impl bindgen::callbacks::ParseCallbacks for MbufFlags {
        fn int_macro(&self, name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
            name.starts_with("RTE_MBUF_F_")
                .then_some(bindgen::callbacks::IntKind::U64)
        }
    }

    pub fn run() {
        println!("cargo:rerun-if-changed=shim/shim.c");
        println!("cargo:rerun-if-changed=shim/shim.h");
        println!("cargo:rerun-if-changed=shim/wrapper.h");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        let lib = match pkg_config::Config::new()
            .atleast_version("22.11")
            .cargo_metadata(true)
            .probe("libdpdk")
        {
            Ok(l) => l,
            Err(_) => fail("libdpdk >= 22.11 not found by pkg-config"),
        };
        // rte_eth_from_rings (tests and benchmarks build net_ring ports from rings) lives in the
        // net_ring driver, which libdpdk.pc does not list.
        println!("cargo:rustc-link-lib=dylib=rte_net_ring");
        println!("cargo:version={}", lib.version);
        let flags = cflags();

        let mut cc = cc::Build::new();
        cc.file("shim/shim.c").include("shim").opt_level(3);
        for f in &flags {
            cc.flag(f);
        }
        cc.flag_if_supported("-Wno-deprecated-declarations");
        cc.compile("ferrovox_dpdk_shim");

        let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR unset")));
        let bindings = bindgen::Builder::default()
            .header("shim/wrapper.h")
            .clang_args(&flags)
            .clang_arg("-Ishim")
            .allowlist_function("rte_eal_.*|rte_lcore_.*|rte_socket_.*|rte_get_.*")
            .allowlist_function("rte_eth_.*|rte_flow_.*|rte_pktmbuf_.*|rte_mempool_.*")
            .allowlist_function("rte_ring_create|rte_ring_free|rte_ring_lookup|rte_strerror")
            .allowlist_function("rte_vdev_.*|rte_exit|fv_.*")
            .allowlist_type("rte_mbuf|rte_eth_.*|rte_flow_.*|rte_ether_.*|fv_eth_bits")
            .allowlist_var("RTE_ETH_.*|RTE_MBUF_.*|RTE_FLOW_.*|RTE_PKTMBUF_.*|RTE_MAX_.*")
            .allowlist_var("RING_F_.*|SOCKET_ID_ANY|LCORE_ID_ANY|RTE_ETHER_.*|RTE_PTYPE_.*")
            .allowlist_var("RTE_MEMPOOL_CACHE_MAX_SIZE|RTE_LOG_.*")
            .blocklist_function("rte_eth_dev_.*_callback.*")
            // Packed structs that hold aligned members do not map onto Rust: keep them opaque
            // (right size and alignment, no fields).
            .opaque_type("rte_l2tpv2_combined_msg_hdr|rte_gtp_psc_.*|rte_arp_hdr|rte_arp_ipv4")
            .opaque_type("rte_ether_hdr|rte_vlan_hdr|rte_ether_addr")
            .derive_default(true)
            .derive_debug(false)
            .layout_tests(true)
            .generate_comments(false)
            .prepend_enum_name(false)
            .default_enum_style(bindgen::EnumVariation::Consts)
            .parse_callbacks(Box::new(MbufFlags))
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
            .generate()
            .unwrap_or_else(|e| fail(&format!("bindgen failed on the DPDK headers: {e}")));
        bindings
            .write_to_file(out.join("bindings.rs"))
            .unwrap_or_else(|e| fail(&format!("cannot write the bindings: {e}")));
    }
}
