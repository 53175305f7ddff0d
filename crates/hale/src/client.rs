//! `hale get` and `hale describe`: clients of a running controller's API.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use hale_core::{ConditionStatus, HealEvent, PolicyStatus, RejectedFile, Timestamp};
use serde::Deserialize;

use crate::cli::{DescribeResource, EventsArgs, GetFormat, GetResource, TokenArg};
use crate::output::print;

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
    let path = match resource {
        GetResource::Policies => "/api/v1/policies",
        GetResource::Targets => "/api/v1/targets",
        GetResource::Events => "/api/v1/events?n=50",
    };
    let body = match fetch(server, path) {
        Ok(body) => body,
        Err(error) => return fail(&error),
    };
    let wide = output == GetFormat::Wide;
    match output {
        GetFormat::Json => print(&format!("{body}\n")),
        GetFormat::Yaml => to_yaml(&body),
        GetFormat::Table | GetFormat::Wide => {
            let now = Timestamp::now();
            let table = match resource {
                GetResource::Policies => serde_json::from_str::<PolicyList>(&body)
                    .map(|list| policy_table(&list, wide, now)),
                GetResource::Targets => serde_json::from_str::<serde_json::Value>(&body)
                    .map(|list| target_table(&list, wide, now)),
                GetResource::Events => serde_json::from_str::<Vec<HealEvent>>(&body)
                    .map(|events| events.iter().rev().map(|e| format!("{e}\n")).collect()),
            };
            match table {
                Ok(table) => print(&table),
                Err(error) => fail(&format!("the controller's answer is unreadable: {error}")),
            }
        }
    }
}

/// `hale describe RESOURCE NAME`.
pub fn describe(resource: DescribeResource, name: &str, server: &str) -> ExitCode {
    let now = Timestamp::now();
    match resource {
        DescribeResource::Policy => {
            let path = format!("/api/v1/policies/{}", encode(name));
            match fetch(server, &path) {
                Ok(body) => match serde_json::from_str::<PolicyDetail>(&body) {
                    Ok(detail) => print(&describe_policy(&detail, now)),
                    Err(error) => {
                        fail(&format!("the controller's answer is not a policy: {error}"))
                    }
                },
                Err(error) => fail(&error),
            }
        }
        DescribeResource::Target => {
            let path = format!("/api/v1/targets/{}", encode(name));
            match fetch(server, &path) {
                Ok(body) => match serde_json::from_str::<serde_json::Value>(&body) {
                    Ok(detail) => print(&describe_target(name, &detail, now)),
                    Err(error) => {
                        fail(&format!("the controller's answer is not a target: {error}"))
                    }
                },
                Err(error) => fail(&error),
            }
        }
    }
}

/// The `hale get targets` table; `wide` adds the container ID, the signal and the instant
/// of the next allowed action.
fn target_table(list: &serde_json::Value, wide: bool, now: Timestamp) -> String {
    let mut header = vec!["POLICY", "NAME", "STATE", "STEP", "LAST ACTION", "COOLDOWN"];
    if wide {
        header.extend(["ID", "SIGNAL", "NEXT ACTION AT"]);
    }
    let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    for item in list["items"].as_array().into_iter().flatten() {
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
            text(&item["state"]),
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
            ]);
        }
        rows.push(row);
    }
    if rows.len() == 1 {
        return "No targets.\n".to_owned();
    }
    columns(&rows)
}

