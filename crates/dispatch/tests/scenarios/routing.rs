//! Routes: the first matching `[[route]]` picks the set.

use std::net::IpAddr;
use std::time::Instant;

use super::dispatcher;

const ROUTED: &str = r#"
[[set]]
name = "pool"
[[set.member]]
uri = "sip:127.0.0.1:5081"
[[set.member]]
uri = "sip:127.0.0.2:5060"

[[set]]
name = "carriers"
[[set.member]]
uri = "sip:127.0.0.1:6000"

[[set]]
name = "emergency"
[[set.member]]
uri = "sip:127.0.0.1:7000"

[[route]]
name = "from-pool"
source_set = "pool"
set = "carriers"

[[route]]
name = "emergency"
ruri_user_prefix = "911"
set = "emergency"

[[route]]
name = "inside"
source_networks = ["10.0.0.0/8", "fd00::/8"]
ruri_host = "PBX.example.net"
set = "pool"
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn first_matching_route_wins_and_all_conditions_must_hold() {
    let now = Instant::now();
    let d = dispatcher(ROUTED, now);
    let name = |set: Option<dispatch::SetId>| set.map(|s| d.set_config(s).unwrap().name.clone());
    // From a pool member (any port): out to the carriers, even for 911.
    assert_eq!(
        name(d.route(ip("127.0.0.2"), "911", "x")),
        Some("carriers".into())
    );
    assert_eq!(
        name(d.route(ip("::ffff:127.0.0.2"), "1", "x")),
        Some("carriers".into())
    );
    // 911 from anywhere else.
    assert_eq!(
        name(d.route(ip("192.0.2.1"), "9115551234", "x")),
        Some("emergency".into())
    );
    // Inside network and host (case-insensitive).
    assert_eq!(
        name(d.route(ip("10.1.2.3"), "100", "pbx.EXAMPLE.net")),
        Some("pool".into())
    );
    assert_eq!(
        name(d.route(ip("fd00::5"), "100", "pbx.example.net")),
        Some("pool".into())
    );
    // Inside network, wrong host; right host, outside network: no route.
    assert_eq!(d.route(ip("10.1.2.3"), "100", "other.example.net"), None);
    assert_eq!(d.route(ip("192.0.2.1"), "100", "pbx.example.net"), None);
}

#[test]
fn without_routes_everything_goes_to_the_first_set_and_without_sets_nowhere() {
    let now = Instant::now();
    let d = dispatcher(&super::pool(1, "", ""), now);
    assert_eq!(d.route(ip("198.51.100.1"), "", ""), d.set_ids().next());
    let empty = dispatch::Dispatcher::new(&[], &[], now);
    assert_eq!(empty.route(ip("127.0.0.1"), "", ""), None);
    assert_eq!(empty.poll_timeout(), None);
}

#[test]
fn is_member_matches_address_and_port_and_excludes_the_last_resort() {
    let now = Instant::now();
    let d = dispatcher(
        &super::pool(1, "last_resort = \"sip:127.0.0.1:5099\"", ""),
        now,
    );
    let set = d.set_ids().next().unwrap();
    assert!(d.is_member(set, "127.0.0.1:5081".parse().unwrap()));
    assert!(!d.is_member(set, "127.0.0.1:5082".parse().unwrap()));
    assert!(!d.is_member(set, "127.0.0.1:5099".parse().unwrap()));
    assert!(d.is_member_ip(set, ip("127.0.0.1")));
    assert!(!d.is_member_ip(set, ip("127.0.0.3")));
}
