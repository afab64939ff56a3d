//! The running settings by config key (`params.get`), and what a reload changes (`reload`).

use std::collections::BTreeMap;
use std::time::Duration;

use config::Config;
use serde_json::{json, Value};

use crate::method::ConfigChange;

/// The settings of `cfg` an operator tunes, by their config key (`section.key`), durations in
/// the key's own unit. Lists are written as one comma-separated string.
pub fn params(cfg: &Config) -> BTreeMap<String, Value> {
    let mut p = BTreeMap::new();
    general(cfg, &mut p);
    sip(cfg, &mut p);
    media(cfg, &mut p);
    ng(cfg, &mut p);
    places(cfg, &mut p);
    p
}

fn ms(d: Duration) -> Value {
    json!(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn secs(d: Duration) -> Value {
    json!(d.as_secs())
}

fn list<T: ToString>(items: &[T]) -> Value {
    json!(items.iter().map(T::to_string).collect::<Vec<_>>().join(","))
}

fn general(cfg: &Config, p: &mut BTreeMap<String, Value>) {
    p.insert(
        "general.log_level".into(),
        json!(cfg.general.log_level.as_str()),
    );
    p.insert(
        "general.log_format".into(),
        json!(cfg.general.log_format.as_str()),
    );
}

fn sip(cfg: &Config, p: &mut BTreeMap<String, Value>) {
    let s = &cfg.sip;
    let mut put = |k: &str, v: Value| p.insert(format!("sip.{k}"), v);
    put("t1_ms", ms(s.t1));
    put("t2_ms", ms(s.t2));
    put("t4_ms", ms(s.t4));
    put("fr_timeout_ms", ms(s.fr_timeout));
    put("fr_inv_timeout_secs", secs(s.fr_inv_timeout));
    put("max_forwards", json!(s.max_forwards));
    let path = |p: &Option<std::path::PathBuf>| {
        json!(p
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string()))
    };
    put("tls_certificate", path(&s.tls.certificate));
    put("tls_private_key", path(&s.tls.private_key));
    put("tls_ca_file", path(&s.tls.ca_file));
    put("tls_system_roots", json!(s.tls.system_roots));
    put("max_message_bytes", json!(s.max_message_bytes));
    put("dialog_expiry_secs", secs(s.dialog_expiry));
    put("draining", json!(s.draining));
    put("record_route", json!(s.record_route));
    put("trusted", list(&s.trusted));
    put("tcp_max_connections", json!(s.tcp.max_connections));
    put(
        "tcp_max_connections_per_source",
        json!(s.tcp.max_connections_per_source),
    );
    put("tcp_buffer_bytes", json!(s.tcp.buffer_bytes));
    put("tcp_idle_timeout_secs", secs(s.tcp.idle_timeout));
    put("tcp_message_timeout_secs", secs(s.tcp.message_timeout));
    put("tcp_connect_timeout_ms", ms(s.tcp.connect_timeout));
    let l = &s.limits;
    put("max_server_transactions", json!(l.server_transactions));
    put("max_client_transactions", json!(l.client_transactions));
    put("max_contexts", json!(l.contexts));
    put("max_dialogs", json!(l.dialogs));
    put("max_registrations", json!(l.registrations));
    put("overload_retry_after_secs", secs(l.retry_after));
    let f = &s.flood;
    put("flood.enabled", json!(f.enabled));
    put("flood.rate", json!(f.rate.get()));
    put("flood.burst", json!(f.burst.get()));
    put("flood.ban_after_secs", secs(f.ban_after));
    put("flood.ban_secs", secs(f.ban));
    put("flood.max_sources", json!(f.max_sources));
}

fn media(cfg: &Config, p: &mut BTreeMap<String, Value>) {
    let m = &cfg.media;
    let mut put = |k: &str, v: Value| p.insert(format!("media.{k}"), v);
    put("timeout_secs", secs(m.timeout));
    put("hold_timeout_secs", secs(m.hold_timeout));
    put("offer_timeout_secs", secs(m.offer_timeout));
    put(
        "final_timeout_secs",
        secs(m.final_timeout.unwrap_or_default()),
    );
    put("delete_delay_secs", secs(m.delete_delay));
    // The file's 0 is no cap; at run time 0 drains (`crate::tune`), so no cap reads as such.
    put(
        "max_sessions",
        m.max_sessions
            .map_or(json!("unlimited"), |n| json!(n.get())),
    );
    put("strict_source", json!(m.strict_source));
    // The config's spelling (serde's lowercase names).
    put(
        "latching",
        json!(format!("{:?}", m.latching).to_lowercase()),
    );
    put("learning_secs", secs(m.learning));
}

fn ng(cfg: &Config, p: &mut BTreeMap<String, Value>) {
    let n = &cfg.ng;
    p.insert("ng.allow".into(), list(&n.allow));
    let (rate, burst) = n.rate.map_or((0, 0), |r| (r.per_sec.get(), r.burst.get()));
    p.insert("ng.rate".into(), json!(rate));
    p.insert("ng.burst".into(), json!(burst));
    p.insert("ng.cookie_cache_secs".into(), secs(n.cookie_cache));
}

/// Addresses, cores and paths: what is bound or started once.
fn places(cfg: &Config, p: &mut BTreeMap<String, Value>) {
    p.insert("sip.listen".into(), list(&cfg.sip.listen));
    p.insert("sip.transports".into(), list(&cfg.sip.transports));
    p.insert("sip.tls_listen".into(), list(&cfg.sip.tls.listen));
    p.insert("ng.listen".into(), json!(cfg.ng.listen.to_string()));
    p.insert(
        "dataplane.worker_cores".into(),
        list(&cfg.dataplane.worker_cores),
    );
    p.insert(
        "dataplane.backend".into(),
        json!(cfg.dataplane.backend.as_str()),
    );
    p.insert("dns.servers".into(), list(&cfg.dns.servers));
    p.insert(
        "metrics.listen".into(),
        json!(cfg.metrics.listen.to_string()),
    );
    p.insert(
        "admin.socket".into(),
        json!(cfg.admin.socket.display().to_string()),
    );
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        let v = format!(
            "{} {} ports {}-{}",
            iface.name, iface.address, iface.port_min, iface.port_max
        );
        p.insert(format!("interface[{i}]"), json!(v));
    }
}

