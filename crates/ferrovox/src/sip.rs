//! The SIP load balancer's place in the daemon: binding its sockets and starting its driver on
//! the control thread (its configuration is reloaded by `crate::reload`).

use anyhow::Context;
use control::ha_driver;
use control::ha_publish::Publisher;
use control::sip_driver::{self, Control, Sockets};
use proxy::{Proxy, ProxyConfig};
use rand::rngs::{StdRng, SysRng};
use rand::SeedableRng;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The running proxy driver.
#[derive(Debug)]
pub struct Sip {
    /// Where reloads go.
    pub control: mpsc::Sender<Control>,
    /// The driver task; it ends once the shutdown flag turns true.
    pub task: JoinHandle<()>,
}

/// Binds the SIP sockets and spawns the proxy driver, when the config has destination sets;
/// the proxy anchors the media of its calls on `media`.
/// Returns the running driver, or `None` when the proxy is off.
pub async fn start(
    cfg: &config::Config,
    media: control::SharedEngine,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<Sip>> {
    if cfg.sets.is_empty() {
        tracing::info!("no [[set]] configured: SIP proxy off");
        return Ok(None);
    }
    // The error names the key at fault (sip.listen, sip.tls_listen, sip.tls_certificate...).
    let sockets = Sockets::bind(&cfg.sip)
        .await
        .context("cannot start the SIP proxy")?;
    // Tags, branches, probe Call-IDs and DNS query ids must not be guessable (an attacker who
    // could would forge responses; RFC 3261 §19.3 asks for cryptographically random tags,
    // RFC 5452 §9.2 for unpredictable DNS ids): a CSPRNG keyed by the OS.
    let rng = StdRng::try_from_rng(&mut SysRng).context("cannot read the OS random source")?;
    let mut proxy = Proxy::new(
        ProxyConfig::from_config(cfg),
        &cfg.sets,
        &cfg.routes,
        Instant::now(),
        Box::new(rng),
    );
    // Calls routed to anchored sets have their media anchored on the relay, in-process.
    proxy.set_media_anchor(Box::new(media.clone()));
    let ha = replication(cfg, media, &mut proxy)?;
    let (tx, rx) = mpsc::channel(8);
    let listen: Vec<String> = cfg.sip.listen.iter().map(|a| a.to_string()).collect();
    tracing::info!(
        listen = %listen.join(","),
        sets = cfg.sets.len(),
        members = cfg.sets.iter().map(|s| s.members.len()).sum::<usize>(),
        "SIP proxy ready"
    );
    let task = tokio::spawn(async move {
        if let Err(e) = sip_driver::run(proxy, sockets, rx, shutdown, ha).await {
            tracing::error!(error = %e, "SIP proxy stopped");
        }
    });
    Ok(Some(Sip { control: tx, task }))
}

/// With `[ha]` enabled: the replication driver and the follower spawned on this runtime, and
/// the publisher the SIP driver runs after each round, in the role `[ha] start` names.
fn replication(
    cfg: &config::Config,
    media: control::SharedEngine,
    proxy: &mut Proxy,
) -> anyhow::Result<Option<Publisher>> {
    let Some(ha) = &cfg.ha else {
        return Ok(None);
    };
    let (rep, task) = ha_driver::start(ha.clone()).context("ha.redis")?;
    tokio::spawn(task);
    let standby = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (rx, counters, follower) =
        control::ha_follow::start(ha, standby.clone(), rep.counters().clone())
            .context("ha.redis")?;
    tokio::spawn(follower);
    tracing::info!(node = %ha.node, redis = %ha.url, start = ha.start.as_str(), "HA on");
    let publisher = Publisher::new(rep, media, proxy, ha, (rx, counters, standby));
    if !ha.shared_limits {
        return Ok(Some(publisher));
    }
    let (share, task) = control::ha_share::start(ha).context("ha.redis")?;
    tokio::spawn(task);
    Ok(Some(publisher.with_shared_limits(share)))
}
