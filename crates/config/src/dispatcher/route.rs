//! `[[route]]`: which set a request goes to, by source and Request-URI, read into the
//! dispatcher's [`RouteConfig`]; and the CIDR lists routes and sets use.

use dispatch::{Cidr, RouteConfig};
use serde::Deserialize;

use crate::check::required;
use crate::error::{key, ConfigError};

/// Parses a list of networks at `path` (`path[i]` names the bad entry).
pub(crate) fn build_networks(path: &str, list: &[String]) -> Result<Vec<Cidr>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            Cidr::parse(text).map_err(|why| key(format!("{path}[{i}]"), why.to_string()))
        })
        .collect()
}

/// One `[[route]]` entry as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[route]] table")]
pub(crate) struct RawRoute {
    name: Option<String>,
    source_networks: Option<Vec<String>>,
    source_set: Option<String>,
    ruri_user_prefix: Option<String>,
    ruri_host: Option<String>,
    set: Option<String>,
}

impl RawRoute {
    /// Checks the keys of route `i`; names of sets are checked against the sets by the caller.
    pub(crate) fn build(self, i: usize) -> Result<RouteConfig, ConfigError> {
        let p = |k: &str| format!("route[{i}].{k}");
        let name = required(&p("name"), self.name)?;
        super::check_name(&p("name"), &name)?;
        let source_networks = match self.source_networks {
            Some(list) => build_networks(&p("source_networks"), &list)?,
            None => Vec::new(),
        };
        let ruri_host = self.ruri_host.filter(|h| !h.is_empty());
        if let Some(host) = &ruri_host {
            if let Some(bad) = host
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-.:[]".contains(*c)))
            {
                return Err(key(
                    p("ruri_host"),
                    format!("{host:?} contains {bad:?}; name a host or IP address"),
                ));
            }
        }
        Ok(RouteConfig {
            name,
            source_networks,
            source_set: self.source_set,
            ruri_user_prefix: self.ruri_user_prefix.filter(|u| !u.is_empty()),
            ruri_host: ruri_host.map(|h| h.to_ascii_lowercase()),
            set: required(&p("set"), self.set)?,
        })
    }
}
