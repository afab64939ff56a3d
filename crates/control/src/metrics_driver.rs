//! The SIP side of a scrape: the metrics thread sends a [`MetricsRequest`] over the SIP
//! driver's bounded control channel; the driver answers it between messages, on the thread
//! that owns the proxy, with a [`SipSnapshot`] (plain copies of counters, nothing shared),
//! which [`sip_families`] turns into metric families on the metrics thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dispatch::{MemberCounters, MemberState};
use metrics::{num, Exposition};
use proxy::{FloodCounters, Proxy, ProxyCounters};
use tokio::sync::oneshot;

use crate::ha_driver::ReplicaCounters;
use crate::sip_driver::{IcmpCounters, IcmpStats, Sockets, TcpCounters, TcpStats};

/// One scrape's request for the SIP side, and where its answer goes.
#[derive(Debug)]
pub struct MetricsRequest {
    /// The answer.
    pub reply: oneshot::Sender<SipSnapshot>,
}

/// The SIP driver's own counters (connections, ICMP errors), live.
#[derive(Debug, Clone)]
pub struct DriverStats {
    tcp: Option<Arc<TcpStats>>,
    tls: Option<Arc<TcpStats>>,
    icmp: Arc<IcmpStats>,
    /// The replication driver's counters, with `[ha]` on.
    pub ha: Option<Arc<ReplicaCounters>>,
}

impl DriverStats {
    /// The counters of `sockets` (TCP and TLS only when they listen).
    pub fn of(sockets: &Sockets) -> DriverStats {
        DriverStats {
            tcp: (!sockets.tcp.is_empty()).then(|| sockets.tcp_stats()),
            tls: (!sockets.tls.is_empty()).then(|| sockets.tls_stats()),
            icmp: sockets.icmp_stats(),
            ha: None,
        }
    }
}

/// One member as a scrape sees it.
#[derive(Debug, Clone)]
pub struct MemberSample {
    /// Its set's name.
    pub set: String,
    /// Its URI as configured (or registered).
    pub uri: String,
    /// The address it is reached at.
    pub address: String,
    /// Its state.
    pub state: MemberState,
    /// Calls in progress on it.
    pub active_calls: u32,
    /// Its `max_calls`, if any.
    pub max_calls: Option<u32>,
    /// The last probe's round trip, once one was answered.
    pub probe_rtt: Option<Duration>,
    /// Failures in a row now.
    pub consecutive_failures: u32,
    /// Its counters (monotonic while it is a member; a reload keeps them).
    pub counters: MemberCounters,
}

/// The SIP proxy's counters and tables at one instant.
#[derive(Debug, Clone, Default)]
pub struct SipSnapshot {
    /// The proxy's counters.
    pub proxy: ProxyCounters,
    /// The flood guard's counters.
    pub flood: FloodCounters,
    /// Every member.
    pub members: Vec<MemberSample>,
    /// SIP over TCP (when it listens).
    pub tcp: Option<TcpCounters>,
    /// SIP over TLS (when it listens).
    pub tls: Option<TcpCounters>,
    /// ICMP errors on the UDP sockets.
    pub icmp: IcmpCounters,
    /// Server transactions, client transactions, contexts and dialogs held.
    pub tables: [usize; 4],
    /// DNS lookups that failed.
    pub dns_failures: u64,
    /// Dispatcher events dropped (its queue was full).
    pub events_dropped: u64,
    /// Whether the proxy drains.
    pub draining: bool,
    /// HA replication (`[ha]` on): written, fenced, failed pipelines, dropped changes,
    /// connections, re-publishes, epoch.
    pub ha: Option<[u64; 13]>,
}

/// Answers `req` from `proxy`. A requester that gave up is not an error.
pub fn answer(proxy: &Proxy, stats: &DriverStats, req: MetricsRequest) {
    let _ = req.reply.send(snapshot(proxy, stats));
}

/// The snapshot: copies only, linear in the number of members.
pub fn snapshot(proxy: &Proxy, stats: &DriverStats) -> SipSnapshot {
    let d = proxy.dispatcher();
    let members = d
        .snapshot()
        .map(|v| {
            let m = v.member;
            MemberSample {
                set: v.set_name.to_owned(),
                uri: m.uri().to_owned(),
                address: m.target().to_string(),
                state: m.state(),
                active_calls: m.active_calls(),
                max_calls: m.max_calls().map(std::num::NonZeroU32::get),
                probe_rtt: m.probe_rtt(),
                consecutive_failures: m.consecutive_failures(),
                counters: *m.counters(),
            }
        })
        .collect();
    let (server, client, contexts, dialogs) = proxy.sizes();
    SipSnapshot {
        proxy: *proxy.counters(),
        flood: proxy.flood().counters(),
        members,
        tcp: stats.tcp.as_ref().map(|s| s.snapshot()),
        tls: stats.tls.as_ref().map(|s| s.snapshot()),
        icmp: stats.icmp.snapshot(),
        tables: [server, client, contexts, dialogs],
        dns_failures: proxy.dns_failures(),
        events_dropped: d.events_dropped(),
        draining: proxy.is_draining(),
        ha: stats.ha.as_ref().map(|h| {
            [
                &h.written,
                &h.fenced,
                &h.failed,
                &h.dropped,
                &h.connects,
                &h.republished,
                &h.epoch,
                &h.active,
                &h.held,
                &h.adopted,
                &h.adopt_failed,
                &h.lost_to_newer,
                &h.takeovers,
            ]
            .map(|c| c.load(Ordering::Relaxed))
        }),
    }
}

