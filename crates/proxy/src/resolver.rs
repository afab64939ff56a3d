//! Members named by host name: RFC 3263 server location through the `dns` crate, re-run when
//! the answer's TTL runs out, results handed to the dispatcher. Sans-IO like the rest of the
//! proxy: queries go out through [`super::Proxy::poll_dns_transmit`] and answers come back
//! through [`super::Proxy::handle_dns_response`].

use crate::util::Ids;
use dispatch::Dispatcher;
use dns::resolve::{Lookup, LookupOptions, LookupSpec, ResolveErrorKind};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// DNS settings of the proxy.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// Servers, tried in order.
    pub servers: Vec<SocketAddr>,
    /// Timeouts, retries and TTL clamps.
    pub options: LookupOptions,
}

impl DnsSettings {
    /// From `[dns]`.
    pub fn from_config(c: &config::DnsConfig) -> Self {
        DnsSettings {
            servers: c.servers.clone(),
            options: LookupOptions {
                timeout: c.timeout,
                attempts: u32::from(c.attempts),
                min_ttl: c.min_ttl,
                max_ttl: c.max_ttl,
                ..LookupOptions::default()
            },
        }
    }
}

/// One host-name entry being located.
struct Entry {
    lookup: Option<Lookup>,
    /// When to look up again (when no lookup runs).
    next: Instant,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("running", &self.lookup.is_some())
            .field("next", &self.next)
            .finish()
    }
}

/// The lookups of every host-name member entry.
#[derive(Debug)]
pub(crate) struct Resolver {
    settings: DnsSettings,
    entries: HashMap<dispatch::SourceId, Entry>,
    pub(crate) out: VecDeque<dns::resolve::Transmit>,
    /// Lookups that ended in an error.
    pub(crate) failures: u64,
}

impl Resolver {
    pub(crate) fn new(settings: DnsSettings) -> Self {
        Resolver {
            settings,
            entries: HashMap::new(),
            out: VecDeque::new(),
            failures: 0,
        }
    }

    pub(crate) fn set_settings(&mut self, settings: DnsSettings) {
        self.settings = settings;
    }

    /// The earliest time a lookup needs attention.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match &e.lookup {
                Some(l) => l.poll_timeout(),
                None => Some(e.next),
            })
            .min()
    }
}

/// The lookup request for one entry (RFC 3263 §4: an explicit port skips NAPTR and SRV).
fn spec(src: &dispatch::DnsSource<'_>) -> Option<LookupSpec> {
    let (host, port) = match &src.target {
        config::MemberTarget::Static(_) => return None,
        config::MemberTarget::Address { host, port } => (host.clone(), Some(*port)),
        config::MemberTarget::Service { host } => (host.clone(), None),
    };
    let transport = src.uri.transport;
    Some(LookupSpec {
        host,
        port,
        transport,
        secure: src.uri.secure,
    })
}

impl Resolver {
    /// Starts the lookups that are due, advances the running ones and applies finished ones
    /// to `dispatcher`; `ids` seeds each new lookup.
    pub(crate) fn tick(&mut self, dispatcher: &mut Dispatcher, ids: &mut Ids, now: Instant) {
        let sources: Vec<(dispatch::SourceId, Option<LookupSpec>)> =
            dispatcher.dns_sources().map(|s| (s.id, spec(&s))).collect();
        self.entries
            .retain(|id, _| sources.iter().any(|(s, _)| s == id));
        for (id, spec) in sources {
            let Some(spec) = spec else {
                continue;
            };
            let seed = ids.seed();
            let e = self.entries.entry(id).or_insert(Entry {
                lookup: None,
                next: now,
            });
            if e.lookup.is_none() && e.next <= now {
                e.lookup = Some(Lookup::new(
                    &spec,
                    &self.settings.servers,
                    self.settings.options,
                    now,
                    seed,
                ));
            }
            if let Some(l) = e.lookup.as_mut() {
                if l.poll_timeout().is_some_and(|t| t <= now) {
                    l.handle_timeout(now);
                }
            }
        }
        self.drain(dispatcher, now);
    }

    /// A datagram from a DNS server.
    pub(crate) fn response(
        &mut self,
        dispatcher: &mut Dispatcher,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        for e in self.entries.values_mut() {
            if let Some(l) = e.lookup.as_mut() {
                l.handle_response(from, bytes, now);
            }
        }
        self.drain(dispatcher, now);
    }

    /// Moves queries out and finished results into the dispatcher.
    fn drain(&mut self, dispatcher: &mut Dispatcher, now: Instant) {
        let mut done = Vec::new();
        for (id, e) in &mut self.entries {
            let Some(l) = e.lookup.as_mut() else {
                continue;
            };
            while let Some(t) = l.poll_transmit() {
                self.out.push_back(t);
            }
            if let Some(r) = l.result() {
                done.push((*id, r.clone()));
                e.lookup = None;
            }
        }
        for (id, r) in done {
            let next = match r {
                Ok(resolved) => {
                    let targets: Vec<dispatch::ResolvedTarget> =
                        resolved.targets.iter().map(resolved_target).collect();
                    let _ = dispatcher.set_resolved(id, &targets, now);
                    resolved.expires_at
                }
                Err(e) => {
                    self.failures += 1;
                    // The name is gone: so are its members. A server that does not answer
                    // keeps the last answer in place.
                    if matches!(
                        e.kind,
                        ResolveErrorKind::NxDomain | ResolveErrorKind::NoRecords
                    ) {
                        let _ = dispatcher.set_resolved(id, &[], now);
                    }
                    e.retry_at
                }
            };
            if let Some(e) = self.entries.get_mut(&id) {
                e.next = next;
            }
        }
    }
}

/// A located target as the dispatcher takes it.
fn resolved_target(t: &dns::resolve::Target) -> dispatch::ResolvedTarget {
    dispatch::ResolvedTarget {
        addr: t.addr,
        // A TLS target stays TLS: sending to it fails as a transport error until TLS is
        // spoken, never in the clear (RFC 3261 §26.2.2).
        transport: t.transport,
        srv: (t.priority != 0 || t.weight != 0).then_some((t.priority, t.weight)),
    }
}
