//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Talks to a running Ferrovox over its admin socket.
///
/// Exit status: 0 done, 1 the daemon answered with an error, 2 usage error, 3 the daemon
/// cannot be reached.
#[derive(Debug, Parser)]
#[command(name = "ferrovoxctl", version)]
pub struct Cli {
    /// The admin socket (default: `[admin] socket` of --config, else /run/ferrovox/admin.sock).
    #[arg(
        short,
        long,
        value_name = "PATH",
        env = "FERROVOX_SOCKET",
        global = true
    )]
    pub socket: Option<PathBuf>,
    /// Read the socket's path from this config file (a relative path is looked for under
    /// $RUNTIME_DIRECTORY, /run/ferrovox, $XDG_RUNTIME_DIR and here, in that order).
    #[arg(
        short,
        long,
        value_name = "FILE",
        global = true,
        conflicts_with = "socket"
    )]
    pub config: Option<PathBuf>,
    /// Print the daemon's answer as JSON (for scripts) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for each answer.
    #[arg(long, value_name = "SECS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The pool members: list, change state, add, remove.
    Members {
        #[command(subcommand)]
        command: MemberCmd,
    },
    /// The daemon's version and protocol version.
    Version,
    /// How long the daemon has run.
    Uptime,
    /// Whether the daemon's parts answer and every set has a member that takes calls.
    Health,
    /// The running settings, by config key; `set`, `diff` and `revert` change them at run
    /// time.
    Params {
        #[command(subcommand)]
        command: Option<ParamCmd>,
    },
    /// Calls in progress: list, show one, terminate.
    Calls {
        #[command(subcommand)]
        command: CallCmd,
    },
    /// The data-plane workers' counters: packets, relayed, drops by reason, streams.
    Workers,
    /// A live view, refreshed every second: members with state and calls, calls/s, and per
    /// worker packets/s and drops (Ctrl-C quits).
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=3600))]
        interval: u64,
        /// Stop after this many refreshes (default: run until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Re-reads the config file (as SIGHUP does) and prints what changed.
    Reload,
    /// High availability: this node's role, epoch and replicated calls; promote (keepalived's
    /// notify on MASTER) or demote (on BACKUP or FAULT).
    Ha {
        #[command(subcommand)]
        command: HaCmd,
    },
    /// Prints a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `ha` subcommands; each prints the node's HA status after it.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum HaCmd {
    /// The role (active or standby), the epoch, the replicated calls held, Redis reachable.
    Status,
    /// Become the active node: take over every call held (a new epoch supersedes the old
    /// active's writes). Does nothing on an active node.
    Promote,
    /// Become a standby: no new calls, no writes; follow the active node.
    Demote,
}

/// The admin states a member can be put in.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Takes calls when healthy.
    Active,
    /// Out of service: no calls, no probes.
    Disabled,
    /// No new calls; calls in progress complete.
    Draining,
}

/// `members` subcommands. A member is named by its id, or by its URI (with `--set` when the
/// URI is in more than one set).
#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Lists every member (all pages) with state, calls, probe RTT and last change.
    List {
        /// Only this set's members.
        #[arg(long)]
        set: Option<String>,
        /// Members fetched per request.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: u32,
    },
    /// Puts a member in a state: active, disabled, or draining (no new calls).
    SetState {
        /// The member: id or URI.
        member: String,
        /// The state.
        #[arg(value_enum)]
        state: State,
        /// The member's set (with a URI).
        #[arg(long)]
        set: Option<String>,
    },
    /// Adds a member (an IP-literal URI) to a set until it is removed.
    Add {
        /// The member's URI, e.g. sip:192.0.2.7:5060 or sip:192.0.2.7;transport=tcp.
        uri: String,
        /// The set.
        #[arg(long)]
        set: String,
        /// Weight under `weighted` (default 1).
        #[arg(long)]
        weight: Option<u32>,
        /// Priority under `priority` and `srv` (default 0).
        #[arg(long)]
        priority: Option<u16>,
        /// Cap on its calls in progress.
        #[arg(long)]
        max_calls: Option<u32>,
        /// The state it starts in (default active).
        #[arg(long, value_enum)]
        state: Option<State>,
    },
    /// Removes a member; refused while it has calls unless --force.
    Remove {
        /// The member: id or URI.
        member: String,
        /// The member's set (with a URI).
        #[arg(long)]
        set: Option<String>,
        /// Remove it even with calls in progress.
        #[arg(long)]
        force: bool,
    },
}

/// `params` subcommands.
#[derive(Debug, Subcommand)]
pub enum ParamCmd {
    /// Sets one setting now (media.timeout_secs, media.hold_timeout_secs,
    /// media.offer_timeout_secs, media.final_timeout_secs, media.delete_delay_secs,
    /// media.max_sessions: a number, 0 drains, or "unlimited"; general.log_level).
    Set {
        /// The key, as `ferrovoxctl params` names it.
        key: String,
        /// The value: a number, or a word.
        value: String,
    },
    /// The settings whose running value differs from the config file's.
    Diff,
    /// Puts the config file's value back (for KEY, or for every setting changed).
    Revert {
        /// Only this key.
        key: Option<String>,
    },
}

/// `calls` subcommands.
#[derive(Debug, Subcommand)]
pub enum CallCmd {
    /// Lists every call (all pages): Call-ID, state, age, member, relay ports.
    List {
        /// Calls fetched per request.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: u32,
    },
    /// One call: both parties with tags and hops, the member, and per stream the relay ports,
    /// owning worker, latched sources and packet counts.
    Show {
        /// Its Call-ID.
        call_id: String,
    },
    /// Ends a call (BYE to both parties, media released), or every call of a member.
    Terminate {
        /// The Call-ID (or leave out and give --member).
        #[arg(required_unless_present = "member", conflicts_with = "member")]
        call_id: Option<String>,
        /// Every call of this member: id or URI.
        #[arg(long)]
        member: Option<String>,
        /// The member's set (with a URI).
        #[arg(long, requires = "member")]
        set: Option<String>,
        /// The text of the BYEs' Reason header.
        #[arg(long)]
        reason: Option<String>,
    },
}
