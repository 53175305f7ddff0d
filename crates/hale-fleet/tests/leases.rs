//! Leases against a real `redis-server`: one holder at a time, ever larger fencing tokens,
//! hand-over after the TTL or a release, and a holder that cannot renew stopping before
//! another node may take over.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hale_fleet::{FencingToken, FleetConnection, LeaseBook, LeaseGrant, LeaseTimings, RedisLeases};
use redis_server::RedisServer;
use tokio::time::Instant;

/// Short timings so the test runs in about a second; the same order as the defaults.
fn timings() -> LeaseTimings {
    LeaseTimings {
        ttl: Duration::from_millis(900),
        renew_deadline: Duration::from_millis(600),
        retry_period: Duration::from_millis(200),
    }
    .validated()
    .unwrap()
}

async fn node(redis: &RedisServer, name: &str, prefix: &str) -> (RedisLeases, LeaseBook) {
    let connection = FleetConnection::connect(&redis.url(), timings().retry_period)
        .await
        .unwrap_or_else(|e| panic!("node {name} connects: {e}"));
    let leases = RedisLeases::new(connection, name, prefix, timings());
    (leases, LeaseBook::new(timings()))
}

#[tokio::test]
async fn one_holder_at_a_time_and_a_larger_token_after_the_ttl() {
    let redis = RedisServer::start();
    let prefix = "test1:";
    let (a, mut a_book) = node(&redis, "a", prefix).await;
    let (b, mut b_book) = node(&redis, "b", prefix).await;
    let subjects = vec!["site/shop".to_owned(), "site/blog".to_owned()];

    let granted = a.acquire_or_renew(&subjects, &mut a_book).await.unwrap();
    let first = match granted[0] {
        LeaseGrant::Ours(token) => token,
        ref other => panic!("a free lease goes to the first asker: {other:?}"),
    };
    assert!(matches!(granted[1], LeaseGrant::Ours(_)));
    let seen = b.acquire_or_renew(&subjects, &mut b_book).await.unwrap();
    match &seen[0] {
        LeaseGrant::Theirs {
            node,
            token,
            expires_in,
        } => {
            assert_eq!((node.as_str(), *token), ("a", first));
            assert!(
                *expires_in <= timings().ttl && *expires_in > Duration::ZERO,
                "the time a's lease has left: {expires_in:?}"
            );
        }
        other => panic!("b was granted a's lease: {other:?}"),
    }
    assert_eq!(b_book.may_act("site/shop", Instant::now()), None);
    assert_eq!(a_book.may_act("site/shop", Instant::now()), Some(first));

    // a renews: same token, still the holder.
    let renewed = a.acquire_or_renew(&subjects, &mut a_book).await.unwrap();
    assert_eq!(renewed[0], LeaseGrant::Ours(first));
    assert!(a.still_holds("site/shop", first).await.unwrap());

    // a goes silent (a kill, a SIGSTOP): its own right ends at the renew deadline, before
    // the TTL lets b take over.
    tokio::time::sleep(timings().renew_deadline).await;
    assert_eq!(a_book.may_act("site/shop", Instant::now()), None);
    tokio::time::sleep(timings().ttl - timings().renew_deadline + Duration::from_millis(50)).await;
    let taken = b.acquire_or_renew(&subjects, &mut b_book).await.unwrap();
    let second = match taken[0] {
        LeaseGrant::Ours(token) => token,
        ref other => panic!("an expired lease goes to the next asker: {other:?}"),
    };
    assert!(second > first, "tokens only grow: {second} after {first}");
    assert_eq!(b_book.may_act("site/shop", Instant::now()), Some(second));

    // a comes back: the fencing check refuses its old grant, and its next renewal learns
    // that b holds the lease.
    assert!(!a.still_holds("site/shop", first).await.unwrap());
    let back = a.acquire_or_renew(&subjects, &mut a_book).await.unwrap();
    assert!(
        matches!(&back[0], LeaseGrant::Theirs { node, token, .. } if node == "b" && *token == second),
        "{back:?}"
    );
    assert_eq!(a_book.may_act("site/shop", Instant::now()), None);
}

