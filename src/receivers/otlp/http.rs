//! OTLP/HTTP server (axum/hyper): `POST` on the per-signal paths, protobuf or JSON bodies
//! handed to the pipeline entry ([`Shared::accept`]),
//! optional gzip or zstd inflated with a cap, the size limit applied after decompression. Replies use the
//! request's encoding: an empty `Export*ServiceResponse` on success, a `google.rpc.Status` on error.

use super::config::HttpServerConfig;
use super::status::{RequestError, RETRY_AFTER};
use super::tls::{ReloadingTls, TlsIncoming};
use super::{auth, ReceiverError, Shared};
use crate::codec::WireFormat;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{
    ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER as RETRY_AFTER_HEADER,
    WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use processors::Signal;
use prost::Message;
use std::future::Future;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// `content-encoding` values the receiver inflates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Zstd,
}

struct HttpState {
    shared: Arc<Shared>,
    in_flight: Arc<tokio::sync::Semaphore>,
    cfg: HttpServerConfig,
    limit: usize,
}

/// Serves OTLP/HTTP on `listener` until `shutdown` resolves; over TLS when `tls` is set
/// (handshakes happen before axum sees the connection; open connections finish gracefully).
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: HttpServerConfig,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReceiverError> {
    let id = shared.id.clone();
    let read_header_timeout = Some(cfg.read_header_timeout.0).filter(|d| !d.is_zero());
    let state = Arc::new(HttpState {
        shared,
        in_flight: Arc::new(tokio::sync::Semaphore::new(cfg.max_concurrent_requests)),
        limit: cfg.max_request_body_size.as_usize(),
        cfg,
    });
    let app = axum::Router::new().fallback(handle).with_state(state);
    let served = match tls {
        None => serve_connections(listener, app, read_header_timeout, shutdown).await,
        Some(tls) => {
            tls.spawn_reloader();
            serve_connections(
                TlsIncoming::new(listener, tls),
                app,
                read_header_timeout,
                shutdown,
            )
            .await
        }
    };
    served.map_err(|e| ReceiverError::Serve {
        id,
        message: e.to_string(),
    })
}

/// Accepts connections until `shutdown` resolves and serves each with hyper (HTTP/1 with a
/// header read timeout, or HTTP/2); then waits for open connections to finish their requests.
async fn serve_connections<L>(
    mut listener: L,
    app: axum::Router,
    read_header_timeout: Option<Duration>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (io, _addr) = tokio::select! {
            conn = listener.accept() => conn,
            () = &mut shutdown => break,
        };
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "OTLP/HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn handle(State(st): State<Arc<HttpState>>, req: Request) -> Response {
    let format = body_format(req.headers());
    match receive(&st, req).await {
        Ok(format) => ok_response(format),
        Err(err) => {
            st.shared.refuse(&err);
            let mut resp = error_response(&err, format.ok().flatten());
            if err == RequestError::Unauthenticated {
                if let Some(a) = &st.shared.auth {
                    for challenge in a.challenges() {
                        resp.headers_mut()
                            .append(WWW_AUTHENTICATE, challenge.clone());
                    }
                }
            }
            resp
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

async fn receive(st: &HttpState, req: Request) -> Result<WireFormat, RequestError> {
    // First of all, before the path, the headers or a byte of the body are looked at.
    let authenticated = st.shared.authenticate(req.headers())?;
    let _permit = st.in_flight.clone().try_acquire_owned().map_err(|_| {
        crate::telemetry::warn_rate_limited(
            &st.shared.id,
            "max_concurrent_requests reached: requests refused (503)",
        );
        RequestError::TooManyRequests
    })?;
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
    let format = body_format(req.headers())?.ok_or_else(|| {
        RequestError::UnsupportedMediaType(
            "missing content-type; use application/x-protobuf or application/json".into(),
        )
    })?;
    let encoding = match req
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => None,
        Some("gzip") | Some("x-gzip") => Some(Encoding::Gzip),
        Some("zstd") => Some(Encoding::Zstd),
        Some(other) => {
            return Err(RequestError::UnsupportedMediaType(format!(
                "unsupported content-encoding {other:?}; use gzip, zstd or none"
            )))
        }
    };
    if !st.shared.entry.takes(signal) {
        return Err(RequestError::NotRouted(signal));
    }
    st.shared.admit()?;
    let limit = st.limit;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(RequestError::PayloadTooLarge { limit });
    }
    let metadata = auth::request_metadata(
        req.headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v.to_string()))),
        authenticated.as_ref(),
    );
    let raw = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                RequestError::PayloadTooLarge { limit }
            } else {
                RequestError::BadRequest(format!("could not read the body: {e}"))
            }
        })?
        .to_bytes();
    let body = match encoding {
        None => raw,
        Some(Encoding::Gzip) => inflate(&raw, limit)?,
        Some(Encoding::Zstd) => inflate_zstd(&raw, limit)?,
    };
    st.shared.accept(signal, body, format, &metadata).await?;
    Ok(format)
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes.
pub fn inflate(raw: &[u8], limit: usize) -> Result<Bytes, RequestError> {
    let mut out = Vec::with_capacity((raw.len() * 4).min(limit));
    let mut decoder = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
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
