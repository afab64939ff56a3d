//! Reload: on SIGHUP, and on the admin socket's `reload`, the config file is read again and
//! every change that can be applied while the daemon runs is applied: the SIP proxy's
//! settings, sets, members and routes, and `sip.listen` rebound (new sockets first, the old
//! ones closed after; a bind that fails keeps the old ones); the ng source allow-list and rate
//! limit; the media timeouts and session cap (the engine and, by command, the workers); the
//! log level and format; the `[[interface]]` entries (`crate::interfaces`: new interfaces and
//! grown ranges join the data plane's layout, shrunk, moved or removed ones take no new
//! sessions while theirs run on); the admin socket and the metrics endpoint (rebound: the new
//! socket first, the old closed after; a bind that fails keeps the old one). What needs a
//! restart (worker cores, the backend and its DPDK ports, new relay addresses on DPDK, the ng
//! listeners, transports) is refused with its reason, in the log and in the admin reply; the
//! rest of the file is applied all the same. A file that does not parse, or that names an
//! interface address this host does not have, is refused whole.

use std::sync::{Arc, Mutex, PoisonError};

use admin::method::{ConfigChange, ReloadReport};
use control::sip_driver::Control;
use media::GuardConfig;
use tokio::signal::unix::{signal, Signal, SignalKind};
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
    /// The run-time settings (`params.set`) a reload applies the file's new values to.
    pub tuner: crate::tune::Tuner,
    /// The media engine (its relay addresses).
    pub engine: control::SharedEngine,
    /// The data plane runs on DPDK (it cannot take new relay addresses live).
    pub dpdk: bool,
    /// The admin socket and the metrics endpoint (shared with the shutdown path).
    pub listeners: Arc<Mutex<Listeners>>,
}

/// The listeners a reload rebinds.
#[derive(Debug)]
pub struct Listeners {
    /// The admin socket.
    pub admin: crate::admin::AdminService,
    /// The metrics endpoint.
    pub metrics: crate::metrics::MetricsService,
}

impl Listeners {
    /// Stops both (and waits for their threads).
    pub fn stop(self) {
        self.admin.stop();
        self.metrics.stop();
    }
}

/// Catches SIGHUP from now on (`None`, logged: it cannot be caught). Called on the control
/// thread's runtime before any listener answers.
pub fn hangups() -> Option<Signal> {
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot install the SIGHUP handler; reload is off");
            None
        }
    }
}

/// Re-reads `path` on every SIGHUP (`hangups`) and admin `reload` and hands it to the running
/// parts. A file that does not parse is refused with a log line (and an error reply); the
/// running configuration stays.
pub async fn on_sighup(
    hangups: Option<Signal>,
    path: String,
    proxy: Option<mpsc::Sender<Control>>,
    ng: mpsc::Sender<GuardConfig>,
    mut state: Reloads,
) {
    let Some(mut hup) = hangups else {
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
    let new = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| config::parse(&t).map_err(|e| e.to_string()));
    let new = match new {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(
                file = %path,
                error = %e,
                "reload refused: the file is not valid; nothing changed"
            );
            return Err(format!("{path}: {e}"));
        }
    };
    if let Err(e) = crate::interfaces::check_host(&state.current, &new, state.dpdk) {
        tracing::error!(file = %path, error = %e, "reload refused: nothing changed");
        return Err(format!("{path}: {e}"));
    }
    let mut changes = admin::params::diff(&state.current, &new);
    let mut running = held_back(&state.current, &new);
    relays(state, &mut running, &mut changes);
    keep_sets_on_running_interfaces(&mut running, &state.current, &mut changes);
    // Logging first: what the reload logs next is in the new format, at the new level.
    if running.general.log_format != state.current.general.log_format {
        if let Err(why) = crate::logging::set_format(running.general.log_format) {
            refuse(&mut changes, &["general.log_format"], &why);
            running.general.log_format = state.current.general.log_format;
        }
    }
    for (key, applied) in state.tuner.reload(&state.current, &running) {
        if let Err(why) = applied {
            refuse(&mut changes, &[key.as_str()], &why);
        }
    }
    let (m, was) = (&running.media, &state.current.media);
    if (m.latching, m.strict_source) != (was.latching, was.strict_source) {
        state.tuner.set_latching(m.latching, m.strict_source);
    }
    to_sip(proxy, &mut running, &state.current, &mut changes).await;
    if ng.send(running.ng.guard()).await.is_err() {
        refuse(&mut changes, &["ng."], "the ng thread is gone");
    }
    rebind(state, &mut running, &mut changes);
    log(&changes);
    state.current = running.clone();
    state.published.send_replace(Arc::new(running));
    Ok(ReloadReport {
        file: path.to_owned(),
        changes,
    })
}

