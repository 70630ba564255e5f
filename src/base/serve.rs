//! Serving HTTP connections on a listener, the same way for every listener of the gateway (the
//! OTLP/HTTP and OTLP/gRPC receivers, the admin listener): an accept loop that backs off when
//! the process is out of file descriptors (logged once per interval, counted), a bound on open
//! connections (more are closed at once, counted), a deadline for a new connection's handshake
//! and first request, and an idle timeout that closes connections with no request in progress
//! and none started for that long (bytes without requests — pings, trickled headers — do not
//! count). Each connection is a task owned by the loop; at shutdown every open
//! connection is asked to finish gracefully and the loop waits for them.

use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How long a connection asked to close (idle, shutdown) may take to finish what it is doing.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Pause after an accept error that is not about one connection (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);
/// At most one log line per this interval for accept errors and refused connections.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The bounds of one listener.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Name in logs (`otlp http`, `admin`).
    pub name: String,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A new connection must finish its TLS handshake and send its first request bytes within
    /// this time.
    pub handshake_timeout: Duration,
    /// A connection with no request in progress and none started for this long is closed.
    pub idle_timeout: Duration,
}

/// Counters of one listener's connections.
#[derive(Clone, Debug, Default)]
pub struct ConnMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections closed at accept because `max_connections` were open.
    pub refused: Counter,
    /// Connections closed for being idle.
    pub closed_idle: Counter,
    /// Connections closed for not finishing their handshake or first request in time.
    pub closed_slow: Counter,
    /// Failed accepts (e.g. out of file descriptors).
    pub accept_errors: Counter,
}

/// Turns an accepted TCP connection into the stream HTTP is spoken over (plain, or TLS).
pub trait Handshake: Clone + Send + Sync + 'static {
    /// The stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Performs the handshake (the caller bounds it in time).
    fn handshake(&self, tcp: TcpStream) -> BoxFuture<'static, io::Result<Self::Io>>;
}

/// Plain TCP: no handshake.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;
    fn handshake(&self, tcp: TcpStream) -> BoxFuture<'static, io::Result<TcpStream>> {
        Box::pin(std::future::ready(Ok(tcp)))
    }
}

/// What a connection did last, shared by its service and its watchdog. Only requests count as
/// activity: bytes that carry none (pings, headers trickled in) do not keep a connection open.
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// Milliseconds since `start` when the last request started or ended.
    last_ms: AtomicU64,
    /// Requests in progress.
    in_flight: AtomicUsize,
    /// Requests started so far.
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has been quiet with nothing in progress (zero while a request
    /// is in progress).
    fn quiet_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A service that counts its requests in progress on the connection's [`Activity`].
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// Decrements the in-progress count when the request's future ends (or is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        self.activity.requests.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(self.activity.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let out = fut.await;
            drop(guard);
            out
        })
    }
}

/// Serves HTTP (1 and 2, or whatever `builder` allows) on `listener` with `service` until
/// `shutdown` resolves; then asks every connection to finish and waits for them (the caller
/// bounds that wait).
pub async fn serve<H, S, B>(
    listener: TcpListener,
    handshake: H,
    builder: auto::Builder<TokioExecutor>,
    service: S,
    limits: ConnLimits,
    metrics: ConnMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    H: Handshake,
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                accept_failed(&e, &limits, &metrics, &mut logged).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.refused.inc();
            log_every(&mut logged, || {
                tracing::warn!(listener = %limits.name, max = limits.max_connections,
                    "max_connections open: new connections are closed at once");
            });
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let conn = Conn {
            handshake: handshake.clone(),
            builder: builder.clone(),
            limits: limits.clone(),
            metrics: metrics.clone(),
            stop: stop_rx.clone(),
        };
        let service = service.clone();
        let open = metrics.open.clone();
        conns.spawn(async move {
            open.inc();
            conn.run(tcp, service).await;
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
}

/// An accept error: one connection's own failure is ignored; anything else (out of file
/// descriptors) is counted, logged at most once per interval, and followed by a pause so the
/// loop does not spin.
async fn accept_failed(
    e: &io::Error,
    limits: &ConnLimits,
    metrics: &ConnMetrics,
    logged: &mut Option<Instant>,
) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    metrics.accept_errors.inc();
    log_every(logged, || {
        tracing::error!(listener = %limits.name, error = %e,
            "accept failed (out of file descriptors?): pausing new connections");
    });
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// Runs `log` unless it ran less than [`LOG_INTERVAL`] ago.
fn log_every(last: &mut Option<Instant>, log: impl FnOnce()) {
    if last.is_none_or(|t| t.elapsed() >= LOG_INTERVAL) {
        *last = Some(Instant::now());
        log();
    }
}

/// One accepted connection and what it needs.
struct Conn<H> {
    handshake: H,
    builder: auto::Builder<TokioExecutor>,
    limits: ConnLimits,
    metrics: ConnMetrics,
    stop: watch::Receiver<bool>,
}

/// Why a connection's watchdog closed it.
enum Close {
    Idle,
    Slow,
    Shutdown,
}

impl<H: Handshake> Conn<H> {
    async fn run<S, B>(mut self, tcp: TcpStream, service: S)
    where
        S: tower::Service<http::Request<Incoming>, Response = http::Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let io = match tokio::time::timeout(
            self.limits.handshake_timeout,
            self.handshake.handshake(tcp),
        )
        .await
        {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => {
                tracing::debug!(listener = %self.limits.name, error = %e, "handshake failed");
                return;
            }
            Err(_) => {
                self.metrics.closed_slow.inc();
                return;
            }
        };
        let activity = Activity::new();
        let service = Counted {
            inner: service,
            activity: activity.clone(),
        };
        let hyper_service = hyper_util::service::TowerToHyperService::new(service);
        let builder = self.builder.clone();
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), hyper_service);
        tokio::pin!(conn);
        let close = tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(listener = %self.limits.name, error = %e, "connection ended with an error");
                }
                return;
            }
            close = self.watchdog(&activity) => close,
        };
        match close {
            Close::Idle => {
                self.metrics.closed_idle.inc();
            }
            Close::Slow => {
                self.metrics.closed_slow.inc();
            }
            Close::Shutdown => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
    }

    /// Resolves when the connection should close: no request in progress and none started for
    /// longer than the idle timeout (the handshake timeout before its first request), or
    /// shutdown.
    async fn watchdog(&mut self, activity: &Activity) -> Close {
        loop {
            let first = activity.requests.load(Ordering::Relaxed) == 0;
            let limit = if first {
                self.limits.handshake_timeout.min(self.limits.idle_timeout)
            } else {
                self.limits.idle_timeout
            };
            let quiet = activity.quiet_for();
            if quiet >= limit {
                return if first { Close::Slow } else { Close::Idle };
            }
            let wait = (limit - quiet).max(Duration::from_millis(50));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = self.stop.wait_for(|s| *s) => return Close::Shutdown,
            }
        }
    }
}
