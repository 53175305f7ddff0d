//! How the CLI shows what the API answers: the `get` tables, `describe` pages and YAML.

use std::fmt::Write as _;

use hale_core::{ConditionStatus, HealEvent, PolicyStatus, RejectedFile, Timestamp};
use serde::Deserialize;

use crate::error::{CliError, CommandResult};
use crate::output::print;

/// The answer of `GET /api/v1/policies`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyList {
    pub(crate) items: Vec<PolicyStatus>,
    #[serde(default)]
    pub(crate) rejected_files: Vec<RejectedFile>,
}

/// The answer of `GET /api/v1/policies/{name}`.
#[derive(Deserialize)]
pub(crate) struct PolicyDetail {
    #[serde(flatten)]
    pub(crate) status: PolicyStatus,
    #[serde(default)]
    pub(crate) events: Vec<HealEvent>,
}

/// The `hale get targets` table; `wide` adds the container ID, the signal, the instant
/// of the next allowed action and the selector rule that selected the target.
pub(crate) fn target_table(list: &serde_json::Value, wide: bool, now: Timestamp) -> String {
    let header = target_header(wide);
    let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    for item in list["items"].as_array().into_iter().flatten() {
        rows.push(target_row(item, wide, now));
    }
    if rows.len() == 1 {
        return "No targets.\n".to_owned();
    }
    columns(&rows)
}

/// The header of the targets table (`hale get targets`, and after NODE with `--fleet`).
pub(crate) fn target_header(wide: bool) -> Vec<&'static str> {
    let mut header = vec!["POLICY", "NAME", "STATE", "STEP", "LAST ACTION", "COOLDOWN"];
    if wide {
        header.extend(["ID", "SIGNAL", "NEXT ACTION AT", "SELECTED BY"]);
    }
    header
}

/// One target (an item of `GET /api/v1/targets`) as a row under [`target_header`].
pub(crate) fn target_row(item: &serde_json::Value, wide: bool, now: Timestamp) -> Vec<String> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    // Timestamps travel as the API serializes them (milliseconds since the epoch).
    let at = |key: &str| serde_json::from_value::<Timestamp>(item[key].clone()).ok();
    let last = match (item["lastAction"].as_str(), at("lastActionAt")) {
        (Some(action), Some(when)) => format!("{action} {} ago", age(when, now)),
        (Some(action), None) => action.to_owned(),
        _ => "-".to_owned(),
    };
    let cooldown = at("nextActionAt")
        .filter(|next| *next > now)
        .map_or_else(|| "-".to_owned(), |next| age(now, next));
    let mut row = vec![
        text(&item["policy"]),
        text(&item["name"]),
        state_cell(item),
        item["step"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |s| s.to_string()),
        last,
        cooldown,
    ];
    if wide {
        let id = item["id"].as_str().filter(|id| !id.is_empty());
        row.extend([
            id.map_or_else(|| "-".to_owned(), |id| id.chars().take(12).collect()),
            text(&item["signal"]),
            at("nextActionAt").map_or_else(|| "-".to_owned(), |next| next.to_string()),
            text(&item["selectedBy"]),
        ]);
    }
    row
}

/// The STATE cell of a target: its state, and in fleet mode why this node does not heal
/// it — `held` while the fleet store is unreachable (the action waits for Redis),
/// `standby` while another node holds its lease, `waiting` while its failure waits for the
/// fleet's counts (see `TargetStatus::standby`).
fn state_cell(item: &serde_json::Value) -> String {
    let state = item["state"].as_str().unwrap_or("-");
    match item["standby"].as_str() {
        Some(why) if why.starts_with("held:") => format!("{state} (held: fleet store unreachable)"),
        Some(why) if why.starts_with("waiting:") => {
            format!("{state} (waiting for the fleet's counts)")
        }
        Some(_) => format!("{state} (fleet standby)"),
        None => state.to_owned(),
    }
}

