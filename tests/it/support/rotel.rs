//! Runs rotel (<https://pypi.org/project/rotel/>), a third-party OpenTelemetry collector written
//! in Rust, as a real OTLP receiver for interop tests.
//!
//! [`rotel_agent`] finds the `rotel-agent` binary that the `rotel` PyPI package ships inside the
//! package directory: `$ROTEL_AGENT` if set, else asks `python3` (and the venv `.ci/run`
//! creates) where `rotel` is installed. [`Rotel::start`] runs
//! `rotel-agent start` with OTLP/gRPC and OTLP/HTTP receivers on 127.0.0.1 and its `otlp`
//! exporter (gRPC) pointed at a given endpoint, and waits until both ports accept connections.
//! Dropping a [`Rotel`] kills the process; when a test panics, rotel's output is printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway::free_port;

/// How long [`Rotel::start`] waits for rotel's listeners.
pub const ROTEL_START_TIMEOUT: Duration = Duration::from_secs(20);

/// The venv `.ci/run` installs rotel into (`$XDG_CACHE_HOME` or `~/.cache`).
fn ci_venv_python() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("codex-otel-gateway/venv/bin/python3"))
}

/// `<rotel package dir>/rotel-agent` as `python` sees it, if installed and executable.
fn agent_from_python(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, rotel; print(os.path.dirname(rotel.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let agent = PathBuf::from(dir).join("rotel-agent");
    agent.is_file().then_some(agent)
}

/// The `rotel-agent` binary: `$ROTEL_AGENT`, else the one in the `rotel` package that
/// `python3` (or the CI venv's python) imports. `Err` says how to install it.
pub fn rotel_agent() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ROTEL_AGENT") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("ROTEL_AGENT={} is not a file", path.display()))
        };
    }
    let mut pythons = vec![PathBuf::from("python3")];
    pythons.extend(ci_venv_python());
    for python in &pythons {
        if let Some(agent) = agent_from_python(python) {
            return Ok(agent);
        }
    }
    Err(format!(
        "rotel-agent not found (tried $ROTEL_AGENT and the `rotel` package of {}); install it \
         with `pip install rotel` (or run .ci/run, which installs it into a venv)",
        pythons
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// A running `rotel-agent start` process.
pub struct Rotel {
    child: Child,
    /// Holds rotel's pid file and captured output.
    dir: tempfile::TempDir,
    /// OTLP/gRPC receiver port on 127.0.0.1.
    pub grpc_port: u16,
    /// OTLP/HTTP receiver port on 127.0.0.1.
    pub http_port: u16,
}

impl Rotel {
    /// Starts `agent` receiving OTLP on two free ports and exporting everything over OTLP/gRPC
    /// to `exporter_endpoint` (`http://127.0.0.1:PORT`). Waits until both receivers accept
    /// connections; panics with rotel's output if it exits or [`ROTEL_START_TIMEOUT`] passes.
    pub async fn start(agent: &Path, exporter_endpoint: &str) -> Rotel {
        let dir = tempfile::Builder::new()
            .prefix("rotel-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let (grpc_port, http_port) = (free_port(), free_port());
        let stdout = std::fs::File::create(dir.path().join("stdout.log"))
            .unwrap_or_else(|e| panic!("cannot create rotel's stdout file: {e}"));
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))
            .unwrap_or_else(|e| panic!("cannot create rotel's stderr file: {e}"));
        let child = Command::new(agent)
            .arg("start")
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{grpc_port}"))
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--exporter")
            .arg("otlp")
            .arg("--otlp-exporter-endpoint")
            .arg(exporter_endpoint)
            .arg("--otlp-exporter-protocol")
            .arg("grpc")
            // Defaults are files in /tmp shared by every rotel on the machine.
            .arg("--pid-file")
            .arg(dir.path().join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel.log"))
            // Flush small batches quickly so the test does not wait on rotel's timer.
            .arg("--batch-timeout")
            .arg("100ms")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", agent.display()));
        let mut rotel = Rotel {
            child,
            dir,
            grpc_port,
            http_port,
        };
        rotel.wait_ready().await;
        rotel
    }

    async fn wait_ready(&mut self) {
        let started = Instant::now();
        let mut pending = vec![self.grpc_port, self.http_port];
        while !pending.is_empty() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rotel-agent exited with {status} before listening on {pending:?}\n{}",
                    self.output()
                );
            }
            let mut still = Vec::new();
            for port in pending {
                let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
                match tokio::time::timeout(Duration::from_millis(500), connect).await {
                    Ok(Ok(_)) => {}
                    _ => still.push(port),
                }
            }
            pending = still;
            if !pending.is_empty() && started.elapsed() > ROTEL_START_TIMEOUT {
                panic!(
                    "rotel-agent did not listen on {pending:?} within {ROTEL_START_TIMEOUT:?}\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `http://127.0.0.1:<grpc port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// `http://127.0.0.1:<http port>`.
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// rotel's stdout and stderr so far.
    pub fn output(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- rotel stdout ---\n{}--- rotel stderr ---\n{}",
            read("stdout.log"),
            read("stderr.log")
        )
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
    }
}
