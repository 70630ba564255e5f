//! `otlp` exporter: OTLP/gRPC (tonic). Sends the shared, once-encoded protobuf bytes with a
//! pass-through codec, so fanning one batch out to several exporters encodes it once.

use super::config::{check_headers, check_queue, check_retry, check_tls};
use super::config::{Compression, QueueConfig, RetryConfig, TlsClientConfig};
use super::registry::{Client, ExporterType};
use super::tenant::{self, HeadersFromResource, StackConfig};
use super::ExporterBuildError;
use crate::base::diagnostic::{join, Diagnostic};
use crate::telemetry::metrics::SelfMetrics;
use processors::units::ConfigDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

/// `exporters: otlp[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpGrpcExporterConfig {
    /// `http://host:port` (plaintext), `https://host:port` or bare `host:port` (TLS unless
    /// `tls.insecure`). Required (in `loadbalancing`'s `protocol.otlp`: left out).
    #[serde(default)]
    pub endpoint: String,
    /// gRPC metadata sent with every request, e.g. `signoz-ingestion-key`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Metadata whose value comes from a resource attribute, e.g. `{ x-scope-orgid: team }`:
    /// each batch is sent as one request per distinct value ([`super::tenant`]). Default: none.
    #[serde(default)]
    pub headers_from_resource: HeadersFromResource,
    /// `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// Deadline of one attempt. Default `5s`.
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// The exporter's queue.
    #[serde(default)]
    pub sending_queue: QueueConfig,
    /// Retries.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration::secs(5)
}

use super::classify;
use super::ExportOutcome;
use crate::base::tls::{self, TlsError};
use crate::codec::{rpc, Batch};
use bytes::{BufMut, Bytes};
use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use processors::Signal;
use prost::Message;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{Ascii, MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tower::BoxError;

/// The gRPC target of an `otlp` exporter: URI to connect to and whether to use TLS.
pub fn target(cfg: &OtlpGrpcExporterConfig) -> Result<(http::Uri, bool), String> {
    let raw = cfg.endpoint.trim();
    if raw.is_empty() {
        return Err("endpoint is empty".into());
    }
    let (uri_text, tls) = if let Some(rest) = raw.strip_prefix("http://") {
        (format!("http://{rest}"), false)
    } else if raw.starts_with("https://") {
        (raw.to_string(), true)
    } else if raw.contains("://") {
        return Err(format!("{raw:?}: the scheme must be http:// or https://"));
    } else {
        let scheme = if cfg.tls.insecure { "http" } else { "https" };
        (format!("{scheme}://{raw}"), !cfg.tls.insecure)
    };
    let uri: http::Uri = uri_text
        .parse()
        .map_err(|e| format!("{raw:?} is not a valid endpoint: {e}"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} has no host"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(format!(
            "{raw:?}: an otlp (gRPC) endpoint is host:port without a path"
        ));
    }
    Ok((uri, tls))
}

/// The tower client of the `otlp` exporter.
#[derive(Clone)]
pub struct GrpcExport {
    grpc: tonic::client::Grpc<Channel>,
    metadata: Arc<MetadataMap>,
}

