//! Error paths of syntax and of the optional sections: each names its key path and reason on
//! one line.

use super::{assert_key_err, err, with_iface};
use crate::ConfigError;

/// `[section]` holding `body`, plus a valid interface.
fn section(name: &str, body: &str) -> String {
    with_iface(&format!("[{name}]\n{body}"))
}

#[test]
fn syntax_errors_give_line_and_column() {
    let e = err("[general]\nlog_level = \"info\"\nlog_format = \n");
    match &e {
        ConfigError::Syntax { line, col, msg } => {
            assert_eq!(*line, 3);
            assert!(*col >= 13, "col {col}");
            assert!(!msg.is_empty());
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert_eq!(e.path(), None);
    let shown = e.to_string();
    assert!(shown.contains("line 3"), "{shown}");
    assert!(!shown.contains('\n'), "{shown}");

    // A duplicated key is a syntax error too, pointed at the second occurrence.
    match err("a = 1\nb = 2\na = 3\n") {
        ConfigError::Syntax { line, col, .. } => assert_eq!((line, col), (3, 1)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // Columns count characters, not bytes.
    match err("x = \"é\" y") {
        ConfigError::Syntax { line, col, .. } => assert_eq!((line, col), (1, 9)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn general_errors() {
    assert_key_err(
        &section("general", "log_level = \"loud\""),
        "general.log_level",
        "unknown value `loud`, expected one of `trace`, `debug`, `info`, `warn`, `error`",
    );
    assert_key_err(
        &section("general", "log_level = 3"),
        "general.log_level",
        "invalid type: integer `3`, expected a string",
    );
    assert_key_err(
        &section("general", "log_format = \"xml\""),
        "general.log_format",
        "unknown value `xml`, expected `text` or `json`",
    );
    assert_key_err(
        &with_iface("general = 5"),
        "general",
        "expected a [general] table",
    );
}

#[test]
fn ng_errors() {
    assert_key_err(
        &section("ng", "listen = \"localhost:2223\""),
        "ng.listen",
        "not a socket address",
    );
    assert_key_err(
        &section("ng", "listen = \"127.0.0.1\""),
        "ng.listen",
        "not a socket address",
    );
    assert_key_err(
        &section("ng", "listen = \"127.0.0.1:0\""),
        "ng.listen",
        "port 0",
    );
    assert_key_err(
        &section("ng", "listen = \"239.1.1.1:2223\""),
        "ng.listen",
        "multicast",
    );
    assert_key_err(
        &section("ng", "listen = [\"127.0.0.1:2223\"]"),
        "ng.listen",
        "invalid type: sequence, expected a string",
    );
    for bad in [0, 3601, -5] {
        assert_key_err(
            &section("ng", &format!("cookie_cache_secs = {bad}")),
            "ng.cookie_cache_secs",
            &format!("must be between 1 and 3600, got {bad}"),
        );
    }
    assert_key_err(&with_iface("ng = \"x\""), "ng", "expected an [ng] table");
}

#[test]
fn ng_listen_inside_a_relay_range_is_refused() {
    for listen in [
        "127.0.0.1:30000",
        "127.0.0.1:30999",
        "0.0.0.0:30500",
        "[::]:30500",
    ] {
        assert_key_err(
            &section("ng", &format!("listen = {listen:?}")),
            "ng.listen",
            "inside the relay ports 30000-30999 of interface[0]",
        );
    }
}

#[test]
fn dataplane_errors() {
    assert_key_err(
        &section("dataplane", "backend = \"xdp\""),
        "dataplane.backend",
        "unknown value `xdp`, expected `socket` or `dpdk`",
    );
    assert_key_err(
        &section("dataplane", "worker_cores = []"),
        "dataplane.worker_cores",
        "must list between 1 and 256 CPU ids, got 0",
    );
    let many: Vec<String> = (0..257).map(|i| i.to_string()).collect();
    assert_key_err(
        &section("dataplane", &format!("worker_cores = [{}]", many.join(","))),
        "dataplane.worker_cores",
        "got 257",
    );
    assert_key_err(
        &section("dataplane", "worker_cores = [0, -1]"),
        "dataplane.worker_cores[1]",
        "must be between 0 and 4294967295, got -1",
    );
    assert_key_err(
        &section("dataplane", "worker_cores = [4, 5, 4]"),
        "dataplane.worker_cores[2]",
        "CPU 4 is already listed at dataplane.worker_cores[0]",
    );
    assert_key_err(
        &section("dataplane", "worker_cores = [0, \"1\"]"),
        "dataplane.worker_cores[1]",
        "invalid type: string \"1\", expected an integer",
    );
    assert_key_err(
        &section("dataplane", "worker_cores = 0"),
        "dataplane.worker_cores",
        "invalid type: integer `0`, expected a sequence",
    );
    assert_key_err(
        &section("dataplane", "control_core = -1"),
        "dataplane.control_core",
        "got -1",
    );
    for bad in [0, 513] {
        assert_key_err(
            &section("dataplane", &format!("burst = {bad}")),
            "dataplane.burst",
            &format!("must be between 1 and 512, got {bad}"),
        );
    }
    assert_key_err(
        &section("dataplane", "burst = 32.5"),
        "dataplane.burst",
        "invalid type: floating point `32.5`, expected an integer",
    );
}

#[test]
fn media_errors() {
    assert_key_err(
        &section("media", "latching = \"sometimes\""),
        "media.latching",
        "unknown value `sometimes`, expected one of `off`, `immediate`, `heuristic`",
    );
    assert_key_err(
        &section("media", "latching = \"off\"\nstrict_source = true"),
        "media.strict_source",
        "strict_source = true needs latching, but media.latching is \"off\"",
    );
    assert_key_err(
        &section("media", "strict_source = \"yes\""),
        "media.strict_source",
        "invalid type: string \"yes\", expected a boolean",
    );
    let ranges: [(&str, i64, i64); 6] = [
        ("learning_secs", 0, 60),
        ("timeout_secs", 1, 86400),
        ("hold_timeout_secs", 1, 86400),
        ("offer_timeout_secs", 1, 86400),
        ("final_timeout_secs", 0, 604800),
        ("delete_delay_secs", 0, 3600),
    ];
    for (name, min, max) in ranges {
        for bad in [min - 1, max + 1] {
            assert_key_err(
                &section("media", &format!("{name} = {bad}")),
                &format!("media.{name}"),
                &format!("must be between {min} and {max}, got {bad}"),
            );
        }
        for good in [min, max] {
            super::ok(&section("media", &format!("{name} = {good}")));
        }
    }
    for bad in [-1i64, 4_294_967_296] {
        assert_key_err(
            &section("media", &format!("max_sessions = {bad}")),
            "media.max_sessions",
            &format!("must be between 0 and 4294967295, got {bad}"),
        );
    }
}

#[test]
fn quoted_keys_are_quoted_in_paths() {
    assert_key_err(
        &with_iface("[general]\n\"log level\" = \"info\""),
        "general.\"log level\"",
        "unknown field `log level`",
    );
    // A line break inside a key is escaped so the message stays on one line.
    assert_key_err(
        &with_iface("[media]\n\"a\\nb\" = 1"),
        "media.\"a\\nb\"",
        "unknown field `a\\nb`",
    );
}
