//! Finding the external programs the tests drive, with one-line install hints.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// An external program: its command name and how to install it (Debian package names).
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// Command name searched on `PATH`.
    pub name: &'static str,
    /// One line telling the reader how to get it.
    pub hint: &'static str,
}

/// baresip, a real SIP user agent (its modules in [`BARESIP_MODULES`]).
pub const BARESIP: Tool = Tool {
    name: "baresip",
    hint: "install it: apt-get install baresip-core",
};

/// tmux, the terminal multiplexer a test drives `ferrovoxctl top` in.
pub const TMUX: Tool = Tool {
    name: "tmux",
    hint: "install it: apt-get install tmux",
};

/// promtool, Prometheus's checker (`promtool check metrics` reads an exposition).
pub const PROMTOOL: Tool = Tool {
    name: "promtool",
    hint: "install it: apt-get install prometheus (deploy/install-deps.sh --test)",
};

/// redis-server, the store of replicated call state (a test starts its own).
pub const REDIS_SERVER: Tool = Tool {
    name: "redis-server",
    hint: "install it: apt-get install redis-server (deploy/install-deps.sh --test)",
};

/// redis-cli, to read what the daemon replicated.
pub const REDIS_CLI: Tool = Tool {
    name: "redis-cli",
    hint: "install it: apt-get install redis-tools (redis-server depends on it)",
};

/// keepalived, which moves the service address between the two nodes of the HA test (VRRP
/// inside the test's namespaces).
pub const KEEPALIVED: Tool = Tool {
    name: "keepalived",
    hint: "install it: apt-get install keepalived (deploy/install-deps.sh --test)",
};

/// Where Debian's baresip keeps its modules.
pub const BARESIP_MODULES: &str = "/usr/lib/baresip/modules";

/// Kamailio, the SIP proxy in front of the relay.
pub const KAMAILIO: Tool = Tool {
    name: "kamailio",
    hint: "install it: apt-get install kamailio",
};
/// sipp, the UAC and the UAS.
pub const SIPP: Tool = Tool {
    name: "sipp",
    hint: "install it: apt-get install sip-tester",
};
/// tcpdump, which captures the loopback traffic.
pub const TCPDUMP: Tool = Tool {
    name: "tcpdump",
    hint: "install it: apt-get install tcpdump (and run the tests as root or with CAP_NET_RAW)",
};
/// rtpengine, the reference relay.
pub const RTPENGINE: Tool = Tool {
    name: "rtpengine",
    hint: "install it: apt-get install rtpengine-daemon",
};

/// Searched after `PATH`: daemons and capture tools live in the sbin directories, which a
/// non-root `PATH` often lacks.
const SBIN: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// The full path of `tool` on `PATH` (then the sbin directories), or [`Error::MissingTool`].
pub fn find(tool: Tool) -> Result<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool.name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Error::MissingTool {
            tool: tool.name.to_owned(),
            hint: tool.hint.to_owned(),
        })
}

/// Whether `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The directory holding Kamailio's modules: `E2E_KAMAILIO_MODULES` if set, else the default
/// search path that `kamailio -h` reports. It must contain `rtpengine.so`.
pub fn kamailio_modules(kamailio: &Path) -> Result<PathBuf> {
    let dir = match env::var_os("E2E_KAMAILIO_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let out = Command::new(kamailio)
                .arg("-h")
                .output()
                .map_err(|e| Error::io("run kamailio -h", e))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            default_module_dir(&text).ok_or_else(|| Error::MissingTool {
                tool: "kamailio module directory".to_owned(),
                hint: "`kamailio -h` names none; set E2E_KAMAILIO_MODULES".to_owned(),
            })?
        }
    };
    if dir.join("rtpengine.so").is_file() {
        Ok(dir)
    } else {
        Err(Error::MissingTool {
            tool: format!("kamailio module rtpengine.so in {}", dir.display()),
            hint: "install Kamailio's rtpengine module (Debian: kamailio; elsewhere \
                   kamailio-rtpengine), or set E2E_KAMAILIO_MODULES"
                .to_owned(),
        })
    }
}

/// The path in the `-L path  Modules search path (default: PATH)` line of `kamailio -h`.
fn default_module_dir(help: &str) -> Option<PathBuf> {
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("-L") && l.contains("default:"))?;
    let start = line.find("default:")? + "default:".len();
    let rest = line.get(start..)?.trim();
    let end = rest.find(')').unwrap_or(rest.len());
    let dir = rest.get(..end)?.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn module_dir_is_read_from_kamailio_help() {
        let help = "    -L path      Modules search path (default: /opt/k/lib/modules)\n";
        assert_eq!(
            default_module_dir(help),
            Some(PathBuf::from("/opt/k/lib/modules"))
        );
        assert_eq!(default_module_dir("-m nr  Size of shared memory"), None);
    }

    #[test]
    fn a_missing_tool_says_what_to_install_on_one_line() {
        let err = find(Tool {
            name: "surely-not-an-installed-program-e2e",
            hint: "install it: apt-get install nothing",
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "e2e: surely-not-an-installed-program-e2e not found: install it: apt-get install nothing"
        );
        assert!(!err.contains('\n'));
    }
}
