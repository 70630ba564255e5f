//! The `otlp` receiver: OTLP/gRPC ([`grpc`]) and OTLP/HTTP ([`http`]) servers feeding the
//! pipelines of their receiver id. Both decode, then call [`crate::pipeline::ingest`] on the
//! request task and answer once the data sits in the exporter queues. Either may serve TLS
//! ([`tls`]); both check the receiver's `auth` ([`auth`]) before a body is read.

pub mod auth;
pub mod config;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod status;
pub mod tls;

use crate::codec::{scan, Batch, Payload};
use crate::pipeline::{self, Routes, Swap};
use crate::receivers::admission::{admit_all, Admission};
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use bytes::Bytes;
use config::OtlpReceiverConfig;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use processors::{Metadata, OtlpRequest, Signal};
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use status::RequestError;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Parses a listen address: `ip:port`, `[v6]:port` or `localhost:port`.
pub fn parse_listen_addr(endpoint: &str) -> Result<SocketAddr, String> {
    let text = endpoint.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{text:?}: invalid port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if text
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        // A host name: resolve it now so a typo fails at validate time.
        return text
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("{text:?}: cannot resolve the host"));
    }
    Err(format!(
        "{text:?} is not host:port (e.g. 127.0.0.1:4317 or 0.0.0.0:4318)"
    ))
}

/// Why a receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The address could not be bound.
    #[error("receivers.{id}: cannot listen on {addr}: {source}")]
    Bind {
        /// Receiver id.
        id: String,
        /// Address.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The endpoint is not an address.
    #[error("receivers.{id}: {message}")]
    Address {
        /// Receiver id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// A `tls:` file cannot be used.
    #[error("receivers.{id}.protocols.{protocol}.tls.{source}")]
    Tls {
        /// Receiver id.
        id: String,
        /// `grpc` or `http`.
        protocol: &'static str,
        /// The field and what is wrong.
        source: tls::TlsError,
    },
    /// `auth:` is not usable.
    #[error("receivers.{id}.auth: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Auth {
        /// Receiver id.
        id: String,
        /// Every problem.
        errors: Vec<auth::AuthConfigError>,
    },
    /// A server stopped with an error.
    #[error("receivers.{id}: server failed: {message}")]
    Serve {
        /// Receiver id.
        id: String,
        /// What happened.
        message: String,
    },
}

/// What both protocol servers share: routes and counters.
pub struct Shared {
    /// Receiver id.
    pub id: String,
    /// Pipelines fed by this receiver; swapped whole by a config reload.
    pub routes: Swap<Routes>,
    /// Memory limiters checked before a request is read; swapped whole by a config reload.
    pub admission: Swap<Vec<Arc<Admission>>>,
    /// Credentials checked before a request is read (`None`: every client is accepted).
    pub auth: Option<auth::Authenticator>,
    /// `limits:` applied to every decoded request, and the counter of what they changed.
    limits: (limits::Limits, Counter),
    accepted: SignalCounters,
    accepted_requests: Counter,
    refused: SignalCounters,
    refused_requests: Counter,
}

impl Shared {
    /// Runs a decoded request through the pipelines, waits for persistent queues to store it,
    /// and counts accepted or refused items.
    pub async fn ingest<R: OtlpRequest + Into<Payload> + limits::Limit>(
        &self,
        mut req: R,
        md: &Metadata,
    ) -> Result<(), RequestError> {
        self.apply_limits(&mut req);
        let items = req.item_count() as u64;
        // The routes of the moment: a reload swapping them meanwhile does not affect this request.
        let routes = self.routes.load();
        let ingested = pipeline::ingest(&routes, req, md);
        drop(routes);
        self.settle(R::SIGNAL, items, ingested).await
    }

    /// Ingests the protobuf encoding of a request of `signal`. When every pipeline of the
    /// signal passes requests through unchanged and [`scan::scan`] vouches for the bytes (prost
    /// decodes them, the limits and pruning would not change them, it has items), the bytes
    /// themselves go to the exporters, undecoded; otherwise the request is decoded (a decode
    /// error is a bad request) and [`Shared::ingest`]ed.
    pub async fn ingest_proto(
        &self,
        signal: Signal,
        body: Bytes,
        md: &Metadata,
    ) -> Result<(), RequestError> {
        let routes = self.routes.load();
        // Items are counted (a scan) only when refused, and at most once.
        let refused = {
            let counted = std::cell::OnceCell::new();
            let count = || *counted.get_or_init(|| scan::count(signal, &body).unwrap_or(0));
            pipeline::refuses_early(&routes, signal, body.len() as u64, count).then(count)
        };
        if let Some(items) = refused {
            drop(routes);
            return self
                .settle(signal, items, Err(pipeline::IngestError::Unavailable))
                .await;
        }
        if pipeline::passes_through(&routes, signal) {
            if let Ok(found) = scan::scan(signal, &body, &self.limits.0.scan_limits()) {
                if found.items > 0 && !found.has_empty {
                    let batch = Batch::from_proto(signal, body, found.items as usize);
                    let ingested = pipeline::ingest_encoded(&routes, Arc::new(batch));
                    drop(routes);
                    return self.settle(signal, found.items, ingested).await;
                }
            }
        }
        drop(routes);
        match signal {
            Signal::Traces => {
                let req = decode::<ExportTraceServiceRequest>(body)?;
                self.ingest(req, md).await
            }
            Signal::Metrics => {
                let req = decode::<ExportMetricsServiceRequest>(body)?;
                self.ingest(req, md).await
            }
            Signal::Logs => {
                let req = decode::<ExportLogsServiceRequest>(body)?;
                self.ingest(req, md).await
            }
        }
    }

