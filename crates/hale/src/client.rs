//! `hale get` and `hale describe`: clients of a running controller's API.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use hale_core::{ConditionStatus, HealEvent, PolicyStatus, RejectedFile, Timestamp};
use hale_policy::HealPolicySpec;
use serde::Deserialize;

use crate::cli::{DescribeResource, GetFormat, GetResource};
use crate::commands::print;

/// How long to wait for the controller's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The answer of `GET /api/v1/policies`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyList {
    items: Vec<PolicyStatus>,
    #[serde(default)]
    rejected_files: Vec<RejectedFile>,
}

/// The answer of `GET /api/v1/policies/{name}`.
#[derive(Deserialize)]
struct PolicyDetail {
    #[serde(flatten)]
    status: PolicyStatus,
    #[serde(default)]
    events: Vec<HealEvent>,
}

/// `hale get RESOURCE`.
pub fn get(resource: GetResource, output: GetFormat, server: &str) -> ExitCode {
    let GetResource::Policies = resource;
    let body = match fetch(server, "/api/v1/policies") {
        Ok(body) => body,
        Err(error) => return fail(&error),
    };
    match output {
        GetFormat::Json => print(&format!("{body}\n")),
        GetFormat::Yaml => to_yaml(&body),
        GetFormat::Table | GetFormat::Wide => match serde_json::from_str::<PolicyList>(&body) {
            Ok(list) => print(&policy_table(
                &list,
                output == GetFormat::Wide,
                Timestamp::now(),
            )),
            Err(error) => fail(&format!(
                "the controller's answer is not a policy list: {error}"
            )),
        },
    }
}

/// `hale describe RESOURCE NAME`.
pub fn describe(resource: DescribeResource, name: &str, server: &str) -> ExitCode {
    let DescribeResource::Policy = resource;
    let path = format!("/api/v1/policies/{}", encode(name));
    let body = match fetch(server, &path) {
        Ok(body) => body,
        Err(error) => return fail(&error),
    };
    match serde_json::from_str::<PolicyDetail>(&body) {
        Ok(detail) => print(&describe_policy(&detail, Timestamp::now())),
        Err(error) => fail(&format!("the controller's answer is not a policy: {error}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("hale: {message}");
    ExitCode::FAILURE
}

/// Percent-encodes a path segment (policy names are DNS labels, but be safe).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// GETs `path` from the controller; errors say how to reach it.
fn fetch(server: &str, path: &str) -> Result<String, String> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|error| error.to_string())?;
        let response = client.get(&url).send().await.map_err(|error| {
            format!(
                "cannot reach hale at {server}: {}; is `hale run` running there? (pass --server or set HALE_SERVER to its --listen address)",
                hale_core::error_chain(&error)
            )
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|error| error.to_string())?;
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            .unwrap_or(body);
        Err(format!("{message} (HTTP {} from {url})", status.as_u16()))
    })
}

fn to_yaml(json: &str) -> ExitCode {
    match serde_json::from_str::<serde_json::Value>(json)
        .map_err(|e| e.to_string())
        .and_then(|value| serde_yaml::to_string(&value).map_err(|e| e.to_string()))
    {
        Ok(yaml) => print(&yaml),
        Err(error) => fail(&format!("cannot convert the answer to YAML: {error}")),
    }
}

/// kubectl's age: `42s`, `7m`, `3h`, `5d`.
fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = now.since(since).as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

fn condition_status(policy: &PolicyStatus, kind: &str) -> &'static str {
    match policy.condition(kind).map(|c| c.status) {
        Some(ConditionStatus::True) => "True",
        Some(ConditionStatus::False) => "False",
        Some(ConditionStatus::Unknown) | None => "Unknown",
    }
}

/// Left-aligned columns separated by three spaces, like kubectl.
fn columns(rows: &[Vec<String>]) -> String {
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

fn mode(spec: &HealPolicySpec) -> &'static str {
    match spec.mode {
        hale_policy::Mode::Enforce => "Enforce",
        hale_policy::Mode::DryRun => "DryRun",
    }
}

/// The `hale get policies` table.
fn policy_table(list: &PolicyList, wide: bool, now: Timestamp) -> String {
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
            mode(&policy.spec).to_owned(),
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
fn describe_policy(detail: &PolicyDetail, now: Timestamp) -> String {
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
    field("Mode", mode(spec).to_owned());
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
                format!(
                    "{} ({}{on}, every {}, failureThreshold {})",
                    p.name,
                    p.handler_names().join("+"),
                    p.period,
                    p.failure_threshold
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
            "cooldown {}, backoff {}..{}, quarantine after {} actions in {}{}",
            remediation.cooldown,
            remediation.backoff.initial,
            remediation.backoff.max,
            remediation.quarantine.after,
            remediation.quarantine.within,
            remediation
                .max_unhealthy
                .map_or_else(String::new, |m| format!(", maxUnhealthy {m}"))
        ),
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

fn indent(out: &mut String, block: &str) {
    for line in block.lines() {
        let _ = writeln!(out, "  {line}");
    }
}
