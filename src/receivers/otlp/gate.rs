//! What every OTLP request passes before its body is read, as one tower layer shared by both
//! protocols ([`GateLayer`]): credentials (401 / UNAUTHENTICATED), then admission control (a
//! refusing memory limiter: 503 / UNAVAILABLE + retry hint). A refusal is counted and answered
//! in the protocol's own form ([`Refuse`]); the attributes of accepted credentials travel on in
//! the request's extensions. [`Slots`] is `max_concurrent_requests`, which both protocols take
//! only once a request's body is in, so a client that never finishes its body holds no slot.

use super::status::RequestError;
use super::Shared;
use futures::future::BoxFuture;
use http::HeaderMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How a protocol answers a request the gate refuses.
pub trait Refuse: Clone + Send + Sync + 'static {
    /// The response body type of the protocol's service.
    type Body: Send + 'static;
    /// The answer to a request with these headers refused for `err`.
    fn refuse(
        &self,
        shared: &Shared,
        err: &RequestError,
        headers: &HeaderMap,
    ) -> http::Response<Self::Body>;
}

/// The gate in front of a protocol's service.
#[derive(Clone)]
pub struct GateLayer<R> {
    shared: Arc<Shared>,
    refuse: R,
}

impl<R> GateLayer<R> {
    /// A gate for the receiver of `shared`, answering refusals with `refuse`.
    pub fn new(shared: Arc<Shared>, refuse: R) -> Self {
        GateLayer { shared, refuse }
    }
}

impl<S, R: Clone> tower::Layer<S> for GateLayer<R> {
    type Service = Gate<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate {
            inner,
            shared: self.shared.clone(),
            refuse: self.refuse.clone(),
        }
    }
}

/// The service of [`GateLayer`].
#[derive(Clone)]
pub struct Gate<S, R> {
    inner: S,
    shared: Arc<Shared>,
    refuse: R,
}

impl<S, R, B> tower::Service<http::Request<B>> for Gate<S, R>
where
    R: Refuse,
    S: tower::Service<http::Request<B>, Response = http::Response<R::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let checked = self.shared.authenticate(req.headers()).and_then(|attrs| {
            if let Some(attrs) = attrs {
                req.extensions_mut().insert(attrs);
            }
            self.shared.admit()
        });
        match checked {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(e) => {
                self.shared.refuse(&e);
                let resp = self.refuse.refuse(&self.shared, &e, req.headers());
                Box::pin(std::future::ready(Ok(resp)))
            }
        }
    }
}

/// `max_concurrent_requests` of one listener.
#[derive(Clone)]
pub struct Slots {
    sem: Arc<Semaphore>,
    name: String,
}

impl Slots {
    /// `n` slots; `name` names the listener in logs.
    pub fn new(n: usize, name: String) -> Self {
        Slots {
            sem: Arc::new(Semaphore::new(n.max(1))),
            name,
        }
    }

    /// A slot for one request, held until it is dropped; `TooManyRequests` (503 /
    /// UNAVAILABLE, retryable) when none is free.
    pub fn take(&self) -> Result<OwnedSemaphorePermit, RequestError> {
        self.sem.clone().try_acquire_owned().map_err(|_| {
            crate::telemetry::warn_rate_limited(
                &self.name,
                "max_concurrent_requests reached: requests refused (503 / UNAVAILABLE)",
            );
            RequestError::TooManyRequests
        })
    }
}
