//! `[sip]`: the SIP proxy's listeners, transports and RFC 3261 timers.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use sip::{HostPort, Transport};

use crate::check::{int_in, opt_int_in, secs_in};
use crate::error::{key, ConfigError};

mod tls;

pub use tls::{TlsConfig, DEFAULT_TLS_PORT};

/// The transports the proxy speaks, in their config spelling.
pub const SPOKEN_TRANSPORTS: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

/// A transport key (`sip.transports[i]`, `set.member.transport`): one of
/// [`SPOKEN_TRANSPORTS`], spelled in lower case.
pub(crate) fn spoken_transport(path: &str, text: &str) -> Result<Transport, ConfigError> {
    match text.parse::<Transport>() {
        Ok(t) if text == t.as_str() && SPOKEN_TRANSPORTS.contains(&t) => Ok(t),
        _ => Err(key(
            path,
            format!("unknown value `{text}`, expected `udp`, `tcp` or `tls`"),
        )),
    }
}

/// Default `sip.listen`: loopback, the standard SIP port (RFC 3261 §19.1.2).
pub const DEFAULT_SIP_LISTEN: &str = "127.0.0.1:5060";

/// Longest `sip.user_agent`.
pub const MAX_USER_AGENT_LEN: usize = 128;

/// The `[sip]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// `listen`: socket addresses the proxy listens on, each on UDP and, if `tcp` is in
    /// `transports`, on TCP too; at least one, no repeats, port not 0. Default
    /// `["127.0.0.1:5060"]`.
    pub listen: Vec<SocketAddr>,
    /// `transports`: non-empty subset of `udp`, `tcp`, `tls` ([`SPOKEN_TRANSPORTS`]), no
    /// repeats; default `["udp", "tcp"]`. `"tls"` listens on `tls_listen` and lets members
    /// be `sips:` or `transport=tls`.
    pub transports: Vec<Transport>,
    /// `advertised` (optional): `host[:port]` written into Via and Record-Route instead of the
    /// listen address (the proxy behind 1:1 NAT or known by a DNS name).
    pub advertised: Option<HostPort>,
    /// `record_route` (default true): add Record-Route so in-dialog requests stay on the proxy
    /// (RFC 3261 §16.6 step 4).
    pub record_route: bool,
    /// `t1_ms` (50..=5000, default 500): RTT estimate T1 (RFC 3261 §17.1.1.1, table 4).
    pub t1: Duration,
    /// `t2_ms` (t1..=60000, default 4000): longest non-INVITE/INVITE-response retransmit
    /// interval T2 (RFC 3261 table 4).
    pub t2: Duration,
    /// `t4_ms` (100..=60000, default 5000): longest time a message stays in the network T4
    /// (RFC 3261 table 4).
    pub t4: Duration,
    /// `fr_timeout_ms` (100..=180000, default 5000): a branch with no provisional reply within
    /// this is timed out and the next member is tried.
    pub fr_timeout: Duration,
    /// `fr_inv_timeout_secs` (1..=3600, default 120): after a provisional reply, how long to
    /// wait for a final one (Timer C, RFC 3261 §16.6 step 11; at least 3 minutes recommended
    /// there, shorter is common practice with a media server behind).
    pub fr_inv_timeout: Duration,
    /// `max_forwards` (1..=255, default 70): Max-Forwards put on requests that had none
    /// (RFC 3261 §16.6 step 3).
    pub max_forwards: u8,
    /// `max_message_bytes` (1024..=1048576, default 65535): larger datagrams or stream
    /// messages are dropped and counted.
    pub max_message_bytes: u32,
    /// `dialog_expiry_secs` (60..=604800, default 43200): a confirmed dialog that sees no BYE
    /// is forgotten after this.
    pub dialog_expiry: Duration,
    /// `user_agent` (default `"Ferrovox"`): Server/User-Agent header value on locally generated
    /// messages; `None` when set to `""` (no header).
    pub user_agent: Option<String>,
    /// `draining` (default false): OPTIONS sent to this element are answered 503 so that a
    /// front load balancer or monitor takes it out of rotation; calls and dialogs continue.
    /// Toggled at run time by editing the file and sending SIGHUP.
    pub draining: bool,
    /// The `tcp_*` keys: the bounds of SIP over TCP (and TLS, which runs over it).
    pub tcp: TcpConfig,
    /// The `tls_*` keys: SIP over TLS.
    pub tls: TlsConfig,
    /// `[sip.flood]`: per-source rate limits and bans.
    pub flood: crate::FloodConfig,
    /// `trusted` (default none): source networks whose requests may carry a pre-loaded Route
    /// beyond this element, followed as RFC 3261 §16.4 says, and whose in-dialog requests for
    /// dialogs this element does not hold go by their Route set or Request-URI. Requests from
    /// anywhere else are routed by `[[route]]` alone (initial requests) or by the dialogs the
    /// proxy holds (in-dialog requests). `[sip.flood]` never limits nor bans these networks.
    pub trusted: Vec<dispatch::Cidr>,
    /// The `max_*` keys: caps on the proxy's tables.
    pub limits: crate::LimitsConfig,
}

