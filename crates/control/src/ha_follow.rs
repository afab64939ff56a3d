//! HA: following what the other nodes write to Redis/Valkey.
//!
//! A standby loads every call record (`SCAN` over `fv:1:call:*`, after noting the change
//! stream's last entry) and then follows the change stream (`XREAD BLOCK` from that entry on),
//! reading each changed call's record. Everything read is hostile input: records go through
//! [`ha::CallRecord::decode`], keys through [`ha::schema::call_id_of`]; what is refused is
//! counted and skipped. An active node follows the stream only to learn that a newer epoch
//! wrote one of its calls (split brain resolved: it drops its copy): it looks at the cluster's
//! epoch counter twice a second and reads the stream only while a newer activation exists, so
//! it never reads its own writes back; it reads no record.
//!
//! The follower runs on its own connection (a blocking `XREAD` holds it) and hands what it
//! reads to the SIP driver's thread over a bounded channel: when the call path is busy the
//! follower waits, never the other way round. On a lost connection it reconnects with a
//! backoff and a standby loads everything again (the stream may have been trimmed, Redis may
//! have restarted).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha::schema::{self, CHANGES_KEY};
use ha::{CallRecord, ReplicaConfig};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use tokio::sync::mpsc;

/// Entries read per `XREAD`, and keys per `SCAN` step.
const BATCH: usize = 512;
/// How long one `XREAD` blocks (the role is looked at again after it).
const BLOCK_MS: u64 = 500;

/// What the follower read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// A call as its owner wrote it last (a standby holds it).
    Put(Box<CallRecord>),
    /// A call ended (a tombstone) or is gone (expired).
    Ended(String),
    /// A full load finished (each live record came as a [`Followed::Put`], each tombstone as
    /// a [`Followed::Ended`]: a copy of a call that ended while the node was not following
    /// goes): how many calls were live, how many records were refused, and how long it took.
    Loaded {
        /// Live records read.
        calls: usize,
        /// Records refused by the decoder.
        refused: usize,
        /// The load's duration.
        took: Duration,
    },
    /// A write of call `0` in epoch `1` (an active node drops its copy when the epoch is newer
    /// than its own).
    Seen(String, u64),
}

/// The follower's counters (monotonic).
#[derive(Debug, Default)]
pub struct FollowCounters {
    /// Records read and handed on.
    pub records: AtomicU64,
    /// Records or stream entries refused (hostile or of another schema).
    pub refused: AtomicU64,
    /// Full loads done.
    pub loads: AtomicU64,
    /// Connections lost or refused.
    pub failed: AtomicU64,
    /// Whether the follower is connected (1) or not (0).
    pub up: AtomicU64,
}

/// The receiving end (for the SIP driver), the counters and the follower task.
pub fn start(
    cfg: &ReplicaConfig,
    standby: Arc<AtomicBool>,
    epoch: Arc<crate::ha_driver::ReplicaCounters>,
) -> Result<
    (
        mpsc::Receiver<Followed>,
        Arc<FollowCounters>,
        impl std::future::Future<Output = ()>,
    ),
    redis::RedisError,
> {
    let client = redis::Client::open(cfg.url.as_str())?;
    let (tx, rx) = mpsc::channel(4096);
    let counters = Arc::new(FollowCounters::default());
    let f = Follower {
        epoch,
        client,
        timeout: cfg.timeout,
        tx,
        standby,
        counters: counters.clone(),
    };
    Ok((rx, counters, f.run()))
}

/// One call key as read.
enum Fetched {
    /// A live record that passed the decoder.
    Live(Box<CallRecord>),
    /// A tombstone: the call ended.
    Dead,
    /// Gone, or refused (counted).
    Nothing,
}

struct Follower {
    /// The node's epoch (0 until it was first active), from the replication driver.
    epoch: Arc<crate::ha_driver::ReplicaCounters>,
    client: redis::Client,
    timeout: Duration,
    tx: mpsc::Sender<Followed>,
    standby: Arc<AtomicBool>,
    counters: Arc<FollowCounters>,
}

/// Why following stopped (reconnect, or end: the SIP driver is gone).
enum Stop {
    Redis(String),
    Closed,
}

impl From<redis::RedisError> for Stop {
    fn from(e: redis::RedisError) -> Self {
        Stop::Redis(e.to_string())
    }
}

