//! The lease keeper against a real `redis-server`: one of two nodes covers a subject, the
//! other takes over within the TTL when the first dies (asking the moment the lease runs
//! out, not at its next retry), and a node that
//! loses Redis stops acting and says so (in its events and its published book), then wins
//! its leases back.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hale_fleet::{
    FleetConnection, KeeperEvent, KeeperHandle, LeaseTimings, RedisLeases, StoreState, spawn_keeper,
};
use redis_server::RedisServer;
use tokio::sync::watch;
use tokio::time::Instant;

fn timings() -> LeaseTimings {
    LeaseTimings {
        ttl: Duration::from_millis(900),
        renew_deadline: Duration::from_millis(600),
        retry_period: Duration::from_millis(150),
    }
    .validated()
    .unwrap()
}

async fn keeper(
    redis: &RedisServer,
    node: &str,
    subjects: &[&str],
) -> (KeeperHandle, watch::Sender<Vec<String>>) {
    let connection = FleetConnection::connect(&redis.url(), timings().retry_period)
        .await
        .expect("connects");
    let leases = RedisLeases::new(connection, node, "keeper:", timings());
    let (tx, rx) = watch::channel(subjects.iter().map(|s| (*s).to_owned()).collect());
    (spawn_keeper(leases, rx), tx)
}

/// Waits for the next event that `matches`, failing after a bound.
async fn next_event(
    handle: &mut KeeperHandle,
    matches: impl Fn(&KeeperEvent) -> bool,
) -> KeeperEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, handle.events.recv())
            .await
            .expect("the event came within 20 s")
            .expect("the keeper is running");
        if matches(&event) {
            return event;
        }
    }
}

#[tokio::test]
async fn one_node_covers_a_subject_and_another_takes_over_when_it_dies() {
    let redis = RedisServer::start();
    let (mut a, _a_subjects) = keeper(&redis, "a", &["site/shop"]).await;
    next_event(&mut a, |e| matches!(e, KeeperEvent::Won { .. })).await;
    let (mut b, _b_subjects) = keeper(&redis, "b", &["site/shop"]).await;
    // b runs a few rounds as a standby.
    tokio::time::sleep(timings().retry_period * 3).await;
    assert!(
        b.book
            .borrow()
            .may_act("site/shop", Instant::now())
            .is_none()
    );
    assert!(
        a.book
            .borrow()
            .may_act("site/shop", Instant::now())
            .is_some()
    );

    a.task.abort();
    let died = Instant::now();
    let won = next_event(&mut b, |e| matches!(e, KeeperEvent::Won { .. })).await;
    assert_eq!(
        won,
        KeeperEvent::Won {
            subject: "site/shop".to_owned()
        }
    );
    println!("failover after {:?}", died.elapsed());
    assert!(
        b.book
            .borrow()
            .may_act("site/shop", Instant::now())
            .is_some()
    );
}

#[tokio::test]
async fn a_standby_asks_for_a_lease_the_moment_it_runs_out_not_at_its_next_retry() {
    let redis = RedisServer::start();
    // A retry period far longer than the lease that is about to run out: a standby that
    // only asked at its pace would take the lease 8 s from now.
    let slow = LeaseTimings {
        ttl: Duration::from_secs(10),
        renew_deadline: Duration::from_secs(9),
        retry_period: Duration::from_secs(8),
    }
    .validated()
    .unwrap();
    // Node a's lease, as its last renewal left it before it died: 300 ms to live.
    let mut raw = redis.connection().await;
    let _: () = redis::cmd("SET")
        .arg("keeper:lease:site/dying")
        .arg("1 a")
        .arg("PX")
        .arg(300)
        .query_async(&mut raw)
        .await
        .unwrap();
    let connection = FleetConnection::connect(&redis.url(), slow.retry_period)
        .await
        .expect("connects");
    let leases = RedisLeases::new(connection, "b", "keeper:", slow);
    let (_subjects, rx) = watch::channel(vec!["site/dying".to_owned()]);
    let mut b = spawn_keeper(leases, rx);
    let asked = Instant::now();
    next_event(&mut b, |e| matches!(e, KeeperEvent::Won { .. })).await;
    let took = asked.elapsed();
    println!("took the lease {took:?} after its first round");
    assert!(
        took < slow.retry_period / 2,
        "b took the lease {took:?} after its first round, at its retry pace, not when a's ran out"
    );
}

#[tokio::test]
async fn a_node_that_loses_redis_stops_acting_and_wins_back_when_it_returns() {
    let mut redis = RedisServer::start();
    let (mut a, _subjects) = keeper(&redis, "a", &["site/shop", "policy/web"]).await;
    next_event(&mut a, |e| matches!(e, KeeperEvent::Won { .. })).await;

    redis.stop();
    let unreachable = next_event(&mut a, |e| {
        matches!(e, KeeperEvent::StoreUnreachable { .. })
    })
    .await;
    let KeeperEvent::StoreUnreachable { error } = unreachable else {
        unreachable!()
    };
    assert!(!error.contains(redis_server::PASSWORD), "{error}");
    let lost = next_event(&mut a, |e| matches!(e, KeeperEvent::Lost { .. })).await;
    assert!(
        matches!(lost, KeeperEvent::Lost { holder: None, .. }),
        "{lost:?}"
    );
    assert_eq!(
        a.book.borrow().acting(Instant::now()).count(),
        0,
        "nothing acted on without Redis"
    );
    // The published book says why: the store, not another node.
    assert_eq!(a.book.borrow().store(), StoreState::Unreachable);

    redis.restart();
    next_event(&mut a, |e| *e == KeeperEvent::StoreBack).await;
    assert_eq!(a.book.borrow().store(), StoreState::Reachable);
    next_event(&mut a, |e| matches!(e, KeeperEvent::Won { .. })).await;
}

#[tokio::test]
async fn a_node_with_nothing_to_cover_still_knows_whether_redis_answers() {
    let mut redis = RedisServer::start();
    let (mut a, _subjects) = keeper(&redis, "a", &[]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.book.borrow().store() != StoreState::Reachable {
        assert!(Instant::now() < deadline, "the keeper never reached Redis");
        tokio::time::sleep(timings().retry_period).await;
    }
    redis.stop();
    next_event(&mut a, |e| {
        matches!(e, KeeperEvent::StoreUnreachable { .. })
    })
    .await;
    assert_eq!(a.book.borrow().store(), StoreState::Unreachable);
    redis.restart();
    next_event(&mut a, |e| *e == KeeperEvent::StoreBack).await;
}