/// The `hale describe target` text.
pub(crate) fn describe_target(name: &str, detail: &serde_json::Value, now: Timestamp) -> String {
    let mut out = format!("Name:         {name}\n");
    out.push_str("Policies:\n");
    let mut rows = vec![
        ["POLICY", "STATE", "STEP", "LAST ACTION", "SIGNAL"]
            .map(str::to_owned)
            .to_vec(),
    ];
    let policies: Vec<&serde_json::Value> = detail["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for item in &policies {
        rows.push(vec![
            item["policy"].as_str().unwrap_or("-").to_owned(),
            state_cell(item),
            item["step"].to_string(),
            item["lastAction"].as_str().unwrap_or("-").to_owned(),
            item["signal"].as_str().unwrap_or("-").to_owned(),
        ]);
    }
    indent(&mut out, &columns(&rows));
    // Fleet mode: why this node does not heal it, whole (the table only says which).
    let fleet: Vec<String> = policies
        .iter()
        .filter_map(|item| {
            let why = item["standby"].as_str()?;
            Some(format!("{}: {why}", item["policy"].as_str().unwrap_or("-")))
        })
        .collect();
    if !fleet.is_empty() {
        out.push_str("Fleet:\n");
        for line in fleet {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push_str("Events:\n");
    let events: Vec<HealEvent> =
        serde_json::from_value(detail["events"].clone()).unwrap_or_default();
    if events.is_empty() {
        out.push_str("  (none)\n");
    }
    for event in events.iter().rev() {
        let _ = writeln!(out, "  {} ago  {event}", age(event.time, now));
    }
    out
}

pub(crate) fn to_yaml(json: &str) -> CommandResult {
    let yaml = serde_json::from_str::<serde_json::Value>(json)
        .map_err(|e| e.to_string())
        .and_then(|value| serde_saphyr::to_string(&value).map_err(|e| e.to_string()))
        .map_err(|error| CliError::Failed(format!("cannot convert the answer to YAML: {error}")))?;
    print(&yaml)
}

/// kubectl's age: `42s`, `7m`, `3h`, `5d`.
pub(crate) fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = now.since(since).as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

pub(crate) fn condition_status(policy: &PolicyStatus, kind: &str) -> &'static str {
    match policy.condition(kind).map(|c| c.status) {
        Some(ConditionStatus::True) => "True",
        Some(ConditionStatus::False) => "False",
        Some(ConditionStatus::Unknown) | None => "Unknown",
    }
}

/// Left-aligned columns separated by three spaces, like kubectl.
pub(crate) fn columns(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}   ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The MODE column: what the policy does now. A paused policy does nothing, whatever its
/// spec's mode says.
pub(crate) fn mode(policy: &PolicyStatus) -> &'static str {
    if policy
        .condition("Paused")
        .is_some_and(|c| c.status == ConditionStatus::True)
    {
        return "Paused";
    }
    match policy.spec.mode {
        hale_policy::Mode::Enforce => "Enforce",
        hale_policy::Mode::DryRun => "DryRun",
    }
}

/// The `hale get policies` table.
pub(crate) fn policy_table(list: &PolicyList, wide: bool, now: Timestamp) -> String {
    let mut header = vec!["NAME", "TARGETS", "HEALTHY", "MODE", "ACCEPTED", "AGE"];
    if wide {
        header.extend(["GENERATION", "READY", "REMEDIATION", "FILE"]);
    }
    let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    for policy in &list.items {
        let mut row = vec![
            policy.name.clone(),
            policy.targets.len().to_string(),
            policy.healthy().to_string(),
            mode(policy).to_owned(),
            condition_status(policy, "Accepted").to_owned(),
            age(policy.created_at, now),
        ];
        if wide {
            row.extend([
                format!("{}/{}", policy.observed_generation, policy.generation),
                condition_status(policy, "Ready").to_owned(),
                policy
                    .condition("RemediationAllowed")
                    .map_or_else(String::new, |c| c.reason.clone()),
                policy.file.clone(),
            ]);
        }
        rows.push(row);
    }
    let mut out = if list.items.is_empty() {
        "No policies in force.\n".to_owned()
    } else {
        columns(&rows)
    };
    for rejected in &list.rejected_files {
        let _ = writeln!(
            out,
            "\nRejected at the last reload (nothing from it is in force): {}",
            rejected.file
        );
        for error in &rejected.errors {
            let _ = writeln!(out, "  {error}");
        }
    }
    out
}