impl Follower {
    async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let con =
                tokio::time::timeout(self.timeout, self.client.get_multiplexed_async_connection())
                    .await;
            let stop = match con {
                Ok(Ok(con)) => {
                    backoff = Duration::from_millis(100);
                    self.counters.up.store(1, Ordering::Relaxed);
                    self.follow(con).await
                }
                Ok(Err(e)) => Stop::Redis(e.to_string()),
                Err(_) => Stop::Redis("connect timed out".into()),
            };
            self.counters.up.store(0, Ordering::Relaxed);
            match stop {
                Stop::Closed => return,
                Stop::Redis(why) => {
                    if self.counters.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(error = %why, "HA follower: Redis unreachable; retrying");
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Follows on one connection until it fails: a full load whenever the node is (or
    /// becomes) a standby, then the stream.
    async fn follow(&self, mut con: MultiplexedConnection) -> Stop {
        let mut last = match self.tail(&mut con).await {
            Ok(id) => id,
            Err(e) => return e,
        };
        let mut loaded = false;
        loop {
            let standby = self.standby.load(Ordering::Relaxed);
            let step = if standby {
                self.standby_step(&mut con, &mut last, !loaded).await
            } else {
                self.watch(&mut con, &mut last).await
            };
            if let Err(e) = step {
                return e;
            }
            loaded = standby;
        }
    }

    /// A standby: a full load first (the stream followed from the entry before it), then the
    /// changes after `last`, each call's record read.
    async fn standby_step(
        &self,
        con: &mut MultiplexedConnection,
        last: &mut String,
        load: bool,
    ) -> Result<(), Stop> {
        if load {
            *last = self.tail(con).await?;
            self.load(con).await?;
        }
        for entry in self.read(con, last, Some(BLOCK_MS)).await? {
            last.clone_from(&entry.id);
            self.entry(con, &entry).await?;
        }
        Ok(())
    }

    /// An active node, every [`BLOCK_MS`]: whether a node became active after it (the
    /// cluster's epoch counter above its own). Only then are the changes since the previous
    /// look read, and each write in a newer epoch handed on ([`Followed::Seen`]); otherwise
    /// only the stream's tail is noted, so the node does not read its own writes back.
    async fn watch(&self, con: &mut MultiplexedConnection, last: &mut String) -> Result<(), Stop> {
        let mine = self.epoch.epoch.load(Ordering::Relaxed);
        // The tail before the counter: a newer node's writes follow its INCR, so when the
        // counter read is still not above ours, every write of a newer epoch comes after the
        // tail read first.
        let mut pipe = redis::pipe();
        pipe.cmd("XREVRANGE")
            .arg(CHANGES_KEY)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        pipe.cmd("GET").arg(schema::EPOCH_KEY);
        let (tail, cluster): (StreamRangeReply, Option<u64>) =
            self.timed(pipe.query_async(con)).await?;
        if mine > 0 && cluster.unwrap_or(0) > mine {
            loop {
                let entries = self.read(con, last, None).await?;
                if entries.is_empty() {
                    break;
                }
                for e in entries {
                    last.clone_from(&e.id);
                    self.seen(&e, mine).await?;
                }
            }
        } else if let Some(t) = tail.ids.first() {
            last.clone_from(&t.id);
        }
        tokio::time::sleep(Duration::from_millis(BLOCK_MS)).await;
        Ok(())
    }

    /// A write in an epoch newer than `mine`, handed on.
    async fn seen(&self, e: &StreamId, mine: u64) -> Result<(), Stop> {
        let text = |k: &str| e.get::<String>(k);
        let epoch = text("epoch").and_then(|t| t.parse::<u64>().ok());
        let id = text("key")
            .as_deref()
            .and_then(schema::call_id_of)
            .map(str::to_owned);
        match (text("op").as_deref(), epoch, id) {
            (Some("put"), Some(epoch), Some(id)) if epoch > mine => {
                self.send(Followed::Seen(id, epoch)).await
            }
            _ => Ok(()),
        }
    }

    /// The id of the stream's last entry ("0-0" when it is empty).
    async fn tail(&self, con: &mut MultiplexedConnection) -> Result<String, Stop> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(CHANGES_KEY).arg("+").arg("-").arg("COUNT").arg(1);
        let r: StreamRangeReply = self.timed(cmd.query_async(con)).await?;
        Ok(r.ids.first().map_or_else(|| "0-0".into(), |e| e.id.clone()))
    }

    /// Entries after `last` (waiting up to `block` ms for one; none after that quiet).
    async fn read(
        &self,
        con: &mut MultiplexedConnection,
        last: &str,
        block: Option<u64>,
    ) -> Result<Vec<StreamId>, Stop> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(BATCH);
        if let Some(ms) = block {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS").arg(CHANGES_KEY).arg(last);
        let wait = self.timeout + Duration::from_millis(block.unwrap_or(0));
        let r = tokio::time::timeout(wait, cmd.query_async::<Option<StreamReadReply>>(con)).await;
        match r {
            Ok(Ok(r)) => Ok(r
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Stop::Redis("XREAD timed out".into())),
        }
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Stop> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Stop::Redis("Redis did not answer in time".into())),
        }
    }