/// The `[sip]` `tcp_*` keys: how many connections SIP over TCP may hold, how many bytes each
/// may buffer and how long each may sit idle or spend delivering a message. Beyond a bound a
/// connection is refused or closed, and counted; the rest keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// `tcp_max_connections` (1..=1000000, default 4096): open connections in all, accepted
    /// and opened toward next hops. Beyond it an accepted connection is closed at once and an
    /// outbound one fails as a transport error (the branch fails over).
    pub max_connections: u32,
    /// `tcp_max_connections_per_source` (1..=1000000, default 64): accepted connections from
    /// one source address (IPv6: one /64, what one subscriber gets). Beyond it a new one is
    /// closed at once.
    pub max_connections_per_source: u32,
    /// `tcp_buffer_bytes` (max_message_bytes..=16777216, default 65536): bytes held for one
    /// connection in each direction. Inbound, a message larger than this closes the
    /// connection; outbound, a peer that lets this much queue up unread has its connection
    /// closed.
    pub buffer_bytes: u32,
    /// `tcp_idle_timeout_secs` (1..=86400, default 120): a connection with no byte read or
    /// written for this long is closed (RFC 5626 §3.5.1 keep-alives are traffic).
    pub idle_timeout: Duration,
    /// `tcp_message_timeout_secs` (1..=3600, default 10): an accepted connection must bring
    /// its first whole message within this of the accept, and on any connection a message
    /// that has begun must be whole within this of its first byte; otherwise the connection
    /// is closed (slowloris).
    pub message_timeout: Duration,
    /// `tcp_connect_timeout_ms` (100..=60000, default 2000): an outbound connection not
    /// established within this fails as a transport error.
    pub connect_timeout: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_connections: 4096,
            max_connections_per_source: 64,
            buffer_bytes: 65536,
            idle_timeout: Duration::from_secs(120),
            message_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(2000),
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            transports: vec![Transport::Udp, Transport::Tcp],
            advertised: None,
            record_route: true,
            t1: Duration::from_millis(500),
            t2: Duration::from_millis(4000),
            t4: Duration::from_millis(5000),
            fr_timeout: Duration::from_millis(5000),
            fr_inv_timeout: Duration::from_secs(120),
            max_forwards: 70,
            max_message_bytes: 65535,
            dialog_expiry: Duration::from_secs(43200),
            user_agent: Some("Ferrovox".to_owned()),
            draining: false,
            tcp: TcpConfig::default(),
            tls: TlsConfig::default(),
            flood: crate::FloodConfig::default(),
            trusted: Vec::new(),
            limits: crate::LimitsConfig::default(),
        }
    }
}

impl SipConfig {
    /// Whether the proxy speaks `transport`.
    pub fn has_transport(&self, transport: Transport) -> bool {
        self.transports.contains(&transport)
    }
}

/// `[sip]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [sip] table")]
pub(crate) struct RawSip {
    listen: Option<Vec<String>>,
    transports: Option<Vec<String>>,
    advertised: Option<String>,
    record_route: Option<bool>,
    t1_ms: Option<i64>,
    t2_ms: Option<i64>,
    t4_ms: Option<i64>,
    fr_timeout_ms: Option<i64>,
    fr_inv_timeout_secs: Option<i64>,
    max_forwards: Option<i64>,
    max_message_bytes: Option<i64>,
    dialog_expiry_secs: Option<i64>,
    user_agent: Option<String>,
    draining: Option<bool>,
    tcp_max_connections: Option<i64>,
    tcp_max_connections_per_source: Option<i64>,
    tcp_buffer_bytes: Option<i64>,
    tcp_idle_timeout_secs: Option<i64>,
    tcp_message_timeout_secs: Option<i64>,
    tcp_connect_timeout_ms: Option<i64>,
    tls_listen: Option<Vec<String>>,
    tls_certificate: Option<String>,
    tls_private_key: Option<String>,
    tls_ca_file: Option<String>,
    tls_system_roots: Option<bool>,
    flood: Option<crate::flood::RawFlood>,
    trusted: Option<Vec<String>>,
    max_server_transactions: Option<i64>,
    max_client_transactions: Option<i64>,
    max_contexts: Option<i64>,
    max_dialogs: Option<i64>,
    max_registrations: Option<i64>,
    overload_retry_after_secs: Option<i64>,
}

