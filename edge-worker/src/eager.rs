//! A benchmark device, built only with the `eager-executor` feature for the ablation in
//! `cargo xtask bench edge`: it stays only if it earns its place there. Deleting it is deleting this
//! module, `promise.rs`, the feature and the lines marked with it (`lib.rs`, `wait.rs`,
//! `isolate.rs`, `error.rs`).
//!
//! Runs a request's future synchronously as far as it goes, and between its waits chains promises
//! instead of going through a promise executor.
//!
//! A request that needs no I/O of its own (a cache hit whose revocation answer is fresh, a refusal)
//! answers without any promise of ours. A request that waits on a JS promise through [`settled`] is
//! parked, and the promise is chained to a handler made once per isolate and bound to the parked
//! request's number, which polls it again: no closure, microtask or finalizer per wait, which is what
//! `wasm_bindgen_futures` spends. A future that waits on anything else (a `JsFuture`, a timer) is
//! handed to `future_to_promise` as it is; its first poll used a relay waker, so a future that keeps
//! the waker of its first poll (worker's `Delay` does) still wakes the task that drives it later.

use crate::error::EdgeError;
use crate::{isolate, promise};
use js_sys::Promise;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

type Job = Pin<Box<dyn Future<Output = JsValue>>>;
/// Where a parked wait's outcome is put before its job is polled again.
type Slot = Rc<RefCell<Option<Result<JsValue, JsValue>>>>;

struct Parked {
    job: Job,
    relay: Arc<Relay>,
    slot: Slot,
    /// `Date.now()` when parked, for [`sweep`].
    since_ms: f64,
}

/// Past this many parked requests, parking first drops those parked longer than [`MAX_PARKED_MS`].
const SWEEP_AT: usize = 256;
/// A parked wait is short (a signature check, a KV read). One this old belongs to a request the
/// runtime cancelled (its client went away): its promise will never settle, so nothing else would
/// ever free it.
const MAX_PARKED_MS: f64 = 60_000.0;

/// The executor's state in the isolate (`isolate::Isolate::executor`).
#[derive(Default)]
pub struct Executor {
    /// Set while `step` polls: a [`Settled`] polled then hands its promise to `step`.
    stepping: Cell<bool>,
    awaited: RefCell<Option<(Promise, Slot)>>,
    parked: RefCell<HashMap<u32, Parked>>,
    next_id: Cell<u32>,
    /// The handlers every parked promise is chained to, made on first use (they are JS functions).
    resume: OnceCell<Resume>,
}

struct Resume {
    fulfilled: Closure<dyn FnMut(u32, JsValue) -> JsValue>,
    rejected: Closure<dyn FnMut(u32, JsValue) -> JsValue>,
}

/// The future's value if it completes without waiting, else a promise of it.
pub fn run<F: Future<Output = JsValue> + 'static>(future: F) -> JsValue {
    step(Box::pin(future), Arc::new(Relay::default()))
}

fn step(mut job: Job, relay: Arc<Relay>) -> JsValue {
    let waker = Waker::from(relay.clone());
    isolate::with(|i| i.executor.stepping.set(true));
    let polled = job.as_mut().poll(&mut Context::from_waker(&waker));
    let awaited = isolate::with(|i| {
        i.executor.stepping.set(false);
        i.executor.awaited.take()
    });
    match (polled, awaited) {
        (Poll::Ready(value), _) => value,
        (Poll::Pending, Some((awaited, slot))) => isolate::with(|i| {
            let executor = &i.executor;
            let id = executor.next_id.get();
            executor.next_id.set(id.wrapping_add(1));
            let since_ms = js_sys::Date::now();
            {
                let mut parked = executor.parked.borrow_mut();
                if parked.len() >= SWEEP_AT {
                    sweep(&mut parked, since_ms);
                }
                parked.insert(
                    id,
                    Parked {
                        job,
                        relay,
                        slot,
                        since_ms,
                    },
                );
            }
            let resume = executor.resume.get_or_init(|| Resume {
                fulfilled: Closure::new(|id, value| resume(id, Ok(value))),
                rejected: Closure::new(|id, error| resume(id, Err(error))),
            });
            let fulfilled = promise::bind(resume.fulfilled.as_ref().unchecked_ref(), id);
            let rejected = promise::bind(resume.rejected.as_ref().unchecked_ref(), id);
            promise::then(&awaited, &fulfilled, &rejected).into()
        }),
        (Poll::Pending, None) => wasm_bindgen_futures::future_to_promise(async move {
            Ok(Relayed { relay, future: job }.await)
        })
        .into(),
    }
}

