//! What keeps the API answering under a flood: a cap on concurrent event streams and a
//! rate limit on the control routes, each refusal saying when to come back.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{ApiState, error};

/// Concurrent event streams allowed when `--api-max-streams` is not given.
pub const DEFAULT_MAX_STREAMS: u32 = 64;

/// How long a client refused a stream is told to wait before trying again.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Client addresses the control limiter remembers before it forgets the idle ones.
const REMEMBERED_CLIENTS: usize = 10_000;

/// The limits of one API: how many event streams may be open, how fast controls may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Event streams open at once; more are answered 503.
    pub max_streams: u32,
    /// Control requests per second per client address, once the burst is spent.
    pub control_per_second: NonZeroU32,
    /// Control requests one client address may send at once.
    pub control_burst: NonZeroU32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_streams: DEFAULT_MAX_STREAMS,
            control_per_second: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            control_burst: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The event streams that may still open: one permit each, held by the stream until the
/// client goes away.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    slots: Arc<Semaphore>,
    max: u32,
}

/// The stream limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{max} event streams are open, the most this hale serves at once (--api-max-streams {max}); retry later or raise --api-max-streams"
)]
pub struct StreamsExhausted {
    /// The limit.
    pub max: u32,
}

impl StreamSlots {
    /// Room for `max` streams at once.
    pub fn new(max: u32) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(usize::MAX))),
            max,
        }
    }

    /// A slot for one more stream, released when the permit drops.
    ///
    /// # Errors
    /// [`StreamsExhausted`] when every slot is taken.
    pub fn take(&self) -> Result<OwnedSemaphorePermit, StreamsExhausted> {
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| StreamsExhausted { max: self.max })
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

/// The refusal of a stream beyond the limit: 503, `Retry-After`, what the limit is.
pub(crate) fn streams_exhausted(refusal: StreamsExhausted) -> Response {
    retry_after(
        error(StatusCode::SERVICE_UNAVAILABLE, refusal.to_string()),
        STREAM_RETRY_AFTER,
    )
}

/// `tokio::time`'s clock for the limiter, so that a paused runtime (tests) moves it.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(tokio::time::Instant::now().duration_since(self.start))
    }
}

type KeyedLimiter =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, TokioClock, NoOpMiddleware<Nanos>>;

/// A token bucket per client address over the control routes (GCRA, which is a token
/// bucket without a refill timer).
#[derive(Debug, Clone)]
pub struct ControlLimiter {
    limiter: Arc<KeyedLimiter>,
    clock: TokioClock,
    per_second: NonZeroU32,
}

/// A control request over its client's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too many control requests from {client}: at most {per_second} a second after a burst (--api-control-rate, --api-control-burst); retry in {} s",
    retry_after_seconds(*.wait)
)]
pub struct RateLimited {
    /// The client address.
    pub client: IpAddr,
    /// The limit per second.
    pub per_second: NonZeroU32,
    /// How long until the next request from it is taken.
    pub wait: Duration,
}

impl ControlLimiter {
    /// A bucket of `limits.control_burst` per client, refilled at `control_per_second`.
    pub fn new(limits: &ApiLimits) -> Self {
        let quota = Quota::per_second(limits.control_per_second).allow_burst(limits.control_burst);
        let clock = TokioClock::default();
        Self {
            limiter: Arc::new(RateLimiter::new(
                quota,
                DefaultKeyedStateStore::default(),
                clock.clone(),
            )),
            clock,
            per_second: limits.control_per_second,
        }
    }

    /// Takes one token of `client`'s bucket.
    ///
    /// # Errors
    /// [`RateLimited`], with how long to wait, when its bucket is empty.
    pub fn check(&self, client: IpAddr) -> Result<(), RateLimited> {
        if self.limiter.len() > REMEMBERED_CLIENTS {
            // Addresses whose bucket is full again are indistinguishable from new ones.
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| RateLimited {
                client,
                per_second: self.per_second,
                wait: not_until.wait_time_from(self.clock.now()),
            })
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

fn retry_after(mut response: Response, wait: Duration) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_seconds(wait)),
    );
    response
}

/// The client address a connection came from (`ConnectInfo` of [`crate::serve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// Rate-limits the routes it wraps by client address: 429 with `Retry-After` beyond it.
/// It runs after the token check, so requests without the token cannot spend the
/// operators' budget.
pub(crate) async fn limit_controls(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    // Without connection info (a router served by hand, in tests) every client shares
    // one bucket.
    let client = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.0.ip());
    match state.guards.controls.check(client) {
        Ok(()) => next.run(request).await,
        Err(limited) => retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, limited.to_string()),
            limited.wait,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::num::NonZeroU32;
    use std::time::Duration;

    use super::{ApiLimits, ControlLimiter, StreamSlots, retry_after_seconds};

    fn limits(per_second: u32, burst: u32) -> ApiLimits {
        ApiLimits {
            max_streams: 2,
            control_per_second: NonZeroU32::new(per_second).expect("non-zero"),
            control_burst: NonZeroU32::new(burst).expect("non-zero"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_taken_then_refused_until_the_bucket_refills() {
        let limiter = ControlLimiter::new(&limits(2, 3));
        let client = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            assert_eq!(limiter.check(client), Ok(()));
        }
        let refused = limiter
            .check(client)
            .expect_err("the fourth is over the burst");
        assert_eq!(refused.wait, Duration::from_millis(500));
        assert!(
            refused.to_string().contains("--api-control-rate"),
            "{refused}"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(limiter.check(client), Ok(()));
        assert!(limiter.check(client).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn each_client_address_has_its_own_bucket() {
        let limiter = ControlLimiter::new(&limits(1, 1));
        let flooding = IpAddr::from([192, 0, 2, 1]);
        let operator = IpAddr::from([192, 0, 2, 2]);
        assert_eq!(limiter.check(flooding), Ok(()));
        assert!(limiter.check(flooding).is_err());
        assert_eq!(limiter.check(operator), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn a_stream_slot_returns_when_its_stream_ends() {
        let slots = StreamSlots::new(2);
        let first = slots.take().expect("a slot");
        let _second = slots.take().expect("a slot");
        let refused = slots.take().expect_err("both are taken");
        assert_eq!(refused.max, 2);
        assert!(
            refused.to_string().contains("--api-max-streams 2"),
            "{refused}"
        );
        drop(first);
        assert_eq!(slots.available(), 1);
        assert!(slots.take().is_ok());
    }
}
