//! A budget for the control frames an HTTP/2 client sends (PING and SETTINGS, acknowledgements not
//! counted). The `h2` crate answers every one and has no limit of its own, so a client that floods
//! them while reading the answers costs the gateway CPU for as long as it likes. Past the budget the
//! connection is ended with GOAWAY `ENHANCE_YOUR_CALM`, as servers do for rapid resets.
//!
//! The budget is 10,000 frames, plus two per HEADERS or DATA frame in either direction (gRPC clients
//! send a bandwidth-probing PING per DATA frame they receive), plus one per second of the connection's
//! age (keep-alive pings). A client reading nothing is bounded already: `h2` stops reading once its
//! answers cannot be written.
//!
//! Frames are counted by reading their 9-byte headers as the bytes pass, both ways, without copying.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Control frames allowed before any other traffic.
const BURST: u64 = 10_000;
/// Control frames allowed per HEADERS or DATA frame seen.
const PER_FRAME: u64 = 2;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

/// Tells the connection's task that the client went past its budget.
#[derive(Debug, Default)]
pub(super) struct Flood {
    exceeded: AtomicBool,
    notify: Notify,
}

impl Flood {
    /// Resolves once the client has gone past its budget.
    pub(super) async fn detected(&self) {
        loop {
            let notified = self.notify.notified();
            if self.exceeded.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    fn raise(&self) {
        if !self.exceeded.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }
}

/// Where a direction of the byte stream is in its frames.
#[derive(Debug, Default)]
struct FrameCursor {
    head: [u8; 9],
    head_len: usize,
    /// Payload bytes of the current frame still to pass.
    skip: usize,
}

impl FrameCursor {
    /// Walks `bytes`, calling `frame(kind, flags)` at each complete frame header.
    fn advance(&mut self, mut bytes: &[u8], mut frame: impl FnMut(u8, u8)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.head_len).min(bytes.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
            self.head_len += n;
            bytes = &bytes[n..];
            if self.head_len == 9 {
                self.head_len = 0;
                self.skip = u32::from_be_bytes([0, self.head[0], self.head[1], self.head[2]]) as usize;
                frame(self.head[3], self.head[4]);
            }
        }
    }
}

/// A server-side HTTP/2 byte stream that counts frames both ways (from after the client preface).
#[derive(Debug)]
pub(super) struct ControlFrameBudget<S> {
    inner: S,
    /// Bytes of the client preface still to pass before frames start.
    preface: usize,
    incoming: FrameCursor,
    outgoing: FrameCursor,
    control: u64,
    traffic: u64,
    started: Instant,
    flood: Arc<Flood>,
}

impl<S> ControlFrameBudget<S> {
    pub(super) fn new(inner: S, flood: Arc<Flood>) -> Self {
        Self {
            inner,
            preface: PREFACE_LEN,
            incoming: FrameCursor::default(),
            outgoing: FrameCursor::default(),
            control: 0,
            traffic: 0,
            started: Instant::now(),
            flood,
        }
    }

    fn read(&mut self, mut bytes: &[u8]) {
        let preface = self.preface.min(bytes.len());
        self.preface -= preface;
        bytes = &bytes[preface..];
        let (mut control, mut traffic) = (0, 0);
        self.incoming.advance(bytes, |kind, flags| match kind {
            SETTINGS | PING if flags & ACK == 0 => control += 1,
            DATA | HEADERS => traffic += 1,
            _ => {}
        });
        self.control += control;
        self.traffic += traffic;
        if control > 0 {
            let allowed = BURST + PER_FRAME * self.traffic + self.started.elapsed().as_secs();
            if self.control > allowed {
                self.flood.raise();
            }
        }
    }

    fn wrote(&mut self, bytes: &[u8]) {
        let mut traffic = 0;
        self.outgoing.advance(bytes, |kind, _| {
            if matches!(kind, DATA | HEADERS) {
                traffic += 1;
            }
        });
        self.traffic += traffic;
    }
}

/// The length of the client preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const PREFACE_LEN: usize = 24;

impl<S: AsyncRead + Unpin> AsyncRead for ControlFrameBudget<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let filled = &buf.filled()[before..];
            if !filled.is_empty() {
                this.read(filled);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ControlFrameBudget<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.wrote(&buf[..n]);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = polled {
            for slice in bufs {
                let taken = n.min(slice.len());
                this.wrote(&slice[..taken]);
                n -= taken;
                if n == 0 {
                    break;
                }
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: usize) -> Vec<u8> {
        let len = (payload as u32).to_be_bytes();
        let mut out = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0];
        out.resize(9 + payload, 0xaa);
        out
    }

    fn budget() -> ControlFrameBudget<()> {
        let mut budget = ControlFrameBudget::new((), Arc::new(Flood::default()));
        budget.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        budget
    }

    #[test]
    fn frames_split_across_reads_are_counted_once() {
        let mut budget = budget();
        let mut wire = frame(PING, 0, 8);
        wire.extend(frame(DATA, 0, 100));
        wire.extend(frame(SETTINGS, ACK, 0));
        wire.extend(frame(SETTINGS, 0, 6));
        for chunk in wire.chunks(5) {
            budget.read(chunk);
        }
        assert_eq!((budget.control, budget.traffic), (2, 1));
    }

    #[test]
    fn control_frames_past_the_burst_raise_the_flood() {
        let mut budget = budget();
        let ping = frame(PING, 0, 8);
        for _ in 0..BURST {
            budget.read(&ping);
        }
        assert!(!budget.flood.exceeded.load(Ordering::Acquire));
        budget.read(&ping);
        assert!(budget.flood.exceeded.load(Ordering::Acquire));
    }

    #[test]
    fn data_sent_either_way_earns_pings() {
        let mut budget = budget();
        for _ in 0..1_000 {
            budget.wrote(&frame(DATA, 0, 16));
        }
        let ping = frame(PING, 0, 8);
        for _ in 0..BURST + 2_000 {
            budget.read(&ping);
        }
        assert!(
            !budget.flood.exceeded.load(Ordering::Acquire),
            "a ping per DATA frame received is allowed"
        );
        budget.read(&ping);
        assert!(budget.flood.exceeded.load(Ordering::Acquire));
    }

    #[test]
    fn acknowledgements_cost_nothing() {
        let mut budget = budget();
        let ack = frame(PING, ACK, 8);
        for _ in 0..2 * BURST {
            budget.read(&ack);
        }
        assert_eq!(budget.control, 0);
    }
}
