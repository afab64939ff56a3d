//! The ng commands this codec understands.

use crate::names::name_eq;

/// An ng `command`.
///
/// Only the commands an ordinary Kamailio/OpenSIPS `rtpengine` module setup sends (plus
/// `list` and `statistics` for tooling) are known; any other command name is reported as
/// [`crate::NgError::UnknownCommand`], which the engine answers with an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Liveness probe; answered with `result: pong`.
    Ping,
    /// An SDP offer to anchor (`rtpengine_offer`).
    Offer,
    /// The matching SDP answer (`rtpengine_answer`).
    Answer,
    /// Tear down a call or one branch of it (`rtpengine_delete`).
    Delete,
    /// Report on one call (`rtpengine_query`).
    Query,
    /// List active call-ids.
    List,
    /// Global statistics.
    Statistics,
}

impl Command {
    /// Every known command.
    pub const ALL: [Command; 7] = [
        Command::Ping,
        Command::Offer,
        Command::Answer,
        Command::Delete,
        Command::Query,
        Command::List,
        Command::Statistics,
    ];

    /// The wire name (`"offer"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::Offer => "offer",
            Command::Answer => "answer",
            Command::Delete => "delete",
            Command::Query => "query",
            Command::List => "list",
            Command::Statistics => "statistics",
        }
    }

    /// Looks up a wire name (ASCII case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Command> {
        Command::ALL.into_iter().find(|c| name_eq(name, c.as_str()))
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
