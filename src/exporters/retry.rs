//! The retry layer of each exporter's tower stack (retry → gate → timeout → client): exponential
//! backoff with jitter, the backend's `Retry-After`/`RetryInfo` honoured, everything capped by
//! `max_elapsed_time`. Only failures the classifier calls retryable (and timeouts) are retried.
//! At the shutdown deadline ([`Stop`]) a waiting retry ends at once and the gate lets no new
//! attempt through.

use super::classify::ExportError;
use super::config::RetryConfig;
use super::queue::Stop;
use super::ExportOutcome;
#[cfg(doc)]
use crate::codec::Batch;
use futures::future::{BoxFuture, Either, Ready};
use prometheus_client::metrics::counter::Counter;
use rand::Rng;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::BoxError;

/// Per-request retry state; cloned fresh for every request by `tower::retry`.
#[derive(Clone)]
pub struct RetryPolicy {
    cfg: Arc<RetryConfig>,
    started: Option<Instant>,
    next_interval: Duration,
    retries: Counter,
    stop: Arc<Stop>,
}

impl RetryPolicy {
    /// A policy from config; `retries` counts every retry attempt; none after `stop`.
    pub fn new(cfg: &RetryConfig, retries: Counter, stop: Arc<Stop>) -> Self {
        RetryPolicy {
            cfg: Arc::new(cfg.clone()),
            started: None,
            next_interval: cfg.initial_interval.0,
            retries,
            stop,
        }
    }

    /// Whether an error from the stack is worth retrying, and the backend's requested delay.
    pub fn classify(err: &BoxError) -> (bool, Option<Duration>) {
        if let Some(e) = err.downcast_ref::<ExportError>() {
            return match e {
                ExportError::Retryable { retry_after, .. } => (true, *retry_after),
                ExportError::Permanent { .. } => (false, None),
            };
        }
        // tower's timeout (`Elapsed`) and anything unexpected from the transport: retry.
        (true, None)
    }

    fn jittered(&self, base: Duration) -> Duration {
        let f = self.cfg.randomization_factor;
        if f <= 0.0 {
            return base;
        }
        let factor = rand::rng().random_range((1.0 - f)..=(1.0 + f));
        base.mul_f64(factor.max(0.0))
    }
}

/// Any cloneable request: a whole [`Batch`] (`Arc<Batch>`) for the OTLP exporters, one encoded
/// remote write body for `prometheusremotewrite`.
impl<R: Clone> tower::retry::Policy<R, ExportOutcome, BoxError> for RetryPolicy {
    type Future = BoxFuture<'static, ()>;

    fn retry(
        &mut self,
        _req: &mut R,
        result: &mut Result<ExportOutcome, BoxError>,
    ) -> Option<Self::Future> {
        let err = result.as_ref().err()?;
        if !self.cfg.enabled || self.stop.is_stopped() {
            return None;
        }
        let (retryable, after) = Self::classify(err);
        if !retryable {
            return None;
        }
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let delay = match after {
            Some(d) => d,
            None => {
                let d = self.jittered(self.next_interval);
                self.next_interval = self
                    .next_interval
                    .mul_f64(self.cfg.multiplier)
                    .min(self.cfg.max_interval.0);
                d
            }
        };
        if now.duration_since(started) + delay > self.cfg.max_elapsed_time.0 {
            return None;
        }
        self.retries.inc();
        // At the deadline the wait ends at once; the gate then refuses the attempt.
        let stop = self.stop.clone();
        Some(Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.stopped() => {}
            }
        }))
    }

    fn clone_request(&mut self, req: &R) -> Option<R> {
        Some(req.clone())
    }
}

/// Below the retry layer: after the shutdown deadline no attempt starts; the request fails
/// retryably ("not attempted"), which the worker counts as left at the deadline.
#[derive(Clone)]
pub struct StopGate<S> {
    inner: S,
    stop: Arc<Stop>,
}

impl<S> StopGate<S> {
    /// Gates `inner` by `stop`.
    pub fn new(inner: S, stop: Arc<Stop>) -> Self {
        StopGate { inner, stop }
    }
}

impl<S, R> tower::Service<R> for StopGate<S>
where
    S: tower::Service<R, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<S::Future, Ready<Result<S::Response, BoxError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if self.stop.is_stopped() {
            let err = ExportError::retryable("not attempted: the shutdown deadline passed");
            Either::Right(futures::future::ready(Err(err.into())))
        } else {
            Either::Left(self.inner.call(req))
        }
    }
}
