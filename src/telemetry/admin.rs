//! The admin listener (`service.telemetry.metrics.address`): `/metrics` (Prometheus text),
//! `/healthz` (process alive) and `/readyz` (pipelines built, receivers listening, not shutting
//! down).

use super::metrics::SelfMetrics;
use crate::base::serve::{self, ConnLimits, Plain};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Readiness shared between the lifecycle and `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the gateway ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the gateway is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: SelfMetrics,
    ready: Readiness,
}

/// Serves the admin endpoints on `listener` until `shutdown` resolves, with the connection
/// bounds of `limits` (see [`crate::base::serve`]).
pub async fn serve(
    listener: TcpListener,
    metrics: SelfMetrics,
    ready: Readiness,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let conns = metrics.conn_metrics("admin");
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState { metrics, ready });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A slowloris guard that never beats the idle timeout on a keep-alive connection
        // (hyper's header timer also runs while a connection waits for its next request).
        .header_read_timeout(Some(limits.idle_timeout + limits.handshake_timeout));
    builder.http2().timer(TokioTimer::new());
    serve::serve(listener, Plain, builder, app, limits, conns, shutdown).await;
}

async fn metrics_handler(State(st): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode_text(),
    )
}

async fn readyz(State(st): State<AdminState>) -> impl IntoResponse {
    if st.ready.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
