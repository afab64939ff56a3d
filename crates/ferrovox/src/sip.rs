//! The SIP load balancer's place in the daemon: binding its sockets, starting its driver on
//! the control thread, and reloading its configuration on SIGHUP.

use anyhow::Context;
use control::sip_driver::{self, Control, Sockets};
use proxy::{Proxy, ProxyConfig};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// Binds the SIP sockets and spawns the proxy driver, when the config has destination sets.
/// Returns the sender for reloads, or `None` when the proxy is off.
pub async fn start(
    cfg: &config::Config,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<mpsc::Sender<Control>>> {
    if cfg.sets.is_empty() {
        tracing::info!("no [[set]] configured: SIP proxy off");
        return Ok(None);
    }
    let sockets = Sockets::bind(&cfg.sip).await.with_context(|| {
        let listen: Vec<String> = cfg.sip.listen.iter().map(|a| a.to_string()).collect();
        format!("sip.listen: cannot bind {}", listen.join(", "))
    })?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let proxy = Proxy::new(
        ProxyConfig::from_config(cfg),
        &cfg.sets,
        &cfg.routes,
        Instant::now(),
        seed,
    );
    let (tx, rx) = mpsc::channel(8);
    let listen: Vec<String> = cfg.sip.listen.iter().map(|a| a.to_string()).collect();
    tracing::info!(
        listen = %listen.join(","),
        sets = cfg.sets.len(),
        members = cfg.sets.iter().map(|s| s.members.len()).sum::<usize>(),
        "SIP proxy ready"
    );
    tokio::spawn(async move {
        if let Err(e) = sip_driver::run(proxy, sockets, rx, shutdown).await {
            tracing::error!(error = %e, "SIP proxy stopped");
        }
    });
    Ok(Some(tx))
}

/// Re-reads the config file on every SIGHUP and hands it to the proxy. A file that does not
/// parse is refused with a log line; the running configuration stays.
pub async fn reload_on_sighup(path: String, proxy: Option<mpsc::Sender<Control>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload is off");
        return;
    };
    while hup.recv().await.is_some() {
        let cfg = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| config::parse(&t).map_err(|e| e.to_string()));
        match (cfg, &proxy) {
            (Err(e), _) => tracing::error!(file = %path, error = %e, "reload refused"),
            (Ok(_), None) => {
                tracing::warn!("reload: the SIP proxy was off at start; restart to turn it on")
            }
            (Ok(cfg), Some(tx)) => {
                if tx.send(Control::Reload(Box::new(cfg))).await.is_err() {
                    tracing::error!("reload: the SIP proxy is gone");
                }
            }
        }
    }
}
