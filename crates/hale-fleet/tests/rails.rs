//! The fleet's shared rails and audit trail against a real `redis-server`: the
//! `maxConcurrent` budget, the shared cooldown, quarantine and ladder position, and audit records delivered
//! exactly once from several nodes — after a lost answer, a lost mark and a Redis that
//! restarted empty.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hale_fleet::{
    FleetAudit, FleetConnection, FleetRails, FleetRecord, RailsAnswer, RemediationClaim, Shipment,
};
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
        rung: 0,
        top_rung: 0,
        ladder_lasts: hold,
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

    rails.give_back("shop/web", "a/web-1", hold).await.unwrap();
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
        rung: 0,
        top_rung: 0,
        ladder_lasts: Duration::from_secs(30),
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
async fn a_replica_starts_at_the_rung_another_replica_reached_until_the_service_is_left_alone() {
    let redis = RedisServer::start();
    let rails = FleetRails::new(connect(&redis).await, "rails4:");
    let lasts = Duration::from_millis(600);
    let at = |holder, rung, top_rung| RemediationClaim {
        identity: "shop/web",
        holder,
        max_concurrent: Some(1),
        hold: Duration::from_secs(30),
        cooldown: Duration::ZERO,
        rung,
        top_rung,
        ladder_lasts: lasts,
    };
    // a's restart (rung 0) did not fix it, so it went on to rung 1 and gave its place
    // back; b's first remediation would be a restart.
    assert!(go(&rails, &at("a/web-1", 0, 2)).await);
    assert!(go(&rails, &at("a/web-1", 1, 2)).await);
    rails.give_back("shop/web", "a/web-1", lasts).await.unwrap();
    assert_eq!(
        rails.ladder("shop/web").await.unwrap(),
        Some((1, "a/web-1".to_owned()))
    );
    assert_eq!(
        rails.begin(&at("b/web-2", 0, 2)).await.unwrap(),
        RailsAnswer::Ahead {
            by: "a/web-1".to_owned(),
            rung: 1
        }
    );
    assert!(
        rails.holders("shop/web").await.unwrap().is_empty(),
        "a replica sent up the ladder takes no place"
    );
    // At that rung it goes; a node whose ladder is shorter is sent no higher than its top,
    // and goes there.
    assert!(go(&rails, &at("b/web-2", 1, 2)).await);
    rails.give_back("shop/web", "b/web-2", lasts).await.unwrap();
    assert!(go(&rails, &at("c/web-3", 2, 2)).await);
    rails.give_back("shop/web", "c/web-3", lasts).await.unwrap();
    assert!(go(&rails, &at("a/web-1", 1, 1)).await);
    rails.give_back("shop/web", "a/web-1", lasts).await.unwrap();
    assert_eq!(
        rails.ladder("shop/web").await.unwrap(),
        Some((2, "c/web-3".to_owned())),
        "the shorter ladder's top does not bring the service's position down"
    );

    // Left alone for `ladder_lasts`, the service's ladder starts over.
    tokio::time::sleep(lasts + Duration::from_millis(200)).await;
    assert_eq!(rails.ladder("shop/web").await.unwrap(), None);
    assert!(go(&rails, &at("b/web-2", 0, 2)).await);

    // A release (an operator's, or releaseAfter's) starts it over at once.
    rails.give_back("shop/web", "b/web-2", lasts).await.unwrap();
    assert!(go(&rails, &at("b/web-2", 2, 2)).await);
    rails.release("shop/web").await.unwrap();
    assert_eq!(rails.ladder("shop/web").await.unwrap(), None);
    rails.give_back("shop/web", "b/web-2", lasts).await.unwrap();
    assert!(go(&rails, &at("a/web-1", 0, 2)).await);
}

