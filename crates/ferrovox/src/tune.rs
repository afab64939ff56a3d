//! `params.set`, `params.diff` and `params.revert`: settings changed while the daemon runs
//! (`admin::tune` names them and their ranges), kept as overrides of the configuration file's
//! values and applied to their owners at once: the media engine (offer and final timeouts,
//! delete delay, session cap), the workers (no-RTP timeouts, by command) and the log filter.
//! `params.get` shows the running values; `diff` what differs from the file as last loaded
//! (at start or by the last reload); `revert` puts the file's values back. A reload applies
//! the keys whose value in the file changed (`Tuner::reload`); the overrides of the others
//! stay in force.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use admin::calls::{ParamChange, ParamDelta, ParamDiff};
use admin::{ErrorCode, ErrorObject};
use control::SharedEngine;
use media::engine::SessionCap;
use serde_json::Value;

/// The overrides and what they are applied to (cheap to clone).
#[derive(Debug, Clone)]
pub struct Tuner {
    overrides: Arc<Mutex<BTreeMap<String, Value>>>,
    engine: SharedEngine,
}

impl Tuner {
    /// No overrides, over `engine`.
    pub fn new(engine: SharedEngine) -> Tuner {
        Tuner {
            overrides: Arc::default(),
            engine,
        }
    }

    fn overrides(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        self.overrides
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The running settings: `cfg`'s, with the overrides over them.
    pub fn running(&self, cfg: &config::Config) -> BTreeMap<String, Value> {
        let mut p = admin::params::params(cfg);
        for (k, v) in self.overrides().iter() {
            p.insert(k.clone(), v.clone());
        }
        p
    }

    /// `params.set`: `key` to `value`, applied now.
    pub fn set(
        &self,
        cfg: &config::Config,
        key: &str,
        value: &Value,
    ) -> Result<ParamChange, ErrorObject> {
        let value = admin::tune::check(key, value)?;
        let old = self.running(cfg).get(key).cloned().unwrap_or(Value::Null);
        let file = admin::params::params(cfg).get(key).cloned();
        {
            let mut o = self.overrides();
            if file.as_ref() == Some(&value) {
                o.remove(key);
            } else {
                o.insert(key.to_owned(), value.clone());
            }
        }
        self.apply(cfg, key)?;
        tracing::info!(key, old = %old, new = %value, "params.set: applied");
        Ok(ParamChange {
            key: key.to_owned(),
            old,
            new: value,
        })
    }

    /// `params.diff`: the keys whose running value is not the file's.
    pub fn diff(&self, cfg: &config::Config) -> ParamDiff {
        let file = admin::params::params(cfg);
        let changes = self
            .overrides()
            .iter()
            .filter(|(k, v)| file.get(*k) != Some(v))
            .map(|(k, v)| ParamDelta {
                key: k.clone(),
                file: file.get(k).cloned().unwrap_or(Value::Null),
                running: v.clone(),
            })
            .collect();
        ParamDiff { changes }
    }

    /// `params.revert`: `key` (every overridden key when `None`) back to the file's value.
    pub fn revert(
        &self,
        cfg: &config::Config,
        key: Option<&str>,
    ) -> Result<ParamDiff, ErrorObject> {
        if let Some(k) = key {
            if !admin::tune::SETTABLE.contains(&k) {
                return Err(ErrorObject::new(
                    ErrorCode::NotFound,
                    format!("{k:?} is not a setting params.set changes"),
                ));
            }
        }
        let reverted = self.diff(cfg);
        let reverted: Vec<ParamDelta> = reverted
            .changes
            .into_iter()
            .filter(|d| key.is_none_or(|k| k == d.key))
            .collect();
        for d in &reverted {
            self.overrides().remove(&d.key);
            self.apply(cfg, &d.key)?;
            tracing::info!(key = %d.key, value = %d.file, "params.revert: the file's value");
        }
        Ok(ParamDiff { changes: reverted })
    }

    /// A reload from `old` to `new`: each key `params.set` changes whose value in the file
    /// changed is applied from `new` (an override of it gives way to the file's new value).
    /// Returns, per such key, whether applying it failed and why.
    pub fn reload(
        &self,
        old: &config::Config,
        new: &config::Config,
    ) -> Vec<(String, Result<(), String>)> {
        let (was, now) = (admin::params::params(old), admin::params::params(new));
        let mut out = Vec::new();
        for key in admin::tune::SETTABLE {
            if was.get(key) == now.get(key) {
                continue;
            }
            if let Some(v) = self.overrides().remove(key) {
                let what = "reload: the file's new value replaces params.set's";
                tracing::info!(key, dropped = %v, "{what}");
            }
            let applied = self.apply(new, key).map_err(|e| e.message);
            out.push((key.to_owned(), applied));
        }
        out
    }

    /// A reload's `[media] latching` and `strict_source`, for the calls offered from now on.
    pub fn set_latching(&self, latching: config::LatchMode, strict_source: bool) {
        self.engine.change(|e| {
            let mut t = e.tunables();
            t.latching = latching;
            t.strict_source = strict_source;
            e.set_tunables(t);
        });
    }

    /// Applies the running value of `key` to its owner.
    fn apply(&self, cfg: &config::Config, key: &str) -> Result<(), ErrorObject> {
        let p = self.running(cfg);
        let secs = |k: &str| Duration::from_secs(p.get(k).and_then(Value::as_u64).unwrap_or(0));
        match key {
            "general.log_level" => {
                let level = p.get(key).and_then(Value::as_str).unwrap_or("info");
                crate::logging::set_level(level)
                    .map_err(|e| ErrorObject::new(ErrorCode::Internal, e))
            }
            "media.timeout_secs" | "media.hold_timeout_secs" => {
                let (t, h) = (secs("media.timeout_secs"), secs("media.hold_timeout_secs"));
                self.engine.change(|e| e.set_worker_timeouts(t, h));
                Ok(())
            }
            _ => {
                let cap = match p.get("media.max_sessions") {
                    Some(Value::Number(n)) => match n.as_u64() {
                        Some(0) => SessionCap::Drain,
                        Some(n) => SessionCap::At(usize::try_from(n).unwrap_or(usize::MAX)),
                        None => SessionCap::Unlimited,
                    },
                    _ => SessionCap::Unlimited,
                };
                let final_timeout = secs("media.final_timeout_secs");
                self.engine.change(|e| {
                    let mut t = e.tunables();
                    t.offer_timeout = secs("media.offer_timeout_secs");
                    t.final_timeout = (!final_timeout.is_zero()).then_some(final_timeout);
                    t.delete_delay = secs("media.delete_delay_secs");
                    t.max_sessions = cap;
                    e.set_tunables(t);
                });
                Ok(())
            }
        }
    }
}
