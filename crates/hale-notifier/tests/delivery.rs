//! The retry policy (exponential, `Retry-After` honoured, a refusal never retried) and the
//! per-sink worker under virtual time: retries on schedule, a dead sink delaying no other,
//! the rate limit's burst and pace, and a full queue dropping the oldest.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use hale_notifier::Message;
use hale_notifier::delivery::{Deliver, Report, retry_delay, spawn_worker};
use hale_notifier::sinks::DeliveryError;

use common::*;

#[test]
fn retries_back_off_exponentially_honour_retry_after_and_stop() {
    let transient = DeliveryError {
        message: "HTTP 503".into(),
        retryable: true,
        retry_after: None,
    };
    let delays: Vec<_> = (1..=5).map(|a| retry_delay(a, &transient)).collect();
    assert_eq!(
        delays,
        [1, 2, 4, 8]
            .map(|s| Some(Duration::from_secs(s)))
            .into_iter()
            .chain([None])
            .collect::<Vec<_>>()
    );
    let asked = DeliveryError {
        retry_after: Some(Duration::from_secs(7)),
        ..transient.clone()
    };
    assert_eq!(retry_delay(1, &asked), Some(Duration::from_secs(7)));
    let greedy = DeliveryError {
        retry_after: Some(Duration::from_secs(3600)),
        ..transient.clone()
    };
    assert_eq!(
        retry_delay(1, &greedy),
        Some(Duration::from_secs(60)),
        "capped"
    );
    let fatal = DeliveryError {
        retryable: false,
        ..transient
    };
    assert_eq!(retry_delay(1, &fatal), None);
}

/// Fails the first `failures` attempts (retryable), then succeeds; or never answers.
struct Scripted {
    failures: Mutex<u32>,
    hang: bool,
    attempts_at: Mutex<Vec<tokio::time::Instant>>,
}

impl Deliver for Scripted {
    fn deliver<'a>(&'a self, _: &'a Message) -> BoxFuture<'a, Result<String, DeliveryError>> {
        Box::pin(async move {
            self.attempts_at
                .lock()
                .unwrap()
                .push(tokio::time::Instant::now());
            if self.hang {
                std::future::pending::<()>().await;
            }
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(DeliveryError {
                    message: "HTTP 503".into(),
                    retryable: true,
                    retry_after: None,
                });
            }
            Ok("ok".into())
        })
    }
}

fn scripted(failures: u32, hang: bool) -> Arc<Scripted> {
    Arc::new(Scripted {
        failures: Mutex::new(failures),
        hang,
        attempts_at: Mutex::default(),
    })
}

/// Where a worker's reports go in a test.
type Reporter = Arc<dyn Fn(Report) + Send + Sync>;

/// Collected reports, and the function that collects them.
fn collector() -> (Arc<Mutex<Vec<Report>>>, Reporter) {
    let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
    let sink = Arc::clone(&reports);
    (reports, Arc::new(move |r| sink.lock().unwrap().push(r)))
}

#[tokio::test(start_paused = true)]
async fn the_worker_retries_on_schedule_and_a_dead_sink_delays_no_other() {
    let flaky = scripted(2, false);
    let dead = scripted(0, true);
    let (reports, report) = collector();
    let (flaky_box, _a) = spawn_worker(flaky.clone(), 60, 10, Arc::clone(&report));
    let (dead_box, _b) = spawn_worker(dead.clone(), 60, 10, report);
    let start = tokio::time::Instant::now();
    dead_box.push(message());
    flaky_box.push(message());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts: Vec<Duration> = flaky
        .attempts_at
        .lock()
        .unwrap()
        .iter()
        .map(|t| *t - start)
        .collect();
    assert_eq!(
        attempts,
        [0, 1, 3].map(Duration::from_secs),
        "1 s then 2 s backoff"
    );
    assert!(reports.lock().unwrap().contains(&Report::Delivered {
        title: message().title,
        attempts: 3
    }));
    assert_eq!(
        dead.attempts_at.lock().unwrap().len(),
        1,
        "the dead sink is still on its first try"
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_allows_a_burst_then_paces_and_a_full_queue_drops_the_oldest() {
    let sink = scripted(0, false);
    let (reports, report) = collector();
    // 2 per minute: a burst of 2, then one every 30 s; room for 2 waiting.
    let (outbox, _task) = spawn_worker(sink.clone(), 2, 2, report);
    let start = tokio::time::Instant::now();
    for i in 0..6 {
        let mut m = message();
        m.title = format!("m{i}");
        outbox.push(m);
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_secs(100)).await;
    let times: Vec<u64> = sink
        .attempts_at
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_secs())
        .collect();
    // m0 and m1 go at once (the bucket starts full), m2 waits in the worker for a token,
    // m3 and m4 fill the queue, and m5 pushes out the oldest waiting one, m3.
    assert_eq!(times, [0, 0, 30, 60, 90], "a burst, then the rate");
    let reports = reports.lock().unwrap();
    assert!(
        reports.contains(&Report::Dropped { title: "m3".into() }),
        "{reports:?}"
    );
    assert_eq!(
        reports.last(),
        Some(&Report::Delivered {
            title: "m5".into(),
            attempts: 1
        }),
        "{reports:?}"
    );
    assert!(reports.contains(&Report::QueueDepth(2)), "{reports:?}");
}
