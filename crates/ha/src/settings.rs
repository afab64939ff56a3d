//! How a node replicates: `[ha]` in the config, read into [`ReplicaConfig`] by the config
//! crate and handed to the replication driver.

use std::time::Duration;

/// A node's replication settings (`[ha]`, when `enabled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// This node's id in every stamp it writes (`node`, required): distinct per node.
    pub node: String,
    /// The Redis/Valkey server (`redis`, default `redis://127.0.0.1:6379/0`).
    pub url: String,
    /// Changes per pipeline (`batch`, 1..=4096, default 256).
    pub batch: usize,
    /// The queue between the call path and the driver (`queue`, 1024..=1048576, default
    /// 65536): a full queue drops changes and asks for a full re-publish, it never waits.
    pub queue: usize,
    /// Calls whose latest change is kept while Redis is unreachable (`max_pending`,
    /// 1024..=1048576, default 200000).
    pub max_pending: usize,
    /// Connect and per-pipeline timeout (`timeout_ms`, 50..=10000, default 1000).
    pub timeout: Duration,
    /// The role the node starts in (`start`, default standby).
    pub start: Role,
    /// Members' `max_calls` count the calls of every active node (`shared_limits`, default
    /// false): each node publishes its per-member counts to Redis every second and adds the
    /// others' to its own.
    pub shared_limits: bool,
}

/// Whether a node serves calls or follows another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Takes new calls, relays media, writes its calls to Redis under its epoch.
    Active,
    /// Takes no new call; follows the change stream and holds every replicated call
    /// pre-installed (same relay ports), ready to take them over when promoted.
    Standby,
}

impl Role {
    /// The role's name (`active`, `standby`), as config, admin socket and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
        }
    }
}

impl ReplicaConfig {
    /// The defaults for node `node`.
    pub fn new(node: String) -> Self {
        ReplicaConfig {
            node,
            url: "redis://127.0.0.1:6379/0".into(),
            batch: 256,
            queue: 65_536,
            max_pending: 200_000,
            timeout: Duration::from_millis(1000),
            start: Role::Standby,
            shared_limits: false,
        }
    }
}
