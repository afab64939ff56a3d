//! HA replication: writes each anchored call's changes to Redis/Valkey in the `ha` key schema,
//! asynchronously and in batches, so that a slow or absent Redis never slows a call.
//!
//! The call path hands a [`Change`] to [`Replicator::publish`], which never waits: a full
//! queue drops the change, counts it and asks for a full re-publish. The driver task takes
//! changes off the queue, up to `batch` at a time, stamps them (the node's epoch, taken from
//! Redis with `INCR` on the first connection, and a sequence number per call) and sends them as
//! one pipeline of the schema's fenced scripts (`ha::schema::PUT_SCRIPT`, `DEL_SCRIPT`). While
//! Redis is unreachable it keeps the latest change of each call (bounded by `max_pending`) and
//! retries with a backoff; on reconnection it writes what it kept and asks the call path for
//! every call it holds ([`Replicator::take_resync`]), so Redis catches up whatever was lost,
//! Redis's own restart included. Everything is counted in [`ReplicaCounters`] and logged once
//! per outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ha::schema::{self, CHANGES_MAXLEN, MAX_TTL_MS, TOMBSTONE_MS};
use ha::{CallRecord, ReplicaConfig, Stamp};
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
    /// Full re-publishes asked of the call path.
    pub republished: AtomicU64,
    /// The epoch this node writes with (0 until it is first active).
    pub epoch: AtomicU64,
    /// Whether the node is active (1) or a standby (0).
    pub active: AtomicU64,
    /// Replicated calls held: the calls adopted while a standby, the calls written while
    /// active.
    pub held: AtomicU64,
    /// Records of other nodes' calls taken in (adopted or brought up to date).
    pub adopted: AtomicU64,
    /// Records that could not be taken in (ports not free, layouts differ, a Call-ID of
    /// another caller).
    pub adopt_failed: AtomicU64,
    /// Copies dropped because a newer epoch owns the call (split brain resolved).
    pub lost_to_newer: AtomicU64,
    /// Promotions to active.
    pub takeovers: AtomicU64,
}

/// The call path's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Replicator {
    tx: mpsc::Sender<Change>,
    counters: Arc<ReplicaCounters>,
    resync: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

/// What the call path and the driver exchange besides changes.
#[derive(Debug, Default)]
struct Shared {
    /// The node became active: the driver takes a new epoch before its next write.
    activate: AtomicBool,
    /// The highest epoch the node has seen in a record: the new epoch is above it.
    floor: AtomicU64,
    /// Wakes the driver to take the epoch at once.
    wake: tokio::sync::Notify,
    /// The calls whose writes were fenced off (a newer epoch owns them): the call path drops
    /// its copies. Bounded by the calls written.
    fenced: std::sync::Mutex<Vec<String>>,
    /// Whether `fenced` holds any (so the call path's round takes no lock in the usual case).
    any_fenced: AtomicBool,
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

    /// Whether the driver asks for every call again (once per ask): the call path then
    /// publishes a `Put` of each call it holds.
    /// Not while the queue is more than half full: the re-publish would only overflow it
    /// again (and a call path that re-publishes every round under overload never recovers).
    pub fn take_resync(&self) -> bool {
        if self.tx.capacity() < self.tx.max_capacity() / 2 {
            return false;
        }
        self.resync.swap(false, Ordering::Relaxed)
    }

    /// The node became active: every write from now on carries a new epoch, taken from Redis
    /// (`INCR`) before the next write, so that it supersedes whatever another node wrote.
    /// `seen` is the highest epoch of the records the node holds (a standby's), which the new
    /// epoch is above even if Redis lost its counter.
    pub fn activate(&self, seen: u64) {
        self.shared.floor.fetch_max(seen, Ordering::Relaxed);
        self.shared.activate.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
    }

    /// The calls whose writes were fenced off since the last take (their copies here lost).
    pub fn take_fenced(&self) -> Vec<String> {
        if !self.shared.any_fenced.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        match self.shared.fenced.lock() {
            Ok(mut f) => std::mem::take(&mut *f),
            Err(_) => Vec::new(),
        }
    }
}

