//! Error paths of `[[interface]]` entries, alone and against each other.

use super::{assert_key_err, IFACE};

/// One `[[interface]]` from `body` after a valid first one (so it is `interface[1]`).
fn second_iface(body: &str) -> String {
    format!("{IFACE}\n[[interface]]\n{body}")
}

/// A complete interface entry with the given fields.
fn iface_body(name: &str, address: &str, port_min: i64, port_max: i64) -> String {
    format!("name = {name:?}\naddress = {address:?}\nport_min = {port_min}\nport_max = {port_max}")
}

#[test]
fn missing_or_empty_interface_list_is_refused() {
    assert_key_err("", "interface", "at least one [[interface]] is required");
    assert_key_err(
        "[general]\nlog_level = \"info\"",
        "interface",
        "at least one [[interface]] is required",
    );
    assert_key_err("interface = []", "interface", "at least one");
    assert_key_err("interface = 5", "interface", "invalid type: integer `5`");
    assert_key_err(
        "interface = [1]",
        "interface[0]",
        "expected an [[interface]] table",
    );
}

#[test]
fn interface_missing_keys_are_named() {
    let full = [
        ("name", "name = \"x\""),
        ("address", "address = \"127.0.0.2\""),
        ("port_min", "port_min = 40000"),
        ("port_max", "port_max = 40999"),
    ];
    for (missing, _) in full {
        let body: Vec<&str> = full
            .iter()
            .filter(|(k, _)| *k != missing)
            .map(|(_, line)| *line)
            .collect();
        assert_key_err(
            &second_iface(&body.join("\n")),
            &format!("interface[1].{missing}"),
            "required key is missing",
        );
    }
}

#[test]
fn interface_name_errors() {
    assert_key_err(
        &second_iface(&iface_body("", "127.0.0.2", 30000, 30999)),
        "interface[1].name",
        "must be 1 to 64 characters long",
    );
    assert_key_err(
        &second_iface(&iface_body(&"n".repeat(65), "127.0.0.2", 30000, 30999)),
        "interface[1].name",
        "must be 1 to 64 characters long",
    );
    assert_key_err(
        &second_iface(&iface_body("a b", "127.0.0.2", 30000, 30999)),
        "interface[1].name",
        "contains ' '",
    );
    assert_key_err(
        &second_iface(&iface_body("a\nb", "127.0.0.2", 30000, 30999)),
        "interface[1].name",
        "contains '\\n'",
    );
}

#[test]
fn interface_address_errors() {
    for (address, reason) in [
        ("pub.example", "is not an IP address"),
        ("127.0.0.1:5", "is not an IP address"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
    ] {
        assert_key_err(
            &second_iface(&iface_body("x", address, 40000, 40999)),
            "interface[1].address",
            reason,
        );
    }
    assert_key_err(
        &second_iface(&format!(
            "{}\naddress = 7",
            "name = \"x\"\nport_min = 40000\nport_max = 40999"
        )),
        "interface[1].address",
        "invalid type: integer `7`, expected a string",
    );
}

#[test]
fn interface_advertised_errors() {
    let base = iface_body("x", "127.0.0.2", 40000, 40999);
    for (advertised, reason) in [
        ("nat", "is not an IP address"),
        ("0.0.0.0", "unspecified"),
        ("239.0.0.1", "multicast"),
        (
            "2001:db8::1",
            "2001:db8::1 is IPv6 but address 127.0.0.2 is IPv4",
        ),
    ] {
        assert_key_err(
            &second_iface(&format!("{base}\nadvertised = {advertised:?}")),
            "interface[1].advertised",
            reason,
        );
    }
    assert_key_err(
        &format!(
            "[[interface]]\n{}\nadvertised = \"192.0.2.1\"",
            iface_body("x", "::1", 40000, 40999)
        ),
        "interface[0].advertised",
        "192.0.2.1 is IPv4 but address ::1 is IPv6",
    );
}

#[test]
fn interface_port_errors() {
    let cases: [(i64, i64, &str, &str); 8] = [
        (30001, 30999, "port_min", "must be even"),
        (
            1022,
            1999,
            "port_min",
            "must be between 1024 and 65534, got 1022",
        ),
        (-2, 1999, "port_min", "got -2"),
        (
            65536,
            65537,
            "port_min",
            "must be between 1024 and 65534, got 65536",
        ),
        (30000, 30998, "port_max", "must be odd"),
        (
            30000,
            29999,
            "port_max",
            "must be above port_min (30000), got 29999",
        ),
        (
            30000,
            30000,
            "port_max",
            "must be above port_min (30000), got 30000",
        ),
        (
            30000,
            65537,
            "port_max",
            "must be between 30001 and 65535, got 65537",
        ),
    ];
    for (min, max, key, reason) in cases {
        assert_key_err(
            &second_iface(&iface_body("x", "127.0.0.2", min, max)),
            &format!("interface[1].{key}"),
            reason,
        );
    }
    assert_key_err(
        &second_iface(
            "name = \"x\"\naddress = \"127.0.0.2\"\nport_min = \"30000\"\nport_max = 30999",
        ),
        "interface[1].port_min",
        "invalid type: string \"30000\", expected an integer",
    );
}

#[test]
fn interfaces_are_checked_against_each_other() {
    // Same name and address twice.
    assert_key_err(
        &second_iface(&iface_body("pub", "127.0.0.1", 40000, 40999)),
        "interface[1].address",
        "interface[0] already has name \"pub\" with address 127.0.0.1",
    );
    // Overlapping ranges on one address, from either side and nested.
    for (min, max) in [
        (30998, 31999),
        (29000, 30001),
        (30100, 30199),
        (20000, 39999),
    ] {
        assert_key_err(
            &second_iface(&iface_body("other", "127.0.0.1", min, max)),
            "interface[1].port_min",
            &format!("ports {min}-{max} overlap ports 30000-30999 of interface[0] on the same address 127.0.0.1"),
        );
    }
    // An IPv4-mapped IPv6 address is the same address as far as binding goes.
    assert_key_err(
        &second_iface(&iface_body("other", "::ffff:127.0.0.1", 30500, 30599)),
        "interface[1].port_min",
        "overlap",
    );
    // The third entry is checked against both earlier ones.
    let text = format!(
        "{}\n[[interface]]\n{}\n[[interface]]\n{}",
        IFACE,
        iface_body("b", "127.0.0.1", 31000, 31999),
        iface_body("c", "127.0.0.1", 31500, 32999)
    );
    assert_key_err(&text, "interface[2].port_min", "of interface[1]");
}