/// The `hale describe target` text.
fn describe_target(name: &str, detail: &serde_json::Value, now: Timestamp) -> String {
    let mut out = format!("Name:         {name}\n");
    out.push_str("Policies:\n");
    let mut rows = vec![
        ["POLICY", "STATE", "STEP", "LAST ACTION", "SIGNAL"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for item in detail["policies"].as_array().into_iter().flatten() {
        rows.push(vec![
            item["policy"].as_str().unwrap_or("-").to_owned(),
            item["state"].as_str().unwrap_or("-").to_owned(),
            item["step"].to_string(),
            item["lastAction"].as_str().unwrap_or("-").to_owned(),
            item["signal"].as_str().unwrap_or("-").to_owned(),
        ]);
    }
    indent(&mut out, &columns(&rows));
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

/// `hale pause` and `hale resume`.
pub fn set_paused(server: &str, token: &TokenArg, policy: &str, paused: bool) -> ExitCode {
    let verb = if paused { "pause" } else { "resume" };
    control(
        server,
        token,
        &format!("/api/v1/policies/{}/{verb}", encode(policy)),
        None,
    )
}

/// Sends a token-guarded POST and prints the controller's answer.
pub fn control(
    server: &str,
    token: &TokenArg,
    path: &str,
    body: Option<serde_json::Value>,
) -> ExitCode {
    let token = match read_token(token) {
        Ok(token) => token,
        Err(error) => return fail(&error),
    };
    match send(server, reqwest::Method::POST, path, Some(&token), body) {
        Ok(answer) => {
            let text = serde_json::from_str::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v.get("result").and_then(|r| r.as_str().map(str::to_owned)))
                .unwrap_or(answer);
            print(&format!("{text}\n"))
        }
        Err(error) => fail(&error),
    }
}

/// `hale ack`.
pub fn ack(
    server: &str,
    token: &TokenArg,
    labels: &[(String, String)],
    duration: hale_policy::Duration,
    comment: Option<String>,
    link: bool,
) -> ExitCode {
    let matched: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(name, value)| (name.clone(), value.clone().into()))
        .collect();
    let body = serde_json::json!({
        "labels": matched,
        "duration": duration.to_string(),
        "comment": comment,
        "by": format!("hale ack ({})", std::env::var("USER").unwrap_or_else(|_| "cli".into())),
    });
    let path = if link {
        "/api/v1/ack/link"
    } else {
        "/api/v1/ack"
    };
    let token = match read_token(token) {
        Ok(token) => token,
        Err(error) => return fail(&error),
    };
    match send(
        server,
        reqwest::Method::POST,
        path,
        Some(&token),
        Some(body),
    ) {
        Ok(answer) => {
            let value: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            let text = if link {
                format!(
                    "{}\n(valid until {})\n",
                    value["url"].as_str().unwrap_or_default(),
                    value["expiresAt"].as_str().unwrap_or_default()
                )
            } else {
                format!(
                    "silenced until {} (Alertmanager silence {})\n",
                    value["endsAt"].as_str().unwrap_or_default(),
                    value["silenceID"].as_str().unwrap_or_default()
                )
            };
            print(&text)
        }
        Err(error) => fail(&error),
    }
}

/// The API token: from --token-file / HALE_API_TOKEN_FILE, else HALE_API_TOKEN.
fn read_token(token: &TokenArg) -> Result<String, String> {
    if let Some(path) = &token.token_file {
        return crate::api::read_token(path);
    }
    match std::env::var("HALE_API_TOKEN") {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(
            "this command needs the API token: pass --token-file FILE, or set HALE_API_TOKEN_FILE (the file `hale run --api-token-file` reads) or HALE_API_TOKEN".to_owned(),
        ),
    }
}

/// `hale events --follow`: the controller's event stream, printed as records arrive;
/// reconnects with `Last-Event-ID` so nothing is missed. `-n` and `--since` print that
/// backlog first, as `tail -n N -f` does.
pub fn follow(args: &EventsArgs) -> ExitCode {
    let kinds = match hale_store::AuditQuery::parse_kinds(&args.kind) {
        Ok(kinds) => kinds,
        Err(unknown) => return fail(&format!("--kind {unknown}")),
    };
    let mut query = vec![];
    if let Some(policy) = &args.policy {
        query.push(format!("policy={}", encode(policy)));
    }
    if let Some(target) = &args.target {
        query.push(format!("target={}", encode(target)));
    }
    for kind in &kinds {
        query.push(format!("kind={}", encode(kind)));
    }
    if let Some(since) = &args.since {
        query.push(format!("since={}", encode(since)));
    }
    if let Some(limit) = args.limit {
        query.push(format!("n={limit}"));
    }
    let url = format!(
        "{}/api/v1/events/stream?{}",
        args.server.server,
        query.join("&")
    );
    let json = args.output == crate::cli::OutputFormat::Json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut last_id: Option<String> = None;
        let mut failures = 0u32;
        let mut connected_once = false;
        loop {
            let mut request = client.get(&url).header("accept", "text/event-stream");
            if let Some(id) = &last_id {
                request = request.header("last-event-id", id.as_str());
            }
            match request.send().await {
                Ok(mut response) if response.status().is_success() => {
                    failures = 0;
                    connected_once = true;
                    let mut reader = crate::sse::SseReader::default();
                    while let Ok(Some(chunk)) = response.chunk().await {
                        for sse in reader.push(&chunk) {
                            let Ok(event) = serde_json::from_str::<HealEvent>(&sse.data) else {
                                continue;
                            };
                            let text = if json { sse.data } else { event.to_string() };
                            if print(&format!("{text}\n")) != ExitCode::SUCCESS {
                                return ExitCode::FAILURE;
                            }
                            if sse.id.is_some() {
                                last_id = sse.id;
                            }
                        }
                    }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    let message = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
                        .unwrap_or(body);
                    return fail(&format!("{message} (HTTP {status} from {url})"));
                }
                // Never reached it: a wrong --server, or hale is not running. Say so once
                // instead of retrying forever; a stream that was up reconnects (hale
                // restarting).
                Err(error) if !connected_once => {
                    return fail(&format!(
                        "cannot reach hale at {}: {}; is `hale run` running there? (pass --server or set HALE_SERVER to its --listen address)",
                        args.server.server,
                        hale_core::error_chain(&error)
                    ));
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        eprintln!(
                            "hale: lost the event stream ({}); reconnecting",
                            hale_core::error_chain(&error)
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(
                500 * u64::from(failures.min(10)) + 200,
            ))
            .await;
        }
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("hale: {message}");
    ExitCode::FAILURE
}

/// Percent-encodes a path segment or query value.
pub fn encode(segment: &str) -> String {
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
    send(server, reqwest::Method::GET, path, None, None)
}

/// Sends one request to the controller and returns the body of a 2xx answer; errors say
/// how to reach it or what it refused.
fn send(
    server: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<String, String> {
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
        let mut request = client.request(method, &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| {
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
        .and_then(|value| serde_saphyr::to_string(&value).map_err(|e| e.to_string()))
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

/// The MODE column: what the policy does now. A paused policy does nothing, whatever its
/// spec's mode says.
fn mode(policy: &PolicyStatus) -> &'static str {
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

fn indent(out: &mut String, block: &str) {
    for line in block.lines() {
        let _ = writeln!(out, "  {line}");
    }
}