/// Hands `running` to the SIP proxy and waits for its listen addresses: a rebind that failed
/// keeps the running ones (and is refused, with the bind error); without a proxy, every
/// change of the SIP sections is refused.
async fn to_sip(
    proxy: &Option<mpsc::Sender<Control>>,
    running: &mut config::Config,
    current: &config::Config,
    changes: &mut [ConfigChange],
) {
    const SIP: [&str; 4] = ["sip.", "set[", "route", "dns."];
    let keep_sip = |running: &mut config::Config| {
        running.sip = current.sip.clone();
        running.sets.clone_from(&current.sets);
        running.routes.clone_from(&current.routes);
        running.dns = current.dns.clone();
    };
    let Some(tx) = proxy else {
        refuse(
            changes,
            &SIP,
            "needs a restart: the SIP proxy was off at start (no [[set]])",
        );
        keep_sip(running);
        return;
    };
    let (done, answer) = oneshot::channel();
    let sent = tx
        .send(Control::Reload(Box::new(running.clone()), done))
        .await;
    match (sent, answer.await) {
        (Ok(()), Ok(rebound)) => {
            if let Err(why) = rebound.listen {
                let why = format!("{why}; the running sockets stay");
                refuse(changes, &["sip.listen"], &why);
                running.sip.listen.clone_from(&current.sip.listen);
            }
            if let Err(why) = rebound.tls_listen {
                let why = format!("{why}; the running listeners stay");
                refuse(changes, &["sip.tls_listen"], &why);
                running.sip.tls.listen.clone_from(&current.sip.tls.listen);
            }
        }
        _ => {
            refuse(changes, &SIP, "the SIP proxy is gone");
            keep_sip(running);
        }
    }
}

/// Applies `running`'s `[[interface]]` entries to the engine (and the metrics' port pools);
/// refused (with the reason, the running entries kept) when they cannot be. What changed is
/// told by one more entry, `interface.relays`.
fn relays(state: &Reloads, running: &mut config::Config, changes: &mut Vec<ConfigChange>) {
    let current = &state.current;
    if running.interfaces == current.interfaces {
        return;
    }
    match crate::interfaces::apply(&state.engine, state.dpdk, &running.interfaces) {
        Ok(outcome) => {
            let relays = state.engine.lock().relays();
            let pools = relays
                .interfaces
                .iter()
                .map(|i| (i.name.clone(), i.address))
                .collect();
            let layout = state.engine.lock().layout();
            if let Err(e) = listeners(state).metrics.relays_changed(pools, layout) {
                tracing::warn!(error = %e, "metrics: the port pools stay as they were");
            }
            if !outcome.is_empty() {
                changes.push(ConfigChange {
                    key: "interface.relays".into(),
                    change: outcome.join("; "),
                    applied: true,
                    reason: None,
                });
            }
        }
        Err(why) => {
            refuse(changes, &["interface"], &why);
            running.interfaces.clone_from(&current.interfaces);
        }
    }
}

