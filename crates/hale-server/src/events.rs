//! The audit log over HTTP: a query (`GET /api/v1/events`) and a live stream of Server-Sent
//! Events (`GET /api/v1/events/stream`) with the same filters and `Last-Event-ID` resume.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use hale_core::{HealEvent, Timestamp};
use hale_store::AuditQuery;
use tokio::sync::broadcast;

use crate::{ApiError, ApiState, error};

/// Records a query returns when `n` is not given.
const DEFAULT_LIMIT: usize = 100;

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The filters, as query parameters: `n`, `kind` (repeatable, each may be
/// comma-separated), `policy`, `target`, `since` (`1h` or RFC 3339), `contains`.
#[derive(Debug, Default)]
pub struct EventFilter {
    n: Option<usize>,
    kinds: Vec<String>,
    policy: Option<String>,
    target: Option<String>,
    since: Option<String>,
    contains: Option<String>,
    after: Option<u64>,
}

fn bad_request(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message)
}

impl EventFilter {
    /// Reads the query string; an unknown parameter or kind is refused, so a typo is not
    /// mistaken for "no such records".
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut filter = Self::default();
        let mut kinds = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "n" => {
                    filter.n = Some(value.parse().map_err(|_| {
                        bad_request(format!("n={value:?}: expected a count (0 or more)"))
                    })?);
                }
                "kind" => kinds.push(value),
                "policy" => filter.policy = Some(value),
                "target" => filter.target = Some(value),
                "since" => filter.since = Some(value),
                "contains" => filter.contains = Some(value),
                "after" => {
                    filter.after = Some(value.parse().map_err(|_| {
                        bad_request(format!(
                            "after={value:?}: expected a record's sequence number"
                        ))
                    })?);
                }
                other => {
                    return Err(bad_request(format!(
                        "unknown parameter {other:?}: the filters are n, kind, policy, target, since, contains and after"
                    )));
                }
            }
        }
        filter.kinds = AuditQuery::parse_kinds(&kinds)
            .map_err(|unknown| bad_request(format!("kind={unknown}")))?;
        Ok(filter)
    }

    fn query(&self, limit: usize) -> Result<AuditQuery, ApiError> {
        let since = self
            .since
            .as_deref()
            .map(Timestamp::parse_since)
            .transpose()
            .map_err(|problem| bad_request(format!("since={problem}")))?;
        Ok(AuditQuery {
            limit,
            policy: self.policy.clone(),
            target: self.target.clone(),
            kinds: self.kinds.clone(),
            since,
            contains: self.contains.clone(),
            after_seq: self.after,
        })
    }

    /// The records a query or a stream's backlog returns: `n=0` asks for none (the store's
    /// limit 0 would mean all); `None` when there is nothing to read.
    fn backlog_query(&self, default_limit: Option<usize>) -> Result<Option<AuditQuery>, ApiError> {
        let limit = match (self.n, default_limit) {
            (Some(0), _) => return Ok(None),
            (Some(n), _) => n,
            (None, Some(n)) => n,
            // A stream with neither n nor since starts from now.
            (None, None) if self.since.is_none() => return Ok(None),
            (None, None) => 0,
        };
        self.query(limit).map(Some)
    }
}

/// Reads `query` from the store, newest first.
async fn read(state: &ApiState, query: AuditQuery) -> Result<Vec<HealEvent>, Response> {
    let store = std::sync::Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.events(&query)).await {
        Ok(Ok(events)) => Ok(events),
        Ok(Err(problem)) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            problem.to_string(),
        )),
        Err(problem) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            problem.to_string(),
        )),
    }
}

/// `GET /api/v1/events`: matching audit records, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(("n" = Option<usize>, Query, description = "How many (default 100)"), ("kind" = Option<String>, Query, description = "Record kinds or action names, comma-separated, repeatable"), ("policy" = Option<String>, Query, description = "Only this policy"), ("target" = Option<String>, Query, description = "Only this target"), ("since" = Option<String>, Query, description = "A duration back (1h) or an RFC 3339 instant"), ("contains" = Option<String>, Query, description = "Free text in the reason, signal or alert name"), ("after" = Option<u64>, Query, description = "Only records after this sequence number")), responses((status = 200, description = "Matching audit records, newest first", content_type = "application/json"), (status = 400, description = "An unknown parameter or kind")))]
pub async fn query(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let query = match EventFilter::parse(raw.as_deref())
        .and_then(|filter| filter.backlog_query(Some(DEFAULT_LIMIT)))
    {
        Ok(Some(query)) => query,
        Ok(None) => return Json(Vec::<HealEvent>::new()).into_response(),
        Err(response) => return response.into_response(),
    };
    match read(&state, query).await {
        Ok(events) => Json(events).into_response(),
        Err(response) => response,
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
/// since that one are sent first, so a client that reconnects misses none; otherwise `n`
/// and `since` ask for that backlog first (the last `n`, or all since `since`), as
/// `tail -n N -f` does.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this record: the ones written since are sent first"), ("n" = Option<usize>, Query, description = "Backlog: the last n first"), ("kind" = Option<String>, Query, description = "As for /api/v1/events"), ("policy" = Option<String>, Query, description = "Only this policy"), ("target" = Option<String>, Query, description = "Only this target"), ("since" = Option<String>, Query, description = "Backlog since"), ("contains" = Option<String>, Query, description = "Free text"), ("after" = Option<u64>, Query, description = "Resume after this record, as Last-Event-ID does")), responses((status = 200, description = "Server-Sent Events, one audit record each, id = its sequence number", content_type = "text/event-stream"), (status = 503, description = "As many streams are open as --api-max-streams allows; Retry-After says when to retry")))]
pub async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    // Taken first and held by the stream until the client goes: a flood of streams is
    // refused before it costs a store read each.
    let slot = match state.guards.streams.take() {
        Ok(slot) => slot,
        Err(refusal) => return crate::limits::streams_exhausted(refusal),
    };
    let filter = match EventFilter::parse(raw.as_deref()) {
        Ok(filter) => filter,
        Err(response) => return response.into_response(),
    };
    let mut query = match filter.query(0) {
        Ok(query) => query,
        Err(response) => return response.into_response(),
    };
    // EventSource resends the last id it saw as Last-Event-ID when it reconnects; a client
    // that opens a new stream (after a page reload) passes it as `after`.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(filter.after);
    // Subscribe before reading the backlog, so nothing written in between is lost; the
    // sequence numbers remove what both deliver.
    let live = state.audit.stream();
    let backlog_query = match resume {
        Some(after) => {
            query.after_seq = Some(after);
            Some(query.clone())
        }
        None => match filter.backlog_query(None) {
            Ok(backlog) => backlog,
            Err(response) => return response.into_response(),
        },
    };
    let backlog = match backlog_query {
        None => Vec::new(),
        Some(backlog_query) => match read(&state, backlog_query).await {
            Ok(mut events) => {
                events.reverse();
                events
            }
            Err(response) => return response,
        },
    };
    // Live records continue after the backlog; with none, after whatever is stored now.
    let last = match (backlog.last(), resume) {
        (Some(event), _) => event.seq,
        (None, Some(after)) => after,
        (None, None) => 0,
    };
    let records = futures_util::StreamExt::map(events(backlog, live, query, last), move |record| {
        let _held = &slot;
        record
    });
    Sse::new(records)
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
                        let warning = Event::default().event("lagged").retry(Duration::from_millis(200)).data(format!(
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
