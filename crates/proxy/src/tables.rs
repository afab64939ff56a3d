//! The transaction tables: every server and client transaction under a `Copy` id, what the
//! proxy keeps beside each (the context it feeds, what a client transaction is for), and the
//! maps from the keys on the wire to ids, looked up once when a message arrives (RFC 3261
//! §17.1.3: our branch and the CSeq method; §17.2.3: see [`crate::info::ReqInfo::server_key`]).
//!
//! Each transaction's wake-up goes into [`Timers`] whenever it changes; a popped wake-up is
//! checked against the transaction's own deadline ([`Transactions::server_due`],
//! [`Transactions::client_due`]), so moved or ended timers need no cancelling.

use crate::hasher::Map;
use crate::slab::{ClientId, CtxId, ServerId, Slab};
use crate::timers::{Timers, Wake};
use crate::txn::{ClientTxn, ServerTxn};
use crate::types::Transmit;
use sip::Method;
use sip::Transport;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// A server transaction and what the proxy keeps beside it.
#[derive(Debug)]
pub(crate) struct Server {
    /// The state machine.
    pub txn: ServerTxn,
    /// The context forwarding the request, if it was forwarded.
    pub ctx: Option<CtxId>,
    /// The To tag of the responses this element generates for the request.
    pub local_tag: String,
    key: String,
    scheduled: Option<Instant>,
}

/// What a client transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A branch of a forwarded request.
    Branch {
        /// The context it belongs to.
        ctx: CtxId,
        /// Timer C (RFC 3261 §16.6 item 11, §16.8): a provisional came but no final.
        timer_c: Option<Instant>,
    },
    /// A branch given up (it timed out or the transport failed) while its context went on:
    /// a late provisional gets a CANCEL, a late 2xx an ACK and a BYE.
    Abandoned,
    /// A CANCEL this element sent for a branch (RFC 3261 §9.1).
    Cancel,
    /// An OPTIONS health probe of a member.
    Probe {
        /// The probe, as the dispatcher numbered it.
        probe: dispatch::ProbeId,
    },
    /// A BYE ending a late-answered abandoned branch.
    Cleanup,
}

/// A client transaction and what the proxy keeps beside it.
#[derive(Debug)]
pub(crate) struct Client {
    /// The state machine.
    pub txn: ClientTxn,
    /// What it is for.
    pub role: Role,
    /// The member the request went to, if it is one.
    pub member: Option<dispatch::MemberId>,
    branch: String,
    scheduled: Option<Instant>,
}

impl Client {
    /// The branch of the request (shared by a CANCEL for it, RFC 3261 §9.1).
    pub(crate) fn branch(&self) -> &str {
        &self.branch
    }

    /// Timer C of a live branch.
    pub(crate) fn timer_c(&self) -> Option<Instant> {
        match self.role {
            Role::Branch { timer_c, .. } => timer_c,
            _ => None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.txn.poll_timeout(), self.timer_c()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Every transaction, by id and by wire key.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    servers: Slab<ServerId, Server>,
    server_keys: Map<String, ServerId>,
    clients: Slab<ClientId, Client>,
    /// Our branch of each request we sent, but CANCELs.
    branches: Map<String, ClientId>,
    /// The CANCELs we sent, by the branch they share with the request they cancel.
    cancels: Map<String, ClientId>,
}

/// Queues `at` for `w` unless that wake-up is queued already.
fn schedule(timers: &mut Timers, w: Wake, at: Option<Instant>, scheduled: &mut Option<Instant>) {
    if at != *scheduled {
        if let Some(t) = at {
            timers.arm(t, w);
        }
        *scheduled = at;
    }
}

impl Transactions {
    /// The server transaction with this key.
    pub(crate) fn server_by_key(&self, key: &str) -> Option<ServerId> {
        self.server_keys.get(key).copied()
    }

    /// Adds a server transaction under `key`.
    pub(crate) fn add_server(
        &mut self,
        key: String,
        txn: ServerTxn,
        local_tag: String,
    ) -> ServerId {
        let id = self.servers.insert(Server {
            txn,
            ctx: None,
            local_tag,
            key: key.clone(),
            scheduled: None,
        });
        self.server_keys.insert(key, id);
        id
    }

    /// A server transaction.
    pub(crate) fn server(&self, id: ServerId) -> Option<&Server> {
        self.servers.get(id)
    }

    /// A server transaction.
    pub(crate) fn server_mut(&mut self, id: ServerId) -> Option<&mut Server> {
        self.servers.get_mut(id)
    }

    /// Removes a server transaction.
    pub(crate) fn remove_server(&mut self, id: ServerId) -> Option<Server> {
        let s = self.servers.remove(id)?;
        if self.server_keys.get(&s.key) == Some(&id) {
            self.server_keys.remove(&s.key);
        }
        Some(s)
    }

    /// The client transaction a response with our `branch` and CSeq `method` belongs to.
    pub(crate) fn client_for(&self, branch: &str, method: &Method) -> Option<ClientId> {
        let map = if *method == Method::Cancel {
            &self.cancels
        } else {
            &self.branches
        };
        let id = *map.get(branch)?;
        let c = self.clients.get(id)?;
        (c.txn.method() == method).then_some(id)
    }

    /// Adds a client transaction whose request carries `branch`.
    pub(crate) fn add_client(
        &mut self,
        branch: String,
        txn: ClientTxn,
        role: Role,
        member: Option<dispatch::MemberId>,
    ) -> ClientId {
        let cancel = *txn.method() == Method::Cancel;
        let id = self.clients.insert(Client {
            txn,
            role,
            member,
            branch: branch.clone(),
            scheduled: None,
        });
        if cancel {
            self.cancels.insert(branch, id);
        } else {
            self.branches.insert(branch, id);
        }
        id
    }

    /// A client transaction.
    pub(crate) fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(id)
    }

    /// A client transaction.
    pub(crate) fn client_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        self.clients.get_mut(id)
    }

