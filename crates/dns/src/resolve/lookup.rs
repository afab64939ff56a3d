//! The [`Lookup`] state machine: which queries RFC 3263 §4 asks, in which order.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng as _;

use super::chain::{Chain, Ctx, Outcome};
use super::plan::{
    clamp_ttl, fallback_candidates, naptr_candidates, numeric_host, record_ip, srv_candidate,
    srv_targets, usable_srvs, Candidate,
};
use super::{
    LookupOptions, LookupSpec, LookupStats, ResolveError, ResolveErrorKind, Resolved, Target,
    Transmit, Transport,
};
use crate::name::Name;
use crate::wire::{parse_message, Record, RecordType, Srv};

/// Progress through the SRV names to try.
struct SrvWalk {
    cands: Vec<Candidate>,
    idx: usize,
    /// The names came from NAPTR records (so there is no A/AAAA fallback, RFC 3263 §4.1).
    from_naptr: bool,
    /// Some SRV record set was found (so there is no A/AAAA fallback, RFC 3263 §4.2).
    found_any: bool,
    /// The last query failure met on the way.
    failure: Option<ResolveErrorKind>,
    /// Least negative-caching TTL met on the way.
    neg_ttl: Option<u32>,
}

/// The SRV record set being resolved to addresses.
struct SrvSet {
    srvs: Vec<Srv>,
    ttl: u32,
    /// Addresses already known, from additional sections: (target, address, TTL).
    hinted: Vec<(Name, IpAddr, u32)>,
}

/// Which step of RFC 3263 §4 the lookup is at; the chains of `Lookup` belong to it.
enum Stage {
    /// NAPTR query for the host (§4.1).
    Naptr,
    /// SRV query for the current candidate (§4.1, §4.2).
    Srv(SrvWalk),
    /// A/AAAA queries for SRV targets not in the additional section (§4.2).
    SrvTargets(SrvWalk, SrvSet),
    /// A/AAAA queries for the host itself (§4.2).
    Host { port: u16, transport: Transport },
    /// Finished; `result` is set.
    Done,
}

/// Locates the SIP servers for one URI host (RFC 3263 §4), sans-IO.
///
/// The order of steps: a numeric host gives its address at once; an explicit port leads
/// straight to A/AAAA (§4.2); a transport parameter without a port leads to the SRV name of
/// that transport; otherwise NAPTR (§4.1), then SRV for each followed NAPTR record (the first
/// one that yields an address wins), else the `_sip._udp`/`_sip._tcp` (or `_sips._tcp`) SRV
/// names, else A/AAAA of the host on the default port. SRV targets are taken from the
/// additional section when there, else asked with A/AAAA queries.
pub struct Lookup {
    ctx: Ctx,
    host: Option<Name>,
    secure: bool,
    /// The transport to use without NAPTR/SRV information (RFC 3263 §4.1).
    transport: Transport,
    stage: Stage,
    chains: Vec<Chain>,
    /// Least TTL of the records used so far.
    ttl: Option<u32>,
    result: Option<Result<Resolved, ResolveError>>,
}