/// Why a reload cannot apply a change of `key` now (`None`: it is applied live). Live: the
/// SIP proxy's settings, timers, limits, flood guard, TCP bounds, TLS files, trusted sources,
/// sets, members, routes and DNS; `sip.listen` and `sip.tls_listen` (rebound: the new sockets
/// are bound before the old ones close); the ng source checks; the media timeouts, session cap
/// and latching of new calls; the log level and format; `[[interface]]` entries (new ones and
/// grown ranges join the port layout, shrunk or removed ones take no new sessions) and the
/// admin and metrics listeners (rebound: the new one first). The reload refuses what of these
/// cannot be applied on the running backend, with its own reason.
pub fn restart_reason(key: &str) -> Option<&'static str> {
    const RESTART: [(&str, &str); 8] = [
        (
            "ha",
            "the replication driver, its node id and its Redis are set up at start",
        ),
        ("sip.transports", "the SIP transports are opened at start"),
        ("ng.listen", "the ng socket is bound once, at start"),
        ("ng.tcp", "the ng TCP listener is bound once, at start"),
        (
            "ng.cookie_cache_secs",
            "the ng reply cache is sized at start",
        ),
        (
            "dataplane",
            "the workers, their cores and the packet I/O backend (and its DPDK ports) are set up at start",
        ),
        (
            "media.learning_secs",
            "the learning window is given to the workers at start",
        ),
        ("media", "this [media] setting is fixed when the engine starts"),
    ];
    if media_live(key) {
        return None;
    }
    RESTART
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// The `[media]` keys a reload applies (the ones `params.set` changes, and latching).
fn media_live(key: &str) -> bool {
    crate::tune::SETTABLE.contains(&key) || key == "media.latching" || key == "media.strict_source"
}