/// An optional `*_ms` key in `min..=max` milliseconds, or `default` when absent.
pub(crate) fn ms_in(
    path: &str,
    value: Option<i64>,
    min: i64,
    max: i64,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(v) => int_in::<u64>(path, v, min, max).map(Duration::from_millis),
        None => Ok(default),
    }
}

/// `sip.advertised`: the host (and port) the proxy writes into what it sends.
fn build_advertised(text: &str) -> Result<HostPort, ConfigError> {
    HostPort::parse(text).map_err(|why| key("sip.advertised", format!("{text:?}: {why}")))
}

impl RawSip {
    /// Checks every key, the timers against each other, and fills in the defaults.
    pub(crate) fn build(self) -> Result<SipConfig, ConfigError> {
        let d = SipConfig::default();
        let (t1, t2) = self.build_t1_t2(&d)?;
        let (t4, fr_timeout, fr_inv_timeout) = self.build_other_timers(&d)?;
        let max_message_bytes = opt_int_in(
            "sip.max_message_bytes",
            self.max_message_bytes,
            1024,
            1_048_576,
            d.max_message_bytes,
        )?;
        let tcp = self.build_tcp(max_message_bytes)?;
        let listen = match self.listen {
            Some(list) => build_listen(&list)?,
            None => d.listen,
        };
        let transports = match self.transports {
            Some(list) => build_transports(&list)?,
            None => d.transports,
        };
        let tls = tls::RawTls {
            listen: self.tls_listen,
            certificate: self.tls_certificate,
            private_key: self.tls_private_key,
            ca_file: self.tls_ca_file,
            system_roots: self.tls_system_roots,
        }
        .build(transports.contains(&Transport::Tls), &listen)?;
        let advertised = self
            .advertised
            .as_deref()
            .map(build_advertised)
            .transpose()?;
        let user_agent = match self.user_agent {
            Some(text) => build_user_agent(text)?,
            None => d.user_agent,
        };
        Ok(SipConfig {
            listen,
            transports,
            advertised,
            record_route: self.record_route.unwrap_or(d.record_route),
            t1,
            t2,
            t4,
            fr_timeout,
            fr_inv_timeout,
            max_forwards: opt_int_in(
                "sip.max_forwards",
                self.max_forwards,
                1,
                255,
                d.max_forwards,
            )?,
            max_message_bytes,
            dialog_expiry: secs_in(
                "sip.dialog_expiry_secs",
                self.dialog_expiry_secs,
                60,
                604_800,
                d.dialog_expiry,
            )?,
            user_agent,
            draining: self.draining.unwrap_or(d.draining),
            tcp,
            tls,
            flood: self.flood.unwrap_or_default().build()?,
            trusted: crate::limits::build_trusted(self.trusted.as_deref())?,
            limits: crate::limits::RawLimits {
                server_transactions: self.max_server_transactions,
                client_transactions: self.max_client_transactions,
                contexts: self.max_contexts,
                dialogs: self.max_dialogs,
                registrations: self.max_registrations,
                retry_after_secs: self.overload_retry_after_secs,
            }
            .build()?,
        })
    }

    /// `t1_ms` and `t2_ms`. RFC 3261 §17.1.2.2: T2 caps retransmit intervals that start at
    /// T1, so T2 below T1 is meaningless.
    fn build_t1_t2(&self, d: &SipConfig) -> Result<(Duration, Duration), ConfigError> {
        let t1 = ms_in("sip.t1_ms", self.t1_ms, 50, 5000, d.t1)?;
        let t2 = ms_in("sip.t2_ms", self.t2_ms, 50, 60_000, d.t2)?;
        if t2 < t1 {
            let given = if self.t2_ms.is_some() {
                ""
            } else {
                " (the default)"
            };
            return Err(key(
                "sip.t2_ms",
                format!(
                    "must be at least t1_ms ({} ms), got {} ms{given}",
                    t1.as_millis(),
                    t2.as_millis()
                ),
            ));
        }
        Ok((t1, t2))
    }

    /// `t4_ms`, `fr_timeout_ms` and `fr_inv_timeout_secs`.
    fn build_other_timers(
        &self,
        d: &SipConfig,
    ) -> Result<(Duration, Duration, Duration), ConfigError> {
        Ok((
            ms_in("sip.t4_ms", self.t4_ms, 100, 60_000, d.t4)?,
            ms_in(
                "sip.fr_timeout_ms",
                self.fr_timeout_ms,
                100,
                180_000,
                d.fr_timeout,
            )?,
            secs_in(
                "sip.fr_inv_timeout_secs",
                self.fr_inv_timeout_secs,
                1,
                3600,
                d.fr_inv_timeout,
            )?,
        ))
    }

