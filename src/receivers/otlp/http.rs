//! OTLP/HTTP server (axum/hyper): `POST` on the per-signal paths, protobuf or JSON bodies,
//! optional gzip or zstd inflated with a cap, the size limit applied after decompression, the
//! body read within `read_body_timeout`; each body goes to the pipeline entry
//! ([`Shared::accept`]) holding one of `max_concurrent_requests` slots. Credentials and
//! admission are checked first by the shared [`GateLayer`]; connections are served by
//! [`crate::base::serve`] (limits, idle and handshake timeouts). Replies use the request's
//! encoding: an empty `Export*ServiceResponse` on success, a `google.rpc.Status` on error.

use super::auth::{self, AuthAttributes};
use super::config::HttpServerConfig;
use super::gate::{Gate, GateLayer, Refuse, Slots};
use super::status::{RequestError, RETRY_AFTER};
use super::tls::{ReloadingTls, TlsHandshake};
use super::{ReceiverError, Shared};
use crate::base::serve::{self, Plain};
use crate::codec::WireFormat;
use crate::telemetry::metrics::{names, SelfMetrics};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{
    ALLOW, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    RETRY_AFTER as RETRY_AFTER_HEADER, TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use processors::Signal;
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use std::future::Future;
use std::io::Read;
use std::sync::Arc;
use tokio::net::TcpListener;

/// `content-encoding` values the receiver inflates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Zstd,
}

struct HttpState {
    shared: Arc<Shared>,
    slots: Slots,
    cfg: HttpServerConfig,
    limit: usize,
    read_timeouts: Counter,
}

/// The OTLP/HTTP service of a receiver: the gate, then the per-signal paths. Exposed so tests
/// can drive it in-process (`tower::ServiceExt::oneshot`).
pub fn router(
    shared: Arc<Shared>,
    cfg: &HttpServerConfig,
    metrics: &SelfMetrics,
) -> Gate<axum::Router, HttpRefuse> {
    let state = Arc::new(HttpState {
        slots: Slots::new(cfg.max_concurrent_requests, format!("{} http", shared.id)),
        limit: cfg.max_request_body_size.as_usize(),
        read_timeouts: metrics.request_counter(
            names::RECEIVER_READ_TIMEOUTS,
            "receiver",
            &shared.id,
        ),
        cfg: cfg.clone(),
        shared: shared.clone(),
    });
    let app = axum::Router::new().fallback(handle).with_state(state);
    tower::Layer::layer(&GateLayer::new(shared, HttpRefuse), app)
}

/// Serves OTLP/HTTP on `listener` until `shutdown` resolves; over TLS when `tls` is set
/// (handshakes happen in each connection's task; open connections finish gracefully).
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: HttpServerConfig,
    tls: Option<Arc<ReloadingTls>>,
    metrics: SelfMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReceiverError> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let read_header_timeout = Some(cfg.read_header_timeout.0).filter(|d| !d.is_zero());
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_header_timeout);
    builder.http2().timer(TokioTimer::new());
    let limits = cfg.conn_limits(format!("{} http", shared.id));
    let conns = metrics.conn_metrics(&format!("{}:http", shared.id));
    let app = router(shared, &cfg, &metrics);
    match tls {
        None => serve::serve(listener, Plain, builder, app, limits, conns, shutdown).await,
        Some(tls) => {
            tls.spawn_reloader();
            let handshake = TlsHandshake(tls);
            serve::serve(listener, handshake, builder, app, limits, conns, shutdown).await
        }
    }
    Ok(())
}

/// How OTLP/HTTP answers a request the gate refuses: a status body in the request's encoding,
/// with the `WWW-Authenticate` challenges on 401.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpRefuse;

impl Refuse for HttpRefuse {
    type Body = Body;

