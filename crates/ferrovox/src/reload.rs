//! SIGHUP: the config file is read again and handed to the SIP proxy (its sets, members and
//! routes) and to the ng thread (its source allow-list and rate limit). Everything else
//! (listen addresses, interfaces, cores) needs a restart.

use control::sip_driver::Control;
use media::GuardConfig;
use tokio::sync::mpsc;

/// Re-reads `path` on every SIGHUP and hands it to the running parts. A file that does not
/// parse is refused with a log line; the running configuration stays.
pub async fn on_sighup(
    path: String,
    proxy: Option<mpsc::Sender<Control>>,
    ng: mpsc::Sender<GuardConfig>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload is off");
        return;
    };
    while hup.recv().await.is_some() {
        let cfg = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| config::parse(&t).map_err(|e| e.to_string()));
        let cfg = match cfg {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::error!(file = %path, error = %e, "reload refused");
                continue;
            }
        };
        if ng.send(cfg.ng.guard()).await.is_err() {
            tracing::error!("reload: the ng thread is gone");
        }
        match &proxy {
            None => tracing::warn!("reload: the SIP proxy was off at start; restart to turn it on"),
            Some(tx) => {
                if tx.send(Control::Reload(Box::new(cfg))).await.is_err() {
                    tracing::error!("reload: the SIP proxy is gone");
                }
            }
        }
    }
}
