//! Reply bodies of `query`, `delete`, `list` and `statistics`, in rtpengine's shape.

use super::{Engine, Interface};
use crate::call::{Call, CallStats};
use dataplane::{DropReason, StreamStats, WorkerCounters};
use ng::bencode::{DictBuilder, OwnedValue};
use ng::Request;
use std::time::Duration;
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

/// The `query`/`delete` reply for `call` with the stats gathered from the workers.
pub(super) fn call_reply(
    call: &Call,
    stats: &CallStats,
    now: Duration,
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
        .with("created", int(call.created.as_secs()))
        .with("created_us", int(call.created.as_micros() as u64))
        .with("last signal", int(call.last_signal.as_secs()))
        .with(
            "duration_ms",
            int(now.saturating_sub(call.created).as_millis() as u64),
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

    /// ng `statistics`: current sessions and ports, control and data-plane counters.
    pub(super) fn statistics(&self) -> OwnedValue {
        let mut total = WorkerCounters::default();
        for s in &self.shared {
            total.add(&s.read());
        }
        let mut drops = DictBuilder::new();
        for r in DropReason::ALL {
            drops.set(r.name(), int(total.drops_of(r)));
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
            .with("drops", drops.build())
            .build();
        DictBuilder::new()
            .with("result", "ok")
            .with("currentstatistics", current)
            .with("totalstatistics", totals)
            .build()
    }
}
