//! TLS for the OTLP receiver (rustls with the ring provider; PEM loading in
//! [`crate::base::tls`], shared with the exporters): the server config built from `tls:` (minimum version, ALPN, optional client
//! certificate verification), certificate reloading, and the handshake each listener performs on
//! a new connection (in the connection's own task, bounded by the listener's limits).
//!
//! Reloading: a task polls the modification time and size of `cert_file`, `key_file` and
//! `client_ca_file` every `reload_interval`; on a change it builds a whole new `ServerConfig`
//! and swaps it in, so new connections use it and open ones keep theirs. A reload that fails
//! (half-written file, key that does not fit the certificate) keeps the previous config and logs
//! an error; it is retried when the files change again.

use super::config::TlsServerConfig;
use crate::base::serve::Handshake;
pub use crate::base::tls::TlsError;
use crate::base::tls::{certified_key, provider, root_store, versions};
use futures::future::BoxFuture;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// ALPN protocols offered by the gRPC server.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN protocols offered by the HTTP server.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

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

/// The TLS handshake of a listener, with the config current at accept time (the listener's
/// connection limits bound it in time and number, see [`crate::base::serve`]).
#[derive(Clone)]
pub struct TlsHandshake(pub Arc<ReloadingTls>);

impl Handshake for TlsHandshake {
    type Io = TlsStream<TcpStream>;

    fn handshake(&self, tcp: TcpStream) -> BoxFuture<'static, std::io::Result<Self::Io>> {
        let acceptor = self.0.acceptor();
        Box::pin(async move { acceptor.accept(tcp).await })
    }
}
