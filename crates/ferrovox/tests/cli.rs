//! The daemon's command line: subcommands, the `--config` shorthand, help, version, and the
//! exit status (0 done, 1 failure, 2 usage).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn ferrovox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrovox"))
        .args(args)
        .output()
        .expect("the ferrovox binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_and_version_exit_0() {
    let o = ferrovox(&["--version"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        text(&o.stdout).trim(),
        format!("ferrovox {}", env!("CARGO_PKG_VERSION"))
    );
    let o = ferrovox(&["--help"]);
    assert_eq!(code(&o), 0);
    let help = text(&o.stdout);
    for word in ["run", "check-config", "--config", "--version"] {
        assert!(help.contains(word), "--help does not name {word}:\n{help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["run"][..],
        &["bogus"][..],
        &["check-config"][..],
        &["--config", "a.toml", "run", "--config", "b.toml"][..],
    ] {
        let o = ferrovox(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("Usage"), "{args:?}");
    }
}

#[test]
fn check_config_exits_0_for_a_valid_file_and_1_otherwise() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/ferrovox.toml");
    let shipped = shipped.to_str().unwrap();
    let o = ferrovox(&["check-config", shipped]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).ends_with(": ok\n"));

    let dir = std::env::temp_dir().join(format!("fv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[media]\nlatchng = \"off\"\n").unwrap();
    let missing = dir.join("missing.toml");
    for (file, says) in [(&bad, "media.latchng"), (&missing, "cannot read")] {
        let file = file.to_str().unwrap();
        for args in [&["check-config", file][..], &["run", "--config", file][..]] {
            let o = ferrovox(args);
            let err = text(&o.stderr);
            assert_eq!(code(&o), 1, "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