/// The listeners, locked (a panic while they were held leaves them as they were).
fn listeners(state: &Reloads) -> std::sync::MutexGuard<'_, Listeners> {
    state
        .listeners
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Rebinds the admin socket and the metrics endpoint to `running`'s; one that cannot be
/// rebound keeps the running one (refused with the error).
fn rebind(state: &Reloads, running: &mut config::Config, changes: &mut [ConfigChange]) {
    let current = &state.current;
    let mut l = listeners(state);
    if running.admin != current.admin {
        if let Err(e) = l.admin.reload(&running.admin) {
            refuse(
                changes,
                &["admin."],
                &format!("{e}; the running socket stays"),
            );
            running.admin = current.admin.clone();
        }
    }
    if running.metrics != current.metrics {
        if let Err(e) = l.metrics.reload(&running.metrics) {
            refuse(
                changes,
                &["metrics."],
                &format!("{e}; the running endpoint stays"),
            );
            running.metrics = current.metrics;
        }
    }
}

/// Sets must anchor their media on interfaces that run: when a new or changed set names an
/// `[[interface]]` the reload could not add, the sets and routes stay as they were (refused
/// with the interface named).
fn keep_sets_on_running_interfaces(
    running: &mut config::Config,
    current: &config::Config,
    changes: &mut [ConfigChange],
) {
    let missing = running.sets.iter().find_map(|s| match &s.media {
        config::MediaPlan::Anchor { caller, member } => [caller, member]
            .into_iter()
            .find(|n| running.interfaces_named(n).next().is_none())
            .map(|n| (s.name.clone(), n.clone())),
        config::MediaPlan::Off => None,
    });
    if let Some((set, iface)) = missing {
        let why = format!(
            "set {set:?} anchors media on interface {iface:?}, which does not run (the reload \
             could not add it); the sets and routes stay as they were"
        );
        refuse(changes, &["set[", "route"], &why);
        running.sets.clone_from(&current.sets);
        running.routes.clone_from(&current.routes);
    }
}

/// Marks the changes of keys starting with one of `prefixes` as not applied, for `why`.
fn refuse(changes: &mut [ConfigChange], prefixes: &[&str], why: &str) {
    for c in changes
        .iter_mut()
        .filter(|c| c.applied && prefixes.iter().any(|p| c.key.starts_with(p)))
    {
        c.applied = false;
        c.reason = Some(why.to_owned());
    }
}

/// One log line per change: applied, or not and why.
fn log(changes: &[ConfigChange]) {
    for c in changes {
        match &c.reason {
            None => tracing::info!(key = %c.key, change = %c.change, "reload: applied"),
            Some(why) => {
                let (key, change) = (&c.key, &c.change);
                tracing::warn!(%key, %change, reason = %why, "reload: not applied")
            }
        }
    }
    let refused = changes.iter().filter(|c| !c.applied).count();
    tracing::info!(applied = changes.len() - refused, refused, "reload done");
}

