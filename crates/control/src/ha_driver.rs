//! HA replication: writes each anchored call's changes to Redis/Valkey in the `ha` key schema,
//! asynchronously and in batches, so that a slow or absent Redis never slows a call.
//!
//! The call path hands a [`Change`] to [`Replicator::publish`], which never waits: a full
//! queue drops the change, counts it and marks the state for a full re-publish. The driver
//! task takes changes off the queue, up to `batch` at a time, and sends them as one pipeline
//! of the schema's fenced scripts (`ha::schema::PUT_SCRIPT`, `DEL_SCRIPT`). While Redis is
//! unreachable it keeps the latest change of each call (bounded by `max_pending`), retries
//! with a backoff, and on reconnection writes what it kept and then every call the node holds
//! (the [`Snapshot`]), so Redis catches up whatever was lost, Redis's own restart included.
//! Everything is counted in [`ReplicaCounters`] and logged once per outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ha::schema::{self, CHANGES_MAXLEN, MAX_TTL_MS, TOMBSTONE_MS};
use ha::{CallRecord, Stamp};
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;

/// One change of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The call's state as it is now.
    Put(Box<CallRecord>),
    /// The call ended.
    End {
        /// Its Call-ID.
        call_id: String,
        /// The stamp of the ending (a sequence above the last put's).
        stamp: Stamp,
    },
}

impl Change {
    fn call_id(&self) -> &str {
        match self {
            Change::Put(r) => &r.call_id,
            Change::End { call_id, .. } => call_id,
        }
    }
}

/// Where and how the driver writes.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Changes per pipeline.
    pub batch: usize,
    /// The queue between the call path and the driver.
    pub queue: usize,
    /// Calls whose latest change is kept while Redis is unreachable.
    pub max_pending: usize,
    /// Connect and per-pipeline timeout.
    pub timeout: Duration,
}

/// What the node holds now, for a full re-publish.
pub type Snapshot = Arc<dyn Fn() -> Vec<CallRecord> + Send + Sync>;

/// The driver's counters (monotonic).
#[derive(Debug, Default)]
pub struct ReplicaCounters {
    /// Changes Redis applied.
    pub written: AtomicU64,
    /// Changes the fencing scripts refused (a newer stamp was stored).
    pub fenced: AtomicU64,
    /// Pipelines that failed (Redis unreachable, timed out or in error).
    pub failed: AtomicU64,
    /// Changes dropped: the queue was full, or more calls changed during an outage than kept.
    pub dropped: AtomicU64,
    /// Connections made (the first included).
    pub connects: AtomicU64,
    /// Full re-publishes of the snapshot.
    pub republished: AtomicU64,
}

/// The call path's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Replicator {
    tx: mpsc::Sender<Change>,
    counters: Arc<ReplicaCounters>,
    resync: Arc<AtomicBool>,
}

impl Replicator {
    /// Queues a change; when the queue is full it is dropped, counted, and the next
    /// connection re-publishes everything.
    pub fn publish(&self, change: Change) {
        if self.tx.try_send(change).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            self.resync.store(true, Ordering::Relaxed);
        }
    }

    /// The driver's counters.
    pub fn counters(&self) -> &Arc<ReplicaCounters> {
        &self.counters
    }
}

/// The handle and the driver task (to spawn on the control runtime). The task ends when every
/// handle is dropped and the queue is written out (or Redis is unreachable then).
pub fn start(
    cfg: HaConfig,
    snapshot: Snapshot,
) -> Result<(Replicator, impl std::future::Future<Output = ()>), redis::RedisError> {
    let client = redis::Client::open(cfg.url.as_str())?;
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let counters = Arc::new(ReplicaCounters::default());
    let resync = Arc::new(AtomicBool::new(false));
    let handle = Replicator {
        tx,
        counters: counters.clone(),
        resync: resync.clone(),
    };
    let driver = Driver {
        cfg,
        client,
        rx,
        counters,
        resync,
        snapshot,
        pending: HashMap::new(),
        con: None,
    };
    Ok((handle, driver.run()))
}