impl Lookup {
    /// Starts locating `spec` using `servers` (tried in order). `id_seed` keys the generator
    /// of its query IDs: 32 bytes the caller draws from a cryptographically secure source
    /// (RFC 5452 §9.2), fixed only in tests. The first queries are ready from [`Lookup::poll_transmit`];
    /// a numeric host or invalid input gives a [`Lookup::result`] at once.
    pub fn new(
        spec: &LookupSpec,
        servers: &[SocketAddr],
        opts: LookupOptions,
        now: Instant,
        id_seed: [u8; 32],
    ) -> Self {
        let ctx = Ctx {
            servers: servers.to_vec(),
            opts,
            rng: StdRng::from_seed(id_seed),
            stats: LookupStats::default(),
            queries_started: 0,
            hints: Vec::new(),
        };
        // RFC 3263 §4.1: without a transport parameter, UDP for SIP and TLS (over TCP) for
        // SIPS; a SIPS URI's TCP means TLS.
        let transport = match (spec.transport, spec.secure) {
            (None, false) => Transport::Udp,
            (None, true) | (Some(Transport::Tcp | Transport::Tls), true) => Transport::Tls,
            (Some(t), _) => t,
        };
        let mut lookup = Lookup {
            ctx,
            host: None,
            secure: spec.secure,
            transport,
            stage: Stage::Done,
            chains: Vec::new(),
            ttl: None,
            result: None,
        };
        if spec.secure && spec.transport == Some(Transport::Udp) {
            lookup.finish_err(ResolveErrorKind::SecureOverUdp, None, now);
            return lookup;
        }
        if let Some(ip) = numeric_host(&spec.host) {
            // RFC 3263 §4.2: a numeric host is contacted at its port (or the default).
            let port = spec.port.unwrap_or(transport.default_port());
            let target = Target {
                addr: SocketAddr::new(ip, port),
                transport,
                priority: 0,
                weight: 0,
            };
            lookup.finish_ok(vec![target], now);
            return lookup;
        }
        let host = match Name::parse(&spec.host) {
            Ok(h) if !h.is_root() => h,
            _ => {
                lookup.finish_err(ResolveErrorKind::InvalidHost, None, now);
                return lookup;
            }
        };
        if servers.is_empty() {
            lookup.finish_err(ResolveErrorKind::NoServers, None, now);
            return lookup;
        }
        lookup.host = Some(host.clone());
        lookup.stage = lookup.first_stage(spec, host, now);
        lookup.drive(now);
        lookup
    }

    /// Where the lookup of `host` starts (RFC 3263 §4.1, §4.2): its A/AAAA with an explicit
    /// port, the SRV name of a given transport, else its NAPTR.
    fn first_stage(&mut self, spec: &LookupSpec, host: Name, now: Instant) -> Stage {
        if let Some(port) = spec.port {
            return self.enter_host(&host, port, now);
        }
        if spec.transport.is_some() {
            let walk = SrvWalk {
                cands: srv_candidate(&host, self.transport).into_iter().collect(),
                idx: 0,
                from_naptr: false,
                found_any: false,
                failure: None,
                neg_ttl: None,
            };
            return self.enter_srv(walk, now);
        }
        self.chains
            .push(Chain::start(host, RecordType::NAPTR, 0, &mut self.ctx, now));
        Stage::Naptr
    }