/// Whether a reload applies a change of `key` now ([`restart_reason`] gives none).
pub fn is_live(key: &str) -> bool {
    restart_reason(key).is_none()
}

/// The differences from `old` to `new`: settings by key, then sets and their members, then
/// routes; each marked with whether a reload applies it now ([`is_live`]).
pub fn diff(old: &Config, new: &Config) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    let (a, b) = (params(old), params(new));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let change = match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => format!("{x} -> {y}"),
            (None, Some(y)) => format!("added: {y}"),
            (Some(x), None) => format!("removed: {x}"),
            (None, None) => continue,
        };
        out.push(change_of(k.clone(), change));
    }
    unlisted(old, new, &mut out);
    sets(old, new, &mut out);
    if old.routes != new.routes {
        let n = |c: &Config| c.routes.len();
        out.push(change_of(
            "route".into(),
            format!("{} routes -> {} routes", n(old), n(new)),
        ));
    }
    out
}

fn change_of(key: String, change: String) -> ConfigChange {
    let reason = restart_reason(&key).map(|r| format!("needs a restart: {r}"));
    ConfigChange {
        key,
        change,
        applied: reason.is_none(),
        reason,
    }
}

/// The changes of settings that have no key in [`params`]: one entry per section, so no
/// change goes unreported (`dataplane.dpdk`: the EAL options and ports; `dataplane.other`:
/// burst, control core, io_uring...).
fn unlisted(old: &Config, new: &Config, out: &mut Vec<ConfigChange>) {
    let (o, n) = (old, new);
    let mut media = o.media.with_live_keys_of(&n.media);
    media.learning = n.media.learning;
    let mut dataplane = o.dataplane.clone();
    dataplane.worker_cores.clone_from(&n.dataplane.worker_cores);
    dataplane.backend = n.dataplane.backend;
    dataplane.dpdk.clone_from(&n.dataplane.dpdk);
    let mut admin = o.admin.clone();
    admin.socket.clone_from(&n.admin.socket);
    let mut metrics = o.metrics;
    metrics.listen = n.metrics.listen;
    let sections = [
        ("media.other", media != n.media),
        ("dataplane.other", dataplane != n.dataplane),
        ("dataplane.dpdk", o.dataplane.dpdk != n.dataplane.dpdk),
        ("admin.other", admin != n.admin),
        ("metrics.other", metrics != n.metrics),
        ("ng.tcp", o.ng.tcp != n.ng.tcp),
        ("interface.advertised", advertised(o) != advertised(n)),
        ("ha", o.ha != n.ha),
    ];
    for (key, differs) in sections {
        if differs {
            out.push(change_of(key.into(), "changed".into()));
        }
    }
    // The proxy takes the whole new [sip] (the keys listed are reported one by one).
    if o.sip != n.sip && !out.iter().any(|c| c.key.starts_with("sip.")) {
        out.push(change_of("sip.other".into(), "changed".into()));
    }
}

fn advertised(cfg: &Config) -> Vec<Option<std::net::IpAddr>> {
    cfg.interfaces.iter().map(|i| i.advertised).collect()
}

