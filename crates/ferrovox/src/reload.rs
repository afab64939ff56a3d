//! Reload: on SIGHUP, and on the admin socket's `reload`, the config file is read again and
//! handed to the SIP proxy (its settings, sets, members and routes) and to the ng thread (its
//! source allow-list and rate limit). What else changed needs a restart: each change is logged
//! and reported with whether it was applied ([`admin::params::diff`]).

use std::sync::Arc;

use admin::method::ReloadReport;
use control::sip_driver::Control;
use media::GuardConfig;
use tokio::sync::{mpsc, oneshot, watch};

/// Where the admin socket's `reload` gets its answer: the report, or why the file was refused.
pub type ReloadReply = oneshot::Sender<Result<ReloadReport, String>>;

/// The reload task's state besides the parts it feeds.
pub struct Reloads {
    /// The configuration running now (the last one applied).
    pub current: config::Config,
    /// `reload` requests from the admin socket.
    pub admin: mpsc::Receiver<ReloadReply>,
    /// Where the running configuration is published (the admin socket's `params.get`).
    pub published: watch::Sender<Arc<config::Config>>,
}

/// Re-reads `path` on every SIGHUP and admin `reload` and hands it to the running parts. A
/// file that does not parse is refused with a log line (and an error reply); the running
/// configuration stays.
pub async fn on_sighup(
    path: String,
    proxy: Option<mpsc::Sender<Control>>,
    ng: mpsc::Sender<GuardConfig>,
    mut state: Reloads,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload is off");
        return;
    };
    loop {
        let reply = tokio::select! {
            h = hup.recv() => match h {
                Some(()) => None,
                None => return,
            },
            r = state.admin.recv() => match r {
                Some(reply) => Some(reply),
                // The admin socket is off or gone: SIGHUP only from now on.
                None => {
                    while hup.recv().await.is_some() {
                        let _ = reload(&path, &proxy, &ng, &mut state).await;
                    }
                    return;
                }
            },
        };
        let result = reload(&path, &proxy, &ng, &mut state).await;
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }
}

/// One reload: read, check, hand over, report.
async fn reload(
    path: &str,
    proxy: &Option<mpsc::Sender<Control>>,
    ng: &mpsc::Sender<GuardConfig>,
    state: &mut Reloads,
) -> Result<ReloadReport, String> {
    let cfg = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| config::parse(&t).map_err(|e| e.to_string()));
    let cfg = match cfg {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(file = %path, error = %e, "reload refused");
            return Err(format!("{path}: {e}"));
        }
    };
    let changes = admin::params::diff(&state.current, &cfg);
    for c in &changes {
        if c.applied {
            tracing::info!(key = %c.key, change = %c.change, "reload: applied");
        } else {
            tracing::warn!(key = %c.key, change = %c.change, "reload: needs a restart; not applied");
        }
    }
    if ng.send(cfg.ng.guard()).await.is_err() {
        tracing::error!("reload: the ng thread is gone");
    }
    match proxy {
        None => tracing::warn!("reload: the SIP proxy was off at start; restart to turn it on"),
        Some(tx) => {
            if tx
                .send(Control::Reload(Box::new(cfg.clone())))
                .await
                .is_err()
            {
                tracing::error!("reload: the SIP proxy is gone");
            }
        }
    }
    state.current = cfg.clone();
    state.published.send_replace(Arc::new(cfg));
    Ok(ReloadReport {
        file: path.to_owned(),
        changes,
    })
}
