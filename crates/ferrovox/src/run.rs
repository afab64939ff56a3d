//! Wiring: logging, the data plane, the control thread (the ng driver over the media engine,
//! the SIP driver over the proxy), and clean shutdown on SIGTERM/SIGINT.

use anyhow::Context;
use config::Config;
use control::SocketBinder;
use media::{Engine, PortBinder, VirtualBinder};
use pktio::plane::{DataPlane, WorkerLink};
use std::path::Path;
use std::time::Instant;

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cfg.general.log_level.as_str()));
    // Colours only for a person at a terminal, not in files or the journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match cfg.general.log_format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Text => builder.init(),
    }
}

/// Runs the appliance until SIGTERM or SIGINT; `path` is re-read on SIGHUP.
pub fn run(cfg: Config, path: &Path) -> anyhow::Result<()> {
    init_logging(&cfg);
    let epoch = Instant::now();
    let mut plane = DataPlane::start(&cfg, epoch)?;
    let engine = engine(&cfg, &plane, epoch);
    let links = plane.take_links();
    let result = control_thread(&cfg, path, engine, links);
    let joined = plane.join();
    tracing::info!("ferrovox stopped");
    result?;
    Ok(joined?)
}

/// The media engine over the data plane's layout and counters.
fn engine(cfg: &Config, plane: &DataPlane, epoch: Instant) -> Engine {
    let fastpath = plane.fastpath_active();
    let engine_cfg = cfg.media_engine(epoch, fastpath);
    // Socket workers relay on bound sockets; DPDK ports need nothing per relay port.
    let binder: Box<dyn PortBinder> = if fastpath {
        Box::new(VirtualBinder)
    } else {
        Box::new(SocketBinder)
    };
    Engine::new(
        engine_cfg,
        plane.layout(),
        binder,
        plane.counters().to_vec(),
    )
}

/// The control plane on this thread: the ng listener, the SIP proxy, SIGHUP reloads, until
/// SIGTERM or SIGINT.
fn control_thread(
    cfg: &Config,
    path: &Path,
    engine: Engine,
    links: Vec<WorkerLink>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sock = tokio::net::UdpSocket::bind(cfg.ng.listen)
            .await
            .with_context(|| format!("ng.listen: cannot bind {}", cfg.ng.listen))?;
        tracing::info!(listen = %cfg.ng.listen, workers = links.len(), "ferrovox ready");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let sip = crate::sip::start(cfg, rx.clone()).await?;
        let file = path.to_string_lossy().into_owned();
        tokio::spawn(crate::sip::reload_on_sighup(file, sip));
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = tx.send(true);
        });
        control::ng_driver::run(engine, sock, links, rx)
            .await
            .context("ng listener failed")
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