/// The handle and the driver task (to spawn on the control runtime). The task ends when every
/// handle is dropped and the queue is written out (or Redis is unreachable then).
pub fn start(
    cfg: ReplicaConfig,
) -> Result<(Replicator, impl std::future::Future<Output = ()>), redis::RedisError> {
    let client = redis::Client::open(cfg.url.as_str())?;
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let counters = Arc::new(ReplicaCounters::default());
    let resync = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared::default());
    let handle = Replicator {
        tx,
        counters: counters.clone(),
        resync: resync.clone(),
        shared: shared.clone(),
    };
    let driver = Driver {
        shared,
        cfg,
        client,
        rx,
        counters,
        resync,
        pending: HashMap::new(),
        seqs: HashMap::new(),
        con: None,
    };
    Ok((handle, driver.run()))
}

struct Driver {
    shared: Arc<Shared>,
    cfg: ReplicaConfig,
    client: redis::Client,
    rx: mpsc::Receiver<Change>,
    counters: Arc<ReplicaCounters>,
    resync: Arc<AtomicBool>,
    /// The latest change of each call not written yet (outage or failed pipeline).
    pending: HashMap<String, Change>,
    /// The last sequence number written per call (forgotten at its end).
    seqs: HashMap<String, u64>,
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
            if self.shared.activate.load(Ordering::Relaxed) && !self.take_epoch().await {
                continue;
            }
            if self.pending.is_empty() {
                tokio::select! {
                    c = self.rx.recv() => match c {
                        Some(c) => self.keep(c, true),
                        None => open = false,
                    },
                    () = self.shared.wake.notified() => continue,
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
            Ok(Ok(c)) => self.connected(c).await,
            Ok(Err(e)) => self.outage(&e.to_string()),
            Err(_) => self.outage("connect timed out"),
        }
    }

