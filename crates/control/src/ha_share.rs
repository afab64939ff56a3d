//! HA with shared limits (`[ha] shared_limits`): members' `max_calls` and least-calls count
//! the calls of every active node of the cluster, not only this node's.
//!
//! Every [`SHARE_PERIOD`] the task replaces this node's load key (`fv:1:load:<node>`: one
//! field per member, `<set> <URI>`, the calls it holds there) and reads the other nodes' keys,
//! summing their counts per member for the call path, which adds them to its own
//! ([`dispatch::Dispatcher::set_peer_calls`]). A node that dies stops refreshing its key,
//! which expires after three periods. Nothing waits on Redis: the call path reads the last
//! sums, and without Redis each node keeps to its own counts. The limit is therefore
//! approximate: two nodes may admit calls in the same period that together pass a member's
//! cap, by at most what they admit in one period. Other nodes' keys are hostile input: fields
//! are bounded in number ([`ha::schema::MAX_LOAD_FIELDS`]), counts parsed as integers and
//! clamped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ha::schema::{self, MAX_LOAD_FIELDS};
use ha::ReplicaConfig;
use redis::aio::MultiplexedConnection;

/// How often the counts are exchanged.
pub const SHARE_PERIOD: Duration = Duration::from_secs(1);
/// The largest count read for one member from another node.
const MAX_COUNT: u32 = 1_000_000;

/// Calls per member, by (set name, member URI).
pub type Counts = HashMap<(String, String), u32>;

/// The call path's side: it leaves its counts and takes the peers' sums.
#[derive(Debug, Clone, Default)]
pub struct LoadShare {
    inner: Arc<Mutex<Exchange>>,
}

#[derive(Debug, Default)]
struct Exchange {
    /// This node's counts (empty: none to publish, e.g. a standby).
    local: Counts,
    /// The other nodes' sums, and whether they changed since the call path took them.
    peers: Counts,
    fresh: bool,
}

impl LoadShare {
    /// Leaves this node's counts for the next exchange.
    pub fn set_local(&self, counts: Counts) {
        self.lock().local = counts;
    }

    /// The other nodes' sums, when they changed since the last take.
    pub fn take_peers(&self) -> Option<Counts> {
        let mut x = self.lock();
        if !std::mem::take(&mut x.fresh) {
            return None;
        }
        Some(x.peers.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Exchange> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The call path's handle and the exchange task.
pub fn start(
    cfg: &ReplicaConfig,
) -> Result<(LoadShare, impl std::future::Future<Output = ()>), redis::RedisError> {
    let client = redis::Client::open(cfg.url.as_str())?;
    let share = LoadShare::default();
    let task = run(client, cfg.node.clone(), cfg.timeout, share.clone());
    Ok((share, task))
}

async fn run(client: redis::Client, node: String, timeout: Duration, share: LoadShare) {
    let mut con: Option<MultiplexedConnection> = None;
    let mut tick = tokio::time::interval(SHARE_PERIOD);
    loop {
        tick.tick().await;
        if con.is_none() {
            let c = tokio::time::timeout(timeout, client.get_multiplexed_async_connection());
            con = c.await.ok().and_then(Result::ok);
        }
        let Some(c) = con.as_mut() else { continue };
        let local = share.lock().local.clone();
        let round = async {
            publish(c, &node, &local).await?;
            gather(c, &node).await
        };
        match tokio::time::timeout(timeout, round).await {
            Ok(Ok(peers)) => {
                let mut x = share.lock();
                if x.peers != peers {
                    x.peers = peers;
                    x.fresh = true;
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "HA shared limits: exchange failed");
                con = None;
            }
            Err(_) => con = None,
        }
    }
}

/// Replaces this node's load key with `local` (deleted when empty).
async fn publish(
    con: &mut MultiplexedConnection,
    node: &str,
    local: &Counts,
) -> redis::RedisResult<()> {
    let key = schema::load_key(node);
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("DEL").arg(&key).ignore();
    if !local.is_empty() {
        let mut hset = redis::cmd("HSET");
        hset.arg(&key);
        for ((set, uri), n) in local {
            hset.arg(format!("{set} {uri}")).arg(*n);
        }
        pipe.add_command(hset).ignore();
        let ttl = SHARE_PERIOD.as_millis() as u64 * 3;
        pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
    }
    pipe.query_async(con).await
}

/// The other nodes' counts, summed per member.
async fn gather(con: &mut MultiplexedConnection, node: &str) -> redis::RedisResult<Counts> {
    let mine = schema::load_key(node);
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", schema::LOAD_PREFIX));
        let (next, found): (u64, Vec<String>) = scan.arg("COUNT").arg(100).query_async(con).await?;
        keys.extend(found.into_iter().filter(|k| *k != mine));
        if next == 0 || keys.len() > 1000 {
            break;
        }
        cursor = next;
    }
    let mut sums = Counts::new();
    for key in keys {
        let fields: HashMap<String, String> =
            redis::cmd("HGETALL").arg(&key).query_async(con).await?;
        if fields.len() > MAX_LOAD_FIELDS {
            tracing::warn!(
                key,
                fields = fields.len(),
                "HA shared limits: a load key too large, ignored"
            );
            continue;
        }
        for (field, n) in fields {
            let (Some((set, uri)), Ok(n)) = (field.split_once(' '), n.parse::<u32>()) else {
                continue;
            };
            let slot = sums.entry((set.to_owned(), uri.to_owned())).or_insert(0);
            *slot = slot.saturating_add(n.min(MAX_COUNT));
        }
    }
    Ok(sums)
}
