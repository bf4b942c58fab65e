//! The request-head deadline, separate from the idle timeout.
//!
//! hyper has one timer for both: it runs from the moment the connection waits for
//! a request head, so a short one (against slowloris) also closes idle keep-alive
//! connections, which a load balancer in front of the agent (the ALB keeps idle
//! connections 60 s) then finds closed and answers 502. [`HeadDeadline`] wraps a
//! connection's I/O and gives each request head its own deadline, counted from
//! the head's first byte (and from the connection's start for the first request);
//! hyper's timer is set to the idle timeout instead.
//!
//! Guarantees:
//! - a client that has started a request head and not finished it within `limit`
//!   gets its connection closed (the next read fails with `TimedOut`), however
//!   slowly it trickles bytes; a client between requests is left alone;
//! - a write that cannot make progress for `write_limit` (a client that does not
//!   read its answers, e.g. a pipeliner whose socket buffers are full) fails with
//!   `TimedOut`, which closes the connection. hyper reads no further pipelined
//!   request while an answer is unwritten, so what one connection buffers is
//!   bounded by its read buffer and the socket's.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Set by the service when a request head has been parsed: the next bytes start a
/// new head (and a new deadline).
#[derive(Debug, Default)]
pub struct HeadDone(AtomicBool);

impl HeadDone {
    /// Called for every request the service receives.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// I/O that fails a read once a request head has taken longer than `limit`.
pub struct HeadDeadline<IO> {
    io: IO,
    done: Arc<HeadDone>,
    limit: Duration,
    /// The head's deadline, reset (not reallocated) for each head.
    deadline: Pin<Box<Sleep>>,
    /// True while a head is being read: at the start, and from a head's first byte.
    armed: bool,
    write_limit: Duration,
    /// The stalled write's deadline, armed while writes return `Pending`.
    write_deadline: Pin<Box<Sleep>>,
    write_armed: bool,
}

impl<IO> HeadDeadline<IO> {
    /// Wraps `io`; the first request head must be complete within `limit`, and a
    /// stalled write fails after `write_limit`.
    pub fn new(io: IO, done: Arc<HeadDone>, limit: Duration, write_limit: Duration) -> Self {
        HeadDeadline {
            io,
            done,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            armed: true,
            write_limit,
            write_deadline: Box::pin(tokio::time::sleep(write_limit)),
            write_armed: false,
        }
    }

    /// Applies the write deadline to the outcome `r` of a write or flush.
    fn guard_write<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => {
                if !self.write_armed {
                    self.write_armed = true;
                    let at = tokio::time::Instant::now() + self.write_limit;
                    self.write_deadline.as_mut().reset(at);
                }
                if self.write_deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client does not read its answers",
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.write_armed = false;
                ready
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for HeadDeadline<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.done.take() {
            // The last head was parsed: until new bytes come, the connection is idle.
            this.armed = false;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && !this.armed {
                    this.armed = true;
                    let at = tokio::time::Instant::now() + this.limit;
                    this.deadline.as_mut().reset(at);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this.armed && this.deadline.as_mut().poll(cx).is_ready();
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request head not complete in time",
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
        self.guard_write(cx, r)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.guard_write(cx, r)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.guard_write(cx, r)
    }
}
