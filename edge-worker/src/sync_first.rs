//! Drives a request's future: polled once right away, and only a future that must wait is handed
//! to `wasm_bindgen_futures`.
//!
//! An `async fn` exported with `#[wasm_bindgen]` is first polled in a microtask, and its answer goes
//! through a promise of its own (a promise, a closure, a queued microtask and a resolve per
//! request), even when the request needs no I/O of its own: a cache hit whose revocation answer is
//! fresh, a refusal. Polled here first, such a request answers the upstream's fetch promise (or its
//! refusal) directly. A benchmark device, built only with the `sync-first-poll` feature: in the
//! ablation of 2026-12-01 (docs/benchmarks.md, 5 rounds × 10 s, machine loaded) it saved nothing
//! measurable (cache hit −10/−3 µs of workerd CPU at 1/8 connections, verification +8/+5 µs,
//! p50 no better), so the shipped Worker does without it.
//!
//! The first poll's waker is a [`Relay`]: a `JsFuture` takes the waker of every poll, but a future
//! that keeps the waker of its first poll only (worker's `Delay`, which the JWKS wait uses) must
//! still wake the task that drives it afterwards.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::JsValue;

/// The future's value if it completes without waiting, else a promise of it.
pub fn run(future: impl Future<Output = JsValue> + 'static) -> JsValue {
    let mut future = Box::pin(future);
    let relay = Arc::new(Relay::default());
    let first = Waker::from(relay.clone());
    if let Poll::Ready(answer) = future.as_mut().poll(&mut Context::from_waker(&first)) {
        return answer;
    }
    wasm_bindgen_futures::future_to_promise(std::future::poll_fn(move |cx| {
        relay.follow(cx.waker());
        future.as_mut().poll(cx).map(Ok)
    }))
    .into()
}

/// Forwards wake-ups to the waker of the task that drives the future now.
#[derive(Default)]
struct Relay {
    target: Mutex<Option<Waker>>,
}

impl Relay {
    fn follow(&self, waker: &Waker) {
        if let Ok(mut target) = self.target.lock() {
            if !target.as_ref().is_some_and(|t| t.will_wake(waker)) {
                *target = Some(waker.clone());
            }
        }
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Ok(target) = self.target.lock() {
            if let Some(waker) = target.as_ref() {
                waker.wake_by_ref();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Relay;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_of_the_first_polls_waker_reaches_the_task_that_polls_later() {
        let relay = Arc::new(Relay::default());
        // What a future that keeps its first waker (worker's `Delay`) holds on to.
        let first = Waker::from(relay.clone());
        let task = Arc::new(Flag(AtomicBool::new(false)));
        relay.follow(&Waker::from(task.clone()));
        first.wake_by_ref();
        assert!(task.0.load(Ordering::SeqCst));
    }
}
