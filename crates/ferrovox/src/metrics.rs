//! The Prometheus endpoint's place in the daemon: bound before the daemon reports ready (a
//! bind failure names `metrics.listen` and stops the start), served on a thread and a tokio
//! runtime of its own (never on the SIP or ng thread). A scrape asks the SIP driver for its
//! snapshot over the bounded control channel (a oneshot for the answer, as the admin socket
//! does), reads the media engine under its lock (copies only) and the workers' published
//! counters; nothing on the packet path knows a scrape happened.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use control::metrics_driver::{sip_families, MetricsRequest, SipSnapshot};
use control::metrics_media::{media_families, MediaView};
use control::sip_driver::Control;
use control::SharedEngine;
use dataplane::SharedCounters;
use metrics::Exposition;
use pktio::plane::DataPlane;
use tokio::sync::{mpsc, oneshot, watch};

/// How long the SIP proxy may take to answer a scrape.
const SIP_ANSWER: Duration = Duration::from_secs(2);

/// What the data plane tells the metrics: the workers' counters, the port pools, the backend.
#[derive(Debug, Clone)]
pub struct PlaneFacts {
    workers: Vec<Arc<SharedCounters>>,
    nics: Vec<pktio::plane::NicPort>,
    layout: Arc<dataplane::PortLayout>,
    interfaces: Vec<(String, std::net::IpAddr)>,
    fastpath: bool,
    backend: &'static str,
}

impl PlaneFacts {
    /// The facts of `plane`, started from `cfg`.
    pub fn of(cfg: &config::Config, plane: &DataPlane) -> PlaneFacts {
        PlaneFacts {
            workers: plane.counters().to_vec(),
            nics: plane.nic_ports(),
            layout: plane.layout(),
            interfaces: cfg
                .interfaces
                .iter()
                .map(|i| (i.name.clone(), i.address))
                .collect(),
            fastpath: plane.fastpath_active(),
            backend: match cfg.dataplane.backend {
                config::Backend::Socket => "socket",
                config::Backend::Dpdk => "dpdk",
            },
        }
    }
}

/// What the metrics thread reads.
#[derive(Debug)]
pub struct Parts {
    /// The SIP driver's control channel (absent when the proxy is off).
    pub sip: Option<mpsc::Sender<Control>>,
    /// The media engine.
    pub engine: SharedEngine,
    /// The data plane's facts.
    pub plane: PlaneFacts,
}

/// The running metrics thread.
#[derive(Debug)]
pub struct MetricsThread {
    handle: JoinHandle<()>,
}

impl MetricsThread {
    /// Waits for the thread to end (after `stop` turned true).
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the metrics thread panicked");
        }
    }
}

/// Binds `[metrics] listen` and starts the metrics thread, which serves until `stop` turns
/// true. `None` when `[metrics] enabled = false`.
pub fn spawn(
    cfg: &config::Config,
    parts: Parts,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<Option<MetricsThread>> {
    let m = &cfg.metrics;
    if !m.enabled {
        tracing::info!("metrics endpoint off ([metrics] enabled = false)");
        return Ok(None);
    }
    let listener = TcpListener::bind(m.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("metrics.listen: cannot bind TCP {}", m.listen))?;
    tracing::info!(listen = %m.listen, "metrics endpoint listening (GET /metrics)");
    let limits = metrics::Limits {
        max_connections: m.max_connections as usize,
        max_request_bytes: m.max_request_bytes as usize,
        timeout: m.timeout,
    };
    let media = MediaView::new(
        parts.engine,
        parts.plane.workers.clone(),
        parts.plane.nics.clone(),
        &parts.plane.interfaces,
        &parts.plane.layout,
    );
    let scraper = Scraper {
        sip: parts.sip,
        media,
        started: Instant::now(),
        started_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        fastpath: parts.plane.fastpath,
        backend: parts.plane.backend,
    };
    let shutdown = stop.subscribe();
    let handle = crate::service::spawn("ferrovox-metrics", "metrics", move || async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => metrics::serve(l, limits, scraper, shutdown).await,
            Err(e) => tracing::error!(error = %e, "metrics listener unusable"),
        }
    })?;
    Ok(Some(MetricsThread { handle }))
}

/// Makes each scrape's exposition.
#[derive(Debug, Clone)]
struct Scraper {
    sip: Option<mpsc::Sender<Control>>,
    media: MediaView,
    started: Instant,
    started_unix: f64,
    fastpath: bool,
    backend: &'static str,
}

impl metrics::Source for Scraper {
    async fn scrape(&self) -> Result<String, String> {
        let begun = Instant::now();
        let mut e = Exposition::new();
        self.process(&mut e);
        if let Some(sip) = &self.sip {
            let answered = ask_sip(sip).await;
            e.gauge(
                "ferrovox_sip_up",
                "1 when the SIP proxy answered this scrape (its families follow), else 0.",
            )
            .value(if answered.is_ok() { 1.0 } else { 0.0 });
            match answered {
                Ok(s) => sip_families(&s, &mut e),
                Err(why) => tracing::warn!("metrics: no SIP snapshot: {why}"),
            }
        }
        let m = self.media.snapshot();
        media_families(self.media.pools(), &m, &mut e);
        e.gauge(
            "ferrovox_scrape_duration_seconds",
            "How long this scrape took to gather its values (before encoding).",
        )
        .value(begun.elapsed().as_secs_f64());
        e.render().map_err(|e| e.to_string())
    }
}

impl Scraper {
    /// Build info, uptime, the fast-path flag.
    fn process(&self, e: &mut Exposition) {
        e.gauge(
            "ferrovox_build_info",
            "Always 1; the labels say the version and the data plane backend.",
        )
        .sample(
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("backend", self.backend),
            ],
            1.0,
        );
        e.gauge(
            "ferrovox_uptime_seconds",
            "Seconds since the daemon started.",
        )
        .value(self.started.elapsed().as_secs_f64());
        e.gauge(
            "ferrovox_start_time_seconds",
            "When the daemon started, in seconds since the Unix epoch.",
        )
        .value(self.started_unix);
        e.gauge(
            "ferrovox_fastpath_active",
            "1 when media runs on the DPDK fast path, 0 on kernel sockets.",
        )
        .value(if self.fastpath { 1.0 } else { 0.0 });
    }
}

/// The SIP driver's snapshot, or why there is none.
async fn ask_sip(sip: &mpsc::Sender<Control>) -> Result<SipSnapshot, &'static str> {
    let (reply, answer) = oneshot::channel();
    match sip.try_send(Control::Metrics(MetricsRequest { reply })) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => return Err("the SIP proxy is busy"),
        Err(mpsc::error::TrySendError::Closed(_)) => return Err("the SIP proxy has stopped"),
    }
    match tokio::time::timeout(SIP_ANSWER, answer).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(_)) => Err("the SIP proxy dropped the request"),
        Err(_) => Err("the SIP proxy did not answer in time"),
    }
}
