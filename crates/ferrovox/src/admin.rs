//! The admin socket's place in the daemon: bound before the daemon reports ready, served on a
//! thread and a tokio runtime of its own (never on the SIP or ng thread), so a busy proxy
//! delays only the requests that need it. Requests about members go to the SIP driver over
//! its bounded control channel, each with a oneshot for the answer; `reload` goes to the
//! reload task (the SIGHUP path); the rest is answered here.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use admin::method::{Health, Params, Uptime, VersionInfo};
use admin::{Call, ErrorCode, ErrorObject};
use control::admin_driver::AdminRequest;
use control::sip_driver::Control;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::reload::ReloadReply;

/// How long the SIP proxy may take to answer an admin request.
const SIP_ANSWER: Duration = Duration::from_secs(5);
/// How long a reload may take.
const RELOAD_ANSWER: Duration = Duration::from_secs(10);

/// The running admin thread.
#[derive(Debug)]
pub struct AdminThread {
    handle: JoinHandle<()>,
}

/// The parts of the daemon the admin thread talks to.
#[derive(Debug)]
pub struct Parts {
    /// The SIP driver's control channel (`None`: the proxy is off).
    pub sip: Option<mpsc::Sender<Control>>,
    /// The media engine (calls' media, workers' counters, run-time media settings).
    pub engine: control::SharedEngine,
    /// The reload task.
    pub reload: mpsc::Sender<ReloadReply>,
    /// The run-time settings (shared with the reload task).
    pub tuner: crate::tune::Tuner,
    /// The configuration in force.
    pub config: watch::Receiver<Arc<config::Config>>,
}

/// What the admin thread talks to.
#[derive(Debug, Clone)]
struct Daemon {
    sip: Option<mpsc::Sender<Control>>,
    engine: control::SharedEngine,
    tuner: crate::tune::Tuner,
    reload: mpsc::Sender<ReloadReply>,
    config: watch::Receiver<Arc<config::Config>>,
    started: Instant,
    started_unix: u64,
}

