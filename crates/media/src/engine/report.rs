//! Reply bodies of `query`, `delete`, `list` and `statistics`, in rtpengine's shape.

use super::{Engine, Interface};
use crate::call::{Call, CallStats};
use crate::guard::GuardCounters;
use dataplane::{DropReason, StreamStats, WorkerCounters};
use ng::bencode::{DictBuilder, OwnedValue};
use ng::Request;
use std::time::Instant;
use wire::Endpoint;

fn int(v: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn endpoint(e: &Endpoint) -> OwnedValue {
    if e.is_unset() {
        return DictBuilder::new().build();
    }
    DictBuilder::new()
        .with("family", if e.is_v4() { "IPv4" } else { "IPv6" })
        .with("address", e.ip_addr().to_string())
        .with("port", u32::from(e.port))
        .build()
}

fn counts(packets: u64, bytes: u64, errors: u64) -> OwnedValue {
    DictBuilder::new()
        .with("packets", int(packets))
        .with("bytes", int(bytes))
        .with("errors", int(errors))
        .build()
}

/// One leg's RTP and RTCP streams of one m-line.
fn streams(s: &StreamStats, local_port: u16) -> OwnedValue {
    let mut rtp = DictBuilder::new()
        .with("local port", u32::from(local_port))
        .with("endpoint", endpoint(&s.rtp_peer))
        .with("stats", counts(s.rtp_packets, s.rtp_bytes, s.drops))
        .with("SSRC", s.ssrc)
        .with("SSRC changes", s.ssrc_changes)
        .with("packets lost", OwnedValue::Int(s.lost))
        .with("jitter", s.jitter)
        .with(
            "flags",
            OwnedValue::str_list(if s.latched {
                vec!["RTP", "confirmed"]
            } else {
                vec!["RTP"]
            }),
        );
    if let Some(ms) = s.last_rtp_ms {
        rtp.set("last packet ms", ms);
    }
    let rtcp = DictBuilder::new()
        .with("local port", u32::from(local_port | 1))
        .with("endpoint", endpoint(&s.rtcp_peer))
        .with("stats", counts(s.rtcp_packets, s.rtcp_bytes, 0))
        .with("flags", OwnedValue::str_list(["RTCP"]));
    OwnedValue::List(vec![rtp.build(), rtcp.build()])
}

/// Time from the clock origin to `t` (zero for a time before it).
fn since(epoch: Instant, t: Instant) -> std::time::Duration {
    t.saturating_duration_since(epoch)
}

/// The `query`/`delete` reply for `call` with the stats gathered from the workers.
pub(super) fn call_reply(
    call: &Call,
    stats: &CallStats,
    (epoch, now): (Instant, Instant),
    ifaces: &[Interface],
) -> OwnedValue {
    let mut tags = DictBuilder::new();
    let (mut rtp, mut rtcp) = ((0u64, 0u64, 0u64), (0u64, 0u64));
    for leg in 0..2 {
        let tag = call.legs[leg].tag.clone().unwrap_or_default();
        let mut medias = Vec::new();
        for (i, pair) in call.pairs.iter().enumerate() {
            let Some(p) = pair else { continue };
            let s = stats
                .pairs
                .get(i)
                .copied()
                .flatten()
                .map(|x| x[leg])
                .unwrap_or_default();
            rtp = (rtp.0 + s.rtp_packets, rtp.1 + s.rtp_bytes, rtp.2 + s.drops);
            rtcp = (rtcp.0 + s.rtcp_packets, rtcp.1 + s.rtcp_bytes);
            let iface = ifaces
                .get(usize::from(p.keys[leg].addr))
                .map(|i| i.name.as_str())
                .unwrap_or("");
            medias.push(
                DictBuilder::new()
                    .with("index", (i + 1) as u32)
                    .with("type", p.media.as_str())
                    .with("interface", iface)
                    .with("streams", streams(&s, p.keys[leg].port))
                    .with(
                        "flags",
                        OwnedValue::str_list(if p.mux[leg] { vec!["rtcp-mux"] } else { vec![] }),
                    )
                    .build(),
            );
        }
        let other = call.legs[1 - leg].tag.clone().unwrap_or_default();
        tags.set(
            tag.clone(),
            DictBuilder::new()
                .with("tag", tag)
                .with("in dialogue with", other)
                .with("medias", OwnedValue::List(medias))
                .build(),
        );
    }
    DictBuilder::new()
        .with("result", "ok")
        .with("created", int(since(epoch, call.created).as_secs()))
        .with(
            "created_us",
            int(since(epoch, call.created).as_micros() as u64),
        )
        .with("last signal", int(since(epoch, call.last_signal).as_secs()))
        .with(
            "duration_ms",
            int(now.saturating_duration_since(call.created).as_millis() as u64),
        )
        .with(
            "totals",
            DictBuilder::new()
                .with("RTP", counts(rtp.0, rtp.1, rtp.2))
                .with("RTCP", counts(rtcp.0, rtcp.1, 0))
                .build(),
        )
        .with("tags", tags.build())
        .build()
}

impl Engine {
    /// ng `list`: call-ids, at most `limit` (default 32).
    pub(super) fn list(&self, req: &Request<'_>) -> OwnedValue {
        let limit = req.limit.map_or(32, |l| l as usize);
        let mut ids: Vec<&Vec<u8>> = self.calls.keys().collect();
        ids.sort();
        let calls = ids
            .into_iter()
            .take(limit)
            .map(|c| OwnedValue::Bytes(c.clone()))
            .collect();
        DictBuilder::new()
            .with("result", "ok")
            .with("calls", OwnedValue::List(calls))
            .build()
    }

    /// ng `statistics`: current sessions and ports, control and data-plane counters (totals
    /// and per worker), and whether the workers run on the DPDK fast path.
    pub(super) fn statistics(&self) -> OwnedValue {
        let mut total = WorkerCounters::default();
        let mut workers = Vec::with_capacity(self.shared.len());
        for (w, s) in self.shared.iter().enumerate() {
            let c = s.read();
            total.add(&c);
            workers.push(worker_stats(w, &c));
        }
        let mut ended = DictBuilder::new();
        let mut reasons: Vec<_> = self.counters.ended.iter().collect();
        reasons.sort();
        for (k, v) in reasons {
            ended.set(*k, int(*v));
        }
        let current = DictBuilder::new()
            .with("sessionsown", int(self.calls.len() as u64))
            .with("sessionsforeign", 0u32)
            .with("sessionstotal", int(self.calls.len() as u64))
            .with("transcodedmedia", 0u32)
            .with("portpairsinuse", int(self.alloc.used_total() as u64))
            .build();
        let totals = DictBuilder::new()
            .with("managedsessions", int(self.counters.created))
            .with("deletedsessions", int(self.counters.deleted))
            .with("endedsessions", ended.build())
            .with("errors", int(self.counters.errors))
            .with("portexhaustion", int(self.counters.port_exhausted))
            .with("packetsrelayed", int(total.forwarded))
            .with("packetsreceived", int(total.rx))
            .with("drops", drop_counts(&total))
            .with("ngdatagrams", guard_counts(&self.counters.guard))
            .build();
        DictBuilder::new()
            .with("result", "ok")
            .with("fastpath", u32::from(self.cfg.fastpath))
            .with("currentstatistics", current)
            .with("totalstatistics", totals)
            .with("workerstatistics", OwnedValue::List(workers))
            .build()
    }
}

/// ng datagrams by the source check's verdict: passed on, refused by the allow-list, over
/// the source's rate (Ferrovox's own keys; rtpengine has no such check).
fn guard_counts(c: &GuardCounters) -> OwnedValue {
    DictBuilder::new()
        .with("allowed", int(c.allowed))
        .with("notallowed", int(c.not_allowed))
        .with("ratelimited", int(c.rate_limited))
        .build()
}

/// Drops by reason, one key per [`DropReason`].
fn drop_counts(c: &WorkerCounters) -> OwnedValue {
    let mut drops = DictBuilder::new();
    for r in DropReason::ALL {
        drops.set(r.name(), int(c.drops_of(r)));
    }
    drops.build()
}

/// One worker's counters as last published: what it received and relayed on the ports it
/// owns, what its backend sent, and its drops by reason.
fn worker_stats(w: usize, c: &WorkerCounters) -> OwnedValue {
    DictBuilder::new()
        .with("worker", int(w as u64))
        .with("packetsreceived", int(c.rx))
        .with("packetsrelayed", int(c.forwarded))
        .with("packetssent", int(c.tx))
        .with("sendfailures", int(c.tx_failed))
        .with("streams", int(c.streams))
        .with("drops", drop_counts(c))
        .build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
pub(super) mod tests {
    use super::*;
    use crate::{EngineConfig, VirtualBinder};
    use dataplane::{AddrRange, LatchMode, PortLayout, SharedCounters};
    use std::sync::Arc;
    use std::time::Duration;

    /// An engine on one interface (10.0.0.1, ports 30000-30009) over the workers' `shared`
    /// counters (the `tune` tests use it too).
    pub(in crate::engine) fn engine(fastpath: bool, shared: Vec<Arc<SharedCounters>>) -> Engine {
        let cfg = EngineConfig {
            interfaces: vec![Interface {
                name: "external".into(),
                address: [10, 0, 0, 1].into(),
                advertised: None,
            }],
            latching: LatchMode::Heuristic,
            strict_source: false,
            offer_timeout: Duration::from_secs(60),
            final_timeout: None,
            delete_delay: Duration::ZERO,
            rtp_check: None,
            max_sessions: 0,
            cookie_ttl: Duration::from_secs(30),
            guard: crate::GuardConfig::loopback(),
            fastpath,
            epoch: Instant::now(),
        };
        let ranges = vec![AddrRange {
            port_min: 30000,
            port_max: 30009,
        }];
        let layout = Arc::new(PortLayout::new(ranges, shared.len().max(1)).unwrap());
        Engine::new(cfg, layout, Box::new(VirtualBinder), shared)
    }

    fn int_of(v: &OwnedValue, path: &[&str]) -> i64 {
        path.iter()
            .try_fold(v, |v, k| v.get(k))
            .and_then(OwnedValue::as_int)
            .unwrap_or_else(|| panic!("no integer at {path:?} in {v:?}"))
    }

    #[test]
    fn statistics_report_every_worker_and_the_fast_path_flag() {
        let shared = vec![
            Arc::new(SharedCounters::default()),
            Arc::new(SharedCounters::default()),
        ];
        let mut c0 = WorkerCounters {
            rx: 10,
            forwarded: 9,
            tx: 9,
            streams: 4,
            ..WorkerCounters::default()
        };
        c0.drop(DropReason::UnknownPort);
        let mut c1 = WorkerCounters {
            rx: 5,
            forwarded: 3,
            tx: 2,
            tx_failed: 1,
            ..WorkerCounters::default()
        };
        c1.drop(DropReason::NotOwner);
        c1.drop(DropReason::NotOwner);
        shared[0].publish(&c0);
        shared[1].publish(&c1);
        let r = engine(true, shared).statistics();
        assert_eq!(int_of(&r, &["fastpath"]), 1);
        assert_eq!(int_of(&r, &["totalstatistics", "packetsreceived"]), 15);
        assert_eq!(int_of(&r, &["totalstatistics", "packetsrelayed"]), 12);
        assert_eq!(int_of(&r, &["totalstatistics", "drops", "not_owner"]), 2);
        let workers = r
            .get("workerstatistics")
            .and_then(OwnedValue::as_list)
            .unwrap();
        assert_eq!(workers.len(), 2);
        let (w0, w1) = (&workers[0], &workers[1]);
        assert_eq!(
            [
                int_of(w0, &["worker"]),
                int_of(w0, &["packetsreceived"]),
                int_of(w0, &["packetsrelayed"]),
                int_of(w0, &["packetssent"]),
                int_of(w0, &["sendfailures"]),
                int_of(w0, &["streams"]),
                int_of(w0, &["drops", "unknown_port"]),
                int_of(w0, &["drops", "not_owner"]),
            ],
            [0, 10, 9, 9, 0, 4, 1, 0]
        );
        assert_eq!(
            [
                int_of(w1, &["worker"]),
                int_of(w1, &["packetsreceived"]),
                int_of(w1, &["packetsrelayed"]),
                int_of(w1, &["packetssent"]),
                int_of(w1, &["sendfailures"]),
                int_of(w1, &["drops", "unknown_port"]),
                int_of(w1, &["drops", "not_owner"]),
            ],
            [1, 5, 3, 2, 1, 0, 2]
        );
        for reason in DropReason::ALL {
            assert!(w0.get("drops").and_then(|d| d.get(reason.name())).is_some());
        }
    }

    #[test]
    fn statistics_say_when_the_fast_path_is_off() {
        let shared = vec![Arc::new(SharedCounters::default())];
        let r = engine(false, shared).statistics();
        assert_eq!(int_of(&r, &["fastpath"]), 0);
        let workers = r
            .get("workerstatistics")
            .and_then(OwnedValue::as_list)
            .unwrap();
        assert_eq!(workers.len(), 1);
        assert_eq!(int_of(&workers[0], &["packetsreceived"]), 0);
    }
}
