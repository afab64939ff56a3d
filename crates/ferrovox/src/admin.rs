//! The admin socket's place in the daemon: bound before the daemon reports ready, served on a
//! thread and a tokio runtime of its own (never on the SIP or ng thread), so a busy proxy
//! delays only the requests that need it. Requests about members go to the SIP driver over
//! its bounded control channel, each with a oneshot for the answer; `reload` goes to the
//! reload task (the SIGHUP path); the rest is answered here.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
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

/// The admin socket and its thread; a reload rebinds it ([`AdminService::reload`]).
#[derive(Debug)]
pub struct AdminService {
    daemon: Daemon,
    running: Option<Running>,
    replaced: Vec<JoinHandle<()>>,
}

/// The socket being served.
#[derive(Debug)]
struct Running {
    cfg: config::AdminConfig,
    path: PathBuf,
    /// A duplicate of the listening socket, for a successor on the same path.
    listener: UnixListener,
    served: crate::service::Served,
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

impl AdminService {
    /// Binds `[admin] socket` and starts the admin thread, which serves until stopped and
    /// removes the socket file when it ends; none when `[admin] enabled = false`.
    pub fn start(cfg: &config::Config, parts: Parts) -> anyhow::Result<AdminService> {
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
        let mut service = AdminService {
            daemon,
            running: None,
            replaced: Vec::new(),
        };
        if !cfg.admin.enabled {
            tracing::info!("admin socket off ([admin] enabled = false)");
            return Ok(service);
        }
        let path = admin::socket::resolve_path(&cfg.admin.socket);
        let listener = bind(&cfg.admin, &path).map_err(anyhow::Error::msg)?;
        service.running = Some(service.serve(&cfg.admin, path, listener)?);
        Ok(service)
    }

    /// Applies a reload's `[admin]`: a new path is bound first and the old socket closed
    /// after (its connections served a little longer); on the same path the listening
    /// socket is kept, its mode and group set anew; other settings take a fresh server
    /// thread. `Err`: nothing changed, the running socket stays.
    pub fn reload(&mut self, new: &config::AdminConfig) -> Result<(), String> {
        if self.running.as_ref().map(|r| &r.cfg) == Some(new) {
            return Ok(());
        }
        if !new.enabled {
            if let Some(r) = self.running.take() {
                // It lingers: the `reload` that turned it off gets its answer.
                self.replaced.push(r.served.replace(false));
                tracing::info!("admin socket closed ([admin] enabled = false)");
            }
            return Ok(());
        }
        let path = admin::socket::resolve_path(&new.socket);
        let same = self.running.as_ref().filter(|r| r.path == path);
        let handed_over = same.is_some();
        let listener = match same {
            Some(r) => {
                set_permissions(new, &path)?;
                r.listener
                    .try_clone()
                    .map_err(|e| format!("admin.socket: {e}"))?
            }
            None => bind(new, &path)?,
        };
        let next = self
            .serve(new, path, listener)
            .map_err(|e| format!("{e:#}"))?;
        if let Some(old) = self.running.replace(next) {
            self.replaced.push(old.served.replace(handed_over));
        }
        Ok(())
    }

    /// Starts a thread serving `listener` (bound at `path`) by `cfg`'s limits.
    fn serve(
        &self,
        cfg: &config::AdminConfig,
        path: PathBuf,
        listener: UnixListener,
    ) -> anyhow::Result<Running> {
        let limits = admin::Limits::from_config(cfg);
        let (stop, switches) = crate::service::Switches::new();
        let daemon = self.daemon.clone();
        let (file, served_socket) = (path.clone(), listener.try_clone()?);
        let mine = switches.clone();
        let handle = crate::service::spawn("ferrovox-admin", "admin", move || async move {
            match tokio::net::UnixListener::from_std(served_socket) {
                Ok(l) => admin::serve(l, limits, daemon, switches.stop.clone()).await,
                Err(e) => tracing::error!(error = %e, "admin socket unusable"),
            }
            if switches.ended().await {
                let _ = std::fs::remove_file(&file);
            }
        })?;
        let mode = format!("{:04o}", cfg.mode);
        tracing::info!(socket = %path.display(), mode, "admin socket listening");
        Ok(Running {
            cfg: cfg.clone(),
            path,
            listener,
            served: crate::service::Served::new(stop, mine, handle),
        })
    }

    /// Stops the admin thread (and waits for it and for those reloads replaced).
    pub fn stop(self) {
        if let Some(r) = self.running {
            r.served.stop("admin");
        }
        crate::service::join_replaced(self.replaced, "admin");
    }
}

/// The admin socket of `cfg` bound at `path` (resolved), with its mode and group.
fn bind(cfg: &config::AdminConfig, path: &std::path::Path) -> Result<UnixListener, String> {
    let group = match &cfg.group {
        Some(name) => Some(admin::socket::group_id(name)?),
        None => None,
    };
    admin::socket::bind(path, cfg.mode, group).map_err(|e| e.to_string())
}

/// Sets the mode and group of `cfg` on the socket file at `path`.
fn set_permissions(cfg: &config::AdminConfig, path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(name) = &cfg.group {
        let gid = admin::socket::group_id(name)?;
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
            format!(
                "admin.group: cannot give {} to {name:?}: {e}",
                path.display()
            )
        })?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.mode))
        .map_err(|e| format!("admin.mode: cannot set it on {}: {e}", path.display()))
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
