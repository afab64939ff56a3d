//! The HA replication driver against a real `redis-server` (Debian's, started here on a
//! loopback port with no persistence): changes land in the key schema with their TTL and
//! change-stream entries; the fencing scripts refuse stale writers; an absent Redis never
//! blocks the call path, and when it comes back (empty, as after a crash) the driver writes
//! every call again.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use control::ha_driver::{self, Change, HaConfig, Replicator, Snapshot};
use ha::{schema, CallRecord, Dialog, Leg, Member, Stamp, Stream};
use redis::AsyncCommands;

const TEST: &str = "ha_redis";

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let why = format!("cannot run redis-server ({e}): deploy/install-deps.sh --test");
                testkit::need::unmet(TEST, "redis", &why);
                return None;
            }
        };
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < until,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Redis { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn record(i: usize, node: &str, epoch: u64, seq: u64) -> CallRecord {
    let leg = |port: u16| Leg {
        interface: "external".into(),
        port,
        advertised: Ipv4Addr::new(127, 0, 0, 1).into(),
        remote: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 40000))),
        latched: None,
        mux: false,
    };
    let now = 1_796_000_000_000;
    CallRecord {
        v: 1,
        stamp: Stamp {
            epoch,
            node: node.into(),
            seq,
        },
        call_id: format!("call-{i}@test"),
        updated_ms: now,
        expires_ms: now + 30 * 86_400_000,
        dialog: Dialog {
            tags: [format!("from{i}"), format!("to{i}")],
            targets: ["sip:a@127.0.0.1".into(), "sip:m@127.0.0.1:5080".into()],
            route_set: vec!["<sip:127.0.0.1;lr>".into()],
            cseq: [1, 1],
        },
        member: Member {
            set: "pool".into(),
            uri: "sip:127.0.0.1:5080".into(),
        },
        media: vec![Stream {
            legs: [leg(30000 + 2 * i as u16), leg(40000 + 2 * i as u16)],
        }],
        sdp_versions: [1, 1],
    }
}

fn cfg(url: String) -> HaConfig {
    HaConfig {
        url,
        batch: 256,
        queue: 100_000,
        max_pending: 100_000,
        timeout: Duration::from_secs(2),
    }
}

fn started(url: String, held: Arc<Mutex<Vec<CallRecord>>>) -> Replicator {
    let snapshot: Snapshot = Arc::new(move || held.lock().unwrap().clone());
    let (rep, task) = ha_driver::start(cfg(url), snapshot).unwrap();
    tokio::spawn(task);
    rep
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored(con: &mut redis::aio::MultiplexedConnection, id: &str) -> Option<CallRecord> {
    let rec: Option<Vec<u8>> = con.hget(schema::call_key(id), "rec").await.unwrap();
    rec.map(|b| CallRecord::decode(&b).unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn changes_land_fenced_with_their_ttl_and_stream_entries() {
    let Some(redis) = Redis::start(free_port()) else {
        return;
    };
    let held = Arc::new(Mutex::new(Vec::new()));
    let rep = started(redis.url(), held);
    for i in 0..1000 {
        rep.publish(Change::Put(Box::new(record(i, "a", 5, 1))));
    }
    let c = rep.counters().clone();
    wait_for("1000 writes", || c.written.load(Ordering::Relaxed) >= 1000).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(
        stored(&mut con, "call-7@test").await,
        Some(record(7, "a", 5, 1))
    );
    let ttl: i64 = con.pttl(schema::call_key("call-7@test")).await.unwrap();
    assert!(
        ttl > 1_000_000,
        "the TTL follows the record's deadline: {ttl}"
    );
    let len: u64 = redis::cmd("XLEN")
        .arg(schema::CHANGES_KEY)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        len, 1000,
        "one change-stream entry per write, none for a retried one"
    );

    // A stale writer (older epoch) and a second claimant of the same epoch are refused; the
    // stored record stays the newer one.
    // (One at a time: changes of one call queued together are coalesced to the latest.)
    let stale = [
        record(7, "b", 4, 9),
        record(7, "b", 5, 9),
        record(7, "a", 5, 0),
    ];
    for (n, r) in stale.into_iter().enumerate() {
        rep.publish(Change::Put(Box::new(r)));
        wait_for("fenced", || {
            c.fenced.load(Ordering::Relaxed) == n as u64 + 1
        })
        .await;
    }
    assert_eq!(
        stored(&mut con, "call-7@test").await,
        Some(record(7, "a", 5, 1))
    );

    // The end leaves a tombstone that keeps a late write of the ended call out.
    let w = c.written.load(Ordering::Relaxed);
    let end = Stamp {
        epoch: 5,
        node: "a".into(),
        seq: 2,
    };
    rep.publish(Change::End {
        call_id: "call-7@test".into(),
        stamp: end,
    });
    wait_for("the end", || c.written.load(Ordering::Relaxed) > w).await;
    rep.publish(Change::Put(Box::new(record(7, "a", 5, 1))));
    wait_for("a fenced late put", || {
        c.fenced.load(Ordering::Relaxed) == 4
    })
    .await;
    assert_eq!(stored(&mut con, "call-7@test").await, None);
    let dead: Option<String> = con
        .hget(schema::call_key("call-7@test"), "dead")
        .await
        .unwrap();
    assert_eq!(dead.as_deref(), Some("1"));
    // A newer epoch (the standby that took over) may write it again.
    rep.publish(Change::Put(Box::new(record(7, "b", 6, 1))));
    wait_for("the new epoch's write", || {
        c.written.load(Ordering::Relaxed) >= w + 2
    })
    .await;
    assert_eq!(
        stored(&mut con, "call-7@test").await,
        Some(record(7, "b", 6, 1))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_absent_redis_never_blocks_and_a_new_one_gets_every_call() {
    let port = free_port();
    let held = Arc::new(Mutex::new(
        (0..200).map(|i| record(i, "a", 1, 1)).collect::<Vec<_>>(),
    ));
    let rep = started(format!("redis://127.0.0.1:{port}/"), held.clone());
    let c = rep.counters().clone();
    // No Redis yet: 200 changes are taken at once, nothing waits.
    let t = Instant::now();
    for r in held.lock().unwrap().iter() {
        rep.publish(Change::Put(Box::new(r.clone())));
    }
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "publish waited: {:?}",
        t.elapsed()
    );
    wait_for("a failed connect", || c.failed.load(Ordering::Relaxed) > 0).await;
    // Redis comes up: the kept changes are written.
    let redis = Redis::start(port).unwrap();
    wait_for("200 writes", || c.written.load(Ordering::Relaxed) >= 200).await;
    // Redis dies and comes back empty: the driver notices on its next write, reconnects and
    // writes the whole snapshot again, the call that changed meanwhile included.
    drop(redis);
    held.lock().unwrap()[3] = record(3, "a", 1, 2);
    rep.publish(Change::Put(Box::new(record(3, "a", 1, 2))));
    wait_for("the failure seen", || c.failed.load(Ordering::Relaxed) > 1).await;
    let redis = Redis::start(port).unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let keys: Vec<String> = con.keys(format!("{}*", schema::CALL_PREFIX)).await.unwrap();
        if keys.len() == 200 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{} calls re-published of 200: {c:?}",
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.republished.load(Ordering::Relaxed) >= 1);
    assert_eq!(
        stored(&mut con, "call-3@test").await,
        Some(record(3, "a", 1, 2))
    );
}