    /// The next query to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let ctx = &mut self.ctx;
        self.chains.iter_mut().find_map(|c| c.poll_transmit(ctx))
    }

    /// Feeds a DNS message received from `from` (over UDP, or a TCP message without its
    /// length prefix). Anything that does not answer a query in flight is counted and ignored.
    pub fn handle_response(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        if self.result.is_some() {
            return;
        }
        let Ok(msg) = parse_message(data) else {
            self.ctx.stats.malformed += 1;
            return;
        };
        let Some(chain) = self.chains.iter_mut().find(|c| c.matches(from, &msg)) else {
            self.ctx.stats.mismatched += 1;
            return;
        };
        chain.handle_response(&msg, &mut self.ctx, now);
        self.drive(now);
    }

    /// When [`Lookup::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.chains.iter().filter_map(Chain::deadline).min()
    }

    /// Handles the passage of time: tries past their deadline move to the next server.
    pub fn handle_timeout(&mut self, now: Instant) {
        for chain in &mut self.chains {
            chain.handle_timeout(&mut self.ctx, now);
        }
        self.drive(now);
    }

    /// The outcome, once the lookup has finished.
    pub fn result(&self) -> Option<&Result<Resolved, ResolveError>> {
        self.result.as_ref()
    }

    /// Whether the lookup has finished.
    pub fn is_done(&self) -> bool {
        self.result.is_some()
    }

    /// Counters: queries sent, timeouts, ignored responses.
    pub fn stats(&self) -> LookupStats {
        self.ctx.stats
    }

    /// Advances through the stages while the current one has finished.
    fn drive(&mut self, now: Instant) {
        // Each pass either waits for a chain or consumes a stage; stages move forward through
        // a bounded list of candidates, so this ends, and the bound is a second guard.
        for _ in 0..=4 * super::plan::MAX_CANDIDATES + 8 {
            if self.result.is_some() || self.chains.iter().any(|c| c.outcome().is_none()) {
                return;
            }
            let stage = std::mem::replace(&mut self.stage, Stage::Done);
            let chains = std::mem::take(&mut self.chains);
            self.stage = self.advance(stage, chains, now);
        }
        if self.result.is_none() {
            self.finish_err(ResolveErrorKind::QueryLimit, None, now);
        }
    }

    /// Consumes a finished stage and its chains; returns the next stage.
    fn advance(&mut self, stage: Stage, chains: Vec<Chain>, now: Instant) -> Stage {
        let Some(host) = self.host.clone() else {
            return Stage::Done;
        };
        match stage {
            Stage::Naptr => self.after_naptr(&host, chains.first().and_then(Chain::outcome), now),
            Stage::Srv(walk) => self.after_srv(walk, chains.first().and_then(Chain::outcome), now),
            Stage::SrvTargets(walk, set) => self.after_srv_targets(walk, &set, &chains, now),
            Stage::Host { port, transport } => self.after_host(port, transport, &chains, now),
            Stage::Done => Stage::Done,
        }
    }

    /// The NAPTR answer for `host` (RFC 3263 §4.1): its SRV candidates, or the fallback.
    fn after_naptr(&mut self, host: &Name, outcome: Option<&Outcome>, now: Instant) -> Stage {
        match outcome {
            Some(Outcome::Records { records, .. }) => {
                let (cands, ttl) = naptr_candidates(records, self.secure);
                if cands.is_empty() {
                    // No NAPTR this client can use: as if there were none (RFC 3263 §4.1).
                    return self.enter_fallback(host, now);
                }
                self.fold_ttl(ttl);
                let walk = SrvWalk {
                    cands,
                    idx: 0,
                    from_naptr: true,
                    found_any: false,
                    failure: None,
                    neg_ttl: None,
                };
                self.enter_srv(walk, now)
            }
            // RFC 8020 §2: NXDOMAIN means nothing exists at or below the name, so the SRV
            // names below it need not be asked.
            Some(Outcome::NxDomain { neg_ttl }) => {
                self.finish_err(ResolveErrorKind::NxDomain, *neg_ttl, now)
            }
            Some(Outcome::NoData { .. }) => self.enter_fallback(host, now),
            Some(Outcome::Failed(kind)) => self.finish_err(*kind, None, now),
            None => self.finish_err(ResolveErrorKind::NoRecords, None, now),
        }
    }

    /// The SRV answer for the walk's current candidate: its targets, or the next candidate.
    fn after_srv(&mut self, mut walk: SrvWalk, outcome: Option<&Outcome>, now: Instant) -> Stage {
        match outcome {
            Some(Outcome::Records { records, ttl }) => {
                walk.found_any = true;
                match self.enter_targets(walk, records, *ttl, now) {
                    Ok(stage) => return stage,
                    Err(back) => walk = back,
                }
            }
            Some(Outcome::NxDomain { neg_ttl } | Outcome::NoData { neg_ttl }) => {
                walk.neg_ttl = min_opt(walk.neg_ttl, *neg_ttl);
            }
            Some(Outcome::Failed(kind)) => walk.failure = Some(*kind),
            None => {}
        }
        walk.idx += 1;
        self.enter_srv(walk, now)
    }

    /// The addresses of an SRV set's targets (hinted or asked): the result, or the next
    /// candidate when none has an address.
    fn after_srv_targets(
        &mut self,
        mut walk: SrvWalk,
        set: &SrvSet,
        chains: &[Chain],
        now: Instant,
    ) -> Stage {
        let transport = walk
            .cands
            .get(walk.idx)
            .map_or(self.transport, |c| c.transport);
        let mut addrs: Vec<(Name, IpAddr)> = Vec::new();
        let mut ttl = set.ttl;
        for (name, ip, t) in &set.hinted {
            addrs.push((name.clone(), *ip));
            ttl = ttl.min(*t);
        }
        for chain in chains {
            match chain.outcome() {
                Some(Outcome::Records { records, ttl: t }) => {
                    let target = set.srvs.get(chain.tag).map(|s| s.target.clone());
                    let Some(target) = target else { continue };
                    addrs.extend(
                        records
                            .iter()
                            .filter_map(record_ip)
                            .map(|ip| (target.clone(), ip)),
                    );
                    ttl = ttl.min(*t);
                }
                Some(Outcome::Failed(kind)) => walk.failure = Some(*kind),
                _ => {}
            }
        }
        let targets = srv_targets(&set.srvs, &addrs, transport);
        if !targets.is_empty() {
            self.fold_ttl(Some(ttl));
            return self.finish_ok(targets, now);
        }
        walk.idx += 1;
        self.enter_srv(walk, now)
    }

    /// The host's own A/AAAA answers (RFC 3263 §4.2): the result.
    fn after_host(
        &mut self,
        port: u16,
        transport: Transport,
        chains: &[Chain],
        now: Instant,
    ) -> Stage {
        let mut targets = Vec::new();
        let mut ttl: Option<u32> = None;
        let (mut failure, mut nx, mut neg_ttl) = (None, true, None);
        for chain in chains {
            match chain.outcome() {
                Some(Outcome::Records { records, ttl: t }) => {
                    ttl = min_opt(ttl, Some(*t));
                    targets.extend(records.iter().filter_map(record_ip).map(|ip| Target {
                        addr: SocketAddr::new(ip, port),
                        transport,
                        priority: 0,
                        weight: 0,
                    }));
                }
                Some(Outcome::NxDomain { neg_ttl: n }) => neg_ttl = min_opt(neg_ttl, *n),
                Some(Outcome::NoData { neg_ttl: n }) => {
                    nx = false;
                    neg_ttl = min_opt(neg_ttl, *n);
                }
                Some(Outcome::Failed(kind)) => failure = Some(*kind),
                None => {}
            }
        }
        if !targets.is_empty() {
            self.fold_ttl(ttl);
            return self.finish_ok(targets, now);
        }
        match failure {
            Some(kind) => self.finish_err(kind, None, now),
            None if nx && !chains.is_empty() => {
                self.finish_err(ResolveErrorKind::NxDomain, neg_ttl, now)
            }
            None => self.finish_err(ResolveErrorKind::NoRecords, neg_ttl, now),
        }
    }

    /// RFC 3263 §4.1: no usable NAPTR, so the SRV names of the transports.
    fn enter_fallback(&mut self, host: &Name, now: Instant) -> Stage {
        let cands = fallback_candidates(host, self.secure);
        let walk = SrvWalk {
            cands,
            idx: 0,
            from_naptr: false,
            found_any: false,
            failure: None,
            neg_ttl: None,
        };
        self.enter_srv(walk, now)
    }

    /// Moves to the SRV query of the current candidate, skipping to the next ones while their
    /// records are already known and lead nowhere; at the end, the A/AAAA fallback or an error.
    fn enter_srv(&mut self, mut walk: SrvWalk, now: Instant) -> Stage {
        while let Some(cand) = walk.cands.get(walk.idx).cloned() {
            let hinted: Vec<Record> = self
                .ctx
                .hints
                .iter()
                .filter(|rr| rr.rtype() == RecordType::SRV && rr.name == cand.name)
                .cloned()
                .collect();
            let Some(ttl) = hinted.iter().map(|rr| rr.ttl).min() else {
                self.chains.push(Chain::start(
                    cand.name,
                    RecordType::SRV,
                    0,
                    &mut self.ctx,
                    now,
                ));
                return Stage::Srv(walk);
            };
            walk.found_any = true;
            match self.enter_targets(walk, &hinted, ttl, now) {
                Ok(stage) => return stage,
                Err(back) => walk = back,
            }
            walk.idx += 1;
        }
        let Some(host) = self.host.clone() else {
            return Stage::Done;
        };
        if !walk.found_any && !walk.from_naptr && walk.failure.is_none() {
            // RFC 3263 §4.2: no SRV records, so A/AAAA of the host on the default port.
            return self.enter_host(&host, self.transport.default_port(), now);
        }
        let kind = walk.failure.unwrap_or(ResolveErrorKind::NoRecords);
        self.finish_err(kind, walk.neg_ttl, now)
    }

    /// Starts resolving the targets of an SRV record set; gives the walk back when the set
    /// offers nothing (only `.` targets, RFC 2782), so the caller moves to the next candidate.
    fn enter_targets(
        &mut self,
        walk: SrvWalk,
        records: &[Record],
        ttl: u32,
        now: Instant,
    ) -> Result<Stage, SrvWalk> {
        let srvs = usable_srvs(records);
        if srvs.is_empty() {
            return Err(walk);
        }
        let (v4, v6) = (self.ctx.opts.ipv4, self.ctx.opts.ipv6);
        let mut hinted = Vec::new();
        for (tag, srv) in srvs.iter().enumerate() {
            if srvs[..tag].iter().any(|s| s.target == srv.target) {
                continue;
            }
            let known: Vec<(Name, IpAddr, u32)> = self
                .ctx
                .hints
                .iter()
                .filter(|rr| rr.name == srv.target)
                .filter(|rr| {
                    (v4 && rr.rtype() == RecordType::A) || (v6 && rr.rtype() == RecordType::AAAA)
                })
                .filter_map(|rr| record_ip(rr).map(|ip| (srv.target.clone(), ip, rr.ttl)))
                .collect();
            if known.is_empty() {
                for (wanted, qtype) in [(v4, RecordType::A), (v6, RecordType::AAAA)] {
                    if wanted {
                        self.chains.push(Chain::start(
                            srv.target.clone(),
                            qtype,
                            tag,
                            &mut self.ctx,
                            now,
                        ));
                    }
                }
            }
            hinted.extend(known);
        }
        Ok(Stage::SrvTargets(walk, SrvSet { srvs, ttl, hinted }))
    }

    /// Starts the A/AAAA queries for the host itself (RFC 3263 §4.2).
    fn enter_host(&mut self, host: &Name, port: u16, now: Instant) -> Stage {
        for (wanted, qtype) in [
            (self.ctx.opts.ipv4, RecordType::A),
            (self.ctx.opts.ipv6, RecordType::AAAA),
        ] {
            if wanted {
                self.chains
                    .push(Chain::start(host.clone(), qtype, 0, &mut self.ctx, now));
            }
        }
        Stage::Host {
            port,
            transport: self.transport,
        }
    }

    fn fold_ttl(&mut self, ttl: Option<u32>) {
        self.ttl = min_opt(self.ttl, ttl);
    }

    fn finish_ok(&mut self, targets: Vec<Target>, now: Instant) -> Stage {
        let opts = &self.ctx.opts;
        let ttl = self
            .ttl
            .map_or(opts.max_ttl, |t| clamp_ttl(t, opts.min_ttl, opts.max_ttl));
        self.result = Some(Ok(Resolved {
            targets,
            expires_at: now + ttl,
        }));
        self.chains.clear();
        Stage::Done
    }

    fn finish_err(&mut self, kind: ResolveErrorKind, neg_ttl: Option<u32>, now: Instant) -> Stage {
        let opts = &self.ctx.opts;
        let wait = neg_ttl.map_or(opts.min_ttl, |t| clamp_ttl(t, opts.min_ttl, opts.max_ttl));
        self.result = Some(Err(ResolveError {
            kind,
            retry_at: now + wait,
        }));
        self.chains.clear();
        Stage::Done
    }
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
