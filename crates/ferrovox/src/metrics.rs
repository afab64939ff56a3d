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

use control::metrics_driver::{sip_families, MetricsRequest, SipSnapshot};
use control::metrics_media::{media_families, MediaView};
use control::sip_driver::Control;
use control::SharedEngine;
use dataplane::SharedCounters;
use metrics::Exposition;
use pktio::plane::DataPlane;
use tokio::sync::{mpsc, oneshot};

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
#[derive(Debug, Clone)]
pub struct Parts {
    /// The SIP driver's control channel (absent when the proxy is off).
    pub sip: Option<mpsc::Sender<Control>>,
    /// The media engine.
    pub engine: SharedEngine,
    /// The data plane's facts.
    pub plane: PlaneFacts,
}

/// The metrics endpoint and its thread; a reload rebinds it ([`MetricsService::reload`]).
#[derive(Debug)]
pub struct MetricsService {
    parts: Parts,
    started: Instant,
    started_unix: f64,
    running: Option<Running>,
    replaced: Vec<JoinHandle<()>>,
}

/// The endpoint being served.
#[derive(Debug)]
struct Running {
    cfg: config::MetricsConfig,
    /// A duplicate of the listening socket, for a successor on the same address.
    listener: TcpListener,
    served: crate::service::Served,
}

impl MetricsService {
    /// Binds `[metrics] listen` and starts the metrics thread, which serves until stopped;
    /// none when `[metrics] enabled = false`. A bind failure names `metrics.listen`.
    pub fn start(cfg: &config::Config, parts: Parts) -> anyhow::Result<MetricsService> {
        let mut service = MetricsService {
            parts,
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            running: None,
            replaced: Vec::new(),
        };
        let m = &cfg.metrics;
        if !m.enabled {
            tracing::info!("metrics endpoint off ([metrics] enabled = false)");
            return Ok(service);
        }
        let listener = bind(m.listen).map_err(anyhow::Error::msg)?;
        service.running = Some(service.serve(m, listener)?);
        Ok(service)
    }

    /// Applies a reload's `[metrics]`: a new address is bound first and the old endpoint
    /// closed after; on the same address the listening socket is kept and a fresh server
    /// thread takes the new limits. `Err`: nothing changed, the running endpoint stays.
    pub fn reload(&mut self, new: &config::MetricsConfig) -> Result<(), String> {
        if self.running.as_ref().map(|r| &r.cfg) == Some(new) {
            return Ok(());
        }
        if !new.enabled {
            if let Some(r) = self.running.take() {
                self.replaced.push(r.served.replace(true));
                tracing::info!("metrics endpoint closed ([metrics] enabled = false)");
            }
            return Ok(());
        }
        let listener = match self.running.as_ref().filter(|r| r.cfg.listen == new.listen) {
            Some(r) => r.listener.try_clone().map_err(|e| e.to_string())?,
            None => bind(new.listen)?,
        };
        self.restart(new, listener)
    }

    /// The relay addresses changed (a reload of `[[interface]]`): the endpoint's thread is
    /// restarted on the same socket with the pools of `interfaces` (layout order) over
    /// `layout`.
    pub fn relays_changed(
        &mut self,
        interfaces: Vec<(String, std::net::IpAddr)>,
        layout: Arc<dataplane::PortLayout>,
    ) -> Result<(), String> {
        self.parts.plane.interfaces = interfaces;
        self.parts.plane.layout = layout;
        let Some(r) = &self.running else {
            return Ok(());
        };
        let (cfg, listener) = (r.cfg, r.listener.try_clone().map_err(|e| e.to_string())?);
        self.restart(&cfg, listener)
    }

    /// Serves `listener` by `cfg` on a new thread; the running one stops after.
    fn restart(
        &mut self,
        cfg: &config::MetricsConfig,
        listener: TcpListener,
    ) -> Result<(), String> {
        let next = self.serve(cfg, listener).map_err(|e| format!("{e:#}"))?;
        if let Some(old) = self.running.replace(next) {
            self.replaced.push(old.served.replace(true));
        }
        Ok(())
    }

    /// Starts a thread serving `listener` by `cfg`'s limits.
    fn serve(&self, m: &config::MetricsConfig, listener: TcpListener) -> anyhow::Result<Running> {
        let limits = metrics::Limits {
            max_connections: m.max_connections as usize,
            max_request_bytes: m.max_request_bytes as usize,
            timeout: m.timeout,
        };
        let plane = &self.parts.plane;
        let media = MediaView::new(
            self.parts.engine.clone(),
            plane.workers.clone(),
            plane.nics.clone(),
            &plane.interfaces,
            &plane.layout,
        );
        let scraper = Scraper {
            sip: self.parts.sip.clone(),
            media,
            started: self.started,
            started_unix: self.started_unix,
            fastpath: plane.fastpath,
            backend: plane.backend,
        };
        let (stop, switches) = crate::service::Switches::new();
        let (mine, served_socket) = (switches.clone(), listener.try_clone()?);
        let handle = crate::service::spawn("ferrovox-metrics", "metrics", move || async move {
            match tokio::net::TcpListener::from_std(served_socket) {
                Ok(l) => metrics::serve(l, limits, scraper, switches.stop.clone()).await,
                Err(e) => tracing::error!(error = %e, "metrics listener unusable"),
            }
            switches.ended().await;
        })?;
        tracing::info!(listen = %m.listen, "metrics endpoint listening (GET /metrics)");
        Ok(Running {
            cfg: *m,
            listener,
            served: crate::service::Served::new(stop, mine, handle),
        })
    }

    /// Stops the metrics thread (and waits for it and for those reloads replaced).
    pub fn stop(self) {
        if let Some(r) = self.running {
            r.served.stop("metrics");
        }
        crate::service::join_replaced(self.replaced, "metrics");
    }
}

/// A non-blocking TCP listener on `listen`, or why not (naming `metrics.listen`).
fn bind(listen: std::net::SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("metrics.listen: cannot bind TCP {listen}: {e}"))
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