    /// Removes a client transaction.
    pub(crate) fn remove_client(&mut self, id: ClientId) -> Option<Client> {
        let c = self.clients.remove(id)?;
        let map = if *c.txn.method() == Method::Cancel {
            &mut self.cancels
        } else {
            &mut self.branches
        };
        if map.get(&c.branch) == Some(&id) {
            map.remove(&c.branch);
        }
        Some(c)
    }

    /// The client transactions sending over `transport` to `dst`.
    pub(crate) fn clients_to(&self, transport: Transport, dst: SocketAddr) -> Vec<ClientId> {
        self.clients
            .iter()
            .filter(|(_, c)| {
                let hop = c.txn.hop();
                hop.peer == dst && hop.transport == transport
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// Server and client transactions held.
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// Moves what server transaction `id` queued into `out` and queues its next wake-up.
    /// Returns true when it is over (the caller removes it).
    pub(crate) fn flush_server(
        &mut self,
        id: ServerId,
        out: &mut VecDeque<Transmit>,
        timers: &mut Timers,
    ) -> bool {
        let Some(s) = self.servers.get_mut(id) else {
            return false;
        };
        out.extend(s.txn.poll_transmit());
        if s.txn.is_terminated() {
            return true;
        }
        let at = s.txn.poll_timeout();
        schedule(timers, Wake::Server(id), at, &mut s.scheduled);
        false
    }

    /// Moves what client transaction `id` queued into `out` and queues its next wake-up.
    /// Returns true when it is over (the caller removes it).
    pub(crate) fn flush_client(
        &mut self,
        id: ClientId,
        out: &mut VecDeque<Transmit>,
        timers: &mut Timers,
    ) -> bool {
        let Some(c) = self.clients.get_mut(id) else {
            return false;
        };
        out.extend(c.txn.poll_transmit());
        if c.txn.is_terminated() {
            return true;
        }
        let at = c.deadline();
        schedule(timers, Wake::Client(id), at, &mut c.scheduled);
        false
    }

    /// A wake-up queued for `at` came due at `now`: true when the server transaction is
    /// there and due (it then gets a new wake-up on its next flush).
    pub(crate) fn server_due(&mut self, id: ServerId, at: Instant, now: Instant) -> bool {
        let Some(s) = self.servers.get_mut(id) else {
            return false;
        };
        let due = s.txn.poll_timeout().is_some_and(|t| t <= now);
        if due || s.scheduled == Some(at) {
            s.scheduled = None;
        }
        due
    }

    /// A wake-up queued for `at` came due at `now`: true when the client transaction is
    /// there and due (it then gets a new wake-up on its next flush).
    pub(crate) fn client_due(&mut self, id: ClientId, at: Instant, now: Instant) -> bool {
        let Some(c) = self.clients.get_mut(id) else {
            return false;
        };
        let due = c.deadline().is_some_and(|t| t <= now);
        if due || c.scheduled == Some(at) {
            c.scheduled = None;
        }
        due
    }
}
