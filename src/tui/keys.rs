//! The terminal's input events, for the event loop.
//!
//! crossterm's `EventStream` checks for input on every poll by trying a lock that its own
//! reader thread holds while it waits for input. The try fails, after a spin of `sched_yield`
//! calls: measured, 7 of them per token of an answer streaming at 50 tokens/s, because the
//! event loop polls every stream on each wake-up. `Keys` polls the `EventStream` only when it
//! has something to give: after its reader thread woke it, or while the last poll gave an event
//! (there may be more).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use crossterm::event::{Event, EventStream};
use futures::Stream;
use futures::task::AtomicWaker;

/// Set when the `EventStream`'s reader thread wakes it; wakes the event loop.
#[derive(Default)]
struct Woken {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.set.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

pub struct Keys {
    inner: EventStream,
    woken: Arc<Woken>,
    /// The last poll of `inner` gave an event (or none was made yet): poll it again.
    ready: bool,
}

impl Keys {
    pub fn new() -> Self {
        Keys {
            inner: EventStream::new(),
            woken: Arc::default(),
            ready: true,
        }
    }
}

impl Stream for Keys {
    type Item = std::io::Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Registered before the flag is read: a wake between the two is not lost.
        self.woken.waker.register(cx.waker());
        if !self.ready && !self.woken.set.swap(false, Ordering::SeqCst) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.woken.clone());
        let mut inner_cx = Context::from_waker(&waker);
        let r = Pin::new(&mut self.inner).poll_next(&mut inner_cx);
        self.ready = r.is_ready();
        r
    }
}
