//! `hale events --fleet URL`: the whole fleet's audit trail, read from the Redis stream
//! every node ships its records to, each record with the node that made it.

use std::process::ExitCode;
use std::time::Duration;

use hale_core::HealEvent;
use hale_fleet::{FleetAudit, FleetConnection, FleetRecord};
use hale_store::AuditQuery;

use crate::cli::{EventsArgs, OutputFormat};
use crate::error::{CliError, CommandResult};
use crate::output::print;

/// How long one Redis call may take before the command gives up.
const BOUND: Duration = Duration::from_secs(5);

/// Entries read per round trip.
const PAGE: usize = 1_000;

/// How often `--follow` asks for new entries.
const POLL: Duration = Duration::from_secs(1);

/// One record of the fleet's trail: the node and what it recorded.
struct NodeEvent {
    node: String,
    event: HealEvent,
}

/// Prints the fleet's records that match `query`, oldest first (the newest `-n`); with
/// `--follow`, then every new one as it arrives.
pub fn fleet_events(args: &EventsArgs, url: &str, query: &AuditQuery) -> CommandResult {
    let url = crate::fleet::with_password(url, &args.fleet)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let connection = FleetConnection::connect(&url, BOUND)
            .await
            .map_err(|error| CliError::Failed(error.to_string()))?;
        // The node name only matters for shipping; reading sees every node.
        let audit = FleetAudit::new(connection, "-", crate::fleet::KEY_PREFIX);
        let (mut last_id, records) = read_after(&audit, None).await?;
        let mut matching: Vec<NodeEvent> = records
            .into_iter()
            .filter(|record| query.matches(&record.event))
            .collect();
        let keep = if args.follow {
            args.limit.unwrap_or(0)
        } else {
            query.limit
        };
        let skip = matching.len().saturating_sub(keep);
        matching.drain(..skip);
        if !matching.is_empty() || !args.follow {
            print(&render(&matching, args.output, !args.follow))?;
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        loop {
            tokio::time::sleep(POLL).await;
            let (next_id, records) = read_after(&audit, last_id.as_deref()).await?;
            last_id = next_id.or(last_id);
            let new: Vec<NodeEvent> = records
                .into_iter()
                .filter(|record| query.matches(&record.event))
                .collect();
            if !new.is_empty() {
                print(&render(&new, args.output, false))?;
            }
        }
    })
}

/// Every entry after `after`, page by page, as events (entries that do not parse as an
/// audit record are skipped); and the id of the last entry read.
async fn read_after(
    audit: &FleetAudit,
    after: Option<&str>,
) -> Result<(Option<String>, Vec<NodeEvent>), CliError> {
    let mut last = after.map(str::to_owned);
    let mut events = Vec::new();
    loop {
        let page: Vec<FleetRecord> = audit
            .read(last.as_deref(), PAGE)
            .await
            .map_err(|error| CliError::Failed(error.to_string()))?;
        let full = page.len() == PAGE;
        for record in page {
            last = Some(record.stream_id.clone());
            if let Ok(event) = serde_json::from_str::<HealEvent>(&record.record) {
                events.push(NodeEvent {
                    node: record.node,
                    event,
                });
            }
        }
        if !full {
            return Ok((last, events));
        }
    }
}

/// Human lines (`node  record`) or JSON (each record with a `node` field). `whole`: the
/// answer is complete (an empty one says so; JSON is one array), rather than the next
/// lines of a follow (JSON lines).
fn render(events: &[NodeEvent], output: OutputFormat, whole: bool) -> String {
    let json = |event: &NodeEvent| {
        let mut value = serde_json::to_value(&event.event).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("node".to_owned(), event.node.clone().into());
        }
        value
    };
    match output {
        OutputFormat::Json if whole => {
            let values: Vec<serde_json::Value> = events.iter().map(json).collect();
            let mut text = serde_json::to_string_pretty(&values).expect("events serialize");
            text.push('\n');
            text
        }
        OutputFormat::Json => events.iter().map(|e| format!("{}\n", json(e))).collect(),
        OutputFormat::Human if events.is_empty() && whole => "no matching events\n".to_owned(),
        OutputFormat::Human => events
            .iter()
            .map(|e| format!("{}  {}\n", e.node, e.event))
            .collect(),
    }
}