    /// Waits for persistent queues to store an ingested request; counts its items accepted or
    /// refused.
    async fn settle(
        &self,
        signal: Signal,
        items: u64,
        ingested: Result<pipeline::Pending, pipeline::IngestError>,
    ) -> Result<(), RequestError> {
        let result = match ingested {
            Ok(pending) => pending.settle().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.accepted.add(signal, items);
                self.accepted_requests.inc();
                Ok(())
            }
            Err(e) => {
                // The request itself is counted where it is answered (`Shared::refuse`).
                self.refused.add(signal, items);
                if e == pipeline::IngestError::Unavailable {
                    crate::telemetry::warn_rate_limited(
                        &self.id,
                        "exporter queues full: request refused (503)",
                    );
                }
                Err(e.into())
            }
        }
    }

    /// Applies `limits:` to a decoded request; counts and logs (rate-limited) what changed.
    fn apply_limits<R: limits::Limit>(&self, req: &mut R) {
        let changed = req.limit(&self.limits.0);
        if changed > 0 {
            self.limits.1.inc_by(changed);
            crate::telemetry::warn_rate_limited(
                &self.id,
                "attributes or values over the receiver limits were dropped or truncated",
            );
        }
    }

    /// Admission control: `Err(Overloaded)` (counted) when a memory limiter refuses.
    pub fn admit(&self) -> Result<(), RequestError> {
        if admit_all(&self.admission.load()) {
            Ok(())
        } else {
            crate::telemetry::warn_rate_limited(
                &self.id,
                "memory limit reached: requests refused (503)",
            );
            Err(RequestError::Overloaded)
        }
    }

    /// Authentication: the attributes of the request's credentials (`Ok(None)` when `auth` is
    /// not configured), `Err(Unauthenticated)` otherwise. Not counted here: callers count the
    /// refusal with [`Shared::refuse`].
    pub fn authenticate(
        &self,
        headers: &::http::HeaderMap,
    ) -> Result<Option<auth::AuthAttributes>, RequestError> {
        match &self.auth {
            None => Ok(None),
            Some(a) => a.check(headers).map(Some),
        }
    }

    /// Config reload: later requests go to these pipelines and memory limiters. Returns the
    /// previous routes (the caller drops them once in-flight requests are done).
    pub fn swap(&self, routes: Routes, admission: Vec<Arc<Admission>>) -> Arc<Routes> {
        self.admission.store(Arc::new(admission));
        self.routes.store(Arc::new(routes))
    }

    /// Counts a refused request, once, where it is answered.
    pub fn refuse(&self, err: &RequestError) {
        self.refused_requests.inc();
        tracing::debug!(receiver = %self.id, error = %err, "request refused");
    }
}

/// Decodes a protobuf request; an error is a bad request (HTTP 400, gRPC INVALID_ARGUMENT).
fn decode<M: Message + Default>(body: Bytes) -> Result<M, RequestError> {
    M::decode(body).map_err(|e| RequestError::BadRequest(format!("invalid OTLP protobuf: {e}")))
}

/// A receiver with its listeners bound, ready to serve.
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    grpc: Option<Listening<config::GrpcServerConfig>>,
    http: Option<Listening<config::HttpServerConfig>>,
}

/// A bound listener with its config and, when `tls:` is set, its loaded TLS config.
struct Listening<C> {
    listener: TcpListener,
    cfg: C,
    tls: Option<Arc<tls::ReloadingTls>>,
}

