//! Proxy contexts: one per forwarded request (RFC 3261 §16: the response context), holding
//! where its branches go, which members were tried, the best final response so far (§16.7
//! item 6) and how far the request got. The proxy drives them (`forward`, `branch`).

use crate::info::ReqInfo;
use crate::slab::{ClientId, ServerId};
use crate::types::Transport;
use std::net::SocketAddr;

/// The routing keys of a request, owned (for the hash algorithm).
#[derive(Debug, Clone)]
pub(crate) struct OwnedKeys {
    pub call_id: String,
    pub from_user: String,
    pub to_user: String,
    pub ruri_user: String,
}

/// Where a context sends its branches.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A destination set: members chosen by the dispatcher, failover on failure.
    Set {
        set: dispatch::SetId,
        keys: OwnedKeys,
    },
    /// One next hop (in-dialog or pre-routed requests): no failover.
    Fixed(SocketAddr, Transport, Option<dispatch::MemberId>),
}

/// A forwarded request's context.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The server transaction of the request.
    pub server: ServerId,
    /// The request as every branch forwards it, before the branch's own Via.
    pub base: Vec<u8>,
    pub info: ReqInfo,
    pub target: Target,
    pub tried: Vec<dispatch::MemberId>,
    pub attempts: u32,
    /// The live branch.
    pub branch: Option<ClientId>,
    pub cancelled: bool,
    pub final_sent: bool,
    /// Best final response so far: code and bytes ready to send upstream.
    pub best: Option<(u16, Vec<u8>)>,
    pub saw_timeout: bool,
    pub timer_c_fired: bool,
    /// The member whose active-call count this call holds.
    pub counted: Option<dispatch::MemberId>,
    /// Where the request came from (the caller side of a new dialog).
    pub caller: (SocketAddr, Transport),
}

impl Ctx {
    /// A context for the request of server transaction `server`, from `caller`.
    pub(crate) fn new(
        server: ServerId,
        info: ReqInfo,
        base: Vec<u8>,
        target: Target,
        caller: (SocketAddr, Transport),
    ) -> Self {
        Ctx {
            server,
            base,
            info,
            target,
            tried: Vec::new(),
            attempts: 0,
            branch: None,
            cancelled: false,
            final_sent: false,
            best: None,
            saw_timeout: false,
            timer_c_fired: false,
            counted: None,
            caller,
        }
    }

    /// An initial INVITE: the context routes a call.
    pub(crate) fn initial_invite(&self) -> bool {
        self.info.initial_invite()
    }

    /// Records a final response if it beats the best so far (§16.7 item 6).
    pub(crate) fn remember(&mut self, code: u16, bytes: Vec<u8>) {
        if self
            .best
            .as_ref()
            .is_none_or(|(b, _)| rank(code) < rank(*b))
        {
            self.best = Some((code, bytes));
        }
    }
}

/// Ranks a final response for §16.7 item 6: 6xx first, then the lowest class.
fn rank(code: u16) -> u16 {
    if code >= 600 {
        0
    } else {
        code / 100
    }
}
