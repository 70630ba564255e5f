//! TLS for the OTLP receiver (rustls with the ring provider; PEM loading in
//! [`crate::base::tls`], shared with the exporters): the server config built from `tls:` (minimum version, ALPN, optional client
//! certificate verification), certificate reloading, and the listener that performs handshakes
//! off the accept loop and hands finished TLS streams to axum (HTTP) or tonic (gRPC).
//!
//! Reloading: a task polls the modification time and size of `cert_file`, `key_file` and
//! `client_ca_file` every `reload_interval`; on a change it builds a whole new `ServerConfig`
//! and swaps it in, so new connections use it and open ones keep theirs. A reload that fails
//! (half-written file, key that does not fit the certificate) keeps the previous config and logs
//! an error; it is retried when the files change again.

use super::config::TlsServerConfig;
pub use crate::base::tls::TlsError;
use crate::base::tls::{certified_key, provider, root_store, versions};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// ALPN protocols offered by the gRPC server.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN protocols offered by the HTTP server.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once per listener; connections beyond are closed at once.
const MAX_HANDSHAKES: usize = 1024;
/// Finished handshakes waiting for the server to pick them up.
const ACCEPT_BACKLOG: usize = 128;

/// Always the same certificate (the resolver of a loaded config; reloads swap whole configs).
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Builds the rustls server config of a `tls:` section: reads and checks every file.
pub fn server_config(cfg: &TlsServerConfig, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let key = certified_key("cert_file", &cfg.cert_file, "key_file", &cfg.key_file)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(cfg.min_version))
        .map_err(|e| TlsError::new("min_version", e.to_string()))?;
    let builder = match &cfg.client_ca_file {
        Some(ca) => {
            let roots = root_store("client_ca_file", ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::new("client_ca_file", format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(FixedCert(Arc::new(key))));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Modification time and size of each file of a `tls:` section (`None`: cannot stat).
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(cfg: &TlsServerConfig) -> Stamp {
    [
        Some(&cfg.cert_file),
        Some(&cfg.key_file),
        cfg.client_ca_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

/// The current server config of one TLS listener, swapped on reload.
pub struct ReloadingTls {
    cfg: TlsServerConfig,
    alpn: &'static [&'static [u8]],
    current: RwLock<Arc<ServerConfig>>,
    /// Files' state when `current` was loaded (or a reload last failed).
    loaded: RwLock<Stamp>,
    /// `receiver id` and protocol, for logs.
    label: String,
}

impl ReloadingTls {
    /// Loads the config once; fails with the field to fix.
    pub fn new(
        label: String,
        cfg: &TlsServerConfig,
        alpn: &'static [&'static [u8]],
    ) -> Result<Arc<Self>, TlsError> {
        // Stamp first: a change during the load is then seen by the first poll.
        let loaded = stamp(cfg);
        let config = server_config(cfg, alpn)?;
        Ok(Arc::new(ReloadingTls {
            cfg: cfg.clone(),
            alpn,
            current: RwLock::new(Arc::new(config)),
            loaded: RwLock::new(loaded),
            label,
        }))
    }

    /// Whether client certificates are required.
    pub fn mutual(&self) -> bool {
        self.cfg.client_ca_file.is_some()
    }

    /// An acceptor with the current config.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        TlsAcceptor::from(config)
    }

    /// Re-reads the files if they changed since the last attempt. Returns whether a new config
    /// is in use.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.cfg);
        {
            let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
            if *loaded == now {
                return false;
            }
            *loaded = now;
        }
        match server_config(&self.cfg, self.alpn) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                tracing::info!(receiver = %self.label, "TLS certificate reloaded");
                true
            }
            Err(e) => {
                tracing::error!(
                    receiver = %self.label,
                    error = %e,
                    "TLS reload failed; still serving the previous certificate"
                );
                false
            }
        }
    }

    /// Polls the files every `reload_interval` (unless `0s`) for as long as a listener holds
    /// this config.
    pub fn spawn_reloader(self: &Arc<Self>) {
        let every = self.cfg.reload_interval.0;
        if every.is_zero() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { break };
                this.reload_if_changed();
            }
        });
    }
}

/// A listener whose connections have finished their TLS handshake. Handshakes run in their own
/// tasks (bounded in number and time), so a slow or silent client cannot hold up the others.
/// Dropping it stops the accept loop and closes the listening socket.
pub struct TlsIncoming {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: Option<SocketAddr>,
}

impl TlsIncoming {
    /// Starts accepting on `listener` with `tls`. Must run inside a tokio runtime.
    pub fn new(listener: TcpListener, tls: Arc<ReloadingTls>) -> Self {
        let local = listener.local_addr().ok();
        let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
        tokio::spawn(accept_loop(listener, tls, tx));
        TlsIncoming { rx, local }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ReloadingTls>,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Per-connection errors (reset before accept) are harmless; others (out of file
                // descriptors) get a pause, as axum::serve does.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) {
                    tracing::error!(receiver = %tls.label, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            crate::telemetry::warn_rate_limited(
                &tls.label,
                "too many TLS handshakes in progress: connection closed",
            );
            continue;
        };
        let acceptor = tls.acceptor();
        let tx = tx.clone();
        let label = tls.label.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
            drop(permit);
            match handshake {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, peer)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(receiver = %label, %peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    tracing::debug!(receiver = %label, %peer, "TLS handshake timed out");
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsIncoming {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.local
            .ok_or_else(|| std::io::Error::other("listener address unknown"))
    }
}

impl futures::Stream for TlsIncoming {
    type Item = Result<TlsStream<TcpStream>, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        self.rx
            .poll_recv(cx)
            .map(|conn| conn.map(|(stream, _)| Ok(stream)))
    }
}
