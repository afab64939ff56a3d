//! The config loader on arbitrary bytes (UTF-8 when valid, else decoded lossily): `parse` and
//! `validate_host` never panic, parsing is deterministic, every error renders on one line
//! (syntax errors at a position inside the text), and an accepted config has at least one
//! interface, maps onto the media engine, and passes the host check exactly when every CPU it
//! names exists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

/// The properties every refusal must have (see `config::ConfigError`).
fn check_error(text: &str, e: &config::ConfigError) {
    let shown = e.to_string();
    assert!(
        !shown.contains('\n'),
        "an error renders on one line: {shown:?}"
    );
    if let config::ConfigError::Syntax { line, col, .. } = e {
        assert!(*line >= 1 && *col >= 1, "positions are 1-based: {shown}");
        assert!(
            *line <= text.split('\n').count(),
            "line {line} inside the text: {shown}"
        );
    } else {
        assert!(e.path().is_some(), "a key error names its key: {shown}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text: Cow<'_, str> = String::from_utf8_lossy(data);
    let first = config::parse(&text);
    assert_eq!(first, config::parse(&text), "parsing is deterministic");
    let cfg = match first {
        Ok(cfg) => cfg,
        Err(e) => {
            check_error(&text, &e);
            return;
        }
    };
    assert!(
        !cfg.interfaces.is_empty(),
        "an accepted config has an interface"
    );
    let _ = cfg.media_engine(std::time::Instant::now(), false);
    // The CPUs the config names, and the smallest host that has all of them.
    let named = cfg
        .dataplane
        .worker_cores
        .iter()
        .copied()
        .chain(cfg.dataplane.control_core)
        .map(|id| id as usize);
    let needed = named.max().map_or(0, |top| top + 1);
    for cpus in [
        0,
        1,
        2,
        needed.saturating_sub(1),
        needed,
        needed + 1,
        usize::MAX,
    ] {
        let facts = config::HostFacts { cpus };
        match config::validate_host(&cfg, &facts) {
            Ok(()) => assert!(cpus >= needed, "{cpus} CPUs accepted, {needed} needed"),
            Err(e) => {
                assert!(cpus < needed, "{cpus} CPUs refused, {needed} needed: {e}");
                assert!(matches!(e, config::ConfigError::Host { .. }), "{e:?}");
                check_error(&text, &e);
            }
        }
    }
});
