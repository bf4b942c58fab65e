//! The one way the agent builds its Kubernetes client: every call has a deadline.
//!
//! kube-client sets no read timeout by default, so an API server that stops
//! answering (or a network path that stops forwarding) would hang a call forever,
//! and with it a leader's renewals and writes. [`connect`] and [`build`] give:
//!
//! - connecting: at most [`CONNECT_TIMEOUT`]; each write of a request: at most
//!   [`WRITE_TIMEOUT`] without progress;
//! - every request/response call (anything but a watch): at most [`CALL_TIMEOUT`]
//!   from sending it to the last byte of the answer, kube's own retries included;
//! - a watch: at most [`CALL_TIMEOUT`] to its response headers; its stream may then
//!   stay silent for up to [`READ_TIMEOUT`], longer than the 290 s server-side timeout
//!   kube-runtime's watcher asks for (the watcher itself reconnects after 295 s of
//!   silence), so an idle but healthy watch is never cut.
//!
//! Callers with a tighter budget (the Lease steps) add their own
//! `tokio::time::timeout` on top.

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kube::client::{Body, ClientBuilder};
use kube::{Client, Config};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// How long connecting to the API server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing a request may make no progress.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request/response call may take in all, and a watch to answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay silent: longer than a watch's server-side timeout (290 s).
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// A client for the current kube context (in-cluster config or `KUBECONFIG`), with
/// the deadlines of this module.
pub async fn connect() -> kube::Result<Client> {
    crate::tls::install_crypto_provider();
    let config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    build(config)
}

/// A client for `config`, with the deadlines of this module (they replace any in `config`).
pub fn build(mut config: Config) -> kube::Result<Client> {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.write_timeout = Some(WRITE_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    // The read timeout counts from each request, not from when a pooled connection went idle.
    config.reset_reader_on_write = true;
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&DeadlineLayer(CALL_TIMEOUT))
        .build())
}

/// A call that ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("the Kubernetes API did not answer within {0:?}")]
pub struct TimedOut(pub Duration);

impl TimedOut {
    /// A fixed name, for metric labels and log fields.
    pub fn metric_label(&self) -> &'static str {
        "timed_out"
    }
}

/// Puts a deadline on every call (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer(pub Duration);

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner, limit: self.0 }
    }
}

/// The service of [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> Service<Request<Body>> for Deadline<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = Response<Bounded<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let watch = is_watch(req.uri());
        let limit = self.limit;
        let deadline = Instant::now() + limit;
        let answer = self.inner.call(req);
        Box::pin(async move {
            let resp = match tokio::time::timeout_at(deadline, answer).await {
                Ok(r) => r.map_err(Into::into)?,
                Err(_) => return Err(TimedOut(limit).into()),
            };
            let deadline = (!watch).then(|| Box::pin(tokio::time::sleep_until(deadline)));
            Ok(resp.map(|inner| Bounded { inner, deadline, limit }))
        })
    }
}

/// True for a watch request (`?watch=true` or `?watch=1`).
fn is_watch(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"))
}

/// A response body that fails once its call's deadline passes (none for a watch).
pub struct Bounded<B> {
    inner: B,
    deadline: Option<Pin<Box<Sleep>>>,
    limit: Duration,
}

impl<B> HttpBody for Bounded<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let limit = self.limit;
        if let Some(d) = self.deadline.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(TimedOut(limit).into())));
            }
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
