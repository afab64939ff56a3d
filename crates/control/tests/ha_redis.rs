//! The HA replication driver against a real `redis-server` (Debian's, started here on a
//! loopback port with no persistence): changes land in the key schema, stamped with the node's
//! epoch, with their TTL and change-stream entries; a node that became active later takes a
//! call over and the older one's writes of it are refused; an ended call stays ended; an absent
//! Redis never blocks the call path, and when it comes back empty (as after a crash) the call
//! path is asked for every call again.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use testkit::redis::{free_port, RedisServer};

use control::ha_driver::{self, Change, Replicator};
use ha::{schema, CallRecord, Dialog, Leg, Member, Stamp, Stream};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

const TEST: &str = "ha_redis";

/// The test's redis-server.
fn redis_on(port: u16) -> Option<RedisServer> {
    RedisServer::start(TEST, port)
}

fn record(i: usize) -> CallRecord {
    let leg = |port: u16| Leg {
        tag: Some(format!("from{i}")),
        interface: "external".into(),
        port,
        advertised: Ipv4Addr::new(127, 0, 0, 1).into(),
        remote: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 40000))),
        rtcp_port: 40001,
        hold: false,
        clock_rate: 8000,
        mux: false,
    };
    let now = 1_796_000_000_000;
    CallRecord {
        v: 1,
        // The driver stamps every write; what the call path puts here is replaced.
        stamp: Stamp {
            epoch: 0,
            node: "unset".into(),
            seq: 0,
        },
        call_id: format!("call-{i}@test"),
        updated_ms: now,
        expires_ms: now + 30 * 86_400_000,
        dialog: Dialog {
            tags: [format!("from{i}"), format!("to{i}")],
            targets: ["sip:a@127.0.0.1".into(), "sip:m@127.0.0.1:5080".into()],
            hops: [
                (SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)), "udp".into()),
                (SocketAddr::from((Ipv4Addr::LOCALHOST, 5080)), "udp".into()),
            ],
            cseq: [1, 1],
            parties: [
                format!("<sip:a@127.0.0.1>;tag=from{i}"),
                format!("<sip:m@127.0.0.1>;tag=to{i}"),
            ],
        },
        member: Member {
            set: "pool".into(),
            uri: "sip:127.0.0.1:5080".into(),
        },
        media: vec![Stream {
            index: 0,
            worker: 0,
            legs: [leg(30000 + 2 * i as u16), leg(40000 + 2 * i as u16)],
        }],
    }
}

fn started(url: String, node: &str) -> Replicator {
    let cfg = ha::ReplicaConfig {
        url,
        timeout: Duration::from_secs(2),
        ..ha::ReplicaConfig::new(node.into())
    };
    let (rep, task) = ha_driver::start(cfg).unwrap();
    tokio::spawn(task);
    rep.activate(0);
    rep
}

