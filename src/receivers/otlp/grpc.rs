//! OTLP/gRPC server (tonic services on hyper's HTTP/2): the three collector services, gzip
//! accepted, message size capped, the message read within `read_message_timeout`, HTTP/2
//! stream and reset limits set explicitly, optionally over TLS. Credentials and admission
//! control run in the shared [`GateLayer`] before tonic reads the message; then each call takes
//! one of `max_concurrent_requests` slots and hands the message's bytes to [`Shared::accept`]
//! (forwarded undecoded to pass-through pipelines, decoded with prost otherwise).

use super::auth::{self, AuthAttributes};
use super::config::GrpcServerConfig;
use super::gate::{GateLayer, Refuse, Slots};
use super::status::RequestError;
use super::tls::{ReloadingTls, TlsHandshake};
use super::{ReceiverError, Shared};
use crate::base::serve::{self, Plain};
use crate::codec::WireFormat;
use crate::telemetry::metrics::{names, SelfMetrics};
use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use http_body::Frame;
use http_body_util::BodyExt;
use processors::{Metadata, Signal};
use prometheus_client::metrics::counter::Counter;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::KeyAndValueRef;
use tonic::server::{NamedService, UnaryService};
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

/// What every call of a listener shares: the receiver, the message size and time limits, the
/// request slots.
#[derive(Clone)]
struct Calls {
    shared: Arc<Shared>,
    limit: usize,
    read_timeout: Duration,
    read_timeouts: Counter,
    slots: Slots,
}

/// The server of one OTLP collector service. Unlike tonic's generated servers it does not
/// decode the message: [`Shared::accept`] gets the protobuf bytes (gunzipped, size
/// capped by tonic) and forwards them undecoded to pass-through pipelines.
pub struct ExportServer<S> {
    calls: Calls,
    service: PhantomData<fn() -> S>,
}

impl<S> ExportServer<S> {
    fn new(calls: &Calls) -> Self {
        ExportServer {
            calls: calls.clone(),
            service: PhantomData,
        }
    }
}

impl<S> Clone for ExportServer<S> {
    fn clone(&self) -> Self {
        ExportServer::new(&self.calls)
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
            calls: self.calls.clone(),
            signal: S::SIGNAL,
        };
        let limit = self.calls.limit;
        // The whole message must arrive within `read_message_timeout`.
        let deadline = DeadlineBody::wrap(&self.calls);
        let req = req.map(deadline);
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
    calls: Calls,
    signal: Signal,
}

impl UnaryService<Bytes> for ExportCall {
    type Response = ();
    type Future = BoxFuture<'static, Result<Response<()>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let calls = self.calls.clone();
        let signal = self.signal;
        Box::pin(async move {
            // The slot is taken once the message is in: a stalled call never holds one.
            let _slot = calls.slots.take().map_err(|e| {
                calls.shared.refuse(&e);
                e.to_grpc()
            })?;
            let md = metadata_of(&request);
            calls
                .shared
                .accept(signal, request.into_inner(), WireFormat::Proto, &md)
                .await
                .map_err(|e| e.to_grpc())?;
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
/// UNIMPLEMENTED. Connections are HTTP/2 only, served by [`crate::base::serve`] (limits, idle
/// and handshake timeouts) with the stream and reset limits of the config.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: GrpcServerConfig,
    tls: Option<Arc<ReloadingTls>>,
    metrics: SelfMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReceiverError> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let calls = Calls {
        limit: cfg.max_recv_msg_size.as_usize(),
        read_timeout: cfg.read_message_timeout.0,
        read_timeouts: metrics.request_counter(
            names::RECEIVER_READ_TIMEOUTS,
            "receiver",
            &shared.id,
        ),
        slots: Slots::new(cfg.max_concurrent_requests, format!("{} grpc", shared.id)),
        shared: shared.clone(),
    };
    let mut routes = tonic::service::RoutesBuilder::default();
    if shared.entry.takes(Signal::Traces) {
        routes.add_service(ExportServer::<TraceService>::new(&calls));
    }
    if shared.entry.takes(Signal::Metrics) {
        routes.add_service(ExportServer::<MetricsService>::new(&calls));
    }
    if shared.entry.takes(Signal::Logs) {
        routes.add_service(ExportServer::<LogsService>::new(&calls));
    }
    let service = tower::ServiceBuilder::new()
        .layer(tower::util::MapResponseLayer::new(
            too_large_is_resource_exhausted,
        ))
        .layer(GateLayer::new(shared.clone(), GrpcRefuse))
        .service(routes.routes());
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http2_only();
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .max_local_error_reset_streams(Some(cfg.max_local_error_reset_streams))
        .max_pending_accept_reset_streams(Some(cfg.max_concurrent_streams as usize));
    let limits = cfg.conn_limits(format!("{} grpc", shared.id));
    let conns = metrics.conn_metrics(&format!("{}:grpc", shared.id));
    match tls {
        None => serve::serve(listener, Plain, builder, service, limits, conns, shutdown).await,
        Some(tls) => {
            tls.spawn_reloader();
            let handshake = TlsHandshake(tls);
            serve::serve(
                listener, handshake, builder, service, limits, conns, shutdown,
            )
            .await
        }
    }
    Ok(())
}

/// How OTLP/gRPC answers a request the gate refuses: a trailers-only gRPC status.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcRefuse;

impl Refuse for GrpcRefuse {
    type Body = tonic::body::Body;

    fn refuse(
        &self,
        _shared: &Shared,
        err: &RequestError,
        _headers: &http::HeaderMap,
    ) -> http::Response<tonic::body::Body> {
        err.to_grpc().into_http::<tonic::body::Body>()
    }
}

/// A request body that fails with DEADLINE_EXCEEDED (counted, as a refused request) when it has
/// not ended by its deadline.
struct DeadlineBody<B> {
    inner: Pin<Box<B>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    calls: Calls,
    done: bool,
}

impl<B> DeadlineBody<B> {
    /// A function wrapping a body in the deadline of `calls`.
    fn wrap(calls: &Calls) -> impl FnOnce(B) -> DeadlineBody<B> {
        let calls = calls.clone();
        move |inner| DeadlineBody {
            inner: Box::pin(inner),
            sleep: Box::pin(tokio::time::sleep(calls.read_timeout)),
            calls,
            done: false,
        }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body,
    B::Error: Into<tower::BoxError>,
{
    type Data = B::Data;
    type Error = tower::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        if !self.done && self.sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            self.calls.read_timeouts.inc();
            self.calls.shared.refuse(&RequestError::ReadTimeout);
            return Poll::Ready(Some(Err(Box::new(Status::deadline_exceeded(
                "the request message did not arrive within read_message_timeout",
            )))));
        }
        let polled = self.inner.as_mut().poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.done = true;
        }
        polled.map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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