    fn refuse(&self, shared: &Shared, err: &RequestError, headers: &HeaderMap) -> Response {
        let mut resp = error_response(err, body_format(headers).ok().flatten());
        if *err == RequestError::Unauthenticated {
            if let Some(a) = &shared.auth {
                for challenge in a.challenges() {
                    resp.headers_mut()
                        .append(WWW_AUTHENTICATE, challenge.clone());
                }
            }
        }
        resp
    }
}

async fn handle(State(st): State<Arc<HttpState>>, req: Request) -> Response {
    let format = body_format(req.headers());
    match receive(&st, req).await {
        Ok(format) => ok_response(format),
        Err(err) => {
            st.shared.refuse(&err);
            error_response(&err, format.ok().flatten())
        }
    }
}

fn body_format(headers: &HeaderMap) -> Result<Option<WireFormat>, RequestError> {
    let Some(ct) = headers.get(CONTENT_TYPE) else {
        return Ok(None);
    };
    let ct = ct.to_str().unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Some(WireFormat::Proto)),
        "application/json" => Ok(Some(WireFormat::Json)),
        _ => Err(RequestError::UnsupportedMediaType(format!(
            "unsupported content-type {ct:?}; use application/x-protobuf or application/json"
        ))),
    }
}

/// What a request asks for, checked from its line and headers before the body is read.
struct Head {
    signal: Signal,
    format: WireFormat,
    encoding: Option<Encoding>,
}

/// Path, method, media type, content encoding, framing and declared size; the signal must
/// have a pipeline.
fn check_head(st: &HttpState, req: &Request) -> Result<Head, RequestError> {
    let path = req.uri().path();
    let signal = if path == st.cfg.traces_url_path {
        Signal::Traces
    } else if path == st.cfg.metrics_url_path {
        Signal::Metrics
    } else if path == st.cfg.logs_url_path {
        Signal::Logs
    } else {
        return Err(RequestError::NotFound(path.to_string()));
    };
    if req.method() != Method::POST {
        return Err(RequestError::MethodNotAllowed(req.method().to_string()));
    }
    let headers = req.headers();
    let format = body_format(headers)?.ok_or_else(|| {
        RequestError::UnsupportedMediaType(
            "missing content-type; use application/x-protobuf or application/json".into(),
        )
    })?;
    let encoding = content_encoding(headers)?;
    if headers.contains_key(CONTENT_LENGTH) && headers.contains_key(TRANSFER_ENCODING) {
        return Err(RequestError::BadRequest(
            "both Content-Length and Transfer-Encoding are set: the body's framing is ambiguous"
                .into(),
        ));
    }
    if !st.shared.entry.takes(signal) {
        return Err(RequestError::NotRouted(signal));
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.limit as u64) {
        return Err(RequestError::PayloadTooLarge { limit: st.limit });
    }
    Ok(Head {
        signal,
        format,
        encoding,
    })
}

fn content_encoding(headers: &HeaderMap) -> Result<Option<Encoding>, RequestError> {
    match headers
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => Ok(None),
        Some("gzip") | Some("x-gzip") => Ok(Some(Encoding::Gzip)),
        Some("zstd") => Ok(Some(Encoding::Zstd)),
        Some(other) => Err(RequestError::UnsupportedMediaType(format!(
            "unsupported content-encoding {other:?}; use gzip, zstd or none"
        ))),
    }
}

async fn receive(st: &HttpState, req: Request) -> Result<WireFormat, RequestError> {
    let head = check_head(st, &req)?;
    let metadata = auth::request_metadata(
        req.headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v.to_string()))),
        req.extensions().get::<AuthAttributes>(),
    );
    let raw = read_body(st, req).await?;
    let body = match head.encoding {
        None => raw,
        Some(Encoding::Gzip) => inflate(&raw, st.limit)?,
        Some(Encoding::Zstd) => inflate_zstd(&raw, st.limit)?,
    };
    // The slot is taken once the body is in: a stalled upload never holds one.
    let _slot = st.slots.take()?;
    st.shared
        .accept(head.signal, body, head.format, &metadata)
        .await?;
    Ok(head.format)
}