    async fn send(&self, f: Followed) -> Result<(), Stop> {
        self.tx.send(f).await.map_err(|_| Stop::Closed)
    }
}

impl Follower {
    /// One stream entry for a standby: the call's record read and handed on.
    async fn entry(&self, con: &mut MultiplexedConnection, e: &StreamId) -> Result<(), Stop> {
        let text = |k: &str| e.get::<String>(k);
        let Some(call_id) = text("key")
            .as_deref()
            .and_then(schema::call_id_of)
            .map(str::to_owned)
        else {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let mut got = self.fetch(con, std::slice::from_ref(&call_id)).await?;
        match got.pop() {
            Some(Fetched::Live(rec)) => self.send(Followed::Put(rec)).await,
            // Ended, or gone since (its key expired): either way the copy goes.
            _ => self.send(Followed::Ended(call_id)).await,
        }
    }

    /// What `ids` hold: a live record, a tombstone, or nothing usable (gone, or refused).
    async fn fetch(
        &self,
        con: &mut MultiplexedConnection,
        ids: &[String],
    ) -> Result<Vec<Fetched>, Stop> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(schema::call_key(id))
                .arg("rec")
                .arg("dead");
        }
        let raw: Vec<(Option<Vec<u8>>, Option<String>)> = self.timed(pipe.query_async(con)).await?;
        Ok(raw
            .into_iter()
            .zip(ids)
            .map(|((rec, dead), id)| match (rec, dead) {
                (Some(r), _) => match CallRecord::decode(&r) {
                    Ok(rec) if &rec.call_id == id => {
                        self.counters.records.fetch_add(1, Ordering::Relaxed);
                        Fetched::Live(Box::new(rec))
                    }
                    Ok(_) | Err(_) => {
                        self.counters.refused.fetch_add(1, Ordering::Relaxed);
                        Fetched::Nothing
                    }
                },
                (None, Some(_)) => Fetched::Dead,
                (None, None) => Fetched::Nothing,
            })
            .collect())
    }

    /// A full load: every call key, its record read and handed on, then [`Followed::Loaded`].
    async fn load(&self, con: &mut MultiplexedConnection) -> Result<(), Stop> {
        let started = Instant::now();
        let refused_before = self.counters.refused.load(Ordering::Relaxed);
        let mut calls = 0;
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", schema::CALL_PREFIX));
            cmd.arg("COUNT").arg(BATCH);
            let (next, keys): (u64, Vec<String>) = self.timed(cmd.query_async(con)).await?;
            let ids: Vec<String> = keys
                .iter()
                .filter_map(|k| schema::call_id_of(k).map(str::to_owned))
                .collect();
            for (got, id) in self.fetch(con, &ids).await?.into_iter().zip(ids) {
                match got {
                    Fetched::Live(rec) => {
                        calls += 1;
                        self.send(Followed::Put(rec)).await?;
                    }
                    Fetched::Dead => self.send(Followed::Ended(id)).await?,
                    Fetched::Nothing => {}
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        let refused = self.counters.refused.load(Ordering::Relaxed) - refused_before;
        let took = started.elapsed();
        tracing::info!(
            calls,
            refused,
            took_ms = took.as_millis() as u64,
            "HA follower: calls loaded from Redis"
        );
        self.send(Followed::Loaded {
            calls,
            refused: refused as usize,
            took,
        })
        .await
    }
}
