//! Property tests: no input makes the parser panic, and every error is one line.

use proptest::prelude::*;

use crate::{parse, ConfigError};

/// Checks the contract every outcome must meet.
fn check_outcome(text: &str) {
    match parse(text) {
        Ok(cfg) => {
            assert!(!cfg.interfaces.is_empty());
            for iface in &cfg.interfaces {
                assert_eq!(iface.port_min % 2, 0);
                assert_eq!(iface.port_max % 2, 1);
                assert!(iface.port_min < iface.port_max);
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "{shown:?}");
            match &e {
                ConfigError::Syntax { line, col, .. } => {
                    assert!(*line >= 1 && *col >= 1);
                    assert!(*line <= text.lines().count().max(1) + 1);
                }
                ConfigError::Key { path, .. } | ConfigError::Host { path, .. } => {
                    assert!(!path.is_empty());
                    assert!(shown.starts_with(path.as_str()));
                }
            }
        }
    }
}

/// Fragments of the real schema, so that random documents get past the TOML parser and into
/// the checks often enough.
fn fragment() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "log_level",
        "log_format",
        "listen",
        "cookie_cache_secs",
        "allow",
        "rate",
        "backend",
        "worker_cores",
        "control_core",
        "burst",
        "latching",
        "learning_secs",
        "strict_source",
        "timeout_secs",
        "max_sessions",
        "name",
        "address",
        "advertised",
        "port_min",
        "port_max",
        "bogus",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (0i64..70000).prop_map(|v| v.to_string()),
        any::<bool>().prop_map(|v| v.to_string()),
        "[a-z0-9.:\\[\\]]{0,12}".prop_map(|s| format!("{s:?}")),
        prop::collection::vec(-2i64..8, 0..4).prop_map(|v| format!("{v:?}")),
    ];
    let header = prop::sample::select(vec![
        "[general]",
        "[ng]",
        "[dataplane]",
        "[media]",
        "[[interface]]",
        "[other]",
    ]);
    prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        header.prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_outcome(&text);
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_outcome(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn schema_shaped_documents_never_panic(lines in prop::collection::vec(fragment(), 0..24)) {
        check_outcome(&lines.join("\n"));
    }
}