impl GrpcExport {
    /// Builds a lazily-connecting channel. Must run inside a tokio runtime.
    pub fn new(cfg: &OtlpGrpcExporterConfig) -> Result<Self, String> {
        let (uri, tls) = target(cfg)?;
        let tuned = |e: Endpoint| {
            e.connect_timeout(cfg.timeout.0)
                .tcp_nodelay(true)
                .http2_adaptive_window(true)
        };
        let tls_err = |e: TlsError| format!("tls.{e}");
        let channel = if !tls {
            tuned(Endpoint::from(uri)).connect_lazy()
        } else if cfg.tls.insecure_skip_verify {
            // tonic's TLS cannot skip verification: our own connector does the TLS, tonic sees
            // plaintext to `http://host:port` while requests still say `https://` (origin).
            let connector = SkipVerifyConnector::new(&cfg.tls).map_err(tls_err)?;
            let plain: http::Uri = format!(
                "http://{}",
                uri.authority().map(|a| a.as_str()).unwrap_or_default()
            )
            .parse()
            .map_err(|e| format!("endpoint: {e}"))?;
            tuned(Endpoint::from(plain))
                .origin(uri)
                .connect_with_connector_lazy(connector)
        } else {
            let mut tls_cfg = ClientTlsConfig::new().with_webpki_roots();
            if let Some(host) = uri.host() {
                tls_cfg = tls_cfg.domain_name(host.trim_matches(['[', ']']));
            }
            if let Some(pem) = cfg.tls.read_ca().map_err(tls_err)? {
                tls_cfg = tls_cfg.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            if let Some(id) = cfg.tls.read_identity().map_err(tls_err)? {
                tls_cfg = tls_cfg.identity(tonic::transport::Identity::from_pem(
                    id.cert_pem,
                    id.key_pem,
                ));
            }
            tuned(Endpoint::from(uri))
                .tls_config(tls_cfg)
                .map_err(|e| format!("TLS setup: {e}"))?
                .connect_lazy()
        };
        let mut grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(4 * 1024 * 1024)
            .accept_compressed(CompressionEncoding::Gzip);
        if cfg.compression == super::config::Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        let mut metadata = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = MetadataKey::<Ascii>::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("headers: {k:?} is not a valid gRPC metadata key"))?;
            let value = MetadataValue::<Ascii>::try_from(v.as_str())
                .map_err(|_| format!("headers.{k}: invalid metadata value"))?;
            metadata.insert(key, value);
        }
        Ok(GrpcExport {
            grpc,
            metadata: Arc::new(metadata),
        })
    }
}

fn export_path(signal: Signal) -> PathAndQuery {
    PathAndQuery::from_static(match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    })
}

impl GrpcExport {
    /// One unary `Export` call for `batch` (no retry): static metadata with `tenant` metadata
    /// replacing keys of the same name. A channel that cannot get ready becomes a status whose
    /// source is the transport error. `doctor` calls it to report the raw outcome.
    pub async fn unary(
        &self,
        batch: &Batch,
        tenant: Option<&[(String, String)]>,
    ) -> Result<rpc::ExportResponse, tonic::Status> {
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::from_error(Box::new(e)))?;
        let mut request = tonic::Request::new(batch.proto_parts().to_vec());
        *request.metadata_mut() = (*self.metadata).clone();
        for (key, value) in tenant.into_iter().flatten() {
            if let (Ok(k), Ok(v)) = (
                MetadataKey::<Ascii>::from_bytes(key.to_ascii_lowercase().as_bytes()),
                MetadataValue::<Ascii>::try_from(value.as_str()),
            ) {
                request.metadata_mut().insert(k, v);
            }
        }
        grpc.unary(request, export_path(batch.signal()), PassThroughCodec)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sends one batch; `tenant` metadata replaces static metadata of the same key.
    fn send(
        &self,
        batch: Arc<Batch>,
        tenant: Option<Arc<[(String, String)]>>,
    ) -> BoxFuture<'static, Result<ExportOutcome, BoxError>> {
        let this = self.clone();
        Box::pin(async move {
            match this.unary(&batch, tenant.as_deref()).await {
                Ok(resp) => Ok(ExportOutcome {
                    rejected: resp
                        .partial_success
                        .map(|p| p.rejected.max(0) as u64)
                        .unwrap_or(0),
                    dropped: 0,
                }),
                Err(status) => Err(classify::grpc_status(&status).into()),
            }
        })
    }
}

super::tenant::export_services!(GrpcExport);

/// Connects over TLS without verifying the server's certificate (`insecure_skip_verify`),
/// offering ALPN `h2` and the client certificate if one is configured.
#[derive(Clone)]
struct SkipVerifyConnector {
    tls: tokio_rustls::TlsConnector,
}

