//! OTLP/gRPC server (tonic): the three collector services, gzip accepted, message size capped,
//! HTTP/2 stream and reset limits set explicitly. Each call decodes (tonic/prost), then ingests.

use super::config::GrpcServerConfig;
use super::{ReceiverError, Shared};
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

/// Request metadata (ASCII entries only) for the processors.
fn metadata_of<T>(req: &Request<T>) -> Metadata {
    Metadata::from_pairs(req.metadata().iter().filter_map(|kv| {
        match kv {
            KeyAndValueRef::Ascii(k, v) => v
                .to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string())),
            KeyAndValueRef::Binary(..) => None,
        }
    }))
}

impl GrpcIngest {
    fn export<R>(&self, request: Request<R>) -> Result<(), Status>
    where
        R: processors::OtlpRequest + Into<crate::codec::Payload>,
    {
        let md = metadata_of(&request);
        self.shared
            .ingest(request.into_inner(), &md)
            .map_err(|e| e.to_grpc())
    }
}

#[tonic::async_trait]
impl TraceService for GrpcIngest {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        GrpcIngest::export(self, request)?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcIngest {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        GrpcIngest::export(self, request)?;
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcIngest {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        GrpcIngest::export(self, request)?;
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves. Only the services of signals that
/// have a pipeline are registered; the others answer UNIMPLEMENTED.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: GrpcServerConfig,
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
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = tonic::transport::Server::builder()
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .http2_max_local_error_reset_streams(Some(cfg.max_local_error_reset_streams))
        .http2_max_pending_accept_reset_streams(Some(cfg.max_concurrent_streams as usize));
    server
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ReceiverError::Serve {
            id,
            message: e.to_string(),
        })
}