/// Every SIP family of `s`.
pub fn sip_families(s: &SipSnapshot, e: &mut Exposition) {
    traffic(&s.proxy, e);
    refusals(&s.proxy, e);
    anchoring(&s.proxy, e);
    flood(&s.flood, e);
    let streams: Vec<(&str, &TcpCounters)> = [("tcp", &s.tcp), ("tls", &s.tls)]
        .into_iter()
        .filter_map(|(t, c)| c.as_ref().map(|c| (t, c)))
        .collect();
    connections(&streams, e);
    icmp(&s.icmp, e);
    if let Some(h) = &s.ha {
        replication(h, e);
    }
    let mut f = e.gauge(
        "ferrovox_sip_table_entries",
        "Entries held now in each of the SIP proxy's capped tables.",
    );
    let names = [
        "server_transactions",
        "client_transactions",
        "contexts",
        "dialogs",
    ];
    for (t, n) in names.iter().zip(s.tables) {
        f.sample(&[("table", t)], num(n as u64));
    }
    e.gauge(
        "ferrovox_sip_draining",
        "1 while the proxy drains (OPTIONS to it answered 503), else 0.",
    )
    .value(if s.draining { 1.0 } else { 0.0 });
    e.counter(
        "ferrovox_sip_dns_failures_total",
        "DNS lookups for members that failed.",
    )
    .value(num(s.dns_failures));
    e.counter(
        "ferrovox_sip_member_events_dropped_total",
        "Member events dropped because their queue was full.",
    )
    .value(num(s.events_dropped));
    crate::metrics_members::member_families(&s.members, e);
}

/// Requests, responses, calls, failovers, retransmissions.
fn traffic(c: &ProxyCounters, e: &mut Exposition) {
    let t = &c.traffic;
    let methods: Vec<_> = t.requests_by_method().collect();
    e.counter_by(
        "ferrovox_sip_requests_received_total",
        "SIP requests received and parsed, by method (unlisted methods as other).",
        "method",
        &methods,
    );
    let classes: Vec<_> = t.responses_by_class().collect();
    e.counter_by(
        "ferrovox_sip_responses_received_total",
        "SIP responses received and parsed, by class.",
        "class",
        &classes,
    );
    let mut f = e.counter(
        "ferrovox_sip_calls_total",
        "Calls (initial INVITEs) by result: answered (2xx from a member) or failed upstream \
         with a final response of a class (refused, no route, every member failed, cancelled).",
    );
    f.sample(&[("result", "answered")], num(t.calls_answered));
    for (class, n) in proxy::CLASSES.iter().zip(t.calls_failed).skip(2) {
        f.sample(&[("result", &format!("failed_{class}"))], num(n));
    }
    e.counter(
        "ferrovox_sip_calls_routed_total",
        "New calls sent to a member (first attempts).",
    )
    .value(num(c.calls_routed));
    e.counter(
        "ferrovox_sip_failovers_total",
        "Calls retried on another member after a branch failed.",
    )
    .value(num(c.failovers));
    e.counter_by(
        "ferrovox_sip_retransmissions_total",
        "Request retransmissions absorbed by a server transaction, and sent by a client one.",
        "kind",
        &[
            ("absorbed", c.retransmissions_absorbed),
            ("sent", c.retransmissions_sent),
        ],
    );
    e.counter(
        "ferrovox_sip_pinned_requests_total",
        "In-dialog requests forwarded to the member the dialog is pinned to.",
    )
    .value(num(c.pinned));
    e.counter(
        "ferrovox_sip_late_answers_ended_total",
        "Late 2xx from an abandoned branch, ended with ACK and BYE.",
    )
    .value(num(c.late_answers_ended));
}