/// `new` with what a reload cannot change taken from `current` (what
/// [`admin::params::restart_reason`] names): the configuration that runs after the reload.
fn held_back(current: &config::Config, new: &config::Config) -> config::Config {
    let (c, mut r) = (current, new.clone());
    r.sip.transports.clone_from(&c.sip.transports);
    r.ng.listen = c.ng.listen;
    r.ng.tcp = c.ng.tcp;
    r.ng.cookie_cache = c.ng.cookie_cache;
    r.dataplane = c.dataplane.clone();
    r.media = c.media.with_live_keys_of(&new.media);
    r.ha.clone_from(&c.ha);
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OLD: &str = "[general]\nlog_level = \"info\"\n[ng]\nlisten = \"127.0.0.1:2223\"\n\
        [dataplane]\nworker_cores = [0]\n[media]\ntimeout_secs = 60\n\
        [[interface]]\nname = \"ext\"\naddress = \"127.0.0.1\"\nport_min = 30000\nport_max = 30099\n\
        [sip]\nlisten = [\"127.0.0.1:5060\"]\n[[set]]\nname = \"pool\"\n\
        [[set.member]]\nuri = \"sip:127.0.0.1:5081\"\n";

    fn new_file() -> String {
        OLD.replace("\"info\"", "\"debug\"\nlog_format = \"json\"")
            .replace("2223", "2224")
            .replace("worker_cores = [0]", "worker_cores = [0]\nburst = 16")
            .replace(
                "timeout_secs = 60",
                "timeout_secs = 5\nlearning_secs = 1\nstrict_source = true",
            )
            .replace("port_max = 30099", "port_max = 30199")
            .replace("5060\"]", "5070\"]\nfr_timeout_ms = 900")
            .replace("5081", "5082")
            + "[metrics]\nlisten = \"127.0.0.1:9999\"\n[ha]\nenabled = true\nnode = \"b\"\n"
    }

    /// What runs after a reload differs from before only in live keys, and from the file only
    /// in the keys refused: the report and what is applied agree.
    #[test]
    fn what_is_held_back_is_what_is_reported_as_needing_a_restart() {
        let (old, new) = (
            config::parse(OLD).unwrap(),
            config::parse(&new_file()).unwrap(),
        );
        let running = held_back(&old, &new);
        let applied = admin::params::diff(&old, &running);
        assert!(applied.iter().all(|c| c.applied), "{applied:?}");
        let keys = |d: &[ConfigChange]| d.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
        for k in [
            "general.log_level",
            "general.log_format",
            "media.strict_source",
            "media.timeout_secs",
            "sip.listen",
            "sip.fr_timeout_ms",
            "interface[0]",
            "metrics.listen",
        ] {
            assert!(keys(&applied).contains(&k.to_owned()), "{k}: {applied:?}");
        }
        let left = admin::params::diff(&running, &new);
        assert!(
            left.iter().all(|c| !c.applied && c.reason.is_some()),
            "{left:?}"
        );
        let all = admin::params::diff(&old, &new);
        assert_eq!(all.len(), applied.len() + left.len(), "{all:?}");
        for k in ["ng.listen", "dataplane.other", "media.learning_secs", "ha"] {
            assert!(keys(&left).contains(&k.to_owned()), "{k}: {left:?}");
        }
    }

    #[test]
    fn a_set_on_an_interface_the_reload_could_not_add_keeps_the_sets_as_they_were() {
        let old = config::parse(OLD).unwrap();
        let text = OLD.replace(
            "[sip]",
            "[[interface]]\nname = \"int\"\naddress = \"127.0.0.2\"\nport_min = 31000\nport_max = 31099\n[sip]",
        ) + "[[set]]\nname = \"b\"\n[set.media]\nmember_interface = \"int\"\n\
               [[set.member]]\nuri = \"sip:127.0.0.1:6000\"\n";
        let new = config::parse(&text).unwrap();
        let mut changes = admin::params::diff(&old, &new);
        let mut running = held_back(&old, &new);
        // As `relays` leaves it when the engine refused the new interface.
        running.interfaces.clone_from(&old.interfaces);
        keep_sets_on_running_interfaces(&mut running, &old, &mut changes);
        assert_eq!(running.sets, old.sets);
        let set = changes.iter().find(|c| c.key == "set[b]").unwrap();
        assert!(!set.applied && set.reason.as_deref().unwrap().contains("\"int\""));
    }

    #[test]
    fn a_refusal_names_its_reason_and_leaves_other_changes_applied() {
        let (old, new) = (
            config::parse(OLD).unwrap(),
            config::parse(&new_file()).unwrap(),
        );
        let mut changes = admin::params::diff(&old, &new);
        refuse(&mut changes, &["sip.listen"], "cannot bind");
        let c = changes.iter().find(|c| c.key == "sip.listen").unwrap();
        assert_eq!(
            (c.applied, c.reason.as_deref()),
            (false, Some("cannot bind"))
        );
        assert!(changes
            .iter()
            .any(|c| c.key == "sip.fr_timeout_ms" && c.applied));
    }
}
