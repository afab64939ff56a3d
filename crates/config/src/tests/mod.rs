//! Unit tests of the parser and checks; shared helpers live here.

mod defaults;
mod dispatcher;
mod errors;
mod errors_iface;
mod flood;
mod host;
mod ng;
mod props;
mod sip;
mod unknown_keys;

use crate::{parse, Config, ConfigError};

/// The smallest valid document: one interface.
pub(crate) const IFACE: &str = r#"
[[interface]]
name = "pub"
address = "127.0.0.1"
port_min = 30000
port_max = 30999
"#;

/// `IFACE` plus `extra`.
pub(crate) fn with_iface(extra: &str) -> String {
    format!("{extra}\n{IFACE}")
}

/// Parses `text`, which must be valid.
pub(crate) fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(cfg) => cfg,
        Err(e) => panic!("expected a valid config, got: {e}\n--- text ---\n{text}"),
    }
}

/// Parses `text`, which must be refused.
pub(crate) fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(cfg) => panic!("expected an error, got {cfg:?}\n--- text ---\n{text}"),
        Err(e) => e,
    }
}

/// `text` is refused with a `Key` error at exactly `path` whose one-line message contains both
/// the path and `reason`.
#[track_caller]
pub(crate) fn assert_key_err(text: &str, path: &str, reason: &str) {
    let e = err(text);
    let shown = e.to_string();
    assert!(
        matches!(&e, ConfigError::Key { path: p, .. } if p == path),
        "expected a Key error at {path}, got {e:?}\n--- text ---\n{text}"
    );
    assert_eq!(e.path(), Some(path));
    assert!(
        shown.starts_with(path),
        "{shown:?} does not start with {path}"
    );
    assert!(
        shown.contains(reason),
        "{shown:?} does not contain {reason:?}"
    );
    assert!(!shown.contains('\n'), "{shown:?} is not one line");
}