impl SkipVerifyConnector {
    fn new(cfg: &super::config::TlsClientConfig) -> Result<Self, TlsError> {
        let provider = tls::provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(tls::versions(Default::default()))
            .map_err(|e| TlsError {
                field: "insecure_skip_verify",
                message: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAnyServerCert(provider)));
        let mut config = match cfg.read_identity()? {
            Some(id) => builder
                .with_client_auth_cert(id.certs, id.key)
                .map_err(|e| TlsError {
                    field: "key_file",
                    message: e.to_string(),
                })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(SkipVerifyConnector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

impl tower::Service<http::Uri> for SkipVerifyConnector {
    type Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .map(|h| h.trim_matches(['[', ']']).to_string())
                .ok_or_else(|| std::io::Error::other("endpoint has no host"))?;
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let name = ServerName::try_from(host)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let stream = tls.connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

/// Accepts every server certificate, but still checks that the server holds its key (the
/// handshake signatures), so the session is at least encrypted to whoever answered.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Sends already-encoded protobuf bytes; decodes the (signal-agnostic) export response.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThroughCodec;

/// Encoder half of [`PassThroughCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesEncoder;

/// Decoder half of [`PassThroughCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseDecoder;

impl Codec for PassThroughCodec {
    type Encode = Vec<Bytes>;
    type Decode = rpc::ExportResponse;
    type Encoder = BytesEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ResponseDecoder
    }
}

impl Encoder for BytesEncoder {
    type Item = Vec<Bytes>;
    type Error = tonic::Status;

    /// Writes the pieces of one encoded message end to end (a merged batch's parts).
    fn encode(&mut self, item: Vec<Bytes>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        for piece in &item {
            dst.put_slice(piece);
        }
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = rpc::ExportResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        rpc::ExportResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("bad export response: {e}")))
    }
}

impl ExporterType for OtlpGrpcExporterConfig {
    fn sends_proto_only(&self) -> bool {
        true
    }

    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        self.timeout.0
    }

    fn check(&self, path: &str, _signals: &BTreeSet<Signal>, out: &mut Vec<Diagnostic>) {
        match target(self) {
            Err(msg) => out.push(Diagnostic::error(join(path, "endpoint"), msg)),
            Ok((_, tls)) => check_tls(path, &self.tls, tls, out),
        }
        check_headers(path, &self.headers, true, out);
        tenant::check(path, &self.headers_from_resource, true, out);
        check_queue(path, &self.sending_queue, out);
        check_retry(path, &self.retry_on_failure, out);
    }

    fn client(
        &self,
        id: &str,
        metrics: &SelfMetrics,
        stop: &std::sync::Arc<crate::exporters::queue::Stop>,
    ) -> Result<Client, ExporterBuildError> {
        let stack = StackConfig {
            retry: &self.retry_on_failure,
            timeout: self.timeout.0,
            stop,
        };
        tenant::client(
            id,
            GrpcExport::new(self),
            &self.headers_from_resource,
            true,
            metrics,
            stack,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: &str, insecure: bool) -> OtlpGrpcExporterConfig {
        let mut c: OtlpGrpcExporterConfig =
            serde_json::from_value(serde_json::json!({ "endpoint": endpoint })).expect("cfg");
        c.tls.insecure = insecure;
        c
    }

    #[test]
    fn scheme_decides_tls_and_bare_host_port_is_tls_unless_insecure() {
        assert!(!target(&cfg("http://collector:4317", false)).expect("ok").1);
        assert!(
            target(&cfg("https://ingest.signoz.example:443", false))
                .expect("ok")
                .1
        );
        assert!(target(&cfg("collector:4317", false)).expect("ok").1);
        assert!(!target(&cfg("collector:4317", true)).expect("ok").1);
        assert!(target(&cfg("ftp://x:1", false)).is_err());
        assert!(target(&cfg("http://x:1/v1/traces", false)).is_err());
        assert!(target(&cfg("", false)).is_err());
    }
}