#[tokio::test]
async fn a_release_hands_the_lease_over_at_once_and_only_the_holder_can_release() {
    let redis = RedisServer::start();
    let (a, mut a_book) = node(&redis, "a", "test2:").await;
    let (b, mut b_book) = node(&redis, "b", "test2:").await;
    let subjects = vec!["policy/web".to_owned()];
    let LeaseGrant::Ours(token) = a.acquire_or_renew(&subjects, &mut a_book).await.unwrap()[0]
    else {
        panic!("a gets the free lease");
    };
    assert!(
        !b.release("policy/web", token).await.unwrap(),
        "b holds nothing"
    );
    assert!(
        !a.release("policy/web", FencingToken(token.0 + 1))
            .await
            .unwrap()
    );
    assert!(a.release("policy/web", token).await.unwrap());
    let granted = b.acquire_or_renew(&subjects, &mut b_book).await.unwrap();
    assert!(
        matches!(granted[0], LeaseGrant::Ours(t) if t > token),
        "{granted:?}"
    );
}

#[tokio::test]
async fn redis_down_is_a_bounded_error_and_the_connection_comes_back_by_itself() {
    let mut redis = RedisServer::start();
    let (a, mut a_book) = node(&redis, "a", "test3:").await;
    let subjects = vec!["site/shop".to_owned()];
    a.acquire_or_renew(&subjects, &mut a_book).await.unwrap();

    redis.stop();
    let started = Instant::now();
    let error = a
        .acquire_or_renew(&subjects, &mut a_book)
        .await
        .expect_err("Redis is down");
    let message = error.to_string();
    assert!(
        message.contains("127.0.0.1:"),
        "names the server: {message}"
    );
    assert!(!message.contains(redis_server::PASSWORD), "{message}");
    // Bounded by the retry period (plus slack for a loaded machine), never a hang.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The deadline runs out by itself: no action on a lease that could not be renewed.
    tokio::time::sleep(timings().renew_deadline).await;
    assert_eq!(a_book.may_act("site/shop", Instant::now()), None);

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match a.acquire_or_renew(&subjects, &mut a_book).await {
            Ok(granted) => {
                assert!(matches!(granted[0], LeaseGrant::Ours(_)), "{granted:?}");
                break;
            }
            Err(error) => assert!(
                Instant::now() < deadline,
                "the connection did not come back: {error}"
            ),
        }
        tokio::time::sleep(timings().retry_period).await;
    }
    assert!(a_book.may_act("site/shop", Instant::now()).is_some());
}

#[tokio::test]
async fn a_lazy_connection_starts_without_redis_and_works_once_it_is_up() {
    let mut redis = RedisServer::start();
    redis.stop();
    let connection = FleetConnection::lazy(&redis.url(), timings().retry_period)
        .expect("a valid URL is enough to start");
    let leases = RedisLeases::new(connection, "a", "test4:", timings());
    let mut book = LeaseBook::new(timings());
    let subjects = vec!["site/shop".to_owned()];
    assert!(leases.acquire_or_renew(&subjects, &mut book).await.is_err());
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while leases.acquire_or_renew(&subjects, &mut book).await.is_err() {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(timings().retry_period).await;
    }
    assert!(book.may_act("site/shop", Instant::now()).is_some());
}

#[tokio::test]
async fn release_all_hands_back_every_lease_still_ours_in_one_call() {
    let redis = RedisServer::start();
    let (a, mut a_book) = node(&redis, "a", "test5:").await;
    let (b, mut b_book) = node(&redis, "b", "test5:").await;
    let subjects = vec!["p/site:one".to_owned(), "p/site:two".to_owned()];
    let grants = a.acquire_or_renew(&subjects, &mut a_book).await.unwrap();
    let held: Vec<(String, FencingToken)> = subjects
        .iter()
        .zip(&grants)
        .map(|(subject, grant)| match grant {
            LeaseGrant::Ours(token) => (subject.clone(), *token),
            LeaseGrant::Theirs { .. } => panic!("a gets the free leases: {grants:?}"),
        })
        .collect();
    // A stale token (a grant a lost long ago) releases nothing.
    let stale = vec![(subjects[0].clone(), FencingToken(held[0].1.0 + 7))];
    assert!(a.release_all(&stale).await.unwrap().is_empty());
    assert!(
        b.release_all(&held).await.unwrap().is_empty(),
        "b holds none of them"
    );
    // With one stale grant among them, the others are released and named.
    let mixed = vec![stale[0].clone(), held[1].clone()];
    assert_eq!(
        a.release_all(&mixed).await.unwrap(),
        vec![subjects[1].clone()]
    );
    assert_eq!(
        a.release_all(&held).await.unwrap(),
        vec![subjects[0].clone()],
        "the second was released already"
    );
    assert!(a.release_all(&[]).await.unwrap().is_empty());
    let granted = b.acquire_or_renew(&subjects, &mut b_book).await.unwrap();
    assert!(
        granted.iter().all(|g| matches!(g, LeaseGrant::Ours(_))),
        "b takes both at once, without waiting for the TTL: {granted:?}"
    );
}
