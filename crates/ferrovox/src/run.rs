//! Wiring: logging, the layout, worker threads pinned to their cores, the control thread with
//! the ng listener, and clean shutdown on SIGTERM/SIGINT.

use anyhow::{bail, Context};
use control::ng_driver::WorkerLink;
use control::SocketBinder;
use dataplane::{AddrRange, LatchMode, PortLayout, SharedCounters, Worker, WorkerParams};
use media::{Engine, EngineConfig, Interface};
use pktio::socket::SocketIo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "dpdk")]
#[path = "dpdk.rs"]
mod dpdk;

/// Command and event ring sizes per worker.
const RING: usize = 8192;

fn init_logging(cfg: &config::Config) {
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

fn latch(l: config::Latching) -> LatchMode {
    match l {
        config::Latching::Off => LatchMode::Off,
        config::Latching::Immediate => LatchMode::Immediate,
        config::Latching::Heuristic => LatchMode::Heuristic,
    }
}

/// Runs the appliance until SIGTERM or SIGINT.
pub fn run(cfg: config::Config, path: &str) -> anyhow::Result<()> {
    init_logging(&cfg);
    let use_dpdk = cfg.dataplane.backend == config::Backend::Dpdk;
    if use_dpdk && !cfg!(feature = "dpdk") {
        bail!(
            "dataplane.backend = \"dpdk\": this build has no DPDK support (build ferrovox with \
             the `dpdk` cargo feature: cargo build -p ferrovox --features dpdk); or use backend = \"socket\""
        );
    }
    match pktio::socket::raise_fd_limit() {
        // Four sockets per call (RTP and RTCP on each leg) plus a few for the process.
        Ok(n) => tracing::info!(
            open_files = n,
            calls = n.saturating_sub(64) / 4,
            "open-file limit"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let epoch = Instant::now();
    let ranges = cfg
        .interfaces
        .iter()
        .map(|i| AddrRange {
            port_min: i.port_min,
            port_max: i.port_max,
        })
        .collect();
    let layout = Arc::new(PortLayout::new(ranges, cfg.dataplane.worker_cores.len())?);
    let stop = Arc::new(AtomicBool::new(false));
    let mut links = Vec::new();
    let mut shared = Vec::new();
    let mut threads = Vec::new();
    let worker_params = |id| WorkerParams {
        id,
        layout: layout.clone(),
        learning: cfg.media.learning,
        timeout: cfg.media.timeout,
        hold_timeout: cfg.media.hold_timeout,
        tick: Duration::from_millis(20),
        epoch,
    };
    #[cfg(feature = "dpdk")]
    let plane = if use_dpdk {
        let mut p = dpdk::start(&cfg, layout.clone(), worker_params, stop.clone())?;
        links = std::mem::take(&mut p.links);
        shared = p.shared.clone();
        Some(p)
    } else {
        None
    };
    let socket_cores = if use_dpdk {
        &[][..]
    } else {
        &cfg.dataplane.worker_cores[..]
    };
    for (id, &core) in socket_cores.iter().enumerate() {
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(RING);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(RING);
        let io = SocketIo::new(
            cfg.interfaces.len(),
            cfg.dataplane.burst,
            cfg.dataplane.io_uring,
        )?;
        tracing::info!(worker = id, io_uring = io.uses_io_uring(), "socket backend");
        links.push(WorkerLink {
            commands: cmd_tx,
            events: ev_rx,
            waker: io.waker(),
        });
        let counters = Arc::new(SharedCounters::default());
        shared.push(counters.clone());
        let params = worker_params(id);
        let stop = stop.clone();
        let t = std::thread::Builder::new()
            .name(format!("fv-worker-{id}"))
            .spawn(move || {
                if let Err(e) = pktio::socket::pin_current_thread(core as usize) {
                    tracing::warn!(worker = id, core, error = %e, "cannot pin worker");
                }
                tracing::info!(worker = id, core, "worker started");
                Worker::new(params, io, cmd_rx, ev_tx, counters).run(&stop);
            })
            .context("cannot start a worker thread")?;
        threads.push(t);
    }
    if let Some(core) = cfg.dataplane.control_core {
        if let Err(e) = pktio::socket::pin_current_thread(core as usize) {
            tracing::warn!(core, error = %e, "cannot pin the control thread");
        }
    }
    let engine_cfg = EngineConfig {
        interfaces: cfg
            .interfaces
            .iter()
            .map(|i| Interface {
                name: i.name.clone(),
                address: i.address,
                advertised: i.advertised,
            })
            .collect(),
        latching: latch(cfg.media.latching),
        strict_source: cfg.media.strict_source,
        offer_timeout: cfg.media.offer_timeout,
        final_timeout: cfg.media.final_timeout,
        delete_delay: cfg.media.delete_delay,
        max_sessions: cfg.media.max_sessions.map_or(0, |n| n.get() as usize),
        cookie_ttl: cfg.ng.cookie_cache,
        fastpath: use_dpdk,
        epoch,
    };
    let binder: Box<dyn media::PortBinder> = if use_dpdk {
        Box::new(media::VirtualBinder)
    } else {
        Box::new(SocketBinder)
    };
    let engine = Engine::new(engine_cfg, layout, binder, shared);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let sock = tokio::net::UdpSocket::bind(cfg.ng.listen)
            .await
            .with_context(|| format!("ng.listen: cannot bind {}", cfg.ng.listen))?;
        tracing::info!(listen = %cfg.ng.listen, workers = cfg.dataplane.worker_cores.len(), "ferrovox ready");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let sip = crate::sip::start(&cfg, rx.clone()).await?;
        tokio::spawn(crate::sip::reload_on_sighup(path.to_string(), sip));
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = tx.send(true);
        });
        control::ng_driver::run(engine, sock, links, rx).await.context("ng listener failed")
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    #[cfg(feature = "dpdk")]
    if let Some(p) = plane {
        p.join();
    }
    tracing::info!("ferrovox stopped");
    result
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