impl OtlpReceiver {
    /// Binds the configured listeners.
    pub async fn bind(
        id: &str,
        cfg: &OtlpReceiverConfig,
        routes: Routes,
        admission: Vec<Arc<Admission>>,
        metrics: &SelfMetrics,
    ) -> Result<Self, ReceiverError> {
        async fn listen(id: &str, endpoint: &str) -> Result<TcpListener, ReceiverError> {
            let addr = parse_listen_addr(endpoint).map_err(|message| ReceiverError::Address {
                id: id.to_string(),
                message,
            })?;
            TcpListener::bind(addr)
                .await
                .map_err(|source| ReceiverError::Bind {
                    id: id.to_string(),
                    addr: addr.to_string(),
                    source,
                })
        }
        let load_tls = |protocol: &'static str,
                        t: &Option<config::TlsServerConfig>,
                        alpn: &'static [&'static [u8]]| {
            t.as_ref()
                .map(|t| tls::ReloadingTls::new(format!("{id} ({protocol})"), t, alpn))
                .transpose()
                .map_err(|source| ReceiverError::Tls {
                    id: id.to_string(),
                    protocol,
                    source,
                })
        };
        let auth = cfg
            .auth
            .as_ref()
            .map(auth::Authenticator::new)
            .transpose()
            .map_err(|errors| ReceiverError::Auth {
                id: id.to_string(),
                errors,
            })?;
        let grpc = match &cfg.protocols.grpc {
            Some(g) => {
                let tls = load_tls("grpc", &g.tls, tls::ALPN_GRPC)?;
                Some(Listening {
                    listener: listen(id, &g.endpoint).await?,
                    cfg: g.clone(),
                    tls,
                })
            }
            None => None,
        };
        let http = match &cfg.protocols.http {
            Some(h) => {
                let tls = load_tls("http", &h.tls, tls::ALPN_HTTP)?;
                Some(Listening {
                    listener: listen(id, &h.endpoint).await?,
                    cfg: h.clone(),
                    tls,
                })
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            id: id.to_string(),
            routes: Swap::new(routes),
            admission: Swap::new(admission),
            auth,
            limits: (
                limits::Limits::from(&cfg.limits),
                metrics.request_counter(names::RECEIVER_LIMITED_VALUES, "receiver", id),
            ),
            accepted: SignalCounters::new(metrics, names::RECEIVER_ACCEPTED, "receiver", id),
            accepted_requests: metrics.request_counter(
                names::RECEIVER_ACCEPTED_REQUESTS,
                "receiver",
                id,
            ),
            refused: SignalCounters::new(metrics, names::RECEIVER_REFUSED, "receiver", id),
            refused_requests: metrics.request_counter(
                names::RECEIVER_REFUSED_REQUESTS,
                "receiver",
                id,
            ),
        });
        Ok(OtlpReceiver { shared, grpc, http })
    }

    /// The state shared by its servers, for config reloads ([`Shared::swap`]).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Human-readable endpoints for the start-up banner.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        let security = |t: &Option<Arc<tls::ReloadingTls>>| match t {
            None => "",
            Some(t) if t.mutual() => ", mTLS",
            Some(_) => ", TLS",
        };
        let auth = if self.shared.auth.is_some() {
            ", auth"
        } else {
            ""
        };
        if let Some(g) = &self.grpc {
            if let Ok(a) = g.listener.local_addr() {
                let extra = format!("{}{auth}", security(&g.tls));
                if extra.is_empty() {
                    out.push(format!("grpc {a}"));
                } else {
                    out.push(format!("grpc {a} ({})", &extra[2..]));
                }
            }
        }
        if let Some(h) = &self.http {
            if let Ok(a) = h.listener.local_addr() {
                let scheme = if h.tls.is_some() { "https" } else { "http" };
                out.push(format!(
                    "http {scheme}://{a} ({} {} {}{}{auth})",
                    h.cfg.traces_url_path,
                    h.cfg.metrics_url_path,
                    h.cfg.logs_url_path,
                    security(&h.tls)
                ));
            }
        }
        out
    }

    /// Serves until `shutdown` resolves; each server is a task in `tasks`.
    pub fn spawn<F>(self, tasks: &mut JoinSet<Result<(), ReceiverError>>, shutdown: F)
    where
        F: Future<Output = ()> + Clone + Send + 'static,
    {
        if let Some(g) = self.grpc {
            tasks.spawn(grpc::serve(
                self.shared.clone(),
                g.listener,
                g.cfg,
                g.tls,
                shutdown.clone(),
            ));
        }
        if let Some(h) = self.http {
            tasks.spawn(http::serve(
                self.shared.clone(),
                h.listener,
                h.cfg,
                h.tls,
                shutdown,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_accept_ips_localhost_and_reject_garbage() {
        assert_eq!(
            parse_listen_addr("0.0.0.0:4317"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 4317)))
        );
        assert_eq!(
            parse_listen_addr("localhost:4318"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 4318)))
        );
        assert!(parse_listen_addr("[::1]:4317").is_ok());
        assert!(parse_listen_addr("4317").is_err());
        assert!(parse_listen_addr("127.0.0.1:99999").is_err());
        assert!(parse_listen_addr("not an address").is_err());
    }
}
