//! `hale get targets --fleet URL`: every node's targets from the fleet's Redis, with a
//! NODE column first, and which nodes are in the view with when each last published (a
//! node silent for over two of its periods is marked stale: it is likely gone or cut off,
//! and its key has not expired yet).

use std::fmt::Write as _;
use std::time::Duration;

use hale_core::Timestamp;
use hale_fleet::{FleetConnection, FleetStatus};
use serde_json::Value;

use crate::cli::{GetFormat, GetResource};
use crate::error::{CliError, CommandResult};
use crate::fleet::FleetStoreArgs;
use crate::fleet_view::{READ_BOUND, explain, read_view};
use crate::output::print;
use crate::render::{columns, target_header, target_row, to_yaml};

/// `hale get RESOURCE --fleet URL`.
pub fn get(
    resource: GetResource,
    output: GetFormat,
    args: &FleetStoreArgs,
    url: &str,
) -> CommandResult {
    if resource != GetResource::Targets {
        return Err(CliError::Usage(
            "--fleet lists targets only (`hale get targets --fleet URL`); the fleet's audit trail is `hale events --fleet URL`".to_owned(),
        ));
    }
    let url = crate::fleet::with_password(url, args)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let runtime = crate::error::runtime()?;
    let (server, view) = runtime.block_on(async {
        let connection = FleetConnection::connect(&url, READ_BOUND)
            .await
            .map_err(|error| CliError::Failed(explain(&error, &server_of(&error)).to_string()))?;
        let status = FleetStatus::new(connection, crate::fleet::KEY_PREFIX);
        let view = read_view(&status)
            .await
            .map_err(|error| CliError::Failed(error.to_string()))?;
        Ok::<_, CliError>((status.server().to_owned(), view))
    })?;
    let text = serde_json::to_string_pretty(&view).expect("a JSON value serializes");
    match output {
        GetFormat::Json => print(&format!("{text}\n")),
        GetFormat::Yaml => to_yaml(&text),
        GetFormat::Table | GetFormat::Wide => print(&fleet_table(
            &view,
            output == GetFormat::Wide,
            Timestamp::now(),
            &server,
        )),
    }
}

/// host:port from a connection error (the URL is never shown: it may hold the password).
fn server_of(error: &hale_fleet::FleetError) -> String {
    match error {
        hale_fleet::FleetError::Timeout { server, .. }
        | hale_fleet::FleetError::Redis { server, .. } => server.clone(),
        hale_fleet::FleetError::Url { .. } => "the --fleet URL".to_owned(),
    }
}

/// Whether `item` (a site, whose lease one node holds) is healed by its node: `holder`,
/// `standby`, `held` (the node cannot reach Redis, so it cannot know), or `-` for a
/// container (only its own node can heal it).
fn lease(item: &Value) -> &'static str {
    let site = item["name"]
        .as_str()
        .is_some_and(|name| name.starts_with("site:"));
    match (site, item["standby"].as_str()) {
        (false, _) => "-",
        (true, Some(why)) if why.starts_with("held:") => "held",
        // It holds the lease; its failure waits for the fleet's counts.
        (true, Some(why)) if why.starts_with("waiting:") => "holder",
        (true, Some(_)) => "standby",
        (true, None) => "holder",
    }
}

/// The table of every node's targets, then the nodes in the view.
pub(crate) fn fleet_table(view: &Value, wide: bool, now: Timestamp, server: &str) -> String {
    let nodes: &[Value] = view["nodes"].as_array().map_or(&[], Vec::as_slice);
    if nodes.is_empty() {
        return format!(
            "No node publishes its status to the fleet's Redis at {server}: is a `hale run --fleet` running against it (the same URL and database)?\n"
        );
    }
    let mut header = vec!["NODE"];
    header.extend(target_header(wide));
    // LEASE after STATE: NODE, POLICY, NAME, STATE.
    header.insert(4, "LEASE");
    let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    for item in view["items"].as_array().into_iter().flatten() {
        let node = item["node"].as_str().unwrap_or("-");
        let label = if item["nodeStale"] == true {
            format!("{node} (stale)")
        } else {
            node.to_owned()
        };
        let mut row = vec![label];
        row.extend(target_row(item, wide, now));
        row.insert(4, lease(item).to_owned());
        rows.push(row);
    }
    let mut out = if rows.len() == 1 {
        "No targets on any node.\n".to_owned()
    } else {
        columns(&rows)
    };
    let _ = writeln!(out, "\nNodes in the view ({} at {server}):", nodes.len());
    let mut table = vec![
        ["NODE", "PUBLISHED", "EVERY", "TARGETS", "NOTE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for node in nodes {
        let millis = |key: &str| Duration::from_millis(node[key].as_u64().unwrap_or(0));
        let ago = millis("lastPublishedMsAgo");
        let period = millis("periodMs");
        let mut notes = Vec::new();
        if node["stale"] == true {
            notes.push(format!(
                "STALE: nothing published for over {} (twice its period): is its hale running and reaching Redis? it drops out when its key expires",
                humantime::format_duration(period * 2)
            ));
        }
        if let Some(omitted) = node["omitted"].as_u64().filter(|n| *n > 0) {
            notes.push(format!(
                "{omitted} more targets not published (see its own API)"
            ));
        }
        if let Some(error) = node["error"].as_str() {
            notes.push(error.to_owned());
        }
        table.push(vec![
            node["node"].as_str().unwrap_or("-").to_owned(),
            format!("{}s ago", ago.as_secs()),
            humantime::format_duration(period).to_string(),
            node["targets"].to_string(),
            if notes.is_empty() {
                "-".to_owned()
            } else {
                notes.join("; ")
            },
        ]);
    }
    for line in columns(&table).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_names_each_node_its_lease_and_the_stale_ones() {
        let view = json!({
            "nodes": [
                {"node": "a", "lastPublishedMsAgo": 1200, "periodMs": 5000, "stale": false, "targets": 2, "omitted": 0},
                {"node": "b", "lastPublishedMsAgo": 12000, "periodMs": 5000, "stale": true, "targets": 1, "omitted": 0},
            ],
            "items": [
                {"node": "a", "nodeStale": false, "policy": "shop", "name": "site:shop", "state": "healthy", "step": 1},
                {"node": "a", "nodeStale": false, "policy": "web", "name": "web-1", "state": "failing", "step": 2},
                {"node": "b", "nodeStale": true, "policy": "shop", "name": "site:shop", "state": "healthy", "step": 1, "standby": "fleet standby: ..."},
            ],
        });
        let table = fleet_table(&view, false, Timestamp::now(), "127.0.0.1:6379");
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("NODE") && lines[0].contains("LEASE"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("a ") && lines[1].contains("holder"),
            "{table}"
        );
        assert!(
            lines[2].contains("web-1") && lines[2].contains(" - "),
            "{table}"
        );
        assert!(
            lines[3].starts_with("b (stale)") && lines[3].contains("standby"),
            "{table}"
        );
        assert!(
            table.contains("Nodes in the view (2 at 127.0.0.1:6379)"),
            "{table}"
        );
        assert!(table.contains("STALE"), "{table}");
        let empty = fleet_table(
            &json!({"nodes": [], "items": []}),
            false,
            Timestamp::now(),
            "h:1",
        );
        assert!(empty.starts_with("No node publishes"), "{empty}");
    }
}
