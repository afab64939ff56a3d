//! `ferrovoxctl` as the tests run it: against one admin socket, with its exit status, output
//! and error output, and helpers that expect success (as JSON or text) or a given refusal.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::tools;

/// `ferrovoxctl`: `FERROVOXCTL_BIN`, else next to the daemon binary the harness runs.
pub fn ctl_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROVOXCTL_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let bin = crate::relay::ferrovox_binary()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_file_name("ferrovoxctl");
    assert!(
        tools::is_executable(&bin),
        "{} is missing: build it with `cargo build -p ferrovoxctl`, or set FERROVOXCTL_BIN",
        bin.display()
    );
    bin
}

/// What one `ferrovoxctl` run did.
#[derive(Debug)]
pub struct Out {
    /// Exit status (-1: killed by a signal).
    pub code: i32,
    /// What it printed.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

/// `ferrovoxctl` on one socket.
#[derive(Debug)]
pub struct Ctl {
    bin: PathBuf,
    socket: PathBuf,
}

impl Ctl {
    /// `ferrovoxctl --socket SOCKET`.
    pub fn new(socket: &Path) -> Ctl {
        Ctl {
            bin: ctl_binary(),
            socket: socket.to_owned(),
        }
    }

    /// Runs with `args` (each answer within 5 s).
    pub fn run(&self, args: &[&str]) -> Out {
        let o = Command::new(&self.bin)
            .arg("--socket")
            .arg(&self.socket)
            .args(["--timeout", "5"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs with `--json`; it must exit 0; the parsed answer.
    pub fn json(&self, args: &[&str]) -> Value {
        let o = self.run(&[&["--json"], args].concat());
        assert_eq!(o.code, 0, "ferrovoxctl {args:?}: {}{}", o.stdout, o.stderr);
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", o.stdout))
    }

    /// Runs with `--json`; it must exit `code`; the parsed answer (a partly applied reload
    /// exits 4).
    pub fn json_exit(&self, args: &[&str], code: i32) -> Value {
        let o = self.run(&[&["--json"], args].concat());
        assert_eq!(
            o.code, code,
            "ferrovoxctl {args:?}: {}{}",
            o.stdout, o.stderr
        );
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", o.stdout))
    }

    /// Runs; it must exit 4 (a reload applied in part); the table it printed and what it
    /// said on stderr.
    pub fn text_partial(&self, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        assert_eq!(o.code, 4, "ferrovoxctl {args:?}: {}{}", o.stdout, o.stderr);
        (o.stdout, o.stderr)
    }

    /// Runs; it must exit 0; the table or lines it printed.
    pub fn text(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "ferrovoxctl {args:?}: {}{}", o.stdout, o.stderr);
        o.stdout
    }

    /// Runs; the daemon must refuse with `error` (exit 1, the code on stderr).
    pub fn refused(&self, args: &[&str], error: i32) {
        let o = self.run(args);
        assert_eq!(o.code, 1, "ferrovoxctl {args:?}: {}{}", o.stdout, o.stderr);
        assert!(
            o.stderr.contains(&format!("error {error}:")),
            "ferrovoxctl {args:?}: {}",
            o.stderr
        );
    }
}
