//! Ferrovox configuration: TOML text in, typed and checked [`Config`] out.
//!
//! Sans-IO: the caller reads the file and hands [`parse`] its text. Every key is checked for
//! type and range, unknown keys are refused at every level, and each error names the key path
//! (for example `interface[1].port_min`) and the reason on one line. [`validate_host`] then
//! checks the config against the host (CPU ids) before the daemon starts anything.
//!
//! ```
//! let cfg = config::parse(
//!     r#"
//!     [[interface]]
//!     name = "external"
//!     address = "127.0.0.1"
//!     port_min = 30000
//!     port_max = 30999
//!     "#,
//! )
//! .unwrap();
//! assert_eq!(cfg.interfaces[0].port_pairs(), 500);
//! config::validate_host(&cfg, &config::HostFacts { cpus: 1 }).unwrap();
//! ```
//!
//! Schema: `[general]`, `[ng]`, `[dataplane]`, `[media]`, `[sip]` and `[dns]` are optional, as
//! is each of their keys (see the `Default` impls); at least one `[[interface]]` is required.
//! `[[set]]` (destination sets with their `[set.health]` and `[[set.member]]`) and `[[route]]`
//! are optional: with no set the SIP proxy is off; with sets but no route, every request goes
//! to the first set. Later sections are added as further fields of [`Config`], each with its
//! own module.
#![forbid(unsafe_code)]

mod admin;
mod check;
mod dataplane;
mod dispatcher;
mod dns;
mod error;
mod flood;
mod general;
mod ha;
mod host;
mod interface;
mod limits;
mod media;
mod metrics;
mod ng;
mod sip;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

pub use crate::dataplane::{dpdk, Backend, DataplaneConfig, MAX_BURST, MAX_WORKERS};
pub use admin::{AdminConfig, DEFAULT_ADMIN_SOCKET, MAX_ADMIN_LINE, MAX_SOCKET_PATH};
pub use dns::DnsConfig;
pub use error::ConfigError;
pub use flood::{FloodConfig, DEFAULT_FLOOD_RATE, DEFAULT_FLOOD_SOURCES, MAX_FLOOD_RATE};
pub use general::{GeneralConfig, LogFormat, LogLevel};
pub use host::{validate_host, HostFacts};
pub use interface::{Interface, MAX_NAME_LEN, MIN_RELAY_PORT};
pub use limits::{LimitsConfig, MAX_TABLE_CAP};
pub use media::{MediaConfig, MAX_FINAL_TIMEOUT_SECS};
pub use metrics::{MetricsConfig, DEFAULT_METRICS_LISTEN};
pub use ng::{NgConfig, NgTcpConfig, DEFAULT_NG_LISTEN, DEFAULT_NG_RATE, MAX_NG_RATE};
pub use sip::{
    SipConfig, TcpConfig, TlsConfig, DEFAULT_SIP_LISTEN, DEFAULT_TLS_PORT, MAX_USER_AGENT_LEN,
    SPOKEN_TRANSPORTS,
};

// The domain types the configuration is made of, defined by the crates that use them: the
// config reads the file into them, the daemon hands them over as they are. Re-exported so a
// user of `Config` can name every type it holds.
pub use ::dataplane::LatchMode;
pub use ::dispatch::{
    AdminState, Algorithm, Cidr, HashKey, HealthConfig, LastResort, MediaPlan, MemberConfig,
    MemberTarget, OkCode, RouteConfig, SetConfig, DEFAULT_PROBE_FROM, MAX_ATTEMPTS,
    MAX_MEMBER_CALLS, MAX_SET_NAME_LEN, MAX_WEIGHT,
};
pub use ::sip::{HostPort, SipUri, Transport, UriHost};

