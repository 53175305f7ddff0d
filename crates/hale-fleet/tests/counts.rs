//! The fleet's circuit counts against a real `redis-server`: each node's entry is written
//! and the others' live entries summed in one script, a node that stops publishing stops
//! counting once its entry expires on Redis' clock, and the counter task settles a count
//! only on a reading taken a period after it was written.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::time::Duration;

use hale_fleet::{Counts, FleetConnection, FleetCounts, LocalCounts, StoreState, spawn_counter};
use redis_server::RedisServer;
use tokio::sync::watch;

async fn connect(redis: &RedisServer) -> FleetConnection {
    FleetConnection::connect(&redis.url(), Duration::from_secs(2))
        .await
        .expect("connects to the test's redis-server")
}

fn counts(failing: usize, total: usize) -> Counts {
    Counts { failing, total }
}

fn one(policy: &str, failing: usize, total: usize) -> BTreeMap<String, Counts> {
    BTreeMap::from([(policy.to_owned(), counts(failing, total))])
}

#[tokio::test]
async fn each_node_reads_the_sums_of_the_other_live_nodes() {
    let redis = RedisServer::start();
    let connection = connect(&redis).await;
    let ttl = Duration::from_secs(30);
    let node = |name: &str, ttl| FleetCounts::new(connection.clone(), name, "c1:", ttl);
    let (a, b) = (node("a", ttl), node("b", ttl));
    // A short-lived entry: c stops publishing and stops counting by itself.
    let c = node("c", Duration::from_millis(300));

    let first = a.publish(&one("web", 1, 1)).await.unwrap();
    assert_eq!(first["web"].counts, counts(0, 0), "a alone: no others");
    assert_eq!(first["web"].nodes, 0);
    let seen_by_b = b.publish(&one("web", 1, 1)).await.unwrap();
    assert_eq!(seen_by_b["web"].counts, counts(1, 1), "b sees a's failure");
    let both = BTreeMap::from([
        ("web".to_owned(), counts(0, 1)),
        ("db".to_owned(), counts(1, 2)),
    ]);
    let seen_by_c = c.publish(&both).await.unwrap();
    assert_eq!(seen_by_c["web"].counts, counts(2, 2));
    assert_eq!(seen_by_c["web"].nodes, 2);
    assert_eq!(seen_by_c["db"].counts, counts(0, 0), "policies count apart");

    // A node rewriting its entry replaces it, it is not added twice.
    let again = a.publish(&one("web", 0, 1)).await.unwrap();
    assert_eq!(
        again["web"].counts,
        counts(1, 2),
        "b's 1 of 1 and c's 0 of 1"
    );
    let again = a.publish(&one("web", 0, 1)).await.unwrap();
    assert_eq!(again["web"].counts, counts(1, 2));

    tokio::time::sleep(Duration::from_millis(400)).await;
    let after_c = a.publish(&one("web", 0, 1)).await.unwrap();
    assert_eq!(after_c["web"].counts, counts(1, 1), "c's entry expired");
    assert_eq!(after_c["web"].nodes, 1);

    // The keys expire with their last entry: nothing is left once every node stopped.
    let mut ttl_of = redis::cmd("PTTL");
    ttl_of.arg(a.counts_key("web"));
    let mut raw = redis.connection().await;
    let left: i64 = ttl_of.query_async(&mut raw).await.unwrap();
    assert!(left > 0 && left <= 30_000, "the hash expires: {left}");
    let mut db_ttl = redis::cmd("PTTL");
    db_ttl.arg(c.counts_key("db"));
    let gone: i64 = db_ttl.query_async(&mut raw).await.unwrap();
    assert_eq!(gone, -2, "db had c's entry alone, and it expired");
}

#[tokio::test]
async fn the_counter_settles_a_count_a_period_after_it_was_published_and_says_when_redis_is_gone() {
    let mut redis = RedisServer::start();
    let connection = connect(&redis).await;
    let period = Duration::from_millis(400);
    let b = FleetCounts::new(connection.clone(), "b", "c2:", Duration::from_secs(30));
    b.publish(&one("web", 1, 1)).await.unwrap();

    let (local_tx, local_rx) = watch::channel(LocalCounts::default());
    let counter = spawn_counter(
        FleetCounts::new(connection, "a", "c2:", Duration::from_secs(30)),
        local_rx,
        period,
    );
    let mut reading = counter.reading.clone();
    local_tx.send_replace(LocalCounts {
        seq: 1,
        policies: one("web", 1, 1),
        changed: BTreeMap::from([("web".to_owned(), 1)]),
    });
    // The first reading with a's failure published: b's counts, not settled yet.
    let published = tokio::time::timeout(
        Duration::from_secs(10),
        reading.wait_for(|r| r.store == Some(StoreState::Reachable)),
    )
    .await
    .expect("a reading arrives")
    .unwrap()
    .clone();
    assert_eq!(published.fresh_others("web").unwrap().counts, counts(1, 1));
    assert!(published.settled < 1, "{published:?}");
    let started = tokio::time::Instant::now();
    let settled = tokio::time::timeout(
        Duration::from_secs(10),
        reading.wait_for(|r| r.settled >= 1),
    )
    .await
    .expect("the count settles")
    .unwrap()
    .clone();
    assert!(
        started.elapsed() >= period / 2,
        "settled only on a later round"
    );
    assert_eq!(settled.fresh_others("web").unwrap().counts, counts(1, 1));

    redis.stop();
    let stale = tokio::time::timeout(
        Duration::from_secs(20),
        reading.wait_for(|r| r.store == Some(StoreState::Unreachable)),
    )
    .await
    .expect("the counter notices Redis is gone")
    .unwrap()
    .clone();
    assert_eq!(
        stale.fresh_others("web"),
        None,
        "stale sums are not handed out"
    );
    drop(local_tx);
    counter.task.await.unwrap();
}
