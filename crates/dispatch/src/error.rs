//! Errors of the dispatcher's fallible calls.

use std::net::IpAddr;

/// Why a REGISTER into a set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// No set has this id (it went away in a reload).
    #[error("no such set")]
    UnknownSet,
    /// The set does not take registrations (`register = false`): answer 403.
    #[error("set {0:?} does not accept REGISTER")]
    NotAllowed(String),
    /// The source address is outside the set's `register_networks`: answer 403.
    #[error("{0} is not in the set's register_networks")]
    SourceNotAllowed(IpAddr),
    /// The set already holds [`crate::MAX_REGISTERED_PER_SET`] registered members: answer 503.
    #[error("set {0:?} holds the most registered members allowed")]
    SetFull(String),
}

/// Why an admin state change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No member has this id (it went away).
    #[error("no such member")]
    UnknownMember,
    /// No set has this id (it went away in a reload).
    #[error("no such set")]
    UnknownSet,
    /// A member added at run time must be an IP literal (a host name needs a config entry,
    /// whose DNS answers the dispatcher follows).
    #[error("the URI is not an IP literal; name host-name members in the config file")]
    NeedsDns,
    /// The set already has a member at this address and transport.
    #[error("the set already has a member at {0}")]
    Duplicate(std::net::SocketAddr),
    /// The member has calls in progress: removing it needs `force`.
    #[error("the member has {0} calls in progress")]
    HasCalls(u32),
}

/// Why DNS results could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No DNS source has this id (it went away in a reload).
    #[error("no such DNS source")]
    UnknownSource,
}
