//! One name/type resolution: a query with its tries over the server list, and the CNAME
//! links followed from it.

use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::Rng as _;

use super::{LookupOptions, LookupStats, Protocol, ResolveErrorKind, Transmit};
use crate::name::Name;
use crate::wire::{
    encode_message, query_message, Message, RData, Rcode, Record, RecordType, CLASS_IN,
};

/// Most additional-section records kept per lookup for later use as hints.
const MAX_HINTS: usize = 256;

/// State shared by every chain of a lookup.
pub(super) struct Ctx {
    pub servers: Vec<SocketAddr>,
    pub opts: LookupOptions,
    /// The generator of query IDs: ChaCha keyed with the caller's random seed, so an ID
    /// seen on the wire tells nothing of the next one (RFC 5452 §4, §9.2).
    pub rng: StdRng,
    pub stats: LookupStats,
    /// Distinct queries started so far, against [`LookupOptions::max_queries`].
    pub queries_started: u32,
    /// SRV, A and AAAA records from additional sections (RFC 2782, RFC 3403 §4.2 suggest
    /// servers put what the client will ask next there).
    pub hints: Vec<Record>,
}

impl Ctx {
    /// The next query ID: 16 bits of the generator (RFC 5452 §9.2: unpredictable IDs).
    pub fn next_id(&mut self) -> u16 {
        let mut id = [0u8; 2];
        self.rng.fill_bytes(&mut id);
        u16::from_be_bytes(id)
    }

    /// Tries per query: `attempts` rounds over the servers.
    fn total_tries(&self) -> u64 {
        u64::from(self.opts.attempts.max(1)).saturating_mul(self.servers.len() as u64)
    }

    fn keep_hints(&mut self, msg: &Message) {
        for rr in &msg.additionals {
            let useful = matches!(
                rr.rtype(),
                RecordType::A | RecordType::AAAA | RecordType::SRV
            );
            if useful && rr.class == CLASS_IN && self.hints.len() < MAX_HINTS {
                self.hints.push(rr.clone());
            }
        }
    }
}

/// How a chain ended.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// Records of the asked type at the end of the CNAME chain; `ttl` is the least TTL of
    /// those records and the CNAMEs followed.
    Records { records: Vec<Record>, ttl: u32 },
    /// NXDOMAIN, with the negative-caching TTL if the server sent its SOA (RFC 2308 §5).
    NxDomain { neg_ttl: Option<u32> },
    /// The name exists but has no record of the type (RFC 2308 §2.2 "NODATA").
    NoData { neg_ttl: Option<u32> },
    /// No usable answer.
    Failed(ResolveErrorKind),
}

/// The query of a chain that is still waiting for its answer.
pub(super) struct Query {
    /// ID of the current try.
    id: u16,
    protocol: Protocol,
    /// Index of the current try; its server is `servers[try_no % servers.len()]`.
    try_no: u64,
    deadline: Instant,
    needs_send: bool,
    /// (server, ID) of every try sent: a late answer to an earlier try is still accepted.
    sent: Vec<(SocketAddr, u16)>,
}

/// Where a chain stands.
pub(super) enum ChainState {
    Active(Query),
    Done(Outcome),
}

/// Resolution of one (name, type), following CNAMEs (RFC 1034 §3.6.2).
pub(super) struct Chain {
    pub qtype: RecordType,
    /// The name currently asked for (the original, or the last CNAME target).
    pub name: Name,
    /// The caller's label for this chain (which SRV target it serves).
    pub tag: usize,
    /// Names seen along the chain, the original first.
    visited: Vec<Name>,
    /// Least TTL of the CNAMEs followed.
    cname_ttl: Option<u32>,
    pub state: ChainState,
}

impl Chain {
    /// Starts resolving `name`/`qtype`.
    pub fn start(name: Name, qtype: RecordType, tag: usize, ctx: &mut Ctx, now: Instant) -> Self {
        let mut chain = Chain {
            qtype,
            visited: vec![name.clone()],
            name,
            tag,
            cname_ttl: None,
            state: ChainState::Done(Outcome::Failed(ResolveErrorKind::QueryLimit)),
        };
        chain.begin_query(ctx, now);
        chain
    }

