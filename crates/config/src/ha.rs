//! `[ha]`: replication of anchored calls to Redis/Valkey (off unless `enabled`).

use serde::Deserialize;

use crate::check::{opt_int_in, required};
use crate::error::{key, ConfigError};

/// `[ha]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [ha] table")]
pub(crate) struct RawHa {
    enabled: Option<bool>,
    node: Option<String>,
    redis: Option<String>,
    batch: Option<i64>,
    queue: Option<i64>,
    max_pending: Option<i64>,
    timeout_ms: Option<i64>,
    start: Option<String>,
    shared_limits: Option<bool>,
}

impl RawHa {
    /// `None` unless `enabled`; then every key checked and the defaults filled in.
    pub(crate) fn build(self) -> Result<Option<ha::ReplicaConfig>, ConfigError> {
        if !self.enabled.unwrap_or(false) {
            return Ok(None);
        }
        let node = required("ha.node", self.node)?;
        if node.is_empty() || node.len() > 64 || !node.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(key(
                "ha.node",
                format!("{node:?}: 1 to 64 visible ASCII characters, distinct per node"),
            ));
        }
        let d = ha::ReplicaConfig::new(node);
        let url = match self.redis {
            Some(u) => redis_url(&u)?,
            None => d.url.clone(),
        };
        let ms = opt_int_in("ha.timeout_ms", self.timeout_ms, 50, 10_000, 1000u64)?;
        let start = match self.start.as_deref() {
            None | Some("standby") => ha::Role::Standby,
            Some("active") => ha::Role::Active,
            Some(other) => {
                return Err(key(
                    "ha.start",
                    format!("{other:?}: \"standby\" (a node of a pair) or \"active\""),
                ))
            }
        };
        Ok(Some(ha::ReplicaConfig {
            url,
            batch: opt_int_in("ha.batch", self.batch, 1, 4096, d.batch)?,
            queue: opt_int_in("ha.queue", self.queue, 1024, 1 << 20, d.queue)?,
            max_pending: opt_int_in(
                "ha.max_pending",
                self.max_pending,
                1024,
                1 << 20,
                d.max_pending,
            )?,
            timeout: std::time::Duration::from_millis(ms),
            start,
            shared_limits: self.shared_limits.unwrap_or(false),
            node: d.node,
        }))
    }
}

/// `ha.redis`: `redis://HOST:PORT[/DB]` (a password as `redis://:PASSWORD@HOST:PORT`).
fn redis_url(text: &str) -> Result<String, ConfigError> {
    let rest = text.strip_prefix("redis://").ok_or_else(|| {
        key(
            "ha.redis",
            format!("{text:?} is not a redis:// URL (redis://HOST:PORT/DB)"),
        )
    })?;
    let host = rest.rsplit('@').next().unwrap_or(rest);
    let host = host.split('/').next().unwrap_or(host);
    if host.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(key("ha.redis", format!("{text:?} names no host")));
    }
    Ok(text.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::parse;
    use std::time::Duration;

    const IFACE: &str = "[[interface]]\nname = \"e\"\naddress = \"127.0.0.1\"\n\
                         port_min = 30000\nport_max = 30099\n";

    #[test]
    fn off_unless_enabled_and_defaults_filled_in() {
        assert_eq!(parse(IFACE).unwrap().ha, None);
        let c = parse(&format!("{IFACE}[ha]\nenabled = true\nnode = \"fv-a\"\n")).unwrap();
        let h = c.ha.unwrap();
        assert_eq!(
            (h.node.as_str(), h.url.as_str()),
            ("fv-a", "redis://127.0.0.1:6379/0")
        );
        assert_eq!((h.batch, h.timeout), (256, Duration::from_millis(1000)));
        assert_eq!(
            h.start,
            ha::Role::Standby,
            "a node of a pair starts standby"
        );
        let c = parse(&format!(
            "{IFACE}[ha]\nenabled = true\nnode = \"a\"\nstart = \"active\"\n"
        ));
        assert_eq!(c.unwrap().ha.unwrap().start, ha::Role::Active);
    }

    #[test]
    fn a_missing_node_a_bad_url_or_a_bound_is_refused_naming_the_key() {
        let bad = [
            ("[ha]\nenabled = true\n", "ha.node"),
            ("[ha]\nenabled = true\nnode = \"a b\"\n", "ha.node"),
            (
                "[ha]\nenabled = true\nnode = \"a\"\nredis = \"http://x\"\n",
                "ha.redis",
            ),
            (
                "[ha]\nenabled = true\nnode = \"a\"\nredis = \"redis:///0\"\n",
                "ha.redis",
            ),
            (
                "[ha]\nenabled = true\nnode = \"a\"\nbatch = 0\n",
                "ha.batch",
            ),
            (
                "[ha]\nenabled = true\nnode = \"a\"\ntimeout_ms = 20\n",
                "ha.timeout_ms",
            ),
            ("[ha]\nenabled = true\nnode = \"a\"\nport = 1\n", "port"),
            (
                "[ha]\nenabled = true\nnode = \"a\"\nstart = \"master\"\n",
                "ha.start",
            ),
        ];
        for (text, k) in bad {
            let e = parse(&format!("{IFACE}{text}")).unwrap_err().to_string();
            assert!(e.contains(k), "{text}: {e}");
        }
    }
}