/// What the proxy dropped unanswered, and what it refused with an error response.
fn refusals(c: &ProxyCounters, e: &mut Exposition) {
    e.counter_by(
        "ferrovox_sip_dropped_total",
        "SIP messages dropped without an answer, by reason.",
        "reason",
        &[
            ("malformed", c.dropped_malformed),
            ("oversized", c.dropped_oversized),
            ("stray_response", c.stray_responses),
            ("response_wrong_source", c.responses_wrong_source),
            ("ack_unmatched", c.ack_unmatched),
        ],
    );
    e.counter_by(
        "ferrovox_sip_refused_total",
        "SIP requests answered with an error by the proxy itself, by reason.",
        "reason",
        &[
            ("bad_request", c.bad_requests),
            ("too_many_hops", c.too_many_hops),
            ("loop", c.loops),
            ("no_route", c.no_route),
            ("all_busy", c.all_busy),
            ("no_member", c.no_member),
            ("route_refused", c.route_refused),
            ("dialog_refused", c.dialog_refused),
            ("register_refused", c.register_refused),
            ("call_id_in_use", c.call_id_in_use),
            ("cancel_unmatched", c.cancel_unmatched),
        ],
    );
    let o = &c.over_capacity;
    e.counter_by(
        "ferrovox_sip_over_capacity_total",
        "SIP requests refused with 503 because a capped table was full, by table.",
        "table",
        &[
            ("server_transactions", o.server_transactions),
            ("client_transactions", o.client_transactions),
            ("contexts", o.contexts),
            ("dialogs", o.dialogs),
            ("registrations", o.registrations),
        ],
    );
}

/// The SDP of anchored calls.
fn anchoring(c: &ProxyCounters, e: &mut Exposition) {
    let m = &c.media;
    e.counter_by(
        "ferrovox_sip_anchor_sdp_total",
        "SDP bodies of anchored calls rewritten by the relay, by kind.",
        "kind",
        &[("offer", m.offers), ("answer", m.answers)],
    );
    e.counter_by(
        "ferrovox_sip_anchor_refused_total",
        "Requests of anchored calls refused: 503 with no relay port or session left \
         (overload), 488 for an SDP the relay cannot rewrite (sdp).",
        "reason",
        &[("overload", m.refused_overload), ("sdp", m.refused_sdp)],
    );
    e.counter(
        "ferrovox_sip_anchor_sdp_removed_total",
        "Responses of anchored calls whose SDP could not be rewritten, forwarded without it.",
    )
    .value(num(m.sdp_removed));
    e.counter(
        "ferrovox_sip_anchor_released_total",
        "Media sessions of anchored calls released (BYE, failure, expiry).",
    )
    .value(num(m.released));
    e.counter_by(
        "ferrovox_sip_anchor_calls_ended_total",
        "Anchored calls the relay ended with BYE to both parties, by media timeout.",
        "reason",
        &[
            ("no_rtp", m.timeout_no_rtp),
            ("on_hold", m.timeout_on_hold),
            ("final", m.timeout_final),
        ],
    );
    e.counter(
        "ferrovox_sip_anchor_member_no_rtp_total",
        "Answered anchored calls whose member had sent no RTP at the relay's RTP check.",
    )
    .value(num(m.member_no_rtp));
}

/// The flood guard.
fn flood(f: &FloodCounters, e: &mut Exposition) {
    e.counter_by(
        "ferrovox_sip_flood_dropped_total",
        "SIP messages dropped unread by the flood guard, by reason.",
        "reason",
        &[("rate_limited", f.limited), ("banned", f.banned)],
    );
    e.counter_by(
        "ferrovox_sip_flood_bans_total",
        "Flood guard bans started, expired, and lifted early.",
        "event",
        &[
            ("started", f.bans_started),
            ("expired", f.bans_expired),
            ("lifted", f.bans_lifted),
        ],
    );
    e.counter(
        "ferrovox_sip_flood_evicted_total",
        "Flood guard sources forgotten to make room for new ones.",
    )
    .value(num(f.evicted));
    e.counter(
        "ferrovox_sip_flood_not_sent_total",
        "Messages not sent because their destination was banned.",
    )
    .value(num(f.not_sent));
    let mut g = e.gauge(
        "ferrovox_sip_flood_sources",
        "Sources the flood guard tracks now, and of them banned now.",
    );
    g.sample(&[("kind", "tracked")], num(f.tracked));
    g.sample(&[("kind", "banned")], num(f.banned_now));
}

