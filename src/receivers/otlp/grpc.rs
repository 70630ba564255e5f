//! OTLP/gRPC server (tonic): the three collector services, gzip accepted, message size capped,
//! HTTP/2 stream and reset limits set explicitly, optionally over TLS. Authentication and
//! admission control run in a tower layer before tonic reads the message; then each call hands
//! the message's bytes to [`Shared::ingest_proto`] (forwarded undecoded to pass-through
//! pipelines, decoded with prost otherwise).

use super::auth::{self, AuthAttributes};
use super::config::GrpcServerConfig;
use super::status::RequestError;
use super::tls::{ReloadingTls, TlsIncoming};
use super::{ReceiverError, Shared};
use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use http_body::Frame;
use http_body_util::BodyExt;
use processors::{Metadata, Signal};
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::KeyAndValueRef;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

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

/// One OTLP collector service: its signal, gRPC service name and `Export` method path.
pub trait OtlpService: Send + Sync + 'static {
    /// The signal it takes.
    const SIGNAL: Signal;
    /// gRPC service name.
    const NAME: &'static str;
    /// Path of its `Export` method.
    const PATH: &'static str;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub struct TraceService;
impl OtlpService for TraceService {
    const SIGNAL: Signal = Signal::Traces;
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
}

/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct MetricsService;
impl OtlpService for MetricsService {
    const SIGNAL: Signal = Signal::Metrics;
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
}

/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct LogsService;
impl OtlpService for LogsService {
    const SIGNAL: Signal = Signal::Logs;
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
}

/// The server of one OTLP collector service. Unlike tonic's generated servers it does not
/// decode the message: [`Shared::ingest_proto`] gets the protobuf bytes (gunzipped, size
/// capped by tonic) and forwards them undecoded to pass-through pipelines.
pub struct ExportServer<S> {
    shared: Arc<Shared>,
    limit: usize,
    service: PhantomData<fn() -> S>,
}

impl<S> ExportServer<S> {
    /// A server for `shared` refusing messages over `limit` bytes.
    pub fn new(shared: Arc<Shared>, limit: usize) -> Self {
        ExportServer {
            shared,
            limit,
            service: PhantomData,
        }
    }
}

impl<S> Clone for ExportServer<S> {
    fn clone(&self) -> Self {
        ExportServer::new(self.shared.clone(), self.limit)
    }
}

impl<S: OtlpService> NamedService for ExportServer<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for ExportServer<S>
where
    S: OtlpService,
    B: http_body::Body + Send + 'static,
    B::Error: Into<tower::BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != S::PATH {
            let resp = Status::unimplemented("").into_http::<tonic::body::Body>();
            return Box::pin(std::future::ready(Ok(resp)));
        }
        let unary = ExportCall {
            shared: self.shared.clone(),
            signal: S::SIGNAL,
        };
        let limit = self.limit;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit);
            Ok(grpc.unary(unary, req).await)
        })
    }
}

/// One `Export` call.
struct ExportCall {
    shared: Arc<Shared>,
    signal: Signal,
}

impl UnaryService<Bytes> for ExportCall {
    type Response = ();
    type Future = BoxFuture<'static, Result<Response<()>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let shared = self.shared.clone();
        let signal = self.signal;
        Box::pin(async move {
            let md = metadata_of(&request);
            shared
                .ingest_proto(signal, request.into_inner(), &md)
                .await
                .map_err(|e| {
                    shared.refuse(&e);
                    e.to_grpc()
                })?;
            Ok(Response::new(()))
        })
    }
}

/// Takes a message as its bytes; answers with an empty message (every
/// `Export*ServiceResponse` without partial success encodes to nothing).
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ();
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, _item: (), _dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
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
    let mut routes = tonic::service::RoutesBuilder::default();
    if shared.routes.has(Signal::Traces) {
        routes.add_service(ExportServer::<TraceService>::new(shared.clone(), limit));
    }
    if shared.routes.has(Signal::Metrics) {
        routes.add_service(ExportServer::<MetricsService>::new(shared.clone(), limit));
    }
    if shared.routes.has(Signal::Logs) {
        routes.add_service(ExportServer::<LogsService>::new(shared.clone(), limit));
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
