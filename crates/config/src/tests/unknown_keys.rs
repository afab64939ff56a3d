//! Unknown keys are refused at every level, named by their full path.

use super::{assert_key_err, with_iface, IFACE};

#[test]
fn unknown_top_level_key_and_table() {
    assert_key_err(
        &with_iface("colour = \"blue\""),
        "colour",
        "unknown field `colour`",
    );
    assert_key_err(
        &with_iface("[dispatcher]\nalgorithm = \"round-robin\""),
        "dispatcher",
        "unknown field `dispatcher`, expected one of `general`, `ng`, `dataplane`, `media`, `interface`",
    );
    // A plural slip is unknown too.
    assert_key_err(
        "[[interfaces]]\nname = \"x\"",
        "interfaces",
        "unknown field `interfaces`",
    );
}

#[test]
fn unknown_key_in_each_section() {
    for (section, known) in [
        ("general", "log_level"),
        ("ng", "listen"),
        ("dataplane", "backend"),
        ("media", "latching"),
    ] {
        assert_key_err(
            &with_iface(&format!("[{section}]\nbogus = 1")),
            &format!("{section}.bogus"),
            "unknown field `bogus`, expected",
        );
        // The message lists the keys that are known.
        assert_key_err(
            &with_iface(&format!("[{section}]\nbogus = 1")),
            &format!("{section}.bogus"),
            known,
        );
        // A nested table is an unknown key of its section.
        assert_key_err(
            &with_iface(&format!("[{section}.deeper]\nx = 1")),
            &format!("{section}.deeper"),
            "unknown field `deeper`",
        );
    }
}

#[test]
fn unknown_key_in_an_interface_entry_names_the_entry() {
    assert_key_err(
        &format!("[[interface]]\nname = \"a\"\nmtu = 1500\n{IFACE}"),
        "interface[0].mtu",
        "unknown field `mtu`, expected one of `name`, `address`, `advertised`, `port_min`, `port_max`",
    );
    assert_key_err(
        &format!("{IFACE}\n[[interface]]\nname = \"b\"\nport_range = \"1-2\""),
        "interface[1].port_range",
        "unknown field `port_range`",
    );
    // Keys of a typo'd section key written with dotted syntax.
    assert_key_err(
        &format!("{IFACE}\nnat.advertised = \"203.0.113.7\""),
        "interface[0].nat",
        "unknown field `nat`",
    );
}
