//! Informational (1xx) answers of backends, `103 Early Hints` above all, passed on to the client while
//! its final answer is still to come, as Go's reverse proxy under Traefik passes them.
//!
//! The forwarder hands each one to the request's [`InterimSink`]. On HTTP/1.1 connections the sink
//! queues the serialized head and wakes the connection, whose socket writer puts it on the wire ahead of
//! anything else hyper writes (see `entry_point::http1`); on HTTP/2 each stream has its own sink, which
//! its task drains into informational HEADERS frames. `100 Continue` (answered per hop by the server)
//! and `101` (an upgrade, handled apart) are not passed on, and at most [`MAX_PER_RESPONSE`] per
//! request, as Go bounds them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::task::AtomicWaker;
use http::{HeaderMap, Response, StatusCode};
use tokio::sync::Notify;

/// The most informational answers passed on for one request.
pub(crate) const MAX_PER_RESPONSE: usize = 5;

/// Where a request's informational answers go.
#[derive(Debug, Clone)]
pub(crate) enum InterimSink {
    /// The HTTP/1.1 connection the request came on.
    Http1(Arc<Http1Interim>),
    /// The HTTP/2 stream the request came on.
    Http2(Arc<Http2Interim>),
}

impl InterimSink {
    /// Passes an informational answer on, unless it is one that never is.
    pub(crate) fn send(&self, status: StatusCode, headers: &HeaderMap) {
        if !status.is_informational() || status == StatusCode::CONTINUE || status == StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        match self {
            Self::Http1(queue) => queue.push(status, headers),
            Self::Http2(queue) => queue.push(status, headers),
        }
    }
}

/// Informational heads waiting for an HTTP/1.1 connection's writer, serialized.
#[derive(Debug, Default)]
pub(crate) struct Http1Interim {
    waiting: AtomicBool,
    heads: Mutex<Vec<u8>>,
    /// Heads queued since the connection's last final answer, to bound them per request.
    count: AtomicUsize,
    /// The connection's task, woken to write what waits.
    writer: AtomicWaker,
}

impl Http1Interim {
    fn push(&self, status: StatusCode, headers: &HeaderMap) {
        if self.count.fetch_add(1, Ordering::Relaxed) >= MAX_PER_RESPONSE {
            return;
        }
        let Ok(mut heads) = self.heads.lock() else { return };
        heads.extend_from_slice(b"HTTP/1.1 ");
        heads.extend_from_slice(status.as_str().as_bytes());
        heads.push(b' ');
        heads.extend_from_slice(status.canonical_reason().unwrap_or("Informational").as_bytes());
        heads.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            heads.extend_from_slice(name.as_str().as_bytes());
            heads.extend_from_slice(b": ");
            heads.extend_from_slice(value.as_bytes());
            heads.extend_from_slice(b"\r\n");
        }
        heads.extend_from_slice(b"\r\n");
        drop(heads);
        self.waiting.store(true, Ordering::Release);
        self.writer.wake();
    }

    /// Whether heads wait to be written (one atomic load: the writer asks on every read and write).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// The heads waiting, in order, leaving none.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.waiting.store(false, Ordering::Release);
        self.heads
            .lock()
            .map(|mut heads| std::mem::take(&mut *heads))
            .unwrap_or_default()
    }

    /// Registers the task to wake when a head arrives.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.writer.register(waker);
    }

    /// A final answer is on its way: the next request may pass on its own informational answers.
    pub(crate) fn final_answer(&self) {
        self.count.store(0, Ordering::Relaxed);
    }
}

/// Informational answers waiting for an HTTP/2 stream's task.
#[derive(Debug, Default)]
pub(crate) struct Http2Interim {
    heads: Mutex<Vec<Response<()>>>,
    arrived: Notify,
    count: AtomicUsize,
}

impl Http2Interim {
    fn push(&self, status: StatusCode, headers: &HeaderMap) {
        if self.count.fetch_add(1, Ordering::Relaxed) >= MAX_PER_RESPONSE {
            return;
        }
        let mut head = Response::new(());
        *head.status_mut() = status;
        *head.headers_mut() = headers.clone();
        if let Ok(mut heads) = self.heads.lock() {
            heads.push(head);
        }
        self.arrived.notify_one();
    }

    /// Waits until an informational answer arrives.
    pub(crate) async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// The answers waiting, in order.
    pub(crate) fn take(&self) -> Vec<Response<()>> {
        self.heads
            .lock()
            .map(|mut heads| std::mem::take(&mut *heads))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("link", "</style.css>; rel=preload; as=style".parse().unwrap());
        headers
    }

    #[test]
    fn http1_heads_are_serialized_in_order_and_bounded() {
        let queue = Arc::new(Http1Interim::default());
        let sink = InterimSink::Http1(Arc::clone(&queue));
        sink.send(StatusCode::CONTINUE, &HeaderMap::new());
        assert!(!queue.is_waiting(), "100 Continue is answered per hop");
        for _ in 0..7 {
            sink.send(StatusCode::from_u16(103).unwrap(), &hints());
        }
        assert!(queue.is_waiting());
        let written = String::from_utf8(queue.take()).unwrap();
        let one = "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n";
        assert_eq!(written, one.repeat(MAX_PER_RESPONSE));
        assert!(!queue.is_waiting());
        queue.final_answer();
        sink.send(StatusCode::from_u16(103).unwrap(), &hints());
        assert_eq!(queue.take().len(), one.len(), "the next request starts a new count");
    }
}