/// Sets added, removed or changed, and their members by URI.
fn sets(old: &Config, new: &Config, out: &mut Vec<ConfigChange>) {
    for s in &old.sets {
        if !new.sets.iter().any(|n| n.name == s.name) {
            out.push(change_of(format!("set[{}]", s.name), "removed".into()));
        }
    }
    for s in &new.sets {
        let key = format!("set[{}]", s.name);
        let Some(o) = old.sets.iter().find(|o| o.name == s.name) else {
            out.push(change_of(
                key,
                format!("added with {} members", s.members.len()),
            ));
            continue;
        };
        let (mut a, mut b) = (o.clone(), s.clone());
        a.members.clear();
        b.members.clear();
        if a != b {
            out.push(change_of(key.clone(), "settings changed".into()));
        }
        let describe = |m: &config::MemberConfig| {
            format!(
                "transport={} weight={} priority={} max_calls={} state={}",
                m.transport,
                m.weight,
                m.priority,
                m.max_calls.map_or("-".to_string(), |n| n.to_string()),
                m.state.as_str()
            )
        };
        let find = |list: &[config::MemberConfig], uri: &str| {
            list.iter().find(|m| m.uri.text == uri).map(describe)
        };
        for m in &o.members {
            if find(&s.members, &m.uri.text).is_none() {
                out.push(change_of(
                    format!("{key}.member[{}]", m.uri.text),
                    "removed".into(),
                ));
            }
        }
        for m in &s.members {
            let mk = format!("{key}.member[{}]", m.uri.text);
            match find(&o.members, &m.uri.text) {
                None => out.push(change_of(mk, format!("added: {}", describe(m)))),
                Some(was) if was != describe(m) => {
                    out.push(change_of(mk, format!("{was} -> {}", describe(m))))
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = "[[interface]]\nname = \"ext\"\naddress = \"127.0.0.1\"\n\
        port_min = 30000\nport_max = 30099\n[sip]\nfr_timeout_ms = 1000\n\
        [[set]]\nname = \"pool\"\n[[set.member]]\nuri = \"sip:127.0.0.1:5081\"\n";

    fn cfg(text: &str) -> Config {
        config::parse(text).unwrap()
    }

    #[test]
    fn nothing_changed_is_an_empty_diff() {
        assert!(diff(&cfg(BASE), &cfg(BASE)).is_empty());
    }

    #[test]
    fn each_change_is_named_and_marked_live_or_not() {
        let new = BASE.replace("fr_timeout_ms = 1000", "fr_timeout_ms = 2000\nlisten = [\"127.0.0.1:5070\"]")
            .replace("5081\"\n", "5081\"\nweight = 2\n[[set.member]]\nuri = \"sip:127.0.0.1:5082\"\n")
            + "[general]\nlog_level = \"debug\"\n[[set]]\nname = \"b\"\n[[set.member]]\nuri = \"sip:127.0.0.1:6000\"\n";
        let d = diff(&cfg(BASE), &cfg(&new));
        let find = |k: &str| {
            d.iter()
                .find(|c| c.key == k)
                .unwrap_or_else(|| panic!("{k}: {d:?}"))
        };
        assert_eq!(find("sip.fr_timeout_ms").change, "1000 -> 2000");
        assert!(find("sip.fr_timeout_ms").applied);
        assert!(find("general.log_level").applied);
        assert!(find("sip.listen").applied);
        let m = find("set[pool].member[sip:127.0.0.1:5081]");
        assert!(m.change.contains("weight=1") && m.change.contains("weight=2") && m.applied);
        assert!(find("set[pool].member[sip:127.0.0.1:5082]")
            .change
            .starts_with("added"));
        assert!(find("set[b]").change.starts_with("added"));
        assert_eq!(d.len(), 6, "{d:?}");
    }

    #[test]
    fn a_dpdk_port_change_is_named_and_needs_a_restart() {
        let old = include_str!("../../../config/examples/dpdk-two-nic.toml");
        let new = old.replacen("device = \"0000:3b:00.0\"", "device = \"0000:3b:00.2\"", 1);
        assert_ne!(old, new);
        let d = diff(&cfg(old), &cfg(&new));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].key, "dataplane.dpdk");
        assert!(!d[0].applied && d[0].reason.as_deref().unwrap().contains("DPDK ports"));
    }

    #[test]
    fn params_name_their_config_keys() {
        let p = params(&cfg(BASE));
        assert_eq!(p["sip.fr_timeout_ms"], 1000);
        assert_eq!(p["sip.listen"], "127.0.0.1:5060");
        assert_eq!(p["media.max_sessions"], "unlimited");
        assert_eq!(p["interface[0]"], "ext 127.0.0.1 ports 30000-30099");
    }
}
