//! The service manager's notification protocol (`sd_notify(3)`): `READY=1` once every listener
//! is bound, `WATCHDOG=1` from the control thread at half the `WATCHDOG_USEC` interval, and
//! `STOPPING=1` when a shutdown begins.
//!
//! The protocol is one datagram per notification, newline-separated `KEY=VALUE` lines, sent to
//! the `AF_UNIX` datagram socket named by `$NOTIFY_SOCKET` (a path, or an abstract name written
//! with a leading `@`). Without that variable (not started by systemd with `Type=notify`),
//! every call here does nothing. A notification that cannot be sent is logged, never fatal:
//! the daemon's work does not depend on its supervisor.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::Duration;

/// The socket to the service manager, opened on the first notification.
static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();

/// A datagram socket and the service manager's address from `$NOTIFY_SOCKET`.
struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names; `None` when it is unset or unusable (logged).
    fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        match Self::open(&name.to_string_lossy()) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(
                    "NOTIFY_SOCKET={name:?} is unusable ({e}): no systemd notifications"
                );
                None
            }
        }
    }

    fn open(name: &str) -> io::Result<Notifier> {
        let addr = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())?
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(name)?
        } else {
            // `vsock:` addresses (systemd 253, for virtual machines) are not used by a
            // service unit; refuse rather than guess.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither a path nor an abstract socket name",
            ));
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, addr })
    }

    fn send(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.addr)?;
        Ok(())
    }
}

/// Sends `state` to the service manager, when there is one.
fn notify(state: &str) {
    let Some(notifier) = NOTIFIER.get_or_init(Notifier::from_env) else {
        return;
    };
    if let Err(e) = notifier.send(state) {
        tracing::warn!("systemd notification {state:?} not sent: {e}");
    }
}

/// The watchdog ping interval: half of `$WATCHDOG_USEC` (as `sd_watchdog_enabled(3)` advises),
/// when the watchdog is on and meant for this process (`$WATCHDOG_PID` unset or ours).
fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    ping_interval(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Half of `usec` when it is a positive number and `pid` is absent or `own`.
fn ping_interval(usec: Option<&str>, pid: Option<&str>, own: u32) -> Option<Duration> {
    let usec: u64 = usec?.parse().ok()?;
    if pid.is_some_and(|p| p.parse::<u32>().ok() != Some(own)) {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Tells the service manager that the daemon is ready (`READY=1`, with `status` as the
/// `STATUS=` line `systemctl status` shows), and starts the watchdog pings on the calling
/// tokio runtime, the control thread's: a control thread that stops running its tasks stops
/// the pings, and systemd restarts the service.
pub fn ready(status: &str) {
    notify(&format!("READY=1\nSTATUS={status}"));
    let (Some(interval), Ok(rt)) = (watchdog_interval(), tokio::runtime::Handle::try_current())
    else {
        return;
    };
    tracing::info!(?interval, "systemd watchdog on");
    rt.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            notify("WATCHDOG=1");
        }
    });
}

/// Tells the service manager that a clean shutdown has begun (`STOPPING=1`).
pub fn stopping() {
    notify("STOPPING=1\nSTATUS=shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_socket_receives_the_datagram() {
        let dir = std::env::temp_dir().join(format!("ferrovox-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::open(path.to_str().expect("utf-8 path")).expect("open");
        n.send("READY=1\nSTATUS=x").expect("send");
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=x");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_abstract_socket_receives_the_datagram() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ferrovox-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let listener = UnixDatagram::bind_addr(&addr).expect("bind");
        let n = Notifier::open(&format!("@{name}")).expect("open");
        n.send("WATCHDOG=1").expect("send");
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn the_watchdog_pings_at_half_the_interval_for_its_own_pid_only() {
        let half = Some(Duration::from_secs(10));
        assert_eq!(ping_interval(Some("20000000"), None, 7), half);
        assert_eq!(ping_interval(Some("20000000"), Some("7"), 7), half);
        assert_eq!(ping_interval(Some("20000000"), Some("8"), 7), None);
        assert_eq!(ping_interval(Some("0"), None, 7), None);
        assert_eq!(ping_interval(Some("x"), None, 7), None);
        assert_eq!(ping_interval(None, Some("7"), 7), None);
    }

    #[test]
    fn a_relative_name_is_refused() {
        assert!(Notifier::open("vsock:2:1234").is_err());
        assert!(Notifier::open("notify.sock").is_err());
    }
}
