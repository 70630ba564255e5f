//! The `otlp` receiver: OTLP/gRPC ([`grpc`]) and OTLP/HTTP ([`http`]) servers feeding the
//! pipelines of their receiver id. Both hand each request body, with its encoding, to the
//! receiver's [`Entry`] on the request task and answer once the data sits in the exporter
//! queues. Either may serve TLS
//! ([`tls`]); both check the receiver's `auth` ([`auth`]) before a body is read.

pub mod auth;
pub mod config;
pub mod gate;
pub mod grpc;
pub mod http;
pub mod status;
pub mod tls;

use crate::base::net::parse_listen_addr;
use crate::codec::WireFormat;
use crate::pipeline::admission::Admission;
use crate::pipeline::{Entry, Routes};
use crate::telemetry::metrics::SelfMetrics;
use bytes::Bytes;
use config::OtlpReceiverConfig;
use processors::{Metadata, Signal};
use status::RequestError;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

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

/// What both protocol servers share: the pipeline entry and the credentials.
pub struct Shared {
    /// Receiver id.
    pub id: String,
    /// Where requests enter the pipelines; its routes and limiters are swapped by a reload.
    pub entry: Arc<Entry>,
    /// Credentials checked before a request is read (`None`: every client is accepted).
    pub auth: Option<auth::Authenticator>,
}

impl Shared {
    /// Hands a request body to the pipelines and waits for it to be queued (persistent
    /// queues: stored). The entry counts the request accepted or refused.
    pub async fn accept(
        &self,
        signal: Signal,
        body: Bytes,
        format: WireFormat,
        md: &Metadata,
    ) -> Result<(), RequestError> {
        self.entry
            .accept(signal, body, format, md)
            .await
            .map_err(RequestError::Ingest)
    }

    /// Admission control: `Err(Overloaded)` when a memory limiter refuses.
    pub fn admit(&self) -> Result<(), RequestError> {
        self.entry.admit().map_err(|_| RequestError::Overloaded)
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

    /// Counts a request refused before it reached the entry (credentials, path, media type,
    /// size, concurrency, admission); the entry counts its own refusals.
    pub fn refuse(&self, err: &RequestError) {
        if !err.counted_by_entry() {
            self.entry.count_refused_request();
        }
        tracing::debug!(receiver = %self.id, error = %err, "request refused");
    }
}

/// A receiver with its listeners bound, ready to serve.
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    metrics: SelfMetrics,
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
    /// Binds the configured listeners; requests enter `routes` (checked by `admission`)
    /// through the receiver's [`Entry`].
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
            entry: Arc::new(Entry::new(id, routes, admission, &cfg.limits, metrics)),
            auth,
        });
        Ok(OtlpReceiver {
            shared,
            metrics: metrics.clone(),
            grpc,
            http,
        })
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
                self.metrics.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(h) = self.http {
            tasks.spawn(http::serve(
                self.shared.clone(),
                h.listener,
                h.cfg,
                h.tls,
                self.metrics,
                shutdown,
            ));
        }
    }
}

impl super::ReceiverType for OtlpReceiverConfig {
    fn endpoints(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        if let Some(g) = &self.protocols.grpc {
            out.push(("protocols.grpc.endpoint".to_string(), g.endpoint.as_str()));
        }
        if let Some(h) = &self.protocols.http {
            out.push(("protocols.http.endpoint".to_string(), h.endpoint.as_str()));
        }
        out
    }

    fn check(&self, path: &str, out: &mut Vec<crate::base::diagnostic::Diagnostic>) {
        self.check_protocols(path, out);
        check_security(self, path, out);
    }
}

/// `tls:` (every file read and parsed, as at start-up) and `auth:`.
fn check_security(
    cfg: &OtlpReceiverConfig,
    base: &str,
    out: &mut Vec<crate::base::diagnostic::Diagnostic>,
) {
    use crate::base::diagnostic::{join, Diagnostic};
    let protocols = [
        (
            "grpc",
            cfg.protocols.grpc.as_ref().map(|g| (&g.endpoint, &g.tls)),
            tls::ALPN_GRPC,
        ),
        (
            "http",
            cfg.protocols.http.as_ref().map(|h| (&h.endpoint, &h.tls)),
            tls::ALPN_HTTP,
        ),
    ];
    for (protocol, settings, alpn) in protocols {
        let Some((endpoint, tls_cfg)) = settings else {
            continue;
        };
        let path = join(base, &format!("protocols.{protocol}"));
        match tls_cfg {
            Some(t) => {
                if let Err(e) = tls::server_config(t, alpn) {
                    out.push(Diagnostic::error(
                        join(&path, &format!("tls.{}", e.field)),
                        e.message,
                    ));
                }
            }
            None => {
                let loopback = parse_listen_addr(endpoint).is_ok_and(|a| a.ip().is_loopback());
                if cfg.auth.is_some() && !loopback {
                    out.push(Diagnostic::warning(
                        path,
                        "auth is set but this endpoint has no tls: credentials travel in \
                         plaintext",
                    ));
                }
            }
        }
    }
    if let Some(a) = &cfg.auth {
        if let Err(errors) = auth::Authenticator::new(a) {
            for e in errors {
                out.push(Diagnostic::error(
                    join(&join(base, "auth"), &e.field),
                    e.message,
                ));
            }
        }
    }
}
