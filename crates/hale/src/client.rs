//! The commands that ask a running `hale run` (`get`, `describe`, `pause`, `heal`, `ack`,
//! `events -f`): each one asks through the API client and shows the answer through the
//! renderer.

use std::time::Duration;

use hale_core::{HealEvent, Timestamp};

use crate::api_client::{ApiClient, encode, error_message, read_token};
use crate::cli::{DescribeResource, EventsArgs, GetFormat, GetResource, ServerArg, TokenArg};
use crate::error::{CliError, CommandResult};
use crate::output::print;
use crate::render::{
    PolicyDetail, PolicyList, describe_policy, describe_target, policy_table, target_table, to_yaml,
};

/// How `events -f` spaces its reconnections to a controller that went away (restarting):
/// soon at first, never more than a few seconds apart.
const FOLLOW_RECONNECT: hale_core::RetryPolicy = hale_core::RetryPolicy {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(5),
    jitter: true,
};

/// An answer of the controller that is not what the command asked for.
fn unreadable(what: &str, error: &serde_json::Error) -> CliError {
    CliError::Failed(format!("the controller's answer is {what}: {error}"))
}

/// `hale get RESOURCE`.
pub fn get(resource: GetResource, output: GetFormat, server: &ServerArg) -> CommandResult {
    let path = match resource {
        GetResource::Policies => "/api/v1/policies",
        GetResource::Targets => "/api/v1/targets",
        GetResource::Events => "/api/v1/events?n=50",
    };
    let body = ApiClient::new(server)?.get(path)?;
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
            print(&table.map_err(|error| unreadable("unreadable", &error))?)
        }
    }
}

/// `hale describe RESOURCE NAME`.
pub fn describe(resource: DescribeResource, name: &str, server: &ServerArg) -> CommandResult {
    let now = Timestamp::now();
    let api = ApiClient::new(server)?;
    match resource {
        DescribeResource::Policy => {
            let body = api.get(&format!("/api/v1/policies/{}", encode(name)))?;
            let detail = serde_json::from_str::<PolicyDetail>(&body)
                .map_err(|error| unreadable("not a policy", &error))?;
            print(&describe_policy(&detail, now))
        }
        DescribeResource::Target => {
            let body = api.get(&format!("/api/v1/targets/{}", encode(name)))?;
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .map_err(|error| unreadable("not a target", &error))?;
            print(&describe_target(name, &detail, now))
        }
    }
}

/// `hale pause` and `hale resume`.
pub fn set_paused(
    server: &ServerArg,
    token: &TokenArg,
    policy: &str,
    paused: bool,
) -> CommandResult {
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
    server: &ServerArg,
    token: &TokenArg,
    path: &str,
    body: Option<serde_json::Value>,
) -> CommandResult {
    let token = read_token(token)?;
    let answer = ApiClient::new(server)?.post(path, &token, body)?;
    let text = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v.get("result").and_then(|r| r.as_str().map(str::to_owned)))
        .unwrap_or(answer);
    print(&format!("{text}\n"))
}

/// `hale disable` (`on` false) and `hale enable`: healing of one target off or on.
pub fn set_healing(server: &ServerArg, token: &TokenArg, target: &str, on: bool) -> CommandResult {
    let verb = if on { "enable" } else { "disable" };
    let path = format!(
        "/api/v1/targets/{}/{verb}",
        crate::api_client::encode(target)
    );
    control(server, token, &path, None)
}

/// `hale ack`.
pub fn ack(
    server: &ServerArg,
    token: &TokenArg,
    labels: &[(String, String)],
    duration: hale_policy::Duration,
    comment: Option<String>,
    link: bool,
) -> CommandResult {
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
    let token = read_token(token)?;
    let answer = ApiClient::new(server)?.post(path, &token, Some(body))?;
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

/// `hale events --follow`: the controller's event stream, printed as records arrive;
/// reconnects with `Last-Event-ID` so nothing is missed. `-n` and `--since` print that
/// backlog first, as `tail -n N -f` does.
pub fn follow(args: &EventsArgs) -> CommandResult {
    let kinds = match hale_store::AuditQuery::parse_kinds(&args.kind) {
        Ok(kinds) => kinds,
        Err(unknown) => return Err(CliError::Usage(format!("--kind {unknown}"))),
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
    let api = ApiClient::new(&args.server)?;
    let url = api.url(&format!("/api/v1/events/stream?{}", query.join("&")));
    let json = args.output == crate::cli::OutputFormat::Json;
    api.runtime().block_on(async {
        let mut last_id: Option<String> = None;
        let mut failures = 0u32;
        let mut connected_once = false;
        loop {
            let mut request = api.read_request(&url).header("accept", "text/event-stream");
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
                            print(&format!("{text}\n"))?;
                            if sse.id.is_some() {
                                last_id = sse.id;
                            }
                        }
                    }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    return Err(crate::api_client::ApiError::Refused {
                        status,
                        message: error_message(body),
                        url,
                    }
                    .into());
                }
                // Never reached it: a wrong --server, or hale is not running. Say so once
                // instead of retrying forever; a stream that was up reconnects (hale
                // restarting).
                Err(error) if !connected_once => return Err(api.unreachable(&error).into()),
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        eprintln!(
                            "hale events: lost the event stream ({}); reconnecting",
                            hale_core::error_chain(&error)
                        );
                    }
                }
            }
            tokio::time::sleep(FOLLOW_RECONNECT.delay(failures.max(1))).await;
        }
    })
}
