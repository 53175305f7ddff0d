//! One queue and one worker per sink: a slow or dead sink delays nobody else. The worker
//! keeps to the sink's rate limit (a token bucket: a burst, then the rate) and retries with exponential backoff (or as the
//! service asks), then gives up and reports.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::DeliveryError;
use crate::message::Message;
use crate::rate::TokenBucket;

/// Attempts per message, the first included.
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest wait between attempts, whatever the service asks.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// How long to wait before attempt `attempt + 1` after `error` on attempt `attempt`
/// (1-based); `None` to give up. 1 s, 2 s, 4 s, 8 s, or what the service asked.
pub fn retry_delay(attempt: u32, error: &DeliveryError) -> Option<Duration> {
    if !error.retryable || attempt >= MAX_ATTEMPTS {
        return None;
    }
    let backoff = hale_core::RetryPolicy::DELIVERY.delay(attempt);
    Some(error.retry_after.unwrap_or(backoff).min(MAX_RETRY_WAIT))
}

/// Something that delivers messages (a real sink, or a scripted one in tests).
pub trait Deliver: Send + Sync + 'static {
    /// One attempt.
    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<String, DeliveryError>>;
}

/// What a worker reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Delivered after `attempts` tries.
    Delivered {
        /// The message's title.
        title: String,
        /// Tries it took.
        attempts: u32,
    },
    /// Given up on.
    Failed {
        /// The message.
        message: Box<Message>,
        /// The last error.
        error: String,
        /// Tries made.
        attempts: u32,
    },
    /// The queue was full: the oldest message was dropped.
    Dropped {
        /// The dropped message's title.
        title: String,
    },
    /// Messages now waiting (after a push or a pop; 0 when the worker starts).
    QueueDepth(usize),
}

/// The sending end of a sink's queue.
#[derive(Clone)]
pub struct Outbox {
    queue: Arc<Mutex<VecDeque<Message>>>,
    wake: Arc<Notify>,
    capacity: usize,
    report: Arc<dyn Fn(Report) + Send + Sync>,
}

impl Outbox {
    /// Queues a message; when the queue is full, the oldest is dropped and reported.
    pub fn push(&self, message: Message) {
        let (dropped, depth) = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let dropped = (queue.len() >= self.capacity)
                .then(|| queue.pop_front())
                .flatten();
            queue.push_back(message);
            (dropped, queue.len())
        };
        if let Some(dropped) = dropped {
            (self.report)(Report::Dropped {
                title: dropped.title,
            });
        }
        (self.report)(Report::QueueDepth(depth));
        self.wake.notify_one();
    }

    /// The oldest waiting message, if any (reporting the depth left).
    fn pop(&self) -> Option<Message> {
        let (message, depth) = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            (queue.pop_front()?, queue.len())
        };
        (self.report)(Report::QueueDepth(depth));
        Some(message)
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queue.lock().map_or(0, |q| q.len())
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes `span` a child of the remediation episode the record belongs to (its trace and
/// root span ids travel in the record), so the notification shows up in that trace.
fn join_episode(span: &tracing::Span, event: &hale_core::HealEvent) {
    if let (Some(trace), Some(parent)) = (&event.trace_id, &event.span_id) {
        hale_core::continue_trace(span, trace, parent);
    }
}

/// Starts a sink's worker; returns its queue and the task (abort it to stop the worker).
pub fn spawn_worker(
    deliver: Arc<dyn Deliver>,
    per_minute: u32,
    capacity: usize,
    report: Arc<dyn Fn(Report) + Send + Sync>,
) -> (Outbox, JoinHandle<()>) {
    let outbox = Outbox {
        queue: Arc::default(),
        wake: Arc::new(Notify::new()),
        capacity: capacity.max(1),
        report: Arc::clone(&report),
    };
    let worker = outbox.clone();
    report(Report::QueueDepth(0));
    let task = tokio::spawn(async move {
        let mut bucket = TokenBucket::new(per_minute, tokio::time::Instant::now());
        loop {
            let Some(message) = worker.pop() else {
                worker.wake.notified().await;
                continue;
            };
            while let Some(wait) = bucket.take(tokio::time::Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            let mut attempt = 1;
            let span = tracing::info_span!(
                parent: None,
                "hale.notification",
                otel.name = %format!("notify {:?}", message.kind),
                hale.policy = %message.event.policy,
                hale.kind = ?message.kind,
                otel.status_code = tracing::field::Empty,
            );
            join_episode(&span, &message.event);
            loop {
                let attempted =
                    tracing::Instrument::instrument(deliver.deliver(&message), span.clone()).await;
                match attempted {
                    Ok(_) => {
                        report(Report::Delivered {
                            title: message.title.clone(),
                            attempts: attempt,
                        });
                        break;
                    }
                    Err(error) => match retry_delay(attempt, &error) {
                        Some(wait) => {
                            tracing::debug!(error = %error.message, attempt, ?wait, "notification failed; retrying");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        None => {
                            span.record("otel.status_code", "ERROR");
                            report(Report::Failed {
                                message: Box::new(message.clone()),
                                error: error.message,
                                attempts: attempt,
                            });
                            break;
                        }
                    },
                }
            }
        }
    });
    (outbox, task)
}