/// SIP over TCP and TLS: one sample per transport that listens.
fn connections(list: &[(&str, &TcpCounters)], e: &mut Exposition) {
    if list.is_empty() {
        return;
    }
    let mut f = e.gauge(
        "ferrovox_sip_connections_open",
        "SIP stream connections open now, accepted and outbound, by transport.",
    );
    for (t, c) in list {
        f.sample(&[("transport", t)], num(c.open));
    }
    let mut f = e.counter(
        "ferrovox_sip_connections_total",
        "SIP stream connections accepted and kept, and made outbound, by transport.",
    );
    for (t, c) in list {
        f.sample(
            &[("transport", t), ("direction", "accepted")],
            num(c.accepted),
        );
        f.sample(
            &[("transport", t), ("direction", "outbound")],
            num(c.connected),
        );
    }
    let mut f = e.counter(
        "ferrovox_sip_connections_refused_total",
        "SIP stream connections refused at a cap (in all, per source, outbound), or failed \
         (connect failed or timed out, TLS handshake, accept error), by transport and reason.",
    );
    for (t, c) in list {
        for (r, n) in [
            ("max_connections", c.refused_total),
            ("max_per_source", c.refused_source),
            ("outbound_max_connections", c.outbound_refused),
            ("connect_failed", c.connect_failed),
            ("connect_timeout", c.connect_timeout),
            ("tls_handshake", c.tls_handshake),
            ("accept_error", c.accept_errors),
        ] {
            f.sample(&[("transport", t), ("reason", r)], num(n));
        }
    }
    let mut f = e.counter(
        "ferrovox_sip_connections_closed_total",
        "SIP stream connections closed, by transport and reason.",
    );
    for (t, c) in list {
        for (r, n) in [
            ("peer_closed", c.peer_closed),
            ("read_error", c.read_error),
            ("write_error", c.write_error),
            ("idle", c.idle),
            ("message_timeout", c.message_timeout),
            ("too_large", c.too_large),
            ("framing", c.framing),
            ("write_backlog", c.write_backlog),
        ] {
            f.sample(&[("transport", t), ("reason", r)], num(n));
        }
    }
}

/// ICMP errors on the SIP UDP sockets.
fn icmp(c: &IcmpCounters, e: &mut Exposition) {
    e.counter_by(
        "ferrovox_sip_icmp_errors_total",
        "ICMP errors read on the SIP UDP sockets, by kind.",
        "kind",
        &[
            ("port_unreachable", c.port_unreachable),
            ("host_unreachable", c.host_unreachable),
            ("other", c.other),
        ],
    );
    e.counter_by(
        "ferrovox_sip_icmp_unreachable_total",
        "Destination-unreachable errors taken as a transport error for a request in flight \
         (taken), or not matching one (ignored).",
        "verdict",
        &[("taken", c.taken), ("ignored", c.ignored)],
    );
}

/// HA replication's families (`[ha]` on).
fn replication(h: &[u64; 13], e: &mut Exposition) {
    let [written, fenced, failed, dropped, connects, republished, epoch, ..] = *h;
    e.counter_by(
        "ferrovox_ha_writes_total",
        "Call changes sent to Redis: applied (written), or refused by the fencing scripts because \
         a newer stamp was stored (fenced).",
        "result",
        &[("written", written), ("fenced", fenced)],
    );
    let one = |e: &mut Exposition, name: &str, help: &str, v: u64| {
        e.counter(name, help).sample(&[], num(v));
    };
    one(
        e,
        "ferrovox_ha_failed_pipelines_total",
        "Pipelines to Redis that failed (unreachable, timed out, in error).",
        failed,
    );
    one(
        e,
        "ferrovox_ha_dropped_changes_total",
        "Call changes dropped on a full queue or beyond max_pending (a full re-publish follows).",
        dropped,
    );
    one(
        e,
        "ferrovox_ha_connections_total",
        "Connections made to Redis.",
        connects,
    );
    one(
        e,
        "ferrovox_ha_republished_total",
        "Full re-publishes of every call (after Redis came back).",
        republished,
    );
    e.gauge(
        "ferrovox_ha_epoch",
        "The epoch this node writes with (0 until it was first active).",
    )
    .sample(&[], num(epoch));
    roles(h, e);
}

/// HA roles' families: the role, the calls held, adoptions and takeovers.
fn roles(h: &[u64; 13], e: &mut Exposition) {
    let [.., active, held, adopted, adopt_failed, lost, takeovers] = *h;
    e.gauge(
        "ferrovox_ha_active",
        "1 while this node is the active one, 0 while it is a standby.",
    )
    .sample(&[], num(active));
    e.gauge(
        "ferrovox_ha_calls",
        "Replicated calls held: adopted from the active (a standby), or written (active).",
    )
    .sample(&[], num(held));
    e.counter_by(
        "ferrovox_ha_records_total",
        "Records of the active's calls a standby took in (adopted), or could not hold in full \
         (failed: ports not free, layouts differ).",
        "result",
        &[("adopted", adopted), ("failed", adopt_failed)],
    );
    e.counter(
        "ferrovox_ha_lost_to_newer_epoch_total",
        "Calls whose copy here was dropped because a node active in a newer epoch owns them.",
    )
    .sample(&[], num(lost));
    e.counter(
        "ferrovox_ha_takeovers_total",
        "Promotions of this node from standby to active.",
    )
    .sample(&[], num(takeovers));
}

#[cfg(test)]
#[path = "metrics_driver_tests.rs"]
mod tests;
