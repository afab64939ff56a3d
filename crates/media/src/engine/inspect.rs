//! What the admin socket sees of an anchored call's media: its legs, and per stream the
//! owning worker, the relay ports and (gathered from the workers, asynchronously) the latched
//! sources and packet counts. The stats arrive as worker events on the ng thread; the view
//! goes to a callback, so whoever asked never holds the engine while the workers answer.

use super::{anchor_key, Engine, Purpose};
use crate::call::{Call, CallState, CallStats};
use dataplane::{IdleReason, StreamStats};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Where the view of an inspected call goes once the workers answered (or after the stats
/// wait): called once, on the thread that runs the engine's events.
pub type InspectSink = Box<dyn FnOnce(MediaView) + Send>;

/// A sink in a pending request (it has no `Debug` of its own).
pub(super) struct Sink(pub(super) InspectSink);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

/// An anchored call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaView {
    /// `offered` (no answer yet) or `answered`.
    pub state: &'static str,
    /// Time since its first offer.
    pub age: Duration,
    /// The offerer's leg first.
    pub legs: [MediaLeg; 2],
    /// One per m-line with relay ports, in m-line order.
    pub streams: Vec<MediaStream>,
    /// The workers run on the DPDK fast path.
    pub fastpath: bool,
}

/// One leg of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLeg {
    /// Its SIP tag, once known.
    pub tag: Option<String>,
    /// The relay interface its ports are on.
    pub interface: String,
}

/// What one leg's SDP said for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteView {
    /// Its RTP address (`None`: not known yet, or a hold address).
    pub rtp: Option<SocketAddr>,
    /// Its RTCP port.
    pub rtcp_port: u16,
    /// On hold (sendonly, inactive or a zero address).
    pub hold: bool,
    /// The RTP clock rate of its first format.
    pub clock_rate: u32,
}

/// One m-line's relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStream {
    /// The m-line's index (from 0).
    pub index: usize,
    /// Its media type (audio, video...).
    pub media: String,
    /// The worker that owns its ports.
    pub worker: usize,
    /// The RTP relay port facing each leg (RTCP on the next one unless `mux`).
    pub ports: [u16; 2],
    /// rtcp-mux toward each leg.
    pub mux: [bool; 2],
    /// The relay address each leg was told in SDP (its interface's advertised address).
    pub relay: [IpAddr; 2],
    /// What each leg's own SDP said.
    pub remote: [RemoteView; 2],
    /// Why its worker reports it idle, if it does.
    pub idle: Option<&'static str>,
    /// What each leg's port received, from the worker (`None`: not asked, or no answer in
    /// time).
    pub stats: Option<[StreamStats; 2]>,
}

fn idle_name(r: IdleReason) -> &'static str {
    match r {
        IdleReason::NoRtp => "no_rtp",
        IdleReason::OnHold => "on_hold",
    }
}

impl Engine {
    /// The media of anchored call `call_id` as held now, without worker stats.
    pub fn anchored_view(&self, now: Instant, call_id: &[u8]) -> Option<MediaView> {
        let call = self.calls.get(&anchor_key(call_id))?;
        Some(self.view_of(now, call, &CallStats::default()))
    }

    /// Asks the workers for the stats of anchored call `call_id`'s streams; `sink` gets the
    /// view once they answered (at most the stats wait later). `false` (and `sink` dropped,
    /// never called) when the call is not held.
    pub fn inspect_anchored(&mut self, now: Instant, call_id: &[u8], sink: InspectSink) -> bool {
        let Some(call) = self.calls.get(&anchor_key(call_id)).cloned() else {
            return false;
        };
        self.gather(now, Purpose::Inspect(Sink(sink)), call);
        true
    }

    /// Every worker's counters as last published, by worker index.
    pub fn worker_counters(&self) -> Vec<dataplane::WorkerCounters> {
        self.shared.iter().map(|s| s.read()).collect()
    }

    /// Whether the workers run on the DPDK fast path.
    pub fn fastpath(&self) -> bool {
        self.cfg.fastpath
    }

    /// The gathered stats of an inspected call, to its sink.
    pub(super) fn inspected(&self, now: Instant, call: &Call, stats: &CallStats, sink: Sink) {
        (sink.0)(self.view_of(now, call, stats));
    }