/// The `hale describe policy` text.
pub(crate) fn describe_policy(detail: &PolicyDetail, now: Timestamp) -> String {
    let policy = &detail.status;
    let spec = &policy.spec;
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{:<14}{value}", format!("{name}:"));
    };
    field("Name", policy.name.clone());
    field("File", policy.file.clone());
    field(
        "Generation",
        format!(
            "{} (observed {})",
            policy.generation, policy.observed_generation
        ),
    );
    field(
        "Created",
        format!(
            "{} ({} ago)",
            policy.created_at,
            age(policy.created_at, now)
        ),
    );
    field("Mode", mode(policy).to_owned());
    field(
        "Selector",
        spec.selector
            .as_ref()
            .map_or_else(|| "(none: sites only)".to_owned(), ToString::to_string),
    );
    if !spec.sites.is_empty() {
        let sites: Vec<String> = spec
            .sites
            .iter()
            .map(|s| format!("{} ({})", s.name, s.url))
            .collect();
        field("Sites", sites.join(", "));
    }
    let probes: Vec<String> = if spec.probes.is_empty() {
        vec!["(default) docker health, unexpected exits".to_owned()]
    } else {
        spec.probes
            .iter()
            .map(|p| {
                let on = p
                    .site_ref
                    .as_ref()
                    .map_or_else(String::new, |s| format!(" on site {s}"));
                let schedule = if p.is_event_driven() {
                    "on Docker's events".to_owned()
                } else {
                    format!("every {}", p.period)
                };
                format!(
                    "{} ({}{on}, {schedule}, failureThreshold {})",
                    p.name,
                    p.handler_names().join("+"),
                    p.effective_failure_threshold()
                )
            })
            .collect()
    };
    field("Probes", probes.join("\n              "));
    let ladder: Vec<String> = spec
        .remediation
        .steps
        .iter()
        .map(|s| {
            format!(
                "{} x{} (wait {})",
                hale_core::action_name(s.action),
                s.attempts,
                s.timeout
            )
        })
        .collect();
    field("Ladder", ladder.join(" -> "));
    let remediation = &spec.remediation;
    field(
        "Limits",
        format!(
            "cooldown {}, backoff {}..{}, quarantine after {} actions in {}",
            remediation.cooldown,
            remediation.backoff.initial,
            remediation.backoff.max,
            remediation.quarantine.after,
            remediation.quarantine.within,
        ),
    );
    field(
        "Circuit",
        match (remediation.max_unhealthy, &policy.circuit_open) {
            (None, _) => "no maxUnhealthy: never holds back".to_owned(),
            (Some(max), open) => format!(
                "{}; {}",
                max.describe_allowance(policy.targets.len()),
                open.as_ref()
                    .map_or_else(|| "closed".to_owned(), |why| format!("OPEN: {why}"))
            ),
        },
    );

    out.push_str("Conditions:\n");
    let mut rows = vec![
        ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for condition in &policy.conditions {
        rows.push(vec![
            condition.kind.clone(),
            format!("{:?}", condition.status),
            condition.reason.clone(),
            age(condition.last_transition_time, now),
            condition.message.clone(),
        ]);
    }
    indent(&mut out, &columns(&rows));

    out.push_str("Targets:\n");
    if policy.targets.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut rows = vec![
            ["NAME", "STATE", "STEP", "LAST ACTION", "SIGNAL"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for target in &policy.targets {
            rows.push(vec![
                target.name.clone(),
                target.state.clone(),
                target.step.to_string(),
                match (&target.last_action, target.last_action_at) {
                    (Some(action), Some(at)) => format!("{action} {} ago", age(at, now)),
                    (Some(action), None) => action.clone(),
                    _ => "-".to_owned(),
                },
                target.signal.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        indent(&mut out, &columns(&rows));
    }

    out.push_str("Events:\n");
    if detail.events.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut rows = vec![
            ["AGE", "KIND", "TARGET", "REASON"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for event in detail.events.iter().rev() {
            rows.push(vec![
                age(event.time, now),
                event.kind.to_string(),
                event
                    .target
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |t| t.name.clone()),
                event.reason.clone(),
            ]);
        }
        indent(&mut out, &columns(&rows));
    }
    out
}

pub(crate) fn indent(out: &mut String, block: &str) {
    for line in block.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cell_says_why_a_fleet_node_does_not_heal_a_target() {
        let cell = |standby: serde_json::Value| {
            state_cell(&serde_json::json!({"state": "failing", "standby": standby}))
        };
        assert_eq!(cell(serde_json::Value::Null), "failing");
        assert_eq!(
            cell("fleet standby: node b does not hold the lease".into()),
            "failing (fleet standby)"
        );
        assert_eq!(
            cell("held: fleet store unreachable".into()),
            "failing (held: fleet store unreachable)"
        );
        assert_eq!(
            cell("waiting: this failure is counted across the fleet".into()),
            "failing (waiting for the fleet's counts)"
        );
    }
}
