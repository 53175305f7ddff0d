//! `hale events`: read the audit log.

use std::process::ExitCode;

use hale_core::Timestamp;
use hale_store::{AuditQuery, Store};

use crate::cli::{EventsArgs, OutputFormat};
use crate::error::{CliError, CommandResult};
use crate::output::print;

/// Records `hale events` prints when `-n` is not given.
pub const DEFAULT_LIMIT: usize = 50;

/// The filters of `hale events` as a store query (its `limit` is -n, default 50).
///
/// # Errors
/// [`CliError::Usage`] for an unknown kind or a malformed `--since`.
pub fn query_of(args: &EventsArgs) -> Result<AuditQuery, CliError> {
    let kinds = AuditQuery::parse_kinds(&args.kind)
        .map_err(|unknown| CliError::Usage(format!("--kind {unknown}")))?;
    let since = args
        .since
        .as_deref()
        .map(|text| {
            Timestamp::parse_since(text).map_err(|e| CliError::Usage(format!("--since {e}")))
        })
        .transpose()?;
    Ok(AuditQuery {
        limit: args.limit.unwrap_or(DEFAULT_LIMIT),
        policy: args.policy.clone(),
        target: args.target.clone(),
        kinds,
        since,
        ..AuditQuery::default()
    })
}

/// Prints the audit records that match the filters, oldest first.
pub fn events(args: &EventsArgs) -> CommandResult {
    let query = query_of(args)?;
    if let Some(url) = &args.fleet.fleet {
        return crate::fleet_events::fleet_events(args, url, &query);
    }
    let store = Store::open_read_only(&args.state.path)?;
    // The store reads limit 0 as "no limit"; -n 0 asks for none.
    if query.limit == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let mut found = store.events(&query)?;
    found.reverse();
    let text = match args.output {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&found).expect("events serialize");
            text.push('\n');
            text
        }
        OutputFormat::Human if found.is_empty() => "no matching events\n".to_owned(),
        OutputFormat::Human => found.iter().map(|e| format!("{e}\n")).collect(),
    };
    print(&text)
}