    /// The outcome, once done.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            ChainState::Done(o) => Some(o),
            ChainState::Active(_) => None,
        }
    }

    /// Starts a fresh query for `self.name`, within the lookup's query budget.
    fn begin_query(&mut self, ctx: &mut Ctx, now: Instant) {
        if ctx.queries_started >= ctx.opts.max_queries {
            self.state = ChainState::Done(Outcome::Failed(ResolveErrorKind::QueryLimit));
            return;
        }
        ctx.queries_started += 1;
        self.state = ChainState::Active(Query {
            id: ctx.next_id(),
            protocol: Protocol::Udp,
            try_no: 0,
            deadline: now + ctx.opts.timeout,
            needs_send: true,
            sent: Vec::new(),
        });
    }

    /// The query to send, if one is due.
    pub fn poll_transmit(&mut self, ctx: &mut Ctx) -> Option<Transmit> {
        let ChainState::Active(q) = &mut self.state else {
            return None;
        };
        if !q.needs_send || ctx.servers.is_empty() {
            return None;
        }
        // The index is below servers.len(), which is a usize.
        let server = ctx.servers[(q.try_no % ctx.servers.len() as u64) as usize];
        q.needs_send = false;
        match encode_message(&query_message(q.id, self.name.clone(), self.qtype)) {
            Ok(payload) => {
                q.sent.push((server, q.id));
                ctx.stats.queries_sent += 1;
                Some(Transmit {
                    dst: server,
                    protocol: q.protocol,
                    bytes: payload,
                })
            }
            // A parsed name and one question always encode; fail the chain rather than panic.
            Err(_) => {
                self.state = ChainState::Done(Outcome::Failed(ResolveErrorKind::InvalidHost));
                None
            }
        }
    }

    /// When the current try times out.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            ChainState::Active(q) => Some(q.deadline),
            ChainState::Done(_) => None,
        }
    }

    /// Handles the passage of time: a try past its deadline makes way for the next one.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx, now: Instant) {
        if matches!(&self.state, ChainState::Active(q) if q.deadline <= now) {
            ctx.stats.timeouts += 1;
            self.next_try(ctx, now, ResolveErrorKind::Timeout);
        }
    }

    /// Moves on to the next server (UDP again), or gives up with `why`.
    fn next_try(&mut self, ctx: &mut Ctx, now: Instant, why: ResolveErrorKind) {
        let total = ctx.total_tries();
        let id = ctx.next_id();
        let ChainState::Active(q) = &mut self.state else {
            return;
        };
        q.try_no += 1;
        if q.try_no >= total {
            self.state = ChainState::Done(Outcome::Failed(why));
            return;
        }
        q.id = id;
        q.protocol = Protocol::Udp;
        q.deadline = now + ctx.opts.timeout;
        q.needs_send = true;
    }

    /// Whether `msg` from `from` answers this chain's query: a response whose source and ID
    /// are those of a try sent, with the same single question (RFC 5452 §9.1).
    pub fn matches(&self, from: SocketAddr, msg: &Message) -> bool {
        let ChainState::Active(q) = &self.state else {
            return false;
        };
        let [question] = msg.questions.as_slice() else {
            return false;
        };
        msg.header.response
            && msg.header.opcode == 0
            && q.sent.contains(&(from, msg.header.id))
            && question.qtype == self.qtype
            && question.qclass == CLASS_IN
            && question.name == self.name
    }

    /// Handles a response that [`Chain::matches`].
    pub fn handle_response(&mut self, msg: &Message, ctx: &mut Ctx, now: Instant) {
        let ChainState::Active(q) = &mut self.state else {
            return;
        };
        if msg.header.truncated {
            // RFC 1035 §4.2.1, RFC 7766 §5: a truncated UDP answer is repeated over TCP.
            if q.protocol == Protocol::Udp {
                ctx.stats.truncated += 1;
                q.protocol = Protocol::Tcp;
                q.id = ctx.next_id();
                q.deadline = now + ctx.opts.timeout;
                q.needs_send = true;
                return;
            }
            if msg.header.id != q.id {
                // A late copy of the truncated UDP answer; the TCP answer is still to come.
                return;
            }
            ctx.stats.server_errors += 1;
            self.next_try(ctx, now, ResolveErrorKind::ServerFailure(Rcode::FORMERR));
            return;
        }
        match msg.header.rcode {
            Rcode::NOERROR => {}
            Rcode::NXDOMAIN => {
                ctx.keep_hints(msg);
                self.state = ChainState::Done(Outcome::NxDomain {
                    neg_ttl: negative_ttl(msg),
                });
                return;
            }
            rcode => {
                ctx.stats.server_errors += 1;
                self.next_try(ctx, now, ResolveErrorKind::ServerFailure(rcode));
                return;
            }
        }
        ctx.keep_hints(msg);
        self.follow_answers(msg, ctx, now);
    }

    /// Walks the answer section from the asked name through CNAMEs (RFC 1034 §3.6.2, §4.3.2).
    fn follow_answers(&mut self, msg: &Message, ctx: &mut Ctx, now: Instant) {
        let asked = self.name.clone();
        let mut cur = asked.clone();
        loop {
            let at_cur = |rr: &&Record| rr.class == CLASS_IN && rr.name == cur;
            let records: Vec<Record> = msg
                .answers
                .iter()
                .filter(at_cur)
                .filter(|rr| rr.rtype() == self.qtype)
                .cloned()
                .collect();
            if let Some(min) = records.iter().map(|rr| rr.ttl).min() {
                let ttl = self.cname_ttl.map_or(min, |c| c.min(min));
                self.state = ChainState::Done(Outcome::Records { records, ttl });
                return;
            }
            let cname = msg
                .answers
                .iter()
                .filter(at_cur)
                .find_map(|rr| match &rr.data {
                    RData::Cname(target) => Some((target.clone(), rr.ttl)),
                    _ => None,
                });
            let Some((target, ttl)) = cname else { break };
            if self.visited.contains(&target) {
                self.state = ChainState::Done(Outcome::Failed(ResolveErrorKind::CnameLoop));
                return;
            }
            if self.visited.len() > usize::from(ctx.opts.max_cname_hops) {
                self.state = ChainState::Done(Outcome::Failed(ResolveErrorKind::CnameChainTooLong));
                return;
            }
            self.visited.push(target.clone());
            self.cname_ttl = Some(self.cname_ttl.map_or(ttl, |c| c.min(ttl)));
            cur = target;
        }
        if cur == asked {
            self.state = ChainState::Done(Outcome::NoData {
                neg_ttl: negative_ttl(msg),
            });
        } else {
            // The chain leaves what this server sent: ask for the last target (RFC 1034 §5.3.3).
            self.name = cur;
            self.begin_query(ctx, now);
        }
    }
}

/// Negative-caching TTL from the authority section's SOA: the lesser of its TTL and its
/// MINIMUM field (RFC 2308 §5).
fn negative_ttl(msg: &Message) -> Option<u32> {
    msg.authority.iter().find_map(|rr| match &rr.data {
        RData::Soa(soa) => Some(rr.ttl.min(soa.minimum)),
        _ => None,
    })
}
