//! Where the socket lives and how it is opened: the runtime directory for relative paths, a
//! stale socket file replaced, the file's mode and group.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Why the admin socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Its directory could not be created.
    #[error("admin.socket: cannot create {dir}: {source}")]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A daemon answers on the path already.
    #[error("admin.socket: {0} is in use by a running process (another ferrovox?)")]
    InUse(PathBuf),
    /// The path holds something that is not a socket.
    #[error("admin.socket: {0} exists and is not a socket; remove it or choose another path")]
    NotASocket(PathBuf),
    /// Binding failed.
    #[error("admin.socket: cannot bind {path}: {source}")]
    Bind {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The mode or group could not be set.
    #[error("admin.socket: cannot set the {what} of {path}: {reason}")]
    Permissions {
        /// `mode` or `group`.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The path a configured `admin.socket` names: an absolute path as is; a relative one under
/// `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`; the first when it lists several),
/// else `$XDG_RUNTIME_DIR`, else the working directory. `ferrovoxctl --config` looks in these
/// places and the packaged service's `/run/ferrovox` ([`find_path`]), so it finds the socket
/// of a daemon that ran in another environment (under systemd, say).
pub fn resolve_path(configured: &Path) -> PathBuf {
    if configured.is_absolute() {
        return configured.to_owned();
    }
    let runtime = std::env::var_os("RUNTIME_DIRECTORY")
        .and_then(|v| {
            let first = v.to_string_lossy().split(':').next().map(PathBuf::from);
            first.filter(|p| p.is_absolute())
        })
        .or_else(|| {
            std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        });
    match runtime {
        Some(dir) => dir.join(configured),
        None => configured.to_owned(),
    }
}

/// Where a client looks for the socket a config names: an absolute path as is; a relative one
/// under each runtime directory the daemon may have had (`$RUNTIME_DIRECTORY`, the packaged
/// service's `/run/ferrovox`, `$XDG_RUNTIME_DIR`, the working directory), the first that
/// holds a socket; the daemon's own choice ([`resolve_path`]) when none does.
pub fn find_path(configured: &Path) -> PathBuf {
    if configured.is_absolute() {
        return configured.to_owned();
    }
    let dirs = [
        std::env::var_os("RUNTIME_DIRECTORY").map(PathBuf::from),
        Some(PathBuf::from("/run/ferrovox")),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::new()),
    ];
    dirs.into_iter()
        .flatten()
        .map(|d| d.join(configured))
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket()))
        .unwrap_or_else(|| resolve_path(configured))
}

/// Binds the admin socket at `path` (already resolved) with `mode` and, if given, owned by
/// `group` (a gid). A socket file nobody answers on is replaced; one that answers is left
/// alone and reported as [`SocketError::InUse`]. Missing parent directories are created.
pub fn bind(
    path: &Path,
    mode: u32,
    group: Option<u32>,
) -> Result<std::os::unix::net::UnixListener, SocketError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SocketError::Directory {
            dir: dir.to_owned(),
            source,
        })?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(SocketError::NotASocket(path.to_owned()));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(SocketError::InUse(path.to_owned()));
        }
        // Left by a daemon that is gone.
        let _ = std::fs::remove_file(path);
    }
    let listener =
        std::os::unix::net::UnixListener::bind(path).map_err(|source| SocketError::Bind {
            path: path.to_owned(),
            source,
        })?;
    let perm = |what, reason: String| SocketError::Permissions {
        what,
        path: path.to_owned(),
        reason,
    };
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| perm("group", e.to_string()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| perm("mode", e.to_string()))?;
    listener
        .set_nonblocking(true)
        .map_err(|source| SocketError::Bind {
            path: path.to_owned(),
            source,
        })?;
    Ok(listener)
}

/// The gid of group `name`, from the system's group database.
pub fn group_id(name: &str) -> Result<u32, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!("admin.group: no group {name:?} on this host")),
        Err(e) => Err(format!("admin.group: cannot look up {name:?}: {e}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/admin.sock");
        let live = bind(&path, 0o660, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(
            bind(&path, 0o660, None),
            Err(SocketError::InUse(_))
        ));
        drop(live);
        // The file stays behind, nobody answers: replaced.
        assert!(path.exists());
        let again = bind(&path, 0o600, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(again);
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            bind(&file, 0o660, None),
            Err(SocketError::NotASocket(_))
        ));
    }

    #[test]
    fn absolute_paths_stay_and_relative_ones_go_under_a_runtime_dir() {
        assert_eq!(
            resolve_path(Path::new("/run/x/admin.sock")),
            PathBuf::from("/run/x/admin.sock")
        );
        let rel = resolve_path(Path::new("ferrovox/admin.sock"));
        assert!(rel.ends_with("ferrovox/admin.sock"));
        assert_eq!(
            find_path(Path::new("/x/a.sock")),
            PathBuf::from("/x/a.sock")
        );
        // Nothing there: the daemon's own choice.
        let none = Path::new("surely-no-such-dir/admin.sock");
        assert_eq!(find_path(none), resolve_path(none));
    }
}