fn put(rep: &Replicator, i: usize) {
    rep.publish(Change::Put(Box::new(record(i))));
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The record stored for call `i` and its stamp's (epoch, node, seq), or a tombstone's stamp.
async fn stored(con: &mut MultiplexedConnection, i: usize) -> (Option<CallRecord>, Stamp) {
    let key = schema::call_key(&format!("call-{i}@test"));
    let (epoch, node, seq, rec): (u64, String, u64, Option<Vec<u8>>) = redis::cmd("HMGET")
        .arg(&key)
        .arg(&["epoch", "node", "seq", "rec"][..])
        .query_async(con)
        .await
        .unwrap();
    let rec = rec.map(|b| CallRecord::decode(&b).unwrap());
    (rec, Stamp { epoch, node, seq })
}

fn st(epoch: u64, node: &str, seq: u64) -> Stamp {
    Stamp {
        epoch,
        node: node.into(),
        seq,
    }
}

async fn connect(redis: &RedisServer) -> MultiplexedConnection {
    let client = redis::Client::open(redis.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn changes_land_stamped_and_the_older_epoch_is_fenced_off() {
    let Some(redis) = redis_on(free_port()) else {
        return;
    };
    let mut con = connect(&redis).await;
    let a = started(redis.url(), "a");
    for i in 0..1000 {
        put(&a, i);
    }
    let ca = a.counters().clone();
    wait_for("1000 writes", || ca.written.load(Ordering::Relaxed) >= 1000).await;
    assert_eq!(
        ca.epoch.load(Ordering::Relaxed),
        1,
        "the first node's epoch"
    );
    let (rec, stamp) = stored(&mut con, 7).await;
    assert_eq!(stamp, st(1, "a", 1));
    assert_eq!(rec.map(|r| r.media), Some(record(7).media));
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
    assert_eq!(len, 1000, "one change-stream entry per write");

    // A second node becomes active (epoch 2) and writes call 7: it takes it over; the old
    // active's writes of it are refused from then on, its end too (split brain is safe).
    let b = started(redis.url(), "b");
    put(&b, 7);
    let cb = b.counters().clone();
    wait_for("b's write", || cb.written.load(Ordering::Relaxed) == 1).await;
    assert_eq!(stored(&mut con, 7).await.1, st(2, "b", 1));
    put(&a, 7);
    wait_for("a fenced", || ca.fenced.load(Ordering::Relaxed) == 1).await;
    // The call path learns which of its calls it lost, and drops its copy.
    assert_eq!(a.take_fenced(), vec!["call-7@test".to_owned()]);
    assert!(a.take_fenced().is_empty(), "each loss is told once");
    a.publish(Change::End {
        call_id: "call-7@test".into(),
    });
    wait_for("a's end fenced", || ca.fenced.load(Ordering::Relaxed) == 2).await;
    assert_eq!(stored(&mut con, 7).await.1, st(2, "b", 1));

    // b ends it: a tombstone, and no write brings the ended call back.
    b.publish(Change::End {
        call_id: "call-7@test".into(),
    });
    wait_for("b's end", || cb.written.load(Ordering::Relaxed) == 2).await;
    let (rec, stamp) = stored(&mut con, 7).await;
    assert_eq!((rec, stamp), (None, st(2, "b", 2)));
    let dead: Option<String> = con
        .hget(schema::call_key("call-7@test"), "dead")
        .await
        .unwrap();
    assert_eq!(dead.as_deref(), Some("1"));
    put(&b, 7);
    wait_for("a late write fenced", || {
        cb.fenced.load(Ordering::Relaxed) == 1
    })
    .await;
    put(&a, 7);
    wait_for("the old active's fenced", || {
        ca.fenced.load(Ordering::Relaxed) == 3
    })
    .await;
    assert_eq!(stored(&mut con, 7).await.0, None);
}

#[tokio::test(flavor = "current_thread")]
async fn an_absent_redis_never_blocks_and_a_new_one_gets_every_call() {
    let port = free_port();
    let rep = started(format!("redis://127.0.0.1:{port}/"), "a");
    let c = rep.counters().clone();
    // No Redis yet: 200 changes are taken at once, nothing waits.
    let t = Instant::now();
    for i in 0..200 {
        put(&rep, i);
    }
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "publish waited: {:?}",
        t.elapsed()
    );
    wait_for("a failed connect", || c.failed.load(Ordering::Relaxed) > 0).await;
    // Redis comes up: the kept changes are written.
    let redis = redis_on(port).unwrap();
    wait_for("200 writes", || c.written.load(Ordering::Relaxed) >= 200).await;
    assert!(!rep.take_resync(), "nothing was lost: no re-publish asked");
    // Redis dies and comes back empty: the driver notices on its next write, reconnects and
    // asks the call path for every call, which it publishes (as the SIP driver does).
    drop(redis);
    put(&rep, 3);
    wait_for("the failure seen", || c.failed.load(Ordering::Relaxed) > 1).await;
    let redis = redis_on(port).unwrap();
    wait_for("the ask", || rep.take_resync()).await;
    for i in 0..200 {
        put(&rep, i);
    }
    let mut con = connect(&redis).await;
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
    assert_eq!(c.republished.load(Ordering::Relaxed), 1);
    assert_eq!(
        c.epoch.load(Ordering::Relaxed),
        1,
        "one epoch for the node's whole run"
    );
    // The restarted Redis lost the epoch counter; the node restored it, so the next node to
    // become active takes a newer epoch and its writes are not fenced off.
    let counter: u64 = con.get(schema::EPOCH_KEY).await.unwrap();
    assert_eq!(counter, 1, "restored to the active node's epoch");
    let b = started(redis.url(), "b");
    put(&b, 3);
    let cb = b.counters().clone();
    wait_for("b's write", || cb.written.load(Ordering::Relaxed) == 1).await;
    assert_eq!(cb.epoch.load(Ordering::Relaxed), 2);
}

/// A standby promoted while Redis has no epoch counter at all (it restarted empty and the old
/// active is gone) takes an epoch above every record it holds.
#[tokio::test(flavor = "current_thread")]
async fn a_new_epoch_is_above_every_epoch_seen_even_without_the_counter() {
    let Some(redis) = redis_on(free_port()) else {
        return;
    };
    let cfg = ha::ReplicaConfig {
        url: redis.url(),
        timeout: Duration::from_secs(2),
        ..ha::ReplicaConfig::new("b".into())
    };
    let (rep, task) = ha_driver::start(cfg).unwrap();
    tokio::spawn(task);
    rep.activate(41);
    put(&rep, 1);
    let c = rep.counters().clone();
    wait_for("the write", || c.written.load(Ordering::Relaxed) == 1).await;
    assert_eq!(c.epoch.load(Ordering::Relaxed), 42);
    let mut con = connect(&redis).await;
    assert_eq!(stored(&mut con, 1).await.1, st(42, "b", 1));
}

/// Shared limits read other nodes' load keys as hostile input: a key with more fields than a
/// node may have is ignored whole; a count that is no integer, or a field that names no set
/// and member, is skipped; a huge count is clamped; this node's own key is not counted.
#[tokio::test(flavor = "current_thread")]
async fn other_nodes_load_keys_are_bounded_and_checked() {
    let Some(redis) = redis_on(free_port()) else {
        return;
    };
    let mut con = connect(&redis).await;
    let hset = |key: &str, fields: Vec<(String, String)>| {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key);
        for (f, v) in fields {
            cmd.arg(f).arg(v);
        }
        cmd
    };
    let flood: Vec<(String, String)> = (0..=ha::schema::MAX_LOAD_FIELDS)
        .map(|i| (format!("pool sip:10.0.0.{i}"), "1".into()))
        .collect();
    let _: () = hset("fv:1:load:flood", flood)
        .query_async(&mut con)
        .await
        .unwrap();
    let odd = vec![
        ("pool sip:a".into(), "3".into()),
        ("pool sip:b".into(), "lots".into()),
        ("pool sip:c".into(), "-1".into()),
        ("nospace".into(), "4".into()),
        ("pool sip:d".into(), "99999999999".into()),
        ("pool sip:e".into(), "4000000".into()),
    ];
    let _: () = hset("fv:1:load:b", odd)
        .query_async(&mut con)
        .await
        .unwrap();
    let mine = vec![("pool sip:a".into(), "7".into())];
    let _: () = hset("fv:1:load:a", mine)
        .query_async(&mut con)
        .await
        .unwrap();
    let cfg = ha::ReplicaConfig {
        url: redis.url(),
        ..ha::ReplicaConfig::new("a".into())
    };
    let (share, task) = control::ha_share::start(&cfg).unwrap();
    tokio::spawn(task);
    let mut peers = None;
    wait_for("the other nodes' counts", || {
        peers = share.take_peers();
        peers.is_some()
    })
    .await;
    let key = |uri: &str| ("pool".to_owned(), uri.to_owned());
    let want = control::ha_share::Counts::from([(key("sip:a"), 3), (key("sip:e"), 1_000_000)]);
    assert_eq!(peers.unwrap(), want);
}
