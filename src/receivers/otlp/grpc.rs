//! OTLP/gRPC server (tonic): the three collector services, gzip accepted, message size capped,
//! HTTP/2 stream and reset limits set explicitly, optionally over TLS. Authentication and
//! admission control run in a tower layer before tonic reads the message; then each call
//! decodes (tonic/prost) and ingests.

use super::auth::{self, AuthAttributes};
use super::config::GrpcServerConfig;
use super::status::RequestError;
use super::tls::{ReloadingTls, TlsIncoming};
use super::{ReceiverError, Shared};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use processors::{Metadata, Signal};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::metadata::KeyAndValueRef;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The tonic service implementation shared by the three OTLP services.
#[derive(Clone)]
pub struct GrpcIngest {
    shared: Arc<Shared>,
}

/// Request metadata (ASCII entries only) for the processors, with the `auth.<key>` attributes
/// the [`Gate`] layer found (see [`auth::request_metadata`]).
fn metadata_of<T>(req: &Request<T>) -> Metadata {
    auth::request_metadata(
        req.metadata().iter().filter_map(|kv| match kv {
            KeyAndValueRef::Ascii(k, v) => v
                .to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string())),
            KeyAndValueRef::Binary(..) => None,
        }),
        req.extensions().get::<AuthAttributes>(),
    )
}

impl GrpcIngest {
    async fn export<R>(&self, request: Request<R>) -> Result<(), Status>
    where
        R: processors::OtlpRequest + Into<crate::codec::Payload> + super::limits::Limit,
    {
        let md = metadata_of(&request);
        self.shared
            .ingest(request.into_inner(), &md)
            .await
            .map_err(|e| e.to_grpc())
    }
}

#[tonic::async_trait]
impl TraceService for GrpcIngest {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        GrpcIngest::export(self, request).await?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcIngest {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        GrpcIngest::export(self, request).await?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcIngest {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        GrpcIngest::export(self, request).await?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves; over TLS when `tls` is set. Only
/// the services of signals that have a pipeline are registered; the others answer
/// UNIMPLEMENTED.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: GrpcServerConfig,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReceiverError> {
    let id = shared.id.clone();
    let limit = cfg.max_recv_msg_size.as_usize();
    let svc = GrpcIngest {
        shared: shared.clone(),
    };
    let mut routes = tonic::service::RoutesBuilder::default();
    if shared.routes.has(Signal::Traces) {
        routes.add_service(
            TraceServiceServer::new(svc.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit),
        );
    }
    if shared.routes.has(Signal::Metrics) {
        routes.add_service(
            MetricsServiceServer::new(svc.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit),
        );
    }
    if shared.routes.has(Signal::Logs) {
        routes.add_service(
            LogsServiceServer::new(svc)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit),
        );
    }
    let gate = GateLayer {
        shared: shared.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(cfg.max_concurrent_requests)),
    };
    let mut server = tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(
            too_large_is_resource_exhausted,
        ))
        .layer(gate)
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .http2_max_local_error_reset_streams(Some(cfg.max_local_error_reset_streams))
        .http2_max_pending_accept_reset_streams(Some(cfg.max_concurrent_streams as usize));
    let router = server.add_routes(routes.routes());
    let served = match tls {
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
        Some(tls) => {
            tls.spawn_reloader();
            router
                .serve_with_incoming_shutdown(TlsIncoming::new(listener, tls), shutdown)
                .await
        }
    };
    served.map_err(|e| ReceiverError::Serve {
        id,
        message: e.to_string(),
    })
}

type FrameMap = fn(Frame<Bytes>) -> Frame<Bytes>;
type StatusFixed<B> = http_body_util::combinators::MapFrame<B, FrameMap>;

/// tonic refuses a message over `max_decoding_message_size` with OUT_OF_RANGE, which the OTLP
/// retry table calls retryable: a client would resend the same oversized message forever. The
/// OTLP answer for "too large" is RESOURCE_EXHAUSTED without RetryInfo (not retryable). The status
/// travels in the headers (trailers-only reply) or in the trailers, so both are rewritten.
fn too_large_is_resource_exhausted<B>(resp: http::Response<B>) -> http::Response<StatusFixed<B>>
where
    B: http_body::Body<Data = Bytes>,
{
    let (mut parts, body) = resp.into_parts();
    fix_status(&mut parts.headers);
    let map: FrameMap = |frame| match frame.into_trailers() {
        Ok(mut trailers) => {
            fix_status(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    };
    http::Response::from_parts(parts, body.map_frame(map))
}

fn fix_status(headers: &mut http::HeaderMap) {
    let out_of_range = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"11");
    let too_large = headers.get("grpc-message").is_some_and(|v| {
        // grpc-message is percent-encoded.
        let m = String::from_utf8_lossy(v.as_bytes()).replace("%20", " ");
        m.contains("too large")
    });
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
}

/// Authentication, admission control, then `max_concurrent_requests` (UNAVAILABLE + RetryInfo
/// when reached), before tonic reads or decodes the message: missing
/// or wrong credentials get UNAUTHENTICATED, a refusing memory limiter UNAVAILABLE + RetryInfo,
/// at once and counted as refused requests. The attributes of accepted credentials travel to
/// the service in the request extensions.
#[derive(Clone)]
struct GateLayer {
    shared: Arc<Shared>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate {
            inner,
            shared: self.shared.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The service of [`GateLayer`].
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl<S, B> tower::Service<http::Request<B>> for Gate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let checked = self.shared.authenticate(req.headers()).and_then(|attrs| {
            if let Some(attrs) = attrs {
                req.extensions_mut().insert(attrs);
            }
            if self.shared.admission.is_empty() {
                Ok(())
            } else {
                self.shared.admit()
            }
        });
        let checked = checked.and_then(|()| {
            self.in_flight.clone().try_acquire_owned().map_err(|_| {
                crate::telemetry::warn_rate_limited(
                    &self.shared.id,
                    "max_concurrent_requests reached: requests refused (UNAVAILABLE)",
                );
                RequestError::TooManyRequests
            })
        });
        match checked {
            Ok(permit) => {
                let call = self.inner.call(req);
                Box::pin(async move {
                    let resp = call.await;
                    drop(permit);
                    resp
                })
            }
            Err(e) => {
                self.shared.refuse(&e);
                let resp = e.to_grpc().into_http::<tonic::body::Body>();
                Box::pin(std::future::ready(Ok(resp)))
            }
        }
    }
}