/// The whole daemon configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[general]`: logging.
    pub general: GeneralConfig,
    /// `[ng]`: the rtpengine ng control listener.
    pub ng: NgConfig,
    /// `[dataplane]`: packet I/O backend and worker cores.
    pub dataplane: DataplaneConfig,
    /// `[media]`: latching and media timeouts.
    pub media: MediaConfig,
    /// `[[interface]]`: relay addresses and port ranges, in file order; never empty.
    pub interfaces: Vec<Interface>,
    /// `[sip]`: the SIP proxy's listeners, transports and timers.
    pub sip: SipConfig,
    /// `[dns]`: resolvers for members named by host name.
    pub dns: DnsConfig,
    /// `[[set]]`: the dispatcher's destination sets, in file order. Empty means the SIP proxy
    /// is off.
    pub sets: Vec<SetConfig>,
    /// `[[route]]`: which set a request goes to, in file order (first match wins). Empty
    /// means every request goes to the first set.
    pub routes: Vec<RouteConfig>,
    /// `[admin]`: the local admin socket.
    pub admin: AdminConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[ha]`: replication of anchored calls to Redis/Valkey (`None`: off, the default).
    pub ha: Option<::ha::ReplicaConfig>,
}

impl Config {
    /// The entries named `name`, in file order (several entries may share a name).
    pub fn interfaces_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Interface> {
        self.interfaces.iter().filter(move |i| i.name == name)
    }

    /// The media engine's settings from `[media]`, `[ng]` and `[[interface]]`, so the daemon
    /// maps nothing by hand. `epoch` is the clock origin the workers share; `fastpath` says
    /// whether they run on DPDK (reported by ng `statistics`).
    pub fn media_engine(&self, epoch: std::time::Instant, fastpath: bool) -> ::media::EngineConfig {
        ::media::EngineConfig {
            interfaces: self
                .interfaces
                .iter()
                .map(|i| ::media::Interface {
                    name: i.name.clone(),
                    address: i.address,
                    advertised: i.advertised,
                })
                .collect(),
            latching: self.media.latching,
            strict_source: self.media.strict_source,
            offer_timeout: self.media.offer_timeout,
            final_timeout: self.media.final_timeout,
            delete_delay: self.media.delete_delay,
            rtp_check: self.media.rtp_check,
            max_sessions: self.media.max_sessions.map_or(0, |n| n.get() as usize),
            cookie_ttl: self.ng.cookie_cache,
            guard: self.ng.guard(),
            fastpath,
            epoch,
        }
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
    }
}

/// The document as written: the TOML tree mapped onto the schema, nothing checked yet but the
/// key names and value types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a TOML document")]
struct RawConfig {
    general: Option<general::RawGeneral>,
    ng: Option<ng::RawNg>,
    dataplane: Option<dataplane::RawDataplane>,
    media: Option<media::RawMedia>,
    interface: Option<Vec<interface::RawInterface>>,
    sip: Option<sip::RawSip>,
    dns: Option<dns::RawDns>,
    set: Option<Vec<dispatcher::RawSet>>,
    route: Option<Vec<dispatcher::RawRoute>>,
    admin: Option<admin::RawAdmin>,
    metrics: Option<metrics::RawMetrics>,
    ha: Option<ha::RawHa>,
}

/// Parses and checks a configuration text: TOML syntax, key names, value types, ranges, and
/// the keys against each other. The first problem found is returned.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e| error::syntax(text, &e))?;
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(error::from_serde)?;
    let sip = raw.sip.unwrap_or_default().build()?;
    let dns = raw.dns.unwrap_or_default().build()?;
    let interfaces = interface::build_all(raw.interface)?;
    let sets = dispatcher::build_sets(raw.set, &sip, &dns, &interfaces)?;
    let routes = dispatcher::build_routes(raw.route, &sets)?;
    let cfg = Config {
        general: raw.general.unwrap_or_default().build()?,
        ng: raw.ng.unwrap_or_default().build()?,
        dataplane: raw.dataplane.unwrap_or_default().build()?,
        media: raw.media.unwrap_or_default().build()?,
        interfaces,
        sip,
        dns,
        sets,
        routes,
        admin: raw.admin.unwrap_or_default().build()?,
        metrics: raw.metrics.unwrap_or_default().build()?,
        ha: raw.ha.unwrap_or_default().build()?,
    };
    check_ng_ports(&cfg)?;
    check_sip_ports(&cfg)?;
    Ok(cfg)
}

/// The ng listener is a UDP socket too: it must not sit inside a relay port range on an
/// address that range is bound to, or one of the two binds fails at start.
fn check_ng_ports(cfg: &Config) -> Result<(), ConfigError> {
    let listen = cfg.ng.listen;
    let ng_ip = listen.ip().to_canonical();
    for (i, iface) in cfg.interfaces.iter().enumerate() {
        let same_address = ng_ip == iface.address.to_canonical()
            || (ng_ip.is_unspecified() && covers(ng_ip, iface.address));
        if same_address && iface.ports().contains(&listen.port()) {
            return Err(error::key(
                "ng.listen",
                format!(
                    "port {} is inside the relay ports {}-{} of interface[{i}] on {}",
                    listen.port(),
                    iface.port_min,
                    iface.port_max,
                    iface.address
                ),
            ));
        }
    }
    Ok(())
}

/// The SIP listeners are UDP sockets too: like the ng listener, none may sit inside a relay
/// port range on an address that range is bound to, nor on the ng listener's own address.
fn check_sip_ports(cfg: &Config) -> Result<(), ConfigError> {
    for (k, listen) in cfg.sip.listen.iter().enumerate() {
        let ip = listen.ip().to_canonical();
        let overlaps = |other: IpAddr| {
            ip == other.to_canonical()
                || (ip.is_unspecified() && covers(ip, other))
                || (other.is_unspecified() && covers(other, ip))
        };
        for (i, iface) in cfg.interfaces.iter().enumerate() {
            if overlaps(iface.address) && iface.ports().contains(&listen.port()) {
                return Err(error::key(
                    format!("sip.listen[{k}]"),
                    format!(
                        "port {} is inside the relay ports {}-{} of interface[{i}] on {}",
                        listen.port(),
                        iface.port_min,
                        iface.port_max,
                        iface.address
                    ),
                ));
            }
        }
        if overlaps(cfg.ng.listen.ip()) && cfg.ng.listen.port() == listen.port() {
            return Err(error::key(
                format!("sip.listen[{k}]"),
                format!("{listen} is also the ng.listen address"),
            ));
        }
    }
    Ok(())
}

/// Whether a socket bound to the unspecified address `any` also takes `ip`'s packets: `0.0.0.0`
/// covers IPv4; `::` covers both families (Linux binds `::` dual-stack by default).
fn covers(any: IpAddr, ip: IpAddr) -> bool {
    any.is_ipv6() || ip.is_ipv4()
}