    fn view_of(&self, now: Instant, call: &Call, stats: &CallStats) -> MediaView {
        // A leg's interface: where its ports are (its configured name before it has any).
        let first = call.live_pairs().next();
        let interface = |l: usize| match first {
            Some(p) => self
                .cfg
                .interfaces
                .get(usize::from(p.keys[l].addr))
                .map_or(String::new(), |i| i.name.clone()),
            None => self
                .names
                .get(call.legs[l].iface)
                .cloned()
                .unwrap_or_default(),
        };
        let legs = [0, 1].map(|l| MediaLeg {
            tag: call.legs[l]
                .tag
                .as_ref()
                .map(|t| String::from_utf8_lossy(t).into_owned()),
            interface: interface(l),
        });
        let streams = call
            .pairs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)))
            .map(|(i, p)| MediaStream {
                index: i,
                media: p.media.clone(),
                worker: p.worker,
                ports: [p.keys[0].port, p.keys[1].port],
                mux: p.mux,
                relay: [0, 1].map(|l| {
                    self.sdp_addr(p.keys[l].addr)
                        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
                }),
                remote: p.remote.map(|r| RemoteView {
                    rtp: (r.rtp != wire::Endpoint::UNSET).then(|| r.rtp.to_socket_addr()),
                    rtcp_port: r.rtcp_port,
                    hold: r.hold,
                    clock_rate: r.clock_rate,
                }),
                idle: p.idle.map(idle_name),
                stats: stats.pairs.get(i).copied().flatten(),
            })
            .collect::<Vec<_>>();
        MediaView {
            state: match call.state {
                CallState::Offered => "offered",
                CallState::Answered => "answered",
            },
            age: now.saturating_duration_since(call.created),
            legs,
            streams,
            fastpath: self.cfg.fastpath,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;
    use crate::SdpExchange;
    use dataplane::{FlowCommand, FlowEvent, SharedCounters};
    use std::sync::{Arc, Mutex};

    const SDP: &[u8] = b"v=0\r\no=a 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\n\
        t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

    fn exchange<'a>(offerer: &'a [u8], answerer: Option<&'a [u8]>) -> SdpExchange<'a> {
        SdpExchange {
            call_id: b"c1@host",
            offerer_tag: offerer,
            answerer_tag: answerer,
            sdp: SDP,
            interfaces: ["external", "external"],
        }
    }

    #[test]
    fn an_inspection_reports_the_workers_stats_to_its_sink() {
        let shared = vec![Arc::new(SharedCounters::default())];
        let mut e = crate::engine::report::tests::engine(true, shared);
        let now = Instant::now();
        e.anchor_offer(now, &exchange(b"a", None)).unwrap();
        e.anchor_answer(now, &exchange(b"a", Some(b"b"))).unwrap();
        while e.poll_command().is_some() {}
        let view = e.anchored_view(now, b"c1@host").unwrap();
        assert_eq!(view.state, "answered");
        assert_eq!(view.legs[1].tag.as_deref(), Some("b"));
        assert_eq!(view.legs[0].interface, "external");
        assert_eq!((view.streams.len(), view.streams[0].stats), (1, None));

        let got: Arc<Mutex<Option<MediaView>>> = Arc::default();
        let into = got.clone();
        let sink = Box::new(move |v| *into.lock().unwrap() = Some(v));
        assert!(!e.inspect_anchored(now, b"nope", Box::new(|_| panic!("called"))));
        assert!(e.inspect_anchored(now, b"c1@host", sink));
        let Some((w, FlowCommand::Query { token, .. })) = e.poll_command() else {
            panic!("a query to the owning worker")
        };
        assert!(
            got.lock().unwrap().is_none(),
            "not before the worker answers"
        );
        let stats = StreamStats {
            rtp_packets: 50,
            latched: true,
            ..StreamStats::default()
        };
        e.handle_event(
            now,
            w,
            FlowEvent::Stats {
                token,
                pair: Some([stats; 2]),
            },
        );
        let v = got.lock().unwrap().take().expect("the sink got the view");
        let s = &v.streams[0];
        assert_eq!((s.worker, v.fastpath), (w, true));
        assert_eq!(s.stats.unwrap()[1].rtp_packets, 50);
        assert_eq!(s.ports, view.streams[0].ports);
    }
}
