//! The ng relay's place in the daemon: its socket is bound before anything reports ready, and
//! its driver runs on a thread and a tokio runtime of its own, so that however busy the SIP
//! proxy on the control thread is, an ng request waits only for the ng requests ahead of it.
//! The thread inherits the control thread's CPU affinity (`[dataplane] control_core`): on a
//! shared core the kernel's scheduler, not one runtime's task queue, decides who runs next,
//! and a thread that sleeps between requests as ng does is woken ahead of a busy one; the ng
//! thread also runs at a higher priority than the SIP thread where the process may raise it.

use anyhow::Context;
use control::SharedEngine;
use media::GuardConfig;
use pktio::plane::WorkerLink;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, watch};

/// The running ng thread.
#[derive(Debug)]
pub struct NgThread {
    handle: JoinHandle<anyhow::Result<()>>,
}

/// What the ng thread is given.
pub struct NgParts {
    /// The media engine it drives (shared with the SIP proxy, which anchors calls on it).
    pub engine: SharedEngine,
    /// The workers' rings.
    pub links: Vec<WorkerLink>,
    /// New source settings on SIGHUP.
    pub reload: mpsc::Receiver<GuardConfig>,
}

/// Binds `[ng] listen` and starts the ng thread. It runs until `stop` turns true, and turns it
/// true itself when it ends, so the daemon never runs on without its ng listener.
pub fn spawn(
    cfg: &config::Config,
    parts: NgParts,
    stop: Arc<watch::Sender<bool>>,
) -> anyhow::Result<NgThread> {
    let listen = cfg.ng.listen;
    let socket = std::net::UdpSocket::bind(listen)
        .with_context(|| format!("ng.listen: cannot bind {listen}"))?;
    socket
        .set_nonblocking(true)
        .context("ng.listen: cannot make the socket non-blocking")?;
    let tcp = bind_tcp(&cfg.ng.tcp)?;
    let sources = parts.engine.lock().guard().to_string();
    tracing::info!(%listen, %sources, "ng listening");
    // Subscribed here, while `stop` is still false, so a stop sent before the thread runs is
    // seen as a change.
    let shutdown = stop.subscribe();
    let handle = std::thread::Builder::new()
        .name("ferrovox-ng".into())
        .spawn(move || {
            let result = serve(socket, tcp, parts, shutdown);
            let _ = stop.send(true);
            result
        })
        .context("cannot start the ng thread")?;
    Ok(NgThread { handle })
}

/// The ng thread's nice value: ahead of the SIP proxy's thread, as rtpengine's `--priority`
/// lets an operator place its threads, so a SIP flood that keeps the shared control core busy
/// cannot hold an ng reply back. Workers are not affected (they have their own cores).
const NG_NICE: i32 = -10;

/// Raises the calling thread's priority to [`NG_NICE`] where the process may (root or
/// `CAP_SYS_NICE`); otherwise it runs at the normal priority, and says so once.
fn raise_priority() {
    let tid = rustix::thread::gettid();
    match rustix::process::setpriority_process(Some(tid), NG_NICE) {
        Ok(()) => tracing::debug!(nice = NG_NICE, "ng thread priority raised"),
        Err(e) => tracing::info!(error = %e, "ng thread runs at normal priority"),
    }
}

/// Binds `[ng] listen_tcp` if it is set: ng over TCP, as rtpengine's `listen-tcp-ng`.
fn bind_tcp(
    tcp: &config::NgTcpConfig,
) -> anyhow::Result<Option<(std::net::TcpListener, config::NgTcpConfig)>> {
    let Some(listen) = tcp.listen else {
        return Ok(None);
    };
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("ng.listen_tcp: cannot bind {listen}"))?;
    listener
        .set_nonblocking(true)
        .context("ng.listen_tcp: cannot make the socket non-blocking")?;
    tracing::info!(%listen, "ng listening on TCP");
    Ok(Some((listener, *tcp)))
}

/// The ng thread's body: its own current-thread runtime around the driver.
fn serve(
    socket: std::net::UdpSocket,
    tcp: Option<(std::net::TcpListener, config::NgTcpConfig)>,
    parts: NgParts,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    raise_priority();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot build the ng runtime")?;
    rt.block_on(async {
        let socket = tokio::net::UdpSocket::from_std(socket).context("ng socket")?;
        let tcp = match tcp {
            Some((l, limits)) => Some((
                tokio::net::TcpListener::from_std(l).context("ng TCP socket")?,
                limits,
            )),
            None => None,
        };
        let (engine, links, reload) = (parts.engine, parts.links, parts.reload);
        control::ng_driver::run(engine, socket, links, reload, shutdown, tcp)
            .await
            .context("ng listener failed")
    })
}

impl NgThread {
    /// Waits for the thread to end (after `stop` turned true) and returns how it ended.
    pub fn join(self) -> anyhow::Result<()> {
        match self.handle.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("the ng thread panicked"),
        }
    }
}
