//! The fleet's shared rails and audit trail against a real `redis-server`: the
//! `maxConcurrent` budget, the shared cooldown and quarantine, and audit records delivered exactly once from several nodes.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hale_fleet::{FleetAudit, FleetConnection, FleetRails, RailsAnswer, RemediationClaim};
use redis_server::RedisServer;

async fn connect(redis: &RedisServer) -> FleetConnection {
    FleetConnection::connect(&redis.url(), Duration::from_secs(2))
        .await
        .expect("connects to the test's redis-server")
}

fn claim<'a>(identity: &'a str, holder: &'a str, max: u32, hold: Duration) -> RemediationClaim<'a> {
    RemediationClaim {
        identity,
        holder,
        max_concurrent: Some(max),
        hold,
        cooldown: Duration::ZERO,
    }
}

async fn go(rails: &FleetRails, claim: &RemediationClaim<'_>) -> bool {
    rails.begin(claim).await.unwrap() == RailsAnswer::Go
}

#[tokio::test]
async fn max_concurrent_one_lets_one_replica_at_a_time_and_a_dead_holder_frees_its_place() {
    let redis = RedisServer::start();
    let rails = FleetRails::new(connect(&redis).await, "rails1:");
    let hold = Duration::from_secs(30);
    assert!(go(&rails, &claim("shop/web", "a/web-1", 1, hold)).await);
    match rails
        .begin(&claim("shop/web", "b/web-2", 1, hold))
        .await
        .unwrap()
    {
        RailsAnswer::Busy { holders, remaining } => {
            assert_eq!(holders, vec!["a/web-1"]);
            assert!(
                remaining <= hold && remaining > Duration::from_secs(20),
                "{remaining:?}"
            );
        }
        other => panic!("a second replica got past maxConcurrent 1: {other:?}"),
    }
    // The holder asking again keeps its place; another service has its own budget.
    assert!(go(&rails, &claim("shop/web", "a/web-1", 1, hold)).await);
    assert!(go(&rails, &claim("shop/db", "b/db-1", 1, hold)).await);
    assert_eq!(rails.holders("shop/web").await.unwrap(), vec!["a/web-1"]);

    rails.give_back("shop/web", "a/web-1").await.unwrap();
    assert!(go(&rails, &claim("shop/web", "b/web-2", 1, hold)).await);

    // b dies mid-action: its place expires on Redis' clock and c gets it.
    let short = Duration::from_millis(300);
    assert!(go(&rails, &claim("shop/api", "b/api-2", 1, short)).await);
    assert!(!go(&rails, &claim("shop/api", "c/api-3", 1, short)).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(go(&rails, &claim("shop/api", "c/api-3", 1, short)).await);

    // A budget of two admits two.
    assert!(go(&rails, &claim("shop/cache", "a/c-1", 2, hold)).await);
    assert!(go(&rails, &claim("shop/cache", "b/c-2", 2, hold)).await);
    assert!(!go(&rails, &claim("shop/cache", "c/c-3", 2, hold)).await);
}

#[tokio::test]
async fn a_shared_cooldown_and_quarantine_hold_the_other_replicas() {
    let redis = RedisServer::start();
    let rails = FleetRails::new(connect(&redis).await, "rails3:");
    let cooling = RemediationClaim {
        identity: "shop/web",
        holder: "a/web-1",
        max_concurrent: None,
        hold: Duration::from_secs(30),
        cooldown: Duration::from_millis(400),
    };
    assert!(go(&rails, &cooling).await);
    // The replica that started the cooldown is not held by it (its own cooldown rules).
    assert!(go(&rails, &cooling).await);
    let other = RemediationClaim {
        holder: "b/web-2",
        ..cooling.clone()
    };
    match rails.begin(&other).await.unwrap() {
        RailsAnswer::CoolingDown { by, remaining } => {
            assert_eq!(by, "a/web-1");
            assert!(remaining <= Duration::from_millis(400), "{remaining:?}");
        }
        answer => panic!("the shared cooldown did not hold another replica: {answer:?}"),
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        go(&rails, &other).await,
        "the cooldown ran out, the next replica may go"
    );

    rails.quarantine("shop/web", "b/web-2", None).await.unwrap();
    for holder in ["a/web-1", "b/web-2", "c/web-3"] {
        let answer = rails
            .begin(&RemediationClaim {
                holder,
                cooldown: Duration::ZERO,
                ..cooling.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            answer,
            RailsAnswer::Quarantined {
                by: "b/web-2".to_owned(),
                remaining: None
            }
        );
    }
    rails.release("shop/web").await.unwrap();
    // b's cooldown (started when it went above) has run out too by now.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        go(
            &rails,
            &RemediationClaim {
                holder: "c/web-3",
                ..cooling.clone()
            }
        )
        .await
    );
    // A quarantine with releaseAfter ends by itself.
    rails
        .quarantine("shop/db", "a/db-1", Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(matches!(
        rails
            .begin(&RemediationClaim {
                identity: "shop/db",
                ..cooling.clone()
            })
            .await
            .unwrap(),
        RailsAnswer::Quarantined {
            remaining: Some(_),
            ..
        }
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        go(
            &rails,
            &RemediationClaim {
                identity: "shop/db",
                ..cooling.clone()
            }
        )
        .await
    );
}

#[tokio::test]
async fn audit_records_reach_the_stream_once_each_with_their_node() {
    let redis = RedisServer::start();
    let a = FleetAudit::new(connect(&redis).await, "a", "rails2:");
    let b = FleetAudit::new(connect(&redis).await, "b", "rails2:");
    let record = |seq: u64| (seq, format!("{{\"seq\":{seq}}}"));

    assert_eq!(a.delivered_through().await.unwrap(), 0);
    assert_eq!(a.ship(&[record(1), record(2), record(3)]).await.unwrap(), 3);
    // A retry after a lost answer overlaps what was delivered: only 4 and 5 are new.
    assert_eq!(
        a.ship(&[record(2), record(3), record(4), record(5)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(a.delivered_through().await.unwrap(), 5);
    assert_eq!(b.ship(&[record(1)]).await.unwrap(), 1);

    let all = a.read(None, 100).await.unwrap();
    let seen: Vec<(String, u64)> = all.iter().map(|r| (r.node.clone(), r.seq)).collect();
    let expected: Vec<(String, u64)> = [("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 1)]
        .iter()
        .map(|(node, seq)| ((*node).to_owned(), *seq))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(all[0].record, "{\"seq\":1}");

    // Reading on after an entry gives only what follows it.
    let rest = b.read(Some(&all[3].stream_id), 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!((rest[1].node.as_str(), rest[1].seq), ("b", 1));
}
