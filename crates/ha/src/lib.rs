//! High availability for Ferrovox: what a peer node needs to take an anchored call over, as it
//! is kept in Redis or Valkey, and the rule that decides between two writers.
//!
//! This crate does no I/O. It defines:
//! - [`schema`]: the versioned key names (`fv:1:…`), the change stream a standby follows, and
//!   the Lua scripts the replication driver runs so that every write is fenced on the server;
//! - [`record`]: [`CallRecord`], one anchored call (dialog identifiers and route set, the member,
//!   both legs' relay ports and advertised addresses, latched sources, SDP versions, the
//!   deadline), its encoding and a decoder that treats what it reads from Redis as hostile input
//!   (size, version, lengths, characters, counts all checked);
//! - [`settings`]: [`ReplicaConfig`], a node's `[ha]` section;
//! - [`fence`]: [`Stamp`] (epoch, node, sequence) and the rule by which a write supersedes what
//!   is stored, and by which a node that lost a call drops its copy.
//!
//! Epochs come from Redis (`INCR` on [`schema::EPOCH_KEY`] when a node becomes active), so two
//! nodes never write with the same epoch; a node that was active and comes back with an older
//! epoch loses every call a newer epoch wrote, and its stale copies are refused by the scripts.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod fence;
pub mod record;
pub mod schema;
pub mod settings;

pub use fence::Stamp;
pub use record::{CallRecord, DecodeError, Dialog, Leg, Member, Stream};
pub use settings::{ReplicaConfig, Role};
