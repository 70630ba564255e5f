//! Runs the real `codex-otel-gateway` binary and talks to it like a client would.
//!
//! [`Gateway::start`] writes the YAML config to a temporary file, runs
//! `codex-otel-gateway run --config FILE` with stdout and stderr captured in memory (see
//! [`Gateway::stdout`], [`Gateway::stderr`]) and waits until every given port accepts TCP
//! connections. [`Gateway::stop`] sends SIGTERM and waits for the exit; dropping a running
//! gateway kills it. When a test panics, the captured output is printed as the gateway is
//! dropped.
//!
//! Client helpers: [`post`] for OTLP/HTTP, `grpc_export_*` for OTLP/gRPC, [`gzip`] to compress
//! bodies, [`free_port`] to choose listener ports.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use super::backends::MAX_MESSAGE_SIZE;
use super::fixtures::Fixture;

/// Path of the gateway binary Cargo built for this test run.
pub const GATEWAY_BIN: &str = env!("CARGO_BIN_EXE_codex-otel-gateway");

/// How long [`Gateway::start`] waits for the listeners.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`Gateway::stop`] waits for the process to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). Never
/// returns the same port twice in one test process.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    for _ in 0..100 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("free_port: cannot bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("free_port: local_addr").port();
        drop(listener);
        if given.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
    panic!("free_port: the OS kept handing out ports already given");
}

/// Output captured from a child process.
type Captured = Arc<Mutex<Vec<u8>>>;

