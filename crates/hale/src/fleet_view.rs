//! The fleet's one status view, read from Redis: every node's published targets (see
//! `fleet_publisher`), each item with its node, and which nodes are in the view with when
//! each last published. `hale get targets --fleet` and `GET /api/v1/fleet/targets` both
//! answer this; the node running the API reads it in the request, with its own bounded
//! connection.

use std::sync::Arc;
use std::time::Duration;

use hale_fleet::{FleetConnection, FleetError, FleetStatus, NodeStatus};
use hale_server::{FleetTargets, FleetViewError};
use serde_json::{Value, json};

/// How long one Redis call of a reader may take: a silent Redis answers an error in
/// seconds, never a hung command or request.
pub const READ_BOUND: Duration = Duration::from_secs(3);

/// Every node's targets, nodes sorted by name and each node's items in the order it
/// published them (by policy, then target), as `{"kind": "FleetTargetList", "nodes":
/// [...], "items": [...]}`.
///
/// # Errors
/// [`FleetViewError`] saying what failed and how to fix it.
pub async fn read_view(status: &FleetStatus) -> Result<Value, FleetViewError> {
    let nodes = status
        .read()
        .await
        .map_err(|error| explain(&error, status.server()))?;
    Ok(assemble(&nodes))
}

/// The view of `nodes` (sorted by node, as [`FleetStatus::read`] answers). A node whose
/// view does not parse (another hale version, another writer) is listed with the reason,
/// not dropped silently.
pub fn assemble(nodes: &[NodeStatus]) -> Value {
    let mut listed = Vec::new();
    let mut items = Vec::new();
    for node in nodes {
        let stale = node.stale();
        let view: Option<Value> = serde_json::from_str(&node.view).ok();
        let targets = view
            .as_ref()
            .and_then(|view| view["items"].as_array())
            .cloned()
            .unwrap_or_default();
        let mut entry = json!({
            "node": node.node,
            "lastPublishedMsAgo": u64::try_from(node.age.as_millis()).unwrap_or(u64::MAX),
            "periodMs": u64::try_from(node.period.as_millis()).unwrap_or(u64::MAX),
            "stale": stale,
            "targets": targets.len(),
            "omitted": view.as_ref().and_then(|view| view["omitted"].as_u64()).unwrap_or(0),
        });
        if view.is_none() {
            entry["error"] = json!("its published status is not JSON this hale reads");
        }
        listed.push(entry);
        for mut item in targets {
            if let Some(object) = item.as_object_mut() {
                object.insert("node".to_owned(), json!(node.node));
                object.insert("nodeStale".to_owned(), json!(stale));
            }
            items.push(item);
        }
    }
    json!({ "kind": "FleetTargetList", "nodes": listed, "items": items })
}

/// What a reader says when Redis fails: the error (which names the server by host and
/// port, never the password) and how to fix it.
pub fn explain(error: &FleetError, server: &str) -> FleetViewError {
    let hint = match error {
        FleetError::Url { .. } => "",
        FleetError::Timeout { .. } => {
            " (is Redis running there and reachable from here, and is the --fleet URL right?)"
        }
        FleetError::Redis { source, .. } if refused_password(source) => {
            " (the password is wrong or missing: put it in the --fleet URL, a --fleet-password-file or HALE_FLEET_PASSWORD)"
        }
        FleetError::Redis { source, .. } if source.is_io_error() => {
            " (is Redis running there, and is the --fleet URL right?)"
        }
        FleetError::Redis { .. } => "",
    };
    FleetViewError(format!(
        "cannot read the fleet's status from Redis at {server}: {error}{hint}"
    ))
}

fn refused_password(error: &redis::RedisError) -> bool {
    let text = error.to_string();
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || [
            "NOAUTH",
            "WRONGPASS",
            "invalid password",
            "invalid username-password",
        ]
        .iter()
        .any(|word| text.contains(word))
}

/// The API's source of the fleet view on a node running with `--fleet`: the fleet's status
/// keys and this node's name.
struct ApiFleetTargets(FleetStatus, String);

impl FleetTargets for ApiFleetTargets {
    fn node(&self) -> &str {
        &self.1
    }

    fn targets(&self) -> futures_util::future::BoxFuture<'static, Result<Value, FleetViewError>> {
        let status = self.0.clone();
        Box::pin(async move { read_view(&status).await })
    }
}

/// The fleet view for the API when `--fleet` is given: a connection of its own, made on
/// first use, so a request never waits behind the lease keeper's and a Redis that is down
/// at start does not stop the API. `None` without `--fleet` (or with a URL fleet mode
/// refuses too: its start then says why and stops).
pub fn api_source(args: &crate::fleet::FleetArgs) -> Option<Arc<dyn FleetTargets>> {
    let store = &args.store;
    let url = crate::fleet::with_password(store.fleet.as_deref()?, store).ok()?;
    let connection = FleetConnection::lazy(&url, READ_BOUND).ok()?;
    let node = crate::fleet::node_name(args);
    Some(Arc::new(ApiFleetTargets(
        FleetStatus::new(connection, crate::fleet::KEY_PREFIX),
        node,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, age: u64, view: &str) -> NodeStatus {
        NodeStatus {
            node: name.to_owned(),
            age: Duration::from_secs(age),
            period: Duration::from_secs(5),
            view: view.to_owned(),
        }
    }

    #[test]
    fn every_item_carries_its_node_and_stale_nodes_are_marked() {
        let nodes = [
            node(
                "a",
                1,
                r#"{"items":[{"policy":"p","name":"site:shop","state":"healthy"}]}"#,
            ),
            node(
                "b",
                11,
                r#"{"items":[{"policy":"p","name":"web","state":"failing"}],"omitted":2}"#,
            ),
            node("c", 0, "not json"),
        ];
        let view = assemble(&nodes);
        assert_eq!(view["kind"], "FleetTargetList");
        assert_eq!(view["items"].as_array().unwrap().len(), 2);
        assert_eq!(view["items"][0]["node"], "a");
        assert_eq!(view["items"][0]["nodeStale"], false);
        assert_eq!(view["items"][1]["node"], "b");
        assert_eq!(view["items"][1]["nodeStale"], true);
        assert_eq!(view["nodes"][1]["stale"], true);
        assert_eq!(view["nodes"][1]["omitted"], 2);
        assert_eq!(view["nodes"][1]["lastPublishedMsAgo"], 11_000);
        assert!(view["nodes"][2]["error"].is_string(), "{view}");
    }
}