    /// A new connection: the epoch counter restored to at least this node's (a Redis that
    /// restarted lost it); on a later connection than the first, Redis may have lost what it
    /// held, so the call path is asked for everything again.
    async fn connected(&mut self, mut con: MultiplexedConnection) -> bool {
        let mine = self.counters.epoch.load(Ordering::Relaxed);
        if mine > 0 {
            let mut floor = redis::cmd("EVAL");
            floor
                .arg(schema::EPOCH_FLOOR_SCRIPT)
                .arg(1)
                .arg(schema::EPOCH_KEY)
                .arg(mine);
            match tokio::time::timeout(self.cfg.timeout, floor.query_async::<i64>(&mut con)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return self.outage(&e.to_string()),
                Err(_) => return self.outage("restoring the epoch timed out"),
            }
        }
        if self.counters.connects.fetch_add(1, Ordering::Relaxed) > 0 {
            self.counters.republished.fetch_add(1, Ordering::Relaxed);
            self.resync.store(true, Ordering::Relaxed);
            tracing::info!(url = %self.cfg.url, "HA replication: reconnected to Redis");
        }
        self.con = Some(con);
        true
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
    /// A new epoch from Redis when the node became active (`INCR`, so no two activations
    /// share one). False when Redis did not give one (the writes wait).
    async fn take_epoch(&mut self) -> bool {
        if !self.shared.activate.load(Ordering::Relaxed) {
            return self.counters.epoch.load(Ordering::Relaxed) > 0;
        }
        let Some(con) = self.con.as_mut() else {
            return false;
        };
        let floor = self
            .shared
            .floor
            .load(Ordering::Relaxed)
            .max(self.counters.epoch.load(Ordering::Relaxed));
        let mut incr = redis::cmd("EVAL");
        incr.arg(schema::EPOCH_SCRIPT)
            .arg(1)
            .arg(schema::EPOCH_KEY)
            .arg(floor);
        let epoch = incr.query_async::<u64>(con);
        match tokio::time::timeout(self.cfg.timeout, epoch).await {
            Ok(Ok(e)) => {
                self.shared.activate.store(false, Ordering::Relaxed);
                self.counters.epoch.store(e, Ordering::Relaxed);
                tracing::info!(epoch = e, node = %self.cfg.node, "HA replication: active");
                true
            }
            Ok(Err(e)) => self.outage(&e.to_string()),
            Err(_) => self.outage("INCR of the epoch timed out"),
        }
    }

    /// Writes what is pending as one pipeline.
    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.con.is_some() && !self.take_epoch().await {
            if self.con.is_some() {
                // Never active (a standby): nothing of it is written.
                let n = self.pending.drain().count() as u64;
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
            return;
        }
        let batch: Vec<Change> = self.pending.drain().map(|(_, c)| c).collect();
        if self.con.is_none() {
            batch.into_iter().for_each(|c| self.keep(c, false));
            return;
        }
        let pipe = self.pipeline(&batch);
        let Some(con) = self.con.as_mut() else { return };
        let sent = tokio::time::timeout(self.cfg.timeout, pipe.query_async::<Vec<i64>>(con)).await;
        match sent {
            Ok(Ok(results)) => self.written(&batch, &results),
            Ok(Err(e)) => self.failed(batch, &e.to_string()),
            Err(_) => self.failed(batch, "pipeline timed out"),
        }
    }

    /// A pipeline's results, one per change: 1 written, 2 this very stamp was stored already
    /// (a retry after a lost reply), 0 fenced off (a newer epoch owns the call: its copy here
    /// is dropped by the call path, [`Replicator::take_fenced`]).
    fn written(&mut self, batch: &[Change], results: &[i64]) {
        let written = results.iter().filter(|&&r| r == 1 || r == 2).count() as u64;
        self.counters.written.fetch_add(written, Ordering::Relaxed);
        let fenced = results.len() as u64 - written;
        self.counters.fenced.fetch_add(fenced, Ordering::Relaxed);
        if fenced == 0 {
            return;
        }
        let lost = batch
            .iter()
            .zip(results)
            .filter(|(_, &r)| r == 0)
            .map(|(c, _)| c.call_id().to_owned());
        if let Ok(mut f) = self.shared.fenced.lock() {
            f.extend(lost);
            self.shared.any_fenced.store(true, Ordering::Release);
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

impl Driver {
    /// The next stamp of call `call_id` (at its `end`, which forgets its sequence).
    fn stamp(&mut self, call_id: &str, end: bool) -> Stamp {
        let seq = if end {
            self.seqs.remove(call_id).unwrap_or(0) + 1
        } else {
            let s = self.seqs.entry(call_id.to_string()).or_insert(0);
            *s += 1;
            *s
        };
        Stamp {
            epoch: self.counters.epoch.load(Ordering::Relaxed),
            node: self.cfg.node.clone(),
            seq,
        }
    }

    /// One `EVAL` of the schema's scripts per change, each stamped. `EVAL` rather than
    /// `EVALSHA`: a Redis that restarted has no script cache, and the scripts are short.
    fn pipeline(&mut self, batch: &[Change]) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        let now = now_ms();
        for c in batch {
            let (script, stamp, ttl, rec) = match c {
                Change::Put(r) => {
                    let mut r = r.as_ref().clone();
                    r.stamp = self.stamp(&r.call_id, false);
                    let ttl = r.expires_ms.saturating_sub(now).clamp(1000, MAX_TTL_MS);
                    (schema::PUT_SCRIPT, r.stamp.clone(), ttl, Some(r))
                }
                Change::End { call_id } => {
                    let stamp = self.stamp(call_id, true);
                    (schema::DEL_SCRIPT, stamp, TOMBSTONE_MS, None)
                }
            };
            pipe.cmd("EVAL")
                .arg(script)
                .arg(2)
                .arg(schema::call_key(c.call_id()))
                .arg(schema::CHANGES_KEY)
                .arg(stamp.epoch)
                .arg(&stamp.node)
                .arg(stamp.seq)
                .arg(ttl)
                .arg(CHANGES_MAXLEN);
            if let Some(r) = rec {
                pipe.arg(r.encode());
            }
        }
        pipe
    }
}

/// Wall-clock time in ms since the Unix epoch (the records' times).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
