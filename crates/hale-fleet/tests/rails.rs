//! The fleet's shared rails and audit trail against a real `redis-server`: the
//! `maxConcurrent` budget, and audit records delivered exactly once from several nodes.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hale_fleet::{FleetAudit, FleetConnection, RemediationBudget};
use redis_server::RedisServer;

async fn connect(redis: &RedisServer) -> FleetConnection {
    FleetConnection::connect(&redis.url(), Duration::from_secs(2))
        .await
        .expect("connects to the test's redis-server")
}

#[tokio::test]
async fn max_concurrent_one_lets_one_replica_at_a_time_and_a_dead_holder_frees_its_place() {
    let redis = RedisServer::start();
    let budget = RemediationBudget::new(connect(&redis).await, "rails1:");
    let hold = Duration::from_secs(30);
    assert!(budget.take("shop/web", "a/web-1", 1, hold).await.unwrap());
    assert!(!budget.take("shop/web", "b/web-2", 1, hold).await.unwrap());
    // The holder asking again keeps its place; another service has its own budget.
    assert!(budget.take("shop/web", "a/web-1", 1, hold).await.unwrap());
    assert!(budget.take("shop/db", "b/db-1", 1, hold).await.unwrap());
    assert_eq!(budget.holders("shop/web").await.unwrap(), vec!["a/web-1"]);

    budget.give_back("shop/web", "a/web-1").await.unwrap();
    assert!(budget.take("shop/web", "b/web-2", 1, hold).await.unwrap());

    // b dies mid-action: its place expires on Redis' clock and c gets it.
    let short = Duration::from_millis(300);
    assert!(budget.take("shop/api", "b/api-2", 1, short).await.unwrap());
    assert!(!budget.take("shop/api", "c/api-3", 1, short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(budget.take("shop/api", "c/api-3", 1, short).await.unwrap());

    // A budget of two admits two.
    assert!(budget.take("shop/cache", "a/c-1", 2, hold).await.unwrap());
    assert!(budget.take("shop/cache", "b/c-2", 2, hold).await.unwrap());
    assert!(!budget.take("shop/cache", "c/c-3", 2, hold).await.unwrap());
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