/// Drops the requests parked for longer than [`MAX_PARKED_MS`].
fn sweep(parked: &mut HashMap<u32, Parked>, now_ms: f64) {
    parked.retain(|_, p| now_ms - p.since_ms < MAX_PARKED_MS);
}

/// A parked wait settled: its value becomes the chained promise's, a promise adopted in turn.
fn resume(id: u32, outcome: Result<JsValue, JsValue>) -> JsValue {
    let parked = isolate::with(|i| i.executor.parked.borrow_mut().remove(&id));
    let Some(parked) = parked else {
        // Swept: the wait outlived any sensible bound.
        return EdgeError::Timeout.respond(None, None);
    };
    *parked.slot.borrow_mut() = Some(outcome);
    step(parked.job, parked.relay)
}

/// Waits for a promise that settles quickly (see [`MAX_PARKED_MS`]): under [`run`] by chaining it,
/// elsewhere as a `JsFuture`.
pub fn settled(promise: Promise) -> Settled {
    Settled {
        promise: Some(promise),
        slot: Rc::default(),
        fallback: None,
    }
}

pub struct Settled {
    promise: Option<Promise>,
    slot: Slot,
    fallback: Option<JsFuture>,
}

impl Future for Settled {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(fallback) = self.fallback.as_mut() {
            return Pin::new(fallback).poll(cx);
        }
        if let Some(outcome) = self.slot.borrow_mut().take() {
            return Poll::Ready(outcome);
        }
        let Some(promise) = self.promise.take() else {
            // Handed to `step` and not settled yet.
            return Poll::Pending;
        };
        let slot = self.slot.clone();
        let unhanded = isolate::with(|i| {
            let executor = &i.executor;
            if executor.stepping.get() && executor.awaited.borrow().is_none() {
                executor.awaited.replace(Some((promise, slot)));
                None
            } else {
                Some(promise)
            }
        });
        let Some(promise) = unhanded else {
            return Poll::Pending;
        };
        let mut fallback = JsFuture::from(promise);
        let polled = Pin::new(&mut fallback).poll(cx);
        self.fallback = Some(fallback);
        polled
    }
}

/// Forwards wake-ups to the waker of the task that now drives the future.
#[derive(Default)]
struct Relay {
    target: Mutex<Option<Waker>>,
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

struct Relayed<T> {
    relay: Arc<Relay>,
    future: Pin<Box<dyn Future<Output = T>>>,
}

impl<T> Future for Relayed<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Ok(mut target) = self.relay.target.lock() {
            *target = Some(cx.waker().clone());
        }
        self.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Like worker's `Delay`: keeps the waker of its first poll only.
    struct FirstWakerOnly {
        kept: Rc<Cell<Option<Waker>>>,
        done: Rc<Cell<bool>>,
    }

    impl Future for FirstWakerOnly {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.done.get() {
                return Poll::Ready(());
            }
            let kept = self.kept.take();
            self.kept
                .set(Some(kept.unwrap_or_else(|| cx.waker().clone())));
            Poll::Pending
        }
    }

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn sweeping_drops_only_the_waits_parked_too_long() {
        let parked_at = |since_ms| Parked {
            job: Box::pin(async { JsValue::UNDEFINED }),
            relay: Arc::default(),
            slot: Slot::default(),
            since_ms,
        };
        let mut parked = HashMap::from([(1, parked_at(0.0)), (2, parked_at(50_000.0))]);
        sweep(&mut parked, 70_000.0);
        assert_eq!(parked.keys().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn a_wake_to_the_first_pollers_waker_reaches_the_later_task() {
        let kept = Rc::new(Cell::new(None));
        let done = Rc::new(Cell::new(false));
        let relay = Arc::new(Relay::default());
        let mut inner: Pin<Box<dyn Future<Output = ()>>> = Box::pin(FirstWakerOnly {
            kept: kept.clone(),
            done: done.clone(),
        });
        let first = Waker::from(relay.clone());
        assert!(inner
            .as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending());

        let task = Arc::new(Flag(Default::default()));
        let task_waker = Waker::from(task.clone());
        let mut relayed = Relayed {
            relay,
            future: inner,
        };
        assert!(Pin::new(&mut relayed)
            .poll(&mut Context::from_waker(&task_waker))
            .is_pending());
        // The I/O completes and wakes the waker it kept: the relay's, from the first poll.
        done.set(true);
        kept.take().expect("a waker was kept").wake();
        assert!(task.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(Pin::new(&mut relayed)
            .poll(&mut Context::from_waker(&task_waker))
            .is_ready());
    }
}
