//! What a test needs from the machine, and the one explicit way to do without it, for every
//! test of the workspace (the end-to-end crate, the DPDK tests of pktio, the corpus tests of
//! sdp and wire).
//!
//! A test whose need is not met fails with a message naming what is missing and how to get
//! it. A developer who cannot meet a need opts out by naming it in `FERROVOX_TEST_SKIP`
//! (comma-separated, e.g. `FERROVOX_TEST_SKIP=dpdk,netns`): the test then prints `SKIPPED`
//! with the reason and returns. `.ci/run` never sets it, so in CI every test runs or fails.

use std::path::{Path, PathBuf};

/// The variable listing the needs a developer does without.
pub const SKIP_VAR: &str = "FERROVOX_TEST_SKIP";

/// Whether the comma-separated `list` names `name` (case and spaces ignored).
pub fn listed(list: &str, name: &str) -> bool {
    list.split(',').any(|n| n.trim().eq_ignore_ascii_case(name))
}

/// With `FERROVOX_TEST_SKIP` = `list`: the `SKIPPED` line when need `name` is opted out
/// (`Ok`), else the failure message (`Err`).
pub fn verdict(list: &str, test: &str, name: &str, why: &str) -> Result<String, String> {
    if listed(list, name) {
        Ok(format!("{test}: SKIPPED ({SKIP_VAR} names {name}): {why}"))
    } else {
        Err(format!(
            "{test}: needs {name}: {why}\n(to run without it, opt out explicitly: \
             {SKIP_VAR}={name}; see tests/README.md)"
        ))
    }
}

/// Reports that `test` cannot meet need `name` because of `why`: panics (the test fails),
/// unless the need is opted out; then prints `SKIPPED` and returns `false`, and the test
/// returns.
pub fn unmet(test: &str, name: &str, why: &str) -> bool {
    match verdict(
        &std::env::var(SKIP_VAR).unwrap_or_default(),
        test,
        name,
        why,
    ) {
        Ok(skipped) => {
            eprintln!("{skipped}");
            false
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// The shared conformance set (material the project may not redistribute):
/// `FERROVOX_CONFORMANCE`, else `shared/conformance` beside the repository root.
pub fn conformance_dir() -> PathBuf {
    match std::env::var_os("FERROVOX_CONFORMANCE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    }
}

/// File `rel` of the shared conformance set, for `test`. When it cannot be read the test
/// fails (need `corpus`), unless opted out: then `None`, and the test returns.
pub fn conformance_file(test: &str, rel: &str) -> Option<Vec<u8>> {
    let path = conformance_dir().join(rel);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            let why = format!(
                "{} not readable ({e}): the shared conformance set belongs in \
                 shared/conformance next to the repository, as CI has it; \
                 FERROVOX_CONFORMANCE points at another copy",
                path.display()
            );
            unmet(test, "corpus", &why);
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn the_skip_list_is_comma_separated_and_exact() {
        assert!(listed("dpdk,netns", "netns"));
        assert!(listed(" dpdk , NETNS ", "netns"));
        assert!(!listed("", "netns"));
        assert!(!listed("netns2,dpd", "netns"));
    }

    #[test]
    fn an_unlisted_need_fails_and_a_listed_one_says_skipped() {
        let fail = verdict("", "t", "sipp", "not found").unwrap_err();
        assert!(
            fail.contains("t: needs sipp: not found") && fail.contains("FERROVOX_TEST_SKIP=sipp")
        );
        let skip = verdict("sipp", "t", "sipp", "not found").unwrap_or_default();
        assert_eq!(
            skip,
            "t: SKIPPED (FERROVOX_TEST_SKIP names sipp): not found"
        );
    }
}
