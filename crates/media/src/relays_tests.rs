#![allow(clippy::unwrap_used)]

use super::*;

fn iface(name: &str, ip: &str) -> Interface {
    Interface {
        name: name.into(),
        address: ip.parse().unwrap(),
        advertised: None,
    }
}

fn r(port_min: u16, port_max: u16) -> AddrRange {
    AddrRange { port_min, port_max }
}

fn want(name: &str, ip: &str, min: u16, max: u16) -> Wanted {
    Wanted {
        iface: iface(name, ip),
        ports: r(min, max),
    }
}

/// One interface `ext` on 10.0.0.1, ports 30000-30099.
fn running() -> Relays {
    Relays {
        interfaces: vec![iface("ext", "10.0.0.1")],
        ranges: vec![r(30000, 30099)],
        open: vec![Some(r(30000, 30099))],
    }
}

#[test]
fn the_same_file_changes_nothing() {
    let now = running();
    assert_eq!(
        plan(&now, &[want("ext", "10.0.0.1", 30000, 30099)]),
        Ok(now)
    );
}

#[test]
fn a_new_interface_is_appended_whole() {
    let next = plan(
        &running(),
        &[
            want("ext", "10.0.0.1", 30000, 30099),
            want("int", "10.0.0.2", 40000, 40099),
        ],
    )
    .unwrap();
    assert_eq!(next.interfaces[1], iface("int", "10.0.0.2"));
    assert_eq!(next.ranges, vec![r(30000, 30099), r(40000, 40099)]);
    assert_eq!(next.open[1], Some(r(40000, 40099)));
}

#[test]
fn a_grown_range_appends_the_new_ports_below_and_above() {
    let next = plan(&running(), &[want("ext", "10.0.0.1", 29900, 30199)]).unwrap();
    assert_eq!(
        next.ranges,
        vec![r(30000, 30099), r(29900, 29999), r(30100, 30199)]
    );
    assert!(next.interfaces.iter().all(|i| i.name == "ext"));
    assert_eq!(next.open[0], Some(r(30000, 30099)));
    // Growing it again only adds what is still new.
    let again = plan(&next, &[want("ext", "10.0.0.1", 29900, 30299)]).unwrap();
    assert_eq!(again.ranges.len(), 4);
    assert_eq!(again.ranges[3], r(30200, 30299));
}

#[test]
fn a_shrunk_range_closes_the_ports_outside_and_growing_back_opens_them() {
    let next = plan(&running(), &[want("ext", "10.0.0.1", 30000, 30049)]).unwrap();
    assert_eq!(next.ranges, running().ranges, "the layout never narrows");
    assert_eq!(next.open, vec![Some(r(30000, 30049))]);
    let back = plan(&next, &[want("ext", "10.0.0.1", 30000, 30099)]).unwrap();
    assert_eq!(back, running());
}

#[test]
fn a_removed_or_moved_interface_takes_no_new_sessions() {
    let moved = plan(&running(), &[want("ext", "10.0.0.3", 30000, 30099)]).unwrap();
    assert_eq!(moved.open, vec![None, Some(r(30000, 30099))]);
    assert_eq!(moved.interfaces[1].address.to_string(), "10.0.0.3");
    let gone = plan(&running(), &[want("int", "10.0.0.2", 40000, 40099)]).unwrap();
    assert_eq!(gone.open[0], None);
    let back = plan(&gone, &[want("ext", "10.0.0.1", 30000, 30099)]).unwrap();
    assert_eq!(back.open, vec![Some(r(30000, 30099)), None]);
    assert_eq!(
        back.ranges.len(),
        2,
        "the index of ext is reused, not appended"
    );
}

#[test]
fn ports_laid_out_for_another_name_are_refused() {
    let e = plan(&running(), &[want("other", "10.0.0.1", 30050, 30199)]).unwrap_err();
    assert!(
        matches!(&e, PlanError::PortsHeld { holder, wanted, .. } if holder == "ext" && wanted == "other"),
        "{e}"
    );
    assert!(e.to_string().contains("until a restart"), "{e}");
    // Beside them on the same address is fine.
    assert!(plan(&running(), &[want("other", "10.0.0.1", 30100, 30199)]).is_ok());
}

#[test]
fn the_advertised_address_follows_the_file() {
    let mut w = want("ext", "10.0.0.1", 30000, 30099);
    w.iface.advertised = Some("192.0.2.9".parse().unwrap());
    let next = plan(&running(), &[w.clone()]).unwrap();
    assert_eq!(next.interfaces[0].advertised, w.iface.advertised);
}

#[test]
fn gaps_are_whole_pairs() {
    assert_eq!(
        uncovered(r(100, 199), &[r(120, 139), r(160, 179)]),
        vec![r(100, 119), r(140, 159), r(180, 199)]
    );
    assert!(uncovered(r(100, 199), &[r(0, 999)]).is_empty());
    assert_eq!(intersect(r(100, 199), r(150, 301)), Some(r(150, 199)));
    assert_eq!(intersect(r(100, 199), r(200, 301)), None);
}