fn capture(mut source: impl Read + Send + 'static, sink: Captured) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

fn text(captured: &Captured) -> String {
    String::from_utf8_lossy(&captured.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

fn write_config(config_yaml: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("codex-otel-gateway-")
        .suffix(".yaml")
        .tempfile()
        .unwrap_or_else(|e| panic!("cannot create a temporary config file: {e}"));
    file.write_all(config_yaml.as_bytes())
        .and_then(|()| file.flush())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.path().display()));
    file
}

/// A running `codex-otel-gateway run` process.
pub struct Gateway {
    child: Child,
    /// Kept so the file lives as long as the process.
    config: tempfile::NamedTempFile,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    /// Set once a panic message already carried the output, so `Drop` does not repeat it.
    output_reported: bool,
}

impl Gateway {
    /// Starts the gateway with this config and waits until every port of `wait_ports` accepts
    /// a TCP connection on 127.0.0.1. Panics, with the captured output, if the process exits
    /// first or [`START_TIMEOUT`] passes.
    pub async fn start(config_yaml: &str, wait_ports: &[u16]) -> Gateway {
        Gateway::start_with_env(config_yaml, wait_ports, &[]).await
    }

    /// [`Gateway::start`] with extra environment variables for the process.
    pub async fn start_with_env(
        config_yaml: &str,
        wait_ports: &[u16],
        env: &[(&str, &str)],
    ) -> Gateway {
        let config = write_config(config_yaml);
        let mut command = Command::new(GATEWAY_BIN);
        command.arg("run").arg("--config").arg(config.path());
        Gateway::spawn(command, config, wait_ports, env).await
    }

    /// [`Gateway::start`] with the process's open-file limit (soft and hard) set to `limit`
    /// (through the shell's `ulimit -n`, then `exec`, so the process is the gateway itself).
    pub async fn start_with_fd_limit(config_yaml: &str, wait_ports: &[u16], limit: u32) -> Gateway {
        let config = write_config(config_yaml);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "ulimit -n {limit} && exec \"$0\" run --config \"$1\""
            ))
            .arg(GATEWAY_BIN)
            .arg(config.path());
        Gateway::spawn(command, config, wait_ports, &[]).await
    }

    async fn spawn(
        mut command: Command,
        config: tempfile::NamedTempFile,
        wait_ports: &[u16],
        env: &[(&str, &str)],
    ) -> Gateway {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {GATEWAY_BIN}: {e}"));
        let stdout = Captured::default();
        let stderr = Captured::default();
        let readers = vec![
            capture(child.stdout.take().expect("piped stdout"), stdout.clone()),
            capture(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        let mut gateway = Gateway {
            child,
            config,
            stdout,
            stderr,
            readers,
            status: None,
            output_reported: false,
        };
        gateway.wait_ready(wait_ports).await;
        gateway
    }

    async fn wait_ready(&mut self, ports: &[u16]) {
        let started = Instant::now();
        let mut pending: Vec<u16> = ports.to_vec();
        loop {
            if let Some(status) = self.try_wait() {
                self.join_readers();
                self.output_reported = true;
                panic!(
                    "gateway exited with {status} before listening on {pending:?}\n{}",
                    self.output_report()
                );
            }
            let mut still = Vec::new();
            for port in pending {
                let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
                match tokio::time::timeout(Duration::from_millis(500), connect).await {
                    Ok(Ok(_stream)) => {}
                    _ => still.push(port),
                }
            }
            pending = still;
            if pending.is_empty() {
                return;
            }
            if started.elapsed() > START_TIMEOUT {
                self.kill();
                self.output_reported = true;
                panic!(
                    "gateway did not listen on 127.0.0.1 ports {pending:?} within {START_TIMEOUT:?}\n{}",
                    self.output_report()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the config file the gateway was started with.
    pub fn config_path(&self) -> &Path {
        self.config.path()
    }

    /// Everything the gateway printed on stdout so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Everything the gateway printed on stderr so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Stdout and stderr so far, labelled, for messages.
    pub fn output_report(&self) -> String {
        format!(
            "--- gateway stdout ---\n{}\n--- gateway stderr ---\n{}\n--- end of gateway output ---",
            self.stdout().trim_end(),
            self.stderr().trim_end()
        )
    }

    /// Polls the captured output (stdout and stderr) every 20 ms until it contains `needle`
    /// (`true`) or `timeout` passes (`false`).
    pub async fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout().contains(needle) || self.stderr().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap_or_else(|e| {
                panic!("cannot query gateway process {}: {e}", self.child.id())
            });
        }
        self.status
    }

    /// `true` while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Sends SIGTERM.
    pub fn terminate(&mut self) {
        if self.try_wait().is_some() {
            return;
        }
        send_sigterm(self.child.id());
    }

    /// Sends SIGTERM and waits up to [`STOP_TIMEOUT`] for the exit; returns the exit status.
    /// Panics (after killing it) if the process does not exit in time.
    pub async fn stop(&mut self) -> ExitStatus {
        self.stop_within(STOP_TIMEOUT).await
    }

    /// [`Gateway::stop`] with another deadline.
    pub async fn stop_within(&mut self, timeout: Duration) -> ExitStatus {
        self.terminate();
        match self.wait_exit(timeout).await {
            Some(status) => status,
            None => {
                self.kill();
                self.output_reported = true;
                panic!(
                    "gateway did not exit within {timeout:?} after SIGTERM\n{}",
                    self.output_report()
                );
            }
        }
    }

    /// Waits up to `timeout` for the process to exit on its own; `None` if it is still running.
    /// Once it has exited, the captured output is complete.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                self.join_readers();
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.join_readers();
    }

    /// Waits for the output readers; they end when the process and its children closed the
    /// pipes. Bounded, so a leaked grandchild holding a pipe cannot hang the test.
    fn join_readers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for reader in std::mem::take(&mut self.readers) {
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }

    /// Runs `codex-otel-gateway validate --config FILE` and returns
    /// `(exit code, stdout, stderr)`; the code is -1 if the process died of a signal.
    pub fn validate(config_yaml: &str) -> (i32, String, String) {
        let config = write_config(config_yaml);
        run_cli(
            &["validate", "--config", &config.path().to_string_lossy()],
            &[],
        )
    }
}

/// Runs `codex-otel-gateway ARGS...` (stdin closed) with these extra environment variables and
/// returns `(exit code, stdout, stderr)`; the code is -1 if the process died of a signal.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(GATEWAY_BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {GATEWAY_BIN} {args:?}: {e}"));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts the shipped `config/gateway.yaml` as is, its listeners on fresh loopback ports and its
/// two exporters pointed at `primary` (gRPC) and `secondary` (OTLP/HTTP) through the environment
/// variables the file reads. Returns the gateway and its gRPC, HTTP and admin ports.
pub async fn start_shipped_config(primary: &str, secondary: &str) -> (Gateway, [u16; 3]) {
    let ports = [free_port(), free_port(), free_port()];
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/gateway.yaml"))
        .expect("read config/gateway.yaml");
    let env = [
        ("GATEWAY_GRPC_ENDPOINT", format!("127.0.0.1:{}", ports[0])),
        ("GATEWAY_HTTP_ENDPOINT", format!("127.0.0.1:{}", ports[1])),
        ("GATEWAY_ADMIN_ENDPOINT", format!("127.0.0.1:{}", ports[2])),
        ("PRIMARY_OTLP_ENDPOINT", primary.to_owned()),
        ("SECONDARY_OTLP_ENDPOINT", secondary.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (Gateway::start_with_env(&yaml, &ports, &env).await, ports)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && !self.output_reported {
            eprintln!(
                "gateway (pid {}) output:\n{}",
                self.child.id(),
                self.output_report()
            );
        }
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("pid", &self.child.id())
            .field("config", &self.config.path())
            .field("status", &self.status)
            .finish()
    }
}

fn send_sigterm(pid: u32) {
    let pid = pid.to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .or_else(|_| {
            Command::new("sh")
                .args(["-c", &format!("kill -TERM {pid}")])
                .status()
        });
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("kill -TERM {pid} exited with {s}"),
        Err(e) => panic!("cannot run kill -TERM {pid}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// OTLP/HTTP client
// ---------------------------------------------------------------------------------------------

/// Gzip-compresses a body (for `content-encoding: gzip`).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// Decompresses a gzip body; panics if it is not gzip.
pub fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not a gzip body ({} bytes): {e}", body.len()));
    out
}

/// POSTs `body` as it is to `url` with this content type and, if given, `content-encoding`
/// header (the body is NOT compressed here: pass [`gzip`]`(..)` for gzip). Returns the status,
/// headers and body of the answer. Panics if no answer comes (connection error, 30 s timeout).
pub async fn post(
    url: &str,
    content_type: &str,
    content_encoding: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    post_with_headers(url, content_type, content_encoding, &[], body).await
}

/// [`post`] with extra request headers.
pub async fn post_with_headers(
    url: &str,
    content_type: &str,
    content_encoding: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    match try_post(url, content_type, content_encoding, headers, body).await {
        Ok(answer) => answer,
        Err(e) => panic!("POST {url} ({content_type}) got no answer: {e}"),
    }
}

/// [`post_with_headers`] that returns connection errors instead of panicking (for tests of a
/// gateway that is down or refuses connections).
pub async fn try_post(
    url: &str,
    content_type: &str,
    content_encoding: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Result<(u16, http::HeaderMap, Vec<u8>), String> {
    // A client per call: a pooled client must not outlive the test's runtime.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;
    let mut request = client
        .post(url)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body.into());
    if let Some(encoding) = content_encoding {
        request = request.header(http::header::CONTENT_ENCODING, encoding);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.map_err(|e| format!("{e:#}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer: {e:#}"))?;
    Ok((status, headers, body.to_vec()))
}

/// POSTs a fixture as Codex sent it: to `base_url` + the fixture's path, with its content
/// type and user agent.
pub async fn post_fixture(base_url: &str, fixture: &Fixture) -> (u16, http::HeaderMap, Vec<u8>) {
    let url = format!("{}{}", base_url.trim_end_matches('/'), fixture.path);
    let user_agent = if fixture.user_agent.is_empty() {
        "OTel-OTLP-Exporter-Rust/0.31.0"
    } else {
        fixture.user_agent.as_str()
    };
    post_with_headers(
        &url,
        &fixture.content_type,
        None,
        &[("user-agent", user_agent)],
        fixture.body.clone(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// OTLP/gRPC client
// ---------------------------------------------------------------------------------------------

/// Options for the `grpc_export_*_with` helpers.
#[derive(Clone, Debug, Default)]
pub struct GrpcOptions {
    /// Compress the request with gzip (responses are accepted gzip-compressed either way).
    pub gzip: bool,
    /// Extra request metadata (ASCII keys, e.g. `("authorization", "Bearer x")`).
    pub metadata: Vec<(String, String)>,
    /// Per-call deadline; 30 s when `None`.
    pub timeout: Option<Duration>,
}

impl GrpcOptions {
    /// Gzip-compressed requests, no extra metadata.
    pub fn gzip() -> GrpcOptions {
        GrpcOptions {
            gzip: true,
            ..GrpcOptions::default()
        }
    }
}

async fn grpc_channel(endpoint: &str, options: &GrpcOptions) -> Result<Channel, tonic::Status> {
    let timeout = options.timeout.unwrap_or(Duration::from_secs(30));
    Channel::from_shared(endpoint.to_string())
        .map_err(|e| tonic::Status::invalid_argument(format!("bad endpoint {endpoint:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("cannot connect to {endpoint}: {e:?}")))
}

fn grpc_request<T>(message: T, options: &GrpcOptions) -> Result<tonic::Request<T>, tonic::Status> {
    let mut request = tonic::Request::new(message);
    for (key, value) in &options.metadata {
        let key = tonic::metadata::MetadataKey::from_bytes(key.as_bytes()).map_err(|e| {
            tonic::Status::invalid_argument(format!("bad metadata key {key:?}: {e}"))
        })?;
        let value = tonic::metadata::MetadataValue::try_from(value.as_str()).map_err(|e| {
            tonic::Status::invalid_argument(format!("bad metadata value {value:?}: {e}"))
        })?;
        request.metadata_mut().insert(key, value);
    }
    Ok(request)
}

/// Exports traces over OTLP/gRPC to `endpoint` (`http://127.0.0.1:PORT`). Connection
/// failures come back as `Unavailable`.
pub async fn grpc_export_traces(
    endpoint: &str,
    request: ExportTraceServiceRequest,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    grpc_export_traces_with(endpoint, request, &GrpcOptions::default()).await
}

/// [`grpc_export_traces`] with options (gzip, metadata, deadline).
pub async fn grpc_export_traces_with(
    endpoint: &str,
    request: ExportTraceServiceRequest,
    options: &GrpcOptions,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let mut client = TraceServiceClient::new(grpc_channel(endpoint, options).await?)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    if options.gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    Ok(client
        .export(grpc_request(request, options)?)
        .await?
        .into_inner())
}

/// Exports metrics over OTLP/gRPC to `endpoint`. Connection failures come back as
/// `Unavailable`.
pub async fn grpc_export_metrics(
    endpoint: &str,
    request: ExportMetricsServiceRequest,
) -> Result<ExportMetricsServiceResponse, tonic::Status> {
    grpc_export_metrics_with(endpoint, request, &GrpcOptions::default()).await
}

/// [`grpc_export_metrics`] with options (gzip, metadata, deadline).
pub async fn grpc_export_metrics_with(
    endpoint: &str,
    request: ExportMetricsServiceRequest,
    options: &GrpcOptions,
) -> Result<ExportMetricsServiceResponse, tonic::Status> {
    let mut client = MetricsServiceClient::new(grpc_channel(endpoint, options).await?)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    if options.gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    Ok(client
        .export(grpc_request(request, options)?)
        .await?
        .into_inner())
}

/// Exports logs over OTLP/gRPC to `endpoint`. Connection failures come back as `Unavailable`.
pub async fn grpc_export_logs(
    endpoint: &str,
    request: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse, tonic::Status> {
    grpc_export_logs_with(endpoint, request, &GrpcOptions::default()).await
}

/// [`grpc_export_logs`] with options (gzip, metadata, deadline).
pub async fn grpc_export_logs_with(
    endpoint: &str,
    request: ExportLogsServiceRequest,
    options: &GrpcOptions,
) -> Result<ExportLogsServiceResponse, tonic::Status> {
    let mut client = LogsServiceClient::new(grpc_channel(endpoint, options).await?)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    if options.gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    Ok(client
        .export(grpc_request(request, options)?)
        .await?
        .into_inner())
}

/// A gateway on fresh ports with one in-test gRPC backend behind its `otlp` exporter.
pub struct Rig {
    /// The backend.
    pub backend: super::backends::FakeBackend,
    /// The gateway.
    pub gw: Gateway,
    /// Its OTLP/HTTP port.
    pub http: u16,
    /// Its admin port.
    pub admin: u16,
}

impl Rig {
    /// (backend, gateway, OTLP/HTTP port, admin port).
    pub fn into_parts(self) -> (super::backends::FakeBackend, Gateway, u16, u16) {
        (self.backend, self.gw, self.http, self.admin)
    }

    /// `http://127.0.0.1:<http port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }
}

/// The config of a [`Rig`]: an OTLP/HTTP receiver (`receiver`: more YAML under `receivers:
/// otlp:`, indented by 4, e.g. `auth:`), `sections` (top-level YAML such as `processors:` and
/// `connectors:`), the `otlp` exporter to `backend`, the admin listener and `pipelines` (the body
/// of `service: pipelines:`, indented by 4).
pub fn rig_config(
    http: u16,
    admin: u16,
    backend: &str,
    receiver: &str,
    sections: &str,
    pipelines: &str,
) -> String {
    format!(
        r#"receivers:
  otlp:
{receiver}
    protocols: {{ http: {{ endpoint: "127.0.0.1:{http}", max_request_body_size: 16MiB }} }}
{sections}
exporters:
  otlp: {{ endpoint: "{backend}" }}
service:
  shutdown_timeout: 5s
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
{pipelines}
"#
    )
}

/// Starts a [`Rig`] (see [`rig_config`]).
pub async fn rig(receiver: &str, sections: &str, pipelines: &str) -> Rig {
    let backend = super::backends::FakeBackend::grpc().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = rig_config(
        http,
        admin,
        &backend.endpoint(),
        receiver,
        sections,
        pipelines,
    );
    let gw = Gateway::start(&yaml, &[http, admin]).await;
    Rig {
        backend,
        gw,
        http,
        admin,
    }
}