#[tokio::test]
async fn audit_records_reach_the_stream_once_each_with_their_node() {
    let redis = RedisServer::start();
    let a = FleetAudit::new(connect(&redis).await, "a", "rails2:");
    let b = FleetAudit::new(connect(&redis).await, "b", "rails2:");

    assert_eq!(a.delivered_through().await.unwrap(), 0);
    assert_eq!(
        a.ship(0, &records(1..=3)).await.unwrap(),
        Shipment::Appended { count: 3, mark: 3 }
    );
    // A retry after a lost answer (the shipper still believes 0) appends nothing and is
    // told where the stream is.
    assert_eq!(
        a.ship(0, &records(1..=5)).await.unwrap(),
        Shipment::Resume { mark: 3 }
    );
    // Overlapping records at or below the mark are skipped: only 4 and 5 are new.
    assert_eq!(
        a.ship(3, &records(2..=5)).await.unwrap(),
        Shipment::Appended { count: 2, mark: 5 }
    );
    assert_eq!(a.delivered_through().await.unwrap(), 5);
    assert_eq!(
        b.ship(0, &records(1..=1)).await.unwrap(),
        Shipment::Appended { count: 1, mark: 1 }
    );

    let all = a.read(None, 100).await.unwrap();
    assert_eq!(
        trail(&all),
        [("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 1)]
    );
    assert_eq!(all[0].record, "{\"seq\":1}");

    // Reading on after an entry gives only what follows it.
    let rest = b.read(Some(&all[3].stream_id), 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!((rest[1].node.as_str(), rest[1].seq), ("b", 1));
}

#[tokio::test]
async fn a_lost_mark_is_found_again_in_the_stream_and_a_lost_stream_gets_everything_again() {
    let mut redis = RedisServer::start();
    let a = FleetAudit::new(connect(&redis).await, "a", "rails3:");
    let b = FleetAudit::new(connect(&redis).await, "b", "rails3:");
    a.ship(0, &records(1..=4)).await.unwrap();
    b.ship(0, &records(1..=2)).await.unwrap();

    // The marks alone are lost (the stream is not): a's newest entry says 4, so a shipper
    // that believes 4 goes on and nothing is doubled; b, believing 0, is told 2.
    let mut raw = redis.connection().await;
    let _: () = redis::cmd("DEL")
        .arg("rails3:audit:delivered")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        a.ship(4, &records(5..=5)).await.unwrap(),
        Shipment::Appended { count: 1, mark: 5 }
    );
    assert_eq!(
        b.ship(0, &records(1..=3)).await.unwrap(),
        Shipment::Resume { mark: 2 }
    );
    assert_eq!(
        b.ship(2, &records(3..=3)).await.unwrap(),
        Shipment::Appended { count: 1, mark: 3 }
    );
    let all = a.read(None, 100).await.unwrap();
    assert_eq!(
        trail(&all),
        [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("a", 4),
            ("b", 1),
            ("b", 2),
            ("a", 5),
            ("b", 3)
        ]
    );

    // Redis restarts empty (it persists nothing): the stream is gone with the marks. A
    // shipper that believes 5 is told 0, even when it only asks (no new record), and
    // ships everything again: each record once in the new stream.
    redis.restart();
    assert_eq!(answered(&a, 5).await, Shipment::Resume { mark: 0 });
    assert_eq!(answered(&b, 3).await, Shipment::Resume { mark: 0 });
    assert_eq!(
        a.ship(0, &records(1..=5)).await.unwrap(),
        Shipment::Appended { count: 5, mark: 5 }
    );
    // Another node's records are in the new stream now, b's are not: b is still told 0.
    assert_eq!(
        b.ship(3, &records(4..=4)).await.unwrap(),
        Shipment::Resume { mark: 0 }
    );
    assert_eq!(
        b.ship(0, &records(1..=4)).await.unwrap(),
        Shipment::Appended { count: 4, mark: 4 }
    );
    let all = a.read(None, 100).await.unwrap();
    assert_eq!(
        trail(&all),
        [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("a", 4),
            ("a", 5),
            ("b", 1),
            ("b", 2),
            ("b", 3),
            ("b", 4)
        ]
    );
}

/// The answer to asking (shipping nothing) from `after`, once the connection is back: the
/// first calls after a restart may find the old connection broken.
async fn answered(audit: &FleetAudit, after: u64) -> Shipment {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match audit.ship(after, &[]).await {
            Ok(shipment) => return shipment,
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "Redis did not answer again after its restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records `seqs` as (sequence number, JSON).
fn records(seqs: std::ops::RangeInclusive<u64>) -> Vec<(u64, String)> {
    seqs.map(|seq| (seq, format!("{{\"seq\":{seq}}}")))
        .collect()
}

/// The stream's entries as (node, seq).
fn trail(records: &[FleetRecord]) -> Vec<(&str, u64)> {
    records.iter().map(|r| (r.node.as_str(), r.seq)).collect()
}
