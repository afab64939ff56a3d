//! Every file under the repository's `config/` directory is a valid configuration.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use config::{parse, validate_host, Backend, HostFacts};

/// The repository's `config/` directory.
fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// All `.toml` files below `dir`, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_shipped_config_is_valid() {
    let files = toml_files(&config_dir());
    assert!(
        files.len() >= 2,
        "expected ferrovox.toml and the examples, found {files:?}"
    );
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let cfg = match parse(&text) {
            Ok(cfg) => cfg,
            Err(e) => panic!("{}: {e}", file.display()),
        };
        // Every example fits a large host.
        if let Err(e) = validate_host(&cfg, &HostFacts { cpus: 256 }) {
            panic!("{}: {e}", file.display());
        }
    }
}

#[test]
fn the_default_config_runs_on_loopback_on_any_box() {
    let text = fs::read_to_string(config_dir().join("ferrovox.toml")).unwrap();
    let cfg = parse(&text).unwrap();
    validate_host(&cfg, &HostFacts { cpus: 1 }).unwrap();
    assert_eq!(cfg.ng.listen, "127.0.0.1:2223".parse().unwrap());
    assert_eq!(cfg.dataplane.backend, Backend::Socket);
    assert_eq!(cfg.dataplane.worker_cores, vec![0]);
    let names: Vec<&str> = cfg.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["external", "internal"]);
    for iface in &cfg.interfaces {
        assert!(iface.address.is_loopback(), "{iface:?}");
        assert!(iface.advertised.is_none(), "{iface:?}");
    }
    assert_eq!(cfg.interfaces[0].ports(), 30000..=30999);
    assert_eq!(cfg.interfaces[1].ports(), 31000..=31999);
}

#[test]
fn the_multicore_example_uses_several_cores_and_ipv6() {
    let text = fs::read_to_string(config_dir().join("examples/multicore-ipv6.toml")).unwrap();
    let cfg = parse(&text).unwrap();
    assert!(cfg.dataplane.worker_cores.len() > 1);
    assert!(cfg.ng.listen.is_ipv6());
    assert!(cfg.interfaces.iter().any(|i| i.address.is_ipv6()));
    assert!(cfg.interfaces.iter().any(|i| i.address.is_ipv4()));
    // It names CPUs up to 7, so a 4-CPU host refuses it with the key named.
    let e = validate_host(&cfg, &HostFacts { cpus: 4 }).unwrap_err();
    assert_eq!(e.path(), Some("dataplane.worker_cores[2]"));
}
