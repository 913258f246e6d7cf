//! Runs a request's future synchronously as far as it goes, and hands it to a promise only when it
//! must wait.
//!
//! A request that needs no I/O of its own (a cache hit whose revocation answer is fresh, a refusal)
//! then answers without a promise, a microtask and their closures. The first poll uses a relay
//! waker: a future that keeps the waker of its first poll (worker's `Delay` does) wakes the relay,
//! which wakes the promise's task once it exists, so no wake-up is lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::JsValue;

/// The future's value if it completes in its first poll, else a promise of it.
pub fn run<F: Future<Output = JsValue> + 'static>(future: F) -> JsValue {
    let relay = Arc::new(Relay::default());
    let mut future = Box::pin(future);
    let waker = Waker::from(relay.clone());
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(value) => value,
        Poll::Pending => {
            wasm_bindgen_futures::future_to_promise(
                async move { Ok(Relayed { relay, future }.await) },
            )
            .into()
        }
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

struct Relayed<F> {
    relay: Arc<Relay>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Relayed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
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
    fn a_wake_to_the_first_pollers_waker_reaches_the_later_task() {
        let kept = Rc::new(Cell::new(None));
        let done = Rc::new(Cell::new(false));
        let relay = Arc::new(Relay::default());
        let mut inner = Box::pin(FirstWakerOnly {
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