/// Reads the whole body within `read_body_timeout`, at most `max_request_body_size` bytes.
async fn read_body(st: &HttpState, req: Request) -> Result<Bytes, RequestError> {
    let limit = st.limit;
    let read = Limited::new(req.into_body(), limit).collect();
    match tokio::time::timeout(st.cfg.read_body_timeout.0, read).await {
        Err(_) => {
            st.read_timeouts.inc();
            Err(RequestError::ReadTimeout)
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(RequestError::PayloadTooLarge { limit })
        }
        Ok(Err(e)) => Err(RequestError::BadRequest(format!(
            "could not read the body: {e}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Inflates a gzip body (one or more members; anything else after them is an error), refusing
/// to produce more than `limit` bytes.
pub fn inflate(raw: &[u8], limit: usize) -> Result<Bytes, RequestError> {
    let mut out = Vec::with_capacity((raw.len() * 4).min(limit));
    let mut decoder = flate2::bufread::MultiGzDecoder::new(raw).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| RequestError::BadRequest(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(RequestError::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

/// Inflates a zstd body (one or more frames), refusing to produce more than `limit` bytes.
pub fn inflate_zstd(raw: &[u8], limit: usize) -> Result<Bytes, RequestError> {
    let mut out = Vec::with_capacity((raw.len() * 4).min(limit));
    let decoder = zstd::stream::read::Decoder::with_buffer(raw)
        .map_err(|e| RequestError::BadRequest(format!("invalid zstd body: {e}")))?;
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RequestError::BadRequest(format!("invalid zstd body: {e}")))?;
    if out.len() > limit {
        return Err(RequestError::PayloadTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

fn ok_response(format: WireFormat) -> Response {
    // Every Export*ServiceResponse without partial success encodes to nothing / `{}`.
    let (ct, body) = match format {
        WireFormat::Proto => ("application/x-protobuf", Bytes::new()),
        WireFormat::Json => ("application/json", Bytes::from_static(b"{}")),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap_or_default()
}

fn error_response(err: &RequestError, format: Option<WireFormat>) -> Response {
    let (ct, body) = match format {
        Some(WireFormat::Json) => ("application/json", err.json_body()),
        Some(WireFormat::Proto) => ("application/x-protobuf", err.rpc_status().encode_to_vec()),
        None => ("text/plain; charset=utf-8", format!("{err}\n").into_bytes()),
    };
    let mut builder = Response::builder()
        .status(err.http_status())
        .header(CONTENT_TYPE, ct);
    if matches!(err, RequestError::MethodNotAllowed(_)) {
        builder = builder.header(ALLOW, "POST");
    }
    if err.retryable() {
        builder = builder.header(RETRY_AFTER_HEADER, RETRY_AFTER.as_secs().to_string());
    }
    if *err == RequestError::ReadTimeout {
        builder = builder.header(CONNECTION, "close");
    }
    builder.body(Body::from(body)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflate_caps_output_and_rejects_garbage() {
        let data = vec![b'a'; 10_000];
        let gz = crate::codec::gzip_bytes(&data);
        assert_eq!(inflate(&gz, 10_000).expect("fits").len(), 10_000);
        assert_eq!(
            inflate(&gz, 9_999),
            Err(RequestError::PayloadTooLarge { limit: 9_999 })
        );
        assert!(matches!(
            inflate(b"not gzip", 100),
            Err(RequestError::BadRequest(_))
        ));
    }

    #[test]
    fn inflate_zstd_caps_output_and_rejects_garbage() {
        let data = vec![b'a'; 10_000];
        let z = zstd::bulk::compress(&data, 3).expect("compress");
        assert_eq!(inflate_zstd(&z, 10_000).expect("fits").len(), 10_000);
        assert_eq!(
            inflate_zstd(&z, 9_999),
            Err(RequestError::PayloadTooLarge { limit: 9_999 })
        );
        assert!(matches!(
            inflate_zstd(b"not zstd", 100),
            Err(RequestError::BadRequest(_))
        ));
    }
}
