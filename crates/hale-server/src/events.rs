//! The audit log over HTTP: a query (`GET /api/v1/events`) and a live stream of Server-Sent
//! Events (`GET /api/v1/events/stream`) with the same filters and `Last-Event-ID` resume.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use hale_core::{HealEvent, Timestamp};
use hale_store::AuditQuery;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::{ApiError, ApiState, error};

/// Records a query returns when `n` is not given.
const DEFAULT_LIMIT: usize = 100;

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The filters, as query parameters: `n`, `kind` (comma-separated), `policy`, `target`,
/// `since` (`1h` or RFC 3339), `contains`.
#[derive(Debug, Default, Deserialize)]
pub struct EventFilter {
    n: Option<usize>,
    kind: Option<String>,
    policy: Option<String>,
    target: Option<String>,
    since: Option<String>,
    contains: Option<String>,
}

impl EventFilter {
    fn query(&self, limit: usize) -> Result<AuditQuery, ApiError> {
        let since = self
            .since
            .as_deref()
            .map(Timestamp::parse_since)
            .transpose()
            .map_err(|problem| ApiError(StatusCode::BAD_REQUEST, format!("since={problem}")))?;
        Ok(AuditQuery {
            limit,
            policy: self.policy.clone(),
            target: self.target.clone(),
            kinds: self
                .kind
                .as_deref()
                .map(|k| {
                    k.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            since,
            contains: self.contains.clone(),
            after_seq: None,
        })
    }
}

/// `GET /api/v1/events`: matching audit records, newest first.
pub async fn query(State(state): State<ApiState>, Query(filter): Query<EventFilter>) -> Response {
    let query = match filter.query(filter.n.unwrap_or(DEFAULT_LIMIT)) {
        Ok(query) => query,
        Err(response) => return response.into_response(),
    };
    let store = std::sync::Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.events(&query)).await {
        Ok(Ok(events)) => Json(events).into_response(),
        Ok(Err(problem)) => error(StatusCode::INTERNAL_SERVER_ERROR, problem.to_string()),
        Err(problem) => error(StatusCode::INTERNAL_SERVER_ERROR, problem.to_string()),
    }
}

fn to_sse(event: &HealEvent) -> Event {
    Event::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(serde_json::to_string(event).unwrap_or_default())
}

/// `GET /api/v1/events/stream`: every matching record as it is written. With
/// `Last-Event-ID` (what browsers' EventSource sends on reconnect), the records written
/// since that one are sent first, so a client that reconnects misses none.
pub async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(filter): Query<EventFilter>,
) -> Response {
    let mut query = match filter.query(0) {
        Ok(query) => query,
        Err(response) => return response.into_response(),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Subscribe before reading the backlog, so nothing written in between is lost; the
    // sequence numbers remove what both deliver.
    let live = state.writer.subscribe();
    let backlog = match resume {
        None => Vec::new(),
        Some(after) => {
            query.after_seq = Some(after);
            let store = std::sync::Arc::clone(&state.store);
            let backlog_query = query.clone();
            match tokio::task::spawn_blocking(move || store.events(&backlog_query)).await {
                Ok(Ok(mut events)) => {
                    events.reverse();
                    events
                }
                Ok(Err(problem)) => {
                    return error(StatusCode::INTERNAL_SERVER_ERROR, problem.to_string());
                }
                Err(problem) => {
                    return error(StatusCode::INTERNAL_SERVER_ERROR, problem.to_string());
                }
            }
        }
    };
    let last = backlog.last().map(|e| e.seq).or(resume).unwrap_or(0);
    Sse::new(events(backlog, live, query, last))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The backlog, then live records after `last` that match `query`.
fn events(
    backlog: Vec<HealEvent>,
    live: broadcast::Receiver<HealEvent>,
    query: AuditQuery,
    last: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let backlog = stream::iter(backlog.into_iter().map(|e| Ok(to_sse(&e))));
    let live = stream::unfold(
        (live, query, last, false),
        |(mut live, query, mut last, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match live.recv().await {
                    Ok(event) if event.seq > last && query.matches(&event) => {
                        last = event.seq;
                        return Some((Ok(to_sse(&event)), (live, query, last, false)));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // Tell the client and end the stream: it reconnects with
                        // Last-Event-ID and reads the gap from the store.
                        let warning = Event::default().event("lagged").data(format!(
                            "{missed} records were skipped; reconnect with Last-Event-ID {last} to read them"
                        ));
                        return Some((Ok(warning), (live, query, last, true)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    futures_util::StreamExt::chain(backlog, live)
}
