//! Holding the answer to a refused attempt.
//!
//! An attacker's closed loop sends its next guess the moment a 429 arrives, so the cheaper a refusal,
//! the more of them a flood sends, until they saturate the cores and the database pool that
//! legitimate sign-ins need (docs/benchmarks-origin.md: 1,682 refusals a second from 64 attackers,
//! a bystander's sign-in p50 4.90× its idle value). Holding each refusal's answer for `hold` caps a
//! connection at one refusal per `hold`; a client that honours `Retry-After` never notices.
//!
//! A held answer costs one sleeping task and its connection. At most [`MAX_HELD`] are held at once:
//! beyond that a refusal is answered at once, so holding can never exhaust memory or sockets.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Refusals held at the same time, at most.
pub const MAX_HELD: usize = 512;
/// The default hold.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(1);
/// The longest hold `ORIGIN_BRUTE_FORCE_HOLD_MS` accepts.
pub const MAX_HOLD: Duration = Duration::from_secs(10);

/// Marks a response as a refused attempt, to be held (set by `ApiError::TooManyAttempts`).
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// The hold and its slots; cheap to clone.
#[derive(Debug, Clone)]
pub struct Tarpit {
    hold: Duration,
    slots: Arc<Semaphore>,
}

impl Tarpit {
    pub fn new(hold: Duration) -> Tarpit {
        Tarpit {
            hold,
            slots: Arc::new(Semaphore::new(MAX_HELD)),
        }
    }

    pub fn hold(&self) -> Duration {
        self.hold
    }
}

/// Middleware: answers a refused attempt only after the hold, while a slot is free.
pub async fn hold_refusals(State(tarpit): State<Tarpit>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.extensions().get::<Refused>().is_some() && !tarpit.hold.is_zero() {
        if let Ok(_slot) = tarpit.slots.try_acquire() {
            tokio::time::sleep(tarpit.hold).await;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::IntoResponse as _;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt as _;

    fn app(tarpit: Tarpit) -> Router {
        Router::new()
            .route(
                "/refused",
                get(|| async { (axum::Extension(Refused), "no").into_response() }),
            )
            .route("/ok", get(|| async { "yes" }))
            .layer(axum::middleware::from_fn_with_state(tarpit, hold_refusals))
    }

    /// Virtual time the request to `path` took to be answered.
    async fn answered_after(tarpit: &Tarpit, path: &str) -> Duration {
        let started = tokio::time::Instant::now();
        let request = Request::get(path).body(Body::empty()).unwrap();
        app(tarpit.clone()).oneshot(request).await.unwrap();
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_held_and_other_answers_are_not() {
        let tarpit = Tarpit::new(Duration::from_secs(2));
        assert!(answered_after(&tarpit, "/refused").await >= Duration::from_secs(2));
        assert!(answered_after(&tarpit, "/ok").await < Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_slot_taken_a_refusal_is_answered_at_once() {
        let tarpit = Tarpit::new(Duration::from_secs(2));
        let _all = tarpit.slots.try_acquire_many(MAX_HELD as u32).unwrap();
        assert!(answered_after(&tarpit, "/refused").await < Duration::from_millis(1));
    }
}