struct Driver {
    cfg: HaConfig,
    client: redis::Client,
    rx: mpsc::Receiver<Change>,
    counters: Arc<ReplicaCounters>,
    resync: Arc<AtomicBool>,
    snapshot: Snapshot,
    /// The latest change of each call not written yet (outage or failed pipeline).
    pending: HashMap<String, Change>,
    con: Option<MultiplexedConnection>,
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        let mut open = true;
        while open || !self.pending.is_empty() {
            if self.con.is_none() && !self.connect().await {
                open = self.absorb_for(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                if !open {
                    break;
                }
                continue;
            }
            backoff = Duration::from_millis(100);
            if self.pending.is_empty() && !self.resync.load(Ordering::Relaxed) {
                match self.rx.recv().await {
                    Some(c) => self.keep(c, true),
                    None => open = false,
                }
            }
            while self.pending.len() < self.cfg.batch {
                match self.rx.try_recv() {
                    Ok(c) => self.keep(c, true),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            self.flush().await;
        }
    }

    /// Keeps a change as the call's latest (`newer`: it replaces what is kept; otherwise only
    /// if nothing newer is kept). Beyond `max_pending` calls, drops it and asks for a resync.
    fn keep(&mut self, c: Change, newer: bool) {
        let full = self.pending.len() >= self.cfg.max_pending;
        match self.pending.get_mut(c.call_id()) {
            Some(kept) if newer => *kept = c,
            Some(_) => {}
            None if full => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.resync.store(true, Ordering::Relaxed);
            }
            None => {
                self.pending.insert(c.call_id().to_string(), c);
            }
        }
    }

    /// While disconnected: takes changes off the queue into `pending` for `wait`. Returns
    /// false when every handle is gone.
    async fn absorb_for(&mut self, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(until, self.rx.recv()).await {
                Ok(Some(c)) => self.keep(c, true),
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    async fn connect(&mut self) -> bool {
        let con = tokio::time::timeout(
            self.cfg.timeout,
            self.client.get_multiplexed_async_connection(),
        )
        .await;
        match con {
            Ok(Ok(c)) => {
                let n = self.counters.connects.fetch_add(1, Ordering::Relaxed);
                if n > 0 {
                    // Redis may have lost what it held: write everything again.
                    self.resync.store(true, Ordering::Relaxed);
                    tracing::info!(url = %self.cfg.url, "HA replication: reconnected to Redis");
                }
                self.con = Some(c);
                true
            }
            Ok(Err(e)) => self.outage(&e.to_string()),
            Err(_) => self.outage("connect timed out"),
        }
    }

    fn outage(&mut self, why: &str) -> bool {
        if self.con.take().is_some() || self.counters.failed.load(Ordering::Relaxed) == 0 {
            tracing::warn!(url = %self.cfg.url, error = why, "HA replication: Redis unreachable; calls go on, changes are kept");
        }
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        false
    }
}

impl Driver {
    /// Writes what is pending (and, when asked, the whole snapshot) as one pipeline.
    async fn flush(&mut self) {
        let mut batch: Vec<Change> = self.pending.drain().map(|(_, c)| c).collect();
        if self.resync.swap(false, Ordering::Relaxed) {
            self.counters.republished.fetch_add(1, Ordering::Relaxed);
            batch.extend(
                (self.snapshot)()
                    .into_iter()
                    .map(|r| Change::Put(Box::new(r))),
            );
        }
        if batch.is_empty() {
            return;
        }
        let Some(con) = self.con.as_mut() else {
            batch.into_iter().for_each(|c| self.keep(c, false));
            return;
        };
        let pipe = pipeline(&batch);
        let sent = tokio::time::timeout(self.cfg.timeout, pipe.query_async::<Vec<i64>>(con)).await;
        match sent {
            Ok(Ok(results)) => {
                // 2: this stamp was stored already (a retry after a lost reply).
                let written = results.iter().filter(|&&r| r == 1 || r == 2).count() as u64;
                self.counters.written.fetch_add(written, Ordering::Relaxed);
                let fenced = results.len() as u64 - written;
                self.counters.fenced.fetch_add(fenced, Ordering::Relaxed);
            }
            Ok(Err(e)) => self.failed(batch, &e.to_string()),
            Err(_) => self.failed(batch, "pipeline timed out"),
        }
    }

    /// A failed pipeline: its changes are kept (behind anything newer) for the next
    /// connection, which also re-publishes the snapshot.
    fn failed(&mut self, batch: Vec<Change>, why: &str) {
        self.outage(why);
        self.resync.store(true, Ordering::Relaxed);
        batch.into_iter().for_each(|c| self.keep(c, false));
    }
}

/// One `EVAL` of the schema's scripts per change. `EVAL` rather than `EVALSHA`: a Redis that
/// restarted has no script cache, and the scripts are a few hundred bytes.
fn pipeline(batch: &[Change]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    let now = now_ms();
    for c in batch {
        match c {
            Change::Put(r) => {
                let ttl = r.expires_ms.saturating_sub(now).clamp(1000, MAX_TTL_MS);
                pipe.cmd("EVAL")
                    .arg(schema::PUT_SCRIPT)
                    .arg(2)
                    .arg(schema::call_key(&r.call_id))
                    .arg(schema::CHANGES_KEY)
                    .arg(r.stamp.epoch)
                    .arg(&r.stamp.node)
                    .arg(r.stamp.seq)
                    .arg(ttl)
                    .arg(CHANGES_MAXLEN)
                    .arg(r.encode());
            }
            Change::End { call_id, stamp } => {
                pipe.cmd("EVAL")
                    .arg(schema::DEL_SCRIPT)
                    .arg(2)
                    .arg(schema::call_key(call_id))
                    .arg(schema::CHANGES_KEY)
                    .arg(stamp.epoch)
                    .arg(&stamp.node)
                    .arg(stamp.seq)
                    .arg(TOMBSTONE_MS)
                    .arg(CHANGES_MAXLEN);
            }
        }
    }
    pipe
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