/// Binds `[admin] socket` and starts the admin thread, which serves until `stop` turns true
/// and removes the socket file when it ends. `None` when `[admin] enabled = false`.
pub fn spawn(
    cfg: &config::Config,
    parts: Parts,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<Option<AdminThread>> {
    let a = &cfg.admin;
    if !a.enabled {
        tracing::info!("admin socket off ([admin] enabled = false)");
        return Ok(None);
    }
    let path = admin::socket::resolve_path(&a.socket);
    let group = match &a.group {
        Some(name) => Some(admin::socket::group_id(name).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let listener = admin::socket::bind(&path, a.mode, group)?;
    tracing::info!(socket = %path.display(), mode = format!("{:04o}", a.mode), "admin socket listening");
    let limits = admin::Limits::from_config(a);
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let daemon = Daemon {
        sip: parts.sip,
        tuner: parts.tuner,
        engine: parts.engine,
        reload: parts.reload,
        config: parts.config,
        started: Instant::now(),
        started_unix,
    };
    let shutdown = stop.subscribe();
    let handle = crate::service::spawn("ferrovox-admin", "admin", move || async move {
        match tokio::net::UnixListener::from_std(listener) {
            Ok(l) => admin::serve(l, limits, daemon, shutdown).await,
            Err(e) => tracing::error!(error = %e, "admin socket unusable"),
        }
        let _ = std::fs::remove_file(&path);
    })?;
    Ok(Some(AdminThread { handle }))
}

impl AdminThread {
    /// Waits for the thread to end (after `stop` turned true).
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the admin thread panicked");
        }
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ErrorObject> {
    serde_json::to_value(v).map_err(|e| ErrorObject::new(ErrorCode::Internal, e.to_string()))
}

impl admin::Backend for Daemon {
    async fn call(&self, call: Call) -> Result<Value, ErrorObject> {
        match call {
            Call::Version => to_value(&VersionInfo {
                name: "ferrovox".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                protocol: admin::PROTOCOL_VERSION,
            }),
            Call::Uptime => to_value(&Uptime {
                seconds: self.started.elapsed().as_secs_f64(),
                started_unix: self.started_unix,
            }),
            Call::ParamsGet => to_value(&Params {
                params: self.tuner.running(&self.config.borrow()),
            }),
            Call::ParamsSet(p) => {
                let cfg = self.config.borrow().clone();
                to_value(&self.tuner.set(&cfg, &p.key, &p.value)?)
            }
            Call::ParamsDiff => to_value(&self.tuner.diff(&self.config.borrow())),
            Call::ParamsRevert(p) => {
                let cfg = self.config.borrow().clone();
                to_value(&self.tuner.revert(&cfg, p.key.as_deref())?)
            }
            Call::Reload => self.reload().await,
            Call::Health => self.health().await,
            Call::Workers => control::admin_calls::workers(&self.engine),
            Call::CallsList(p) => {
                let mut page = self.ask_sip(Call::CallsList(p)).await?;
                control::admin_calls::fill_relay_ports(&self.engine, &mut page);
                Ok(page)
            }
            Call::CallsShow(p) => {
                let mut call = self.ask_sip(Call::CallsShow(p.clone())).await?;
                if let Some(m) = control::admin_calls::media_of(&self.engine, &p.call_id).await {
                    call["media"] = to_value(&m)?;
                }
                Ok(call)
            }
            members_or_calls => self.ask_sip(members_or_calls).await,
        }
    }
}

impl Daemon {
    /// Sends `call` to the SIP driver and waits for its answer.
    async fn ask_sip(&self, call: Call) -> Result<Value, ErrorObject> {
        let unavailable = |m: &str| ErrorObject::new(ErrorCode::Unavailable, m);
        let Some(sip) = &self.sip else {
            return Err(unavailable(
                "the SIP proxy is off (no [[set]] in the config)",
            ));
        };
        let (reply, answer) = oneshot::channel();
        match sip.try_send(Control::Admin(AdminRequest { call, reply })) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(unavailable("the SIP proxy is busy; try again"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(unavailable("the SIP proxy has stopped"))
            }
        }
        match tokio::time::timeout(SIP_ANSWER, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(unavailable("the SIP proxy dropped the request")),
            Err(_) => Err(unavailable("the SIP proxy did not answer in time")),
        }
    }

    /// `reload`, through the reload task (the SIGHUP path).
    async fn reload(&self) -> Result<Value, ErrorObject> {
        let (reply, answer) = oneshot::channel();
        let gone = || ErrorObject::new(ErrorCode::Internal, "the reload task is gone");
        self.reload.send(reply).await.map_err(|_| gone())?;
        match tokio::time::timeout(RELOAD_ANSWER, answer).await {
            Ok(Ok(Ok(report))) => to_value(&report),
            Ok(Ok(Err(e))) => Err(ErrorObject::new(ErrorCode::ReloadFailed, e)),
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(ErrorObject::new(
                ErrorCode::Unavailable,
                "the reload did not finish in time",
            )),
        }
    }

    /// `health`: the SIP proxy's answer (and how long it took) and what it says of the pool.
    async fn health(&self) -> Result<Value, ErrorObject> {
        let mut h = Health {
            status: "ok".into(),
            sip: "off".into(),
            sip_answer_secs: None,
            draining: false,
            members: Default::default(),
            sets_without_members: Vec::new(),
            problems: Vec::new(),
        };
        if self.sip.is_some() {
            let asked = Instant::now();
            match self.ask_sip(Call::Health).await {
                Ok(v) => {
                    h.sip = "running".into();
                    h.sip_answer_secs = Some(asked.elapsed().as_secs_f64());
                    h.draining = v["draining"].as_bool().unwrap_or(false);
                    h.members = serde_json::from_value(v["members"].clone()).unwrap_or_default();
                    h.sets_without_members =
                        serde_json::from_value(v["sets_without_members"].clone())
                            .unwrap_or_default();
                }
                Err(e) => {
                    h.sip = "not answering".into();
                    h.problems.push(format!("SIP proxy: {}", e.message));
                }
            }
        }
        for s in &h.sets_without_members {
            h.problems
                .push(format!("set {s:?} has no member that takes calls"));
        }
        if !h.problems.is_empty() {
            h.status = "degraded".into();
        }
        to_value(&h)
    }
}
