//! `hale events`: read the audit log.

use std::process::ExitCode;

use hale_core::Timestamp;
use hale_store::{AuditQuery, Store};

use crate::cli::{EventsArgs, OutputFormat};
use crate::output::{USAGE_ERROR, print};

/// Records `hale events` prints when `-n` is not given.
pub const DEFAULT_LIMIT: usize = 50;

/// Prints the audit records that match the filters, oldest first.
pub fn events(args: &EventsArgs) -> ExitCode {
    let kinds = match AuditQuery::parse_kinds(&args.kind) {
        Ok(kinds) => kinds,
        Err(unknown) => {
            eprintln!("hale events: --kind {unknown}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    let since = match args
        .since
        .as_deref()
        .map(|text| Timestamp::parse_since(text).map_err(|e| format!("--since {e}")))
        .transpose()
    {
        Ok(since) => since,
        Err(message) => {
            eprintln!("hale events: {message}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let store = match Store::open_read_only(&args.state.path) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("hale events: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The store reads limit 0 as "no limit"; -n 0 asks for none.
    if limit == 0 {
        return ExitCode::SUCCESS;
    }
    let query = AuditQuery {
        limit,
        policy: args.policy.clone(),
        target: args.target.clone(),
        kinds,
        since,
        ..AuditQuery::default()
    };
    let mut found = match store.events(&query) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("hale events: {error}");
            return ExitCode::FAILURE;
        }
    };
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
