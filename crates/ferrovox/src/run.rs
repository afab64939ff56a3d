//! Wiring: logging, the data plane, the control plane, and clean shutdown on SIGTERM/SIGINT.
//!
//! Threads: the data plane's workers; the control thread (this one, pinned to
//! `[dataplane] control_core` when set) with the SIP proxy, the signals and SIGHUP reloads;
//! and the ng thread with the media engine on a runtime of its own (`crate::ng`). SIP keeps
//! the control thread because it is the heavy, growing part (it will shard over more
//! threads) and owns the process's signals; ng is small, latency-bound and built before any
//! runtime exists, so it moves whole onto a fresh thread where SIP work never queues ahead
//! of it.

use crate::ng::NgParts;
use config::Config;
use control::SocketBinder;
use media::{Engine, PortBinder, VirtualBinder};
use pktio::plane::{DataPlane, WorkerLink};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How long the SIP driver may take to stop after SIGTERM/SIGINT.
const SIP_STOP: Duration = Duration::from_secs(2);

/// Runs the appliance until SIGTERM or SIGINT; `path` is re-read on SIGHUP.
pub fn run(cfg: Config, path: &Path) -> anyhow::Result<()> {
    crate::logging::init(&cfg);
    let epoch = Instant::now();
    let mut plane = DataPlane::start(&cfg, epoch)?;
    let engine = engine(&cfg, &plane, epoch);
    let links = plane.take_links();
    let facts = crate::metrics::PlaneFacts::of(&cfg, &plane);
    let result = control_thread(&cfg, path, engine, links, facts);
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

/// The control plane: SIP on this thread, the ng thread beside it, until SIGTERM or SIGINT
/// (or the ng thread's end); both are stopped and waited for.
fn control_thread(
    cfg: &Config,
    path: &Path,
    engine: Engine,
    links: Vec<WorkerLink>,
    facts: crate::metrics::PlaneFacts,
) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let (ng_reload, reload) = mpsc::channel(4);
    let engine = control::SharedEngine::new(engine);
    let parts = NgParts {
        engine,
        links,
        reload,
    };
    let (sip, ng) = sip_until_stopped(cfg, path, parts, ng_reload, facts, &stop, stopped);
    // Whatever ended the SIP side, the ng thread stops too.
    let _ = stop.send(true);
    let ng = ng.map_or(Ok(()), crate::ng::NgThread::join);
    sip.and(ng)
}

/// The SIP proxy and the SIGHUP reloads on a current-thread runtime, until a signal or the end
/// of the ng thread; then the proxy driver is stopped and awaited. The ng thread starts once
/// the SIP sockets are bound, so a daemon that answers ng is ready on every listener; it is
/// returned (when it started) for the caller to join.
fn sip_until_stopped(
    cfg: &Config,
    path: &Path,
    parts: NgParts,
    ng_reload: mpsc::Sender<media::GuardConfig>,
    facts: crate::metrics::PlaneFacts,
    stop: &Arc<watch::Sender<bool>>,
    mut stopped: watch::Receiver<bool>,
) -> (anyhow::Result<()>, Option<crate::ng::NgThread>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return (Err(e.into()), None),
    };
    let mut ng = None;
    let mut listeners = None;
    let result = rt.block_on(async {
        // SIGHUP is caught from before the first listener answers (its default ends the process).
        let hangups = crate::reload::hangups();
        let sip = crate::sip::start(cfg, parts.engine.clone(), stopped.clone()).await?;
        let engine = parts.engine.clone();
        ng = Some(crate::ng::spawn(cfg, parts, stop.clone())?);
        let file = path.to_string_lossy().into_owned();
        let (control, task) = match sip {
            Some(s) => (Some(s.control), Some(s.task)),
            None => (None, None),
        };
        let reloads = listen(cfg, &control, engine, facts)?;
        listeners = Some(reloads.listeners.clone());
        let reloads = crate::reload::on_sighup(hangups, file, control, ng_reload, reloads);
        tokio::spawn(reloads);
        tracing::info!(ng = %cfg.ng.listen, "ferrovox ready");
        crate::notify::ready(&format!("ready; ng on {}", cfg.ng.listen));
        tokio::select! {
            _ = wait_for_signal() => {}
            _ = stopped.changed() => tracing::error!("the ng thread ended: shutting down"),
        }
        crate::notify::stopping();
        let _ = stop.send(true);
        if let Some(task) = task {
            if tokio::time::timeout(SIP_STOP, task).await.is_err() {
                tracing::warn!("the SIP proxy did not stop within {SIP_STOP:?}");
            }
        }
        Ok(())
    });
    let _ = stop.send(true);
    // The reload task (and its share of the listeners) ends with the runtime; then the admin
    // and metrics threads are stopped and waited for (the admin one removes its socket file).
    drop(rt);
    if let Some(l) = listeners {
        match Arc::try_unwrap(l) {
            Ok(l) => l
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .stop(),
            Err(_) => tracing::error!("the admin and metrics listeners are still shared"),
        }
    }
    (result, ng)
}

/// Binds the metrics endpoint and the admin socket (each on a thread of its own) and gives
/// the reload task its state, which shares them.
fn listen(
    cfg: &Config,
    control: &Option<mpsc::Sender<control::sip_driver::Control>>,
    engine: control::SharedEngine,
    facts: crate::metrics::PlaneFacts,
) -> anyhow::Result<crate::reload::Reloads> {
    let scrape = crate::metrics::Parts {
        sip: control.clone(),
        engine: engine.clone(),
        plane: facts,
    };
    let metrics = crate::metrics::MetricsService::start(cfg, scrape)?;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let (published, config_rx) = watch::channel(Arc::new(cfg.clone()));
    let tuner = crate::tune::Tuner::new(engine.clone());
    let to = crate::admin::Parts {
        sip: control.clone(),
        tuner: tuner.clone(),
        engine: engine.clone(),
        reload: reload_tx,
        config: config_rx,
    };
    let admin = crate::admin::AdminService::start(cfg, to)?;
    Ok(crate::reload::Reloads {
        current: cfg.clone(),
        admin: reload_rx,
        published,
        tuner,
        engine,
        dpdk: cfg.dataplane.backend == config::Backend::Dpdk,
        listeners: Arc::new(Mutex::new(crate::reload::Listeners { admin, metrics })),
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
