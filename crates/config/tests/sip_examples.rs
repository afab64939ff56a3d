//! The shipped configs' SIP load balancing sections.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use config::{parse, Algorithm, MemberTarget, Transport};

/// The repository's `config/` directory.
fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

#[test]
fn the_default_config_balances_over_three_loopback_members() {
    let text = fs::read_to_string(config_dir().join("ferrovox.toml")).unwrap();
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.sip.listen, vec!["127.0.0.1:5060".parse().unwrap()]);
    assert_eq!(cfg.sets.len(), 1);
    let set = &cfg.sets[0];
    assert_eq!(set.algorithm, Algorithm::RoundRobin);
    let targets: Vec<MemberTarget> = set.members.iter().map(|m| m.target()).collect();
    let want: Vec<MemberTarget> = (5081..=5083)
        .map(|p| MemberTarget::Static(([127, 0, 0, 1], p).into()))
        .collect();
    assert_eq!(targets, want);
    assert!(set.members.iter().all(|m| m.transport == Transport::Udp));
    assert!(cfg.routes.is_empty());
}

#[test]
fn the_sip_pool_example_uses_every_kind_of_member_and_route() {
    let text = fs::read_to_string(config_dir().join("examples/sip-pool.toml")).unwrap();
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.sets.len(), 2);
    let pool = &cfg.sets[0];
    let kinds: Vec<MemberTarget> = pool.members.iter().map(|m| m.target()).collect();
    assert!(matches!(kinds[0], MemberTarget::Static(_)));
    assert!(matches!(kinds[2], MemberTarget::Address { .. }));
    assert!(matches!(kinds[3], MemberTarget::Service { .. }));
    assert_eq!(pool.members[1].transport, Transport::Tcp);
    assert!(pool.register && pool.last_resort.is_some());
    assert_eq!(cfg.routes.len(), 2);
    assert_eq!(cfg.routes[0].source_set.as_deref(), Some("pool"));
}
