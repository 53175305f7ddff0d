//! The fleet's status view against a real `redis-server`: each node's view in a key of its
//! own, refreshed without resending it, gone when its TTL runs out or the node withdraws,
//! and read back by node with Redis' own clock.

#[path = "../../../tests/common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hale_fleet::{FleetConnection, FleetStatus};
use redis_server::RedisServer;

async fn status(redis: &RedisServer, prefix: &str) -> FleetStatus {
    let connection = FleetConnection::connect(&redis.url(), Duration::from_secs(2))
        .await
        .expect("the test Redis answers");
    FleetStatus::new(connection, prefix)
}

#[tokio::test]
async fn each_node_publishes_its_view_and_drops_out_when_it_expires_or_withdraws() {
    let redis = RedisServer::start();
    let fleet = status(&redis, "view:").await;
    let period = Duration::from_millis(200);
    assert!(fleet.read().await.unwrap().is_empty(), "nothing published");
    // A refresh of a view Redis does not have asks for the whole view.
    assert!(
        !fleet
            .publish("b", None, period, Duration::from_secs(30))
            .await
            .unwrap()
    );
    fleet
        .publish("b", Some(r#"{"b":1}"#), period, Duration::from_secs(30))
        .await
        .unwrap();
    fleet
        .publish("a", Some(r#"{"a":1}"#), period, Duration::from_millis(600))
        .await
        .unwrap();
    let nodes = fleet.read().await.unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["a", "b"], "sorted by node");
    assert_eq!(nodes[0].view, r#"{"a":1}"#);
    assert_eq!(nodes[0].period, period);
    assert!(!nodes[0].stale(), "{nodes:?}");

    // A refresh keeps the view and moves its time; silence past two periods is stale.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        fleet.read().await.unwrap()[1].stale(),
        "b was not refreshed"
    );
    assert!(
        fleet
            .publish("b", None, period, Duration::from_secs(30))
            .await
            .unwrap()
    );
    let b = fleet
        .read()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.node == "b")
        .unwrap();
    assert_eq!(b.view, r#"{"b":1}"#, "a refresh keeps the view");
    assert!(!b.stale(), "{b:?}");

    // a's TTL (600 ms) runs out: it drops out of the view by itself.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let names: Vec<String> = fleet
        .read()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node)
        .collect();
    assert_eq!(names, ["b"]);

    fleet.withdraw("b").await.unwrap();
    assert!(fleet.read().await.unwrap().is_empty());
    // Another fleet's prefix is not in this one's view.
    let other = status(&redis, "other:").await;
    other
        .publish("z", Some("{}"), period, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(fleet.read().await.unwrap().is_empty());
}
