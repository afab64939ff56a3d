//! `[admin]`: the local admin socket (`ferrovoxctl` talks to it).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::check::{opt_int_in, secs_in};
use crate::error::{key, ConfigError};

/// Default `admin.socket`.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/ferrovox/admin.sock";

/// Longest `admin.socket` path: what a Unix socket address holds (`sun_path`, 108 bytes with
/// its terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Largest `admin.max_line_bytes`.
pub const MAX_ADMIN_LINE: u32 = 16 << 20;

/// The `[admin]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `enabled` (default true): whether the daemon opens the admin socket at all.
    pub enabled: bool,
    /// `socket` (default `/run/ferrovox/admin.sock`): the Unix socket's path. A relative path
    /// is taken under the runtime directory: `$RUNTIME_DIRECTORY` (systemd's
    /// `RuntimeDirectory=`), else `$XDG_RUNTIME_DIR`, else the working directory. Missing
    /// parent directories are created. A socket file left by a daemon that is gone is
    /// replaced; one a running daemon answers on is not (the start fails).
    pub socket: PathBuf,
    /// `mode` (an octal string, default `"0660"`): the socket's permissions. Only they decide
    /// who may connect: whoever may write to the socket may use every method.
    pub mode: u32,
    /// `group` (default none: the daemon's own group): the group that owns the socket, so
    /// its members may connect under mode 0660.
    pub group: Option<String>,
    /// `max_connections` (1..=1024, default 16): connections served at once; one more gets
    /// an error line and is closed.
    pub max_connections: u32,
    /// `max_line_bytes` (1024..=16777216, default 65536): the longest request line; a longer
    /// one gets an error and its connection is closed without reading the rest.
    pub max_line_bytes: u32,
    /// `idle_timeout_secs` (1..=3600, default 60): a connection that sends no complete request
    /// for this long is closed (so is a client that sends a line slowly).
    pub idle_timeout: Duration,
    /// `write_timeout_secs` (1..=60, default 5): a client that does not read its reply for
    /// this long is closed.
    pub write_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            socket: PathBuf::from(DEFAULT_ADMIN_SOCKET),
            mode: 0o660,
            group: None,
            max_connections: 16,
            max_line_bytes: 65_536,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// `[admin]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [admin] table")]
pub(crate) struct RawAdmin {
    enabled: Option<bool>,
    socket: Option<String>,
    mode: Option<String>,
    group: Option<String>,
    max_connections: Option<i64>,
    max_line_bytes: Option<i64>,
    idle_timeout_secs: Option<i64>,
    write_timeout_secs: Option<i64>,
}

impl RawAdmin {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<AdminConfig, ConfigError> {
        let d = AdminConfig::default();
        let socket = match self.socket {
            Some(p) => socket_path(&p)?,
            None => d.socket,
        };
        let mode = match self.mode {
            Some(m) => parse_mode(&m)?,
            None => d.mode,
        };
        let group = match self.group {
            Some(g) if g.is_empty() || g.contains(['/', ':', '\0']) || g.len() > 32 => {
                return Err(key("admin.group", format!("{g:?} is not a group name")))
            }
            g => g,
        };
        Ok(AdminConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            socket,
            mode,
            group,
            max_connections: opt_int_in(
                "admin.max_connections",
                self.max_connections,
                1,
                1024,
                d.max_connections,
            )?,
            max_line_bytes: opt_int_in(
                "admin.max_line_bytes",
                self.max_line_bytes,
                1024,
                i64::from(MAX_ADMIN_LINE),
                d.max_line_bytes,
            )?,
            idle_timeout: secs_in(
                "admin.idle_timeout_secs",
                self.idle_timeout_secs,
                1,
                3600,
                d.idle_timeout,
            )?,
            write_timeout: secs_in(
                "admin.write_timeout_secs",
                self.write_timeout_secs,
                1,
                60,
                d.write_timeout,
            )?,
        })
    }
}

/// `admin.socket`: not empty, no NUL, short enough for a socket address, not a directory.
fn socket_path(p: &str) -> Result<PathBuf, ConfigError> {
    if p.is_empty() || p.ends_with('/') {
        return Err(key(
            "admin.socket",
            "name a file, e.g. \"/run/ferrovox/admin.sock\"",
        ));
    }
    if p.contains('\0') {
        return Err(key("admin.socket", "contains a NUL byte"));
    }
    if p.len() > MAX_SOCKET_PATH {
        return Err(key(
            "admin.socket",
            format!(
                "{} bytes; a Unix socket path holds at most {MAX_SOCKET_PATH}",
                p.len()
            ),
        ));
    }
    Ok(PathBuf::from(p))
}

/// `admin.mode`: octal permission bits, at most 0777, with the owner able to read and write.
fn parse_mode(m: &str) -> Result<u32, ConfigError> {
    let digits = m.strip_prefix("0o").unwrap_or(m);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|v| *v <= 0o777 && !digits.is_empty())
        .ok_or_else(|| {
            key(
                "admin.mode",
                format!("{m:?} is not an octal mode like \"0660\""),
            )
        })?;
    if mode & 0o600 != 0o600 {
        return Err(key(
            "admin.mode",
            format!("{m} leaves the owner unable to read and write the socket"),
        ));
    }
    Ok(mode)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn build(text: &str) -> Result<AdminConfig, ConfigError> {
        let raw: RawAdmin = toml::from_str(text).unwrap();
        raw.build()
    }

    #[test]
    fn defaults_and_every_key() {
        assert_eq!(build("").unwrap(), AdminConfig::default());
        let c = build(
            "enabled = false\nsocket = \"ferrovox/admin.sock\"\nmode = \"0600\"\n\
             group = \"ferrovox\"\nmax_connections = 4\nmax_line_bytes = 4096\n\
             idle_timeout_secs = 5\nwrite_timeout_secs = 2",
        )
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(c.socket, PathBuf::from("ferrovox/admin.sock"));
        assert_eq!(c.mode, 0o600);
        assert_eq!(c.group.as_deref(), Some("ferrovox"));
        assert_eq!(c.max_connections, 4);
        assert_eq!(c.max_line_bytes, 4096);
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        assert_eq!(c.write_timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("socket = \"\"", "admin.socket"),
            (
                &format!("socket = \"/{}\"", "x".repeat(120)),
                "admin.socket",
            ),
            ("mode = \"660x\"", "admin.mode"),
            ("mode = \"01777\"", "admin.mode"),
            ("mode = \"0060\"", "admin.mode"),
            ("group = \"a:b\"", "admin.group"),
            ("max_connections = 0", "admin.max_connections"),
            ("max_line_bytes = 10", "admin.max_line_bytes"),
            ("idle_timeout_secs = 0", "admin.idle_timeout_secs"),
            ("write_timeout_secs = 61", "admin.write_timeout_secs"),
        ];
        for (text, path) in cases {
            let e = build(text).unwrap_err().to_string();
            assert!(e.contains(path), "{text}: {e}");
        }
        assert!(toml::from_str::<RawAdmin>("sockt = \"x\"").is_err());
    }
}
