//! The dependency rule of the workspace (README, "Architecture"): the protocol and core crates
//! are sans-IO. None of them may depend, directly or through another crate, on the crate that
//! holds the unsafe packet I/O (`pktio`), on the DPDK bindings, on the drivers (`control`), on
//! an async runtime or on a socket library. Checked on the resolved graph with `cargo tree`, so
//! a dependency that sneaks in through a third crate fails here too.

use std::process::Command;

/// The sans-IO crates.
const CORE: &[&str] = &[
    "wire",
    "sip",
    "sdp",
    "dns",
    "ng",
    "dispatch",
    "dataplane",
    "media",
    "proxy",
];

/// What none of them may pull in.
const FORBIDDEN: &[&str] = &[
    "pktio", "dpdk-sys", "control", "ferrovox", "tokio", "mio", "socket2", "io-uring", "nix",
];

/// The normal (non-dev, non-build) dependencies of `krate`, transitively, by name.
fn normal_deps(krate: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", krate, "-e", "normal", "--prefix", "none"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo tree runs (cargo is on PATH in every test run)");
    assert!(
        out.status.success(),
        "cargo tree -p {krate} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn core_crates_import_no_io_crate() {
    let mut broken = Vec::new();
    for krate in CORE {
        let deps = normal_deps(krate);
        assert!(
            deps.iter().any(|d| d == krate),
            "cargo tree -p {krate} did not list the crate itself: {deps:?}"
        );
        for bad in FORBIDDEN {
            if deps.iter().any(|d| d == bad) {
                broken.push(format!("{krate} -> {bad}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "sans-IO crates depend on I/O crates: {broken:?}"
    );
}

#[test]
fn the_io_crate_implements_the_core_trait_not_the_reverse() {
    // pktio implements dataplane's PacketIo: the arrow points from pktio to dataplane.
    assert!(normal_deps("pktio").iter().any(|d| d == "dataplane"));
    assert!(!normal_deps("dataplane").iter().any(|d| d == "pktio"));
}