    /// The `tcp_*` keys; the buffer must hold the largest message the proxy takes.
    fn build_tcp(&self, max_message_bytes: u32) -> Result<TcpConfig, ConfigError> {
        let d = TcpConfig::default();
        let buffer_bytes = opt_int_in(
            "sip.tcp_buffer_bytes",
            self.tcp_buffer_bytes,
            1024,
            16_777_216,
            d.buffer_bytes,
        )?;
        if buffer_bytes < max_message_bytes {
            let given = if self.tcp_buffer_bytes.is_some() {
                ""
            } else {
                " (the default)"
            };
            return Err(key(
                "sip.tcp_buffer_bytes",
                format!(
                    "must be at least max_message_bytes ({max_message_bytes}), got {buffer_bytes}{given}"
                ),
            ));
        }
        Ok(TcpConfig {
            max_connections: opt_int_in(
                "sip.tcp_max_connections",
                self.tcp_max_connections,
                1,
                1_000_000,
                d.max_connections,
            )?,
            max_connections_per_source: opt_int_in(
                "sip.tcp_max_connections_per_source",
                self.tcp_max_connections_per_source,
                1,
                1_000_000,
                d.max_connections_per_source,
            )?,
            buffer_bytes,
            idle_timeout: secs_in(
                "sip.tcp_idle_timeout_secs",
                self.tcp_idle_timeout_secs,
                1,
                86_400,
                d.idle_timeout,
            )?,
            message_timeout: secs_in(
                "sip.tcp_message_timeout_secs",
                self.tcp_message_timeout_secs,
                1,
                3600,
                d.message_timeout,
            )?,
            connect_timeout: ms_in(
                "sip.tcp_connect_timeout_ms",
                self.tcp_connect_timeout_ms,
                100,
                60_000,
                d.connect_timeout,
            )?,
        })
    }
}

/// `sip.listen`: at least one `IP:port`, port not 0, not multicast, no repeats.
fn build_listen(list: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    if list.is_empty() {
        return Err(key(
            "sip.listen",
            "at least one address is required (e.g. [\"127.0.0.1:5060\"])",
        ));
    }
    let mut out: Vec<SocketAddr> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let path = format!("sip.listen[{i}]");
        let addr: SocketAddr = text.parse().map_err(|_| {
            key(
                &path,
                format!(
                    "{text:?} is not a socket address (expected IP:port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\")"
                ),
            )
        })?;
        if addr.port() == 0 {
            return Err(key(
                &path,
                format!("port 0 in {addr} is not allowed; name the port SIP clients send to"),
            ));
        }
        if addr.ip().is_multicast() {
            return Err(key(&path, format!("{} is a multicast address", addr.ip())));
        }
        if let Some(j) = out.iter().position(|a| *a == addr) {
            return Err(key(&path, format!("{addr} repeats sip.listen[{j}]")));
        }
        out.push(addr);
    }
    Ok(out)
}

/// `sip.transports`: a non-empty subset of the spoken transports, no repeats.
fn build_transports(list: &[String]) -> Result<Vec<Transport>, ConfigError> {
    if list.is_empty() {
        return Err(key(
            "sip.transports",
            "at least one transport is required: \"udp\", \"tcp\", \"tls\"",
        ));
    }
    let mut out: Vec<Transport> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let path = format!("sip.transports[{i}]");
        let t = spoken_transport(&path, text)?;
        if out.contains(&t) {
            return Err(key(&path, format!("{:?} is listed twice", t.as_str())));
        }
        out.push(t);
    }
    Ok(out)
}

/// `sip.user_agent`: `""` means no header; otherwise a header value on one line (RFC 3261
/// §20.35, §20.41: a `server-val` list, checked here only for printable ASCII and length).
fn build_user_agent(text: String) -> Result<Option<String>, ConfigError> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_USER_AGENT_LEN {
        return Err(key(
            "sip.user_agent",
            format!(
                "must be at most {MAX_USER_AGENT_LEN} characters, got {}",
                text.len()
            ),
        ));
    }
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
        return Err(key(
            "sip.user_agent",
            format!("contains {bad:?}; use printable ASCII only"),
        ));
    }
    if text.starts_with(' ') || text.ends_with(' ') {
        return Err(key("sip.user_agent", "must not start or end with a space"));
    }
    Ok(Some(text))
}
