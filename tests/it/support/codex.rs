//! Runs one real `codex exec` session (a pinned `@openai/codex` npm package) offline: the model
//! is a test-served endpoint (see [`super::mock_llm`]) and Codex's OpenTelemetry exporters point
//! at URLs the test chooses.
//!
//! Two Codex versions are pinned, as npm aliases in `tests/codex/package.json`
//! (`codex-0.169` → `@openai/codex@0.169.0`, `codex-0.171` → `@openai/codex@0.171.0`); install
//! them once with `npm ci --prefix tests/codex`. [`CodexVersion`] picks one; the end-to-end tests
//! run against each. `CODEX_BIN_0_169` / `CODEX_BIN_0_171` point a version at another
//! executable (or `codex.js`). Each [`CodexSession::run`] gets a fresh `CODEX_HOME` holding a
//! generated `config.toml` (a `mock` model provider plus the `[otel]` table, and an `auth.json`
//! when [`CodexSession::login`] is set) and a fresh git work tree whose `origin` is
//! `https://github.com/acme/payments-service.git`, and runs
//! `codex exec --strict-config --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox
//! PROMPT` with stdin closed, killing the whole process group after [`CodexSession::timeout`]
//! ([`SESSION_TIMEOUT`], 180 s, by default).
//!
//! The session is kept hermetic: `[features] plugins = false` stops Codex's start-up sync of its
//! plugin marketplace (a `git ls-remote https://github.com/openai/plugins.git`, the only
//! non-loopback traffic a session otherwise attempts), and `OTEL_*`, `CODEX_*`, `OPENAI_*`,
//! `RUST_LOG` and proxy variables are not passed on. Codex also `POST`s
//! `/v1/analytics/codex/turn-costs` to the model provider, which [`super::mock_llm`] answers
//! (see [`super::mock_llm::Script::turn_cost_usd`]).
//! A session against the mock model takes about 0.5–1.5 s; note that an OTLP endpoint that
//! accepts connections but never answers holds Codex's exit for about 30 s (exporter time-outs),
//! while a refused connection costs nothing.
//!
//! The `[otel]` shapes Codex 0.169.0 and 0.171.0 accept (checked with `--strict-config`):
//!
//! ```toml
//! [otel.exporter.otlp-http]          # also trace_exporter / metrics_exporter
//! endpoint = "http://127.0.0.1:4318/v1/logs"
//! protocol = "binary"                # or "json"
//!
//! [otel.exporter.otlp-grpc]          # also trace_exporter / metrics_exporter
//! endpoint = "http://127.0.0.1:4317" # no `protocol` key: strict config rejects it
//! ```

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long one session may run before its process group is killed.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(180);

/// The environment variable the generated `mock` provider reads its API key from.
pub const API_KEY_ENV: &str = "CODEX_GATEWAY_TEST_API_KEY";

/// The `origin` remote of the session's git work tree (Codex reports it in telemetry).
pub const WORK_DIR_REMOTE: &str = "https://github.com/acme/payments-service.git";

/// The model the generated config asks for.
pub const MODEL: &str = "gpt-5.1-codex";

/// A pinned Codex CLI version (an npm alias in `tests/codex/package.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodexVersion {
    /// `@openai/codex@0.169.0` (the version the fixtures in `tests/fixtures` come from).
    V0_169,
    /// `@openai/codex@0.171.0`.
    V0_171,
}

impl CodexVersion {
    /// Every pinned version, oldest first.
    pub const ALL: [CodexVersion; 2] = [CodexVersion::V0_169, CodexVersion::V0_171];

    /// The npm version, e.g. `0.171.0` (also what Codex reports as `app.version`).
    pub fn version(self) -> &'static str {
        match self {
            CodexVersion::V0_169 => "0.169.0",
            CodexVersion::V0_171 => "0.171.0",
        }
    }

    /// The npm alias it is installed under in `tests/codex/node_modules`.
    pub fn alias(self) -> &'static str {
        match self {
            CodexVersion::V0_169 => "codex-0.169",
            CodexVersion::V0_171 => "codex-0.171",
        }
    }

    /// The CLI to run: `$CODEX_BIN_0_169` / `$CODEX_BIN_0_171` if set, else
    /// `tests/codex/node_modules/<alias>/bin/codex.js`.
    ///
    /// # Panics
    /// If it does not exist.
    pub fn bin(self) -> PathBuf {
        let var = format!(
            "CODEX_BIN_{}",
            self.alias()["codex-".len()..].replace('.', "_")
        );
        let bin = match std::env::var_os(&var) {
            // Absolute, since the session runs in its own work dir.
            Some(path) if !path.is_empty() => {
                std::path::absolute(&path).unwrap_or_else(|_| path.into())
            }
            _ => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/codex/node_modules")
                .join(self.alias())
                .join("bin/codex.js"),
        };
        assert!(
            bin.exists(),
            "Codex CLI {} not installed: run `npm ci --prefix tests/codex` (looked for {})",
            self.version(),
            bin.display()
        );
        bin
    }
}

/// A command running the Codex CLI at `bin` (`node bin` for a `.js` entry point).
pub fn codex_command(bin: &Path) -> Command {
    if bin.extension().is_some_and(|e| e == "js") {
        let mut c = Command::new("node");
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// A fake ChatGPT login for `CODEX_HOME/auth.json`: Codex reads the e-mail and account id from
/// the (unverified) id token and then exports `user.email`, `user.account_id` and `auth_mode`.
/// Nothing is sent to OpenAI: the model provider stays the mock, and `last_refresh` is recent
/// enough that Codex does not try to refresh the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The account's e-mail (`user.email`).
    pub email: String,
    /// The ChatGPT account id (`user.account_id`).
    pub account_id: String,
}

impl Login {
    /// The `auth.json` Codex reads.
    pub fn auth_json(&self) -> String {
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let claims = serde_json::json!({
            "email": self.email,
            "email_verified": true,
            "exp": 4_102_444_800u64,
            "iat": 1_700_000_000u64,
            "sub": "user-test",
            "https://api.openai.com/auth": {
                "chatgpt_plan_type": "plus",
                "chatgpt_user_id": "user-test",
                "chatgpt_account_id": self.account_id,
                "user_id": "user-test",
            },
        });
        let jwt = format!(
            "{}.{}.sig",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        serde_json::json!({
            "OPENAI_API_KEY": null,
            "tokens": {
                "id_token": jwt,
                "access_token": jwt,
                "refresh_token": "rt-test",
                "account_id": self.account_id,
            },
            "last_refresh": rfc3339(now),
        })
        .to_string()
    }
}

/// `secs` since the epoch as RFC 3339 UTC (`2026-11-21T09:58:38Z`).
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How Codex exports its telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtelProtocol {
    /// OTLP/HTTP with protobuf bodies (`protocol = "binary"`).
    HttpBinary,
    /// OTLP/HTTP with JSON bodies (`protocol = "json"`).
    HttpJson,
    /// OTLP/gRPC (`otlp-grpc`).
    Grpc,
}

impl OtelProtocol {
    /// The three per-signal endpoints (logs, traces, metrics) for an OTLP server at `base`
    /// (`http://127.0.0.1:PORT`): `/v1/<signal>` appended for HTTP, `base` itself for gRPC.
    pub fn endpoints(self, base: &str) -> [String; 3] {
        let base = base.trim_end_matches('/');
        match self {
            Self::Grpc => [base.to_owned(), base.to_owned(), base.to_owned()],
            Self::HttpBinary | Self::HttpJson => {
                ["logs", "traces", "metrics"].map(|signal| format!("{base}/v1/{signal}"))
            }
        }
    }
}

/// One `codex exec` session to run.
#[derive(Clone, Debug)]
pub struct CodexSession {
    /// Which pinned Codex CLI runs the session.
    pub version: CodexVersion,
    /// Log Codex in with a fake ChatGPT account (see [`Login`]); `None`: the API key of the
    /// `mock` provider only, as before.
    pub login: Option<Login>,
    /// Another Codex CLI to run instead of `version`'s (e.g. an unpinned release under test).
    pub bin: Option<PathBuf>,
    /// The prompt given to `codex exec`.
    pub prompt: String,
    /// The model provider's base URL, e.g. [`super::mock_llm::MockLlm::base_url`].
    pub model_base_url: String,
    /// The exporters' protocol.
    pub protocol: OtelProtocol,
    /// Logs exporter endpoint (`…/v1/logs` for HTTP, `http://127.0.0.1:PORT` for gRPC).
    pub logs_url: String,
    /// Trace exporter endpoint.
    pub traces_url: String,
    /// Metrics exporter endpoint.
    pub metrics_url: String,
    /// `otel.log_user_prompt`.
    pub log_user_prompt: bool,
    /// `otel.environment`.
    pub environment: String,
    /// Extra lines placed in the `[otel]` table (before its sub-tables), e.g. `log_sse_deltas = true`.
    pub extra_otel_toml: String,
    /// Extra environment variables for Codex (applied last, so they can override the defaults).
    pub extra_env: Vec<(String, String)>,
    /// How long the session may run before it is killed ([`SESSION_TIMEOUT`] by default).
    pub timeout: Duration,
    /// Files written into the work tree (untracked) before Codex starts.
    pub work_files: Vec<WorkTreeFile>,
}

/// A file of [`CodexSession::work_files`]: a path relative to the work tree, its content and
/// whether it is executable.
#[derive(Clone, Debug)]
pub struct WorkTreeFile {
    pub path: String,
    pub content: Vec<u8>,
    pub executable: bool,
}

impl CodexSession {
    /// A session of Codex `version` running `prompt` against the model at `model_base_url`,
    /// exporting with `protocol` to the OTLP server at `otlp_base` (`http://127.0.0.1:PORT`, see
    /// [`OtelProtocol::endpoints`]); `log_user_prompt` on, environment `prod`, not logged in.
    pub fn new(
        version: CodexVersion,
        prompt: &str,
        model_base_url: &str,
        protocol: OtelProtocol,
        otlp_base: &str,
    ) -> Self {
        let [logs_url, traces_url, metrics_url] = protocol.endpoints(otlp_base);
        Self {
            version,
            login: None,
            bin: None,
            prompt: prompt.to_owned(),
            model_base_url: model_base_url.to_owned(),
            protocol,
            logs_url,
            traces_url,
            metrics_url,
            log_user_prompt: true,
            environment: "prod".to_owned(),
            extra_otel_toml: String::new(),
            extra_env: Vec::new(),
            timeout: SESSION_TIMEOUT,
            work_files: Vec::new(),
        }
    }

    /// The generated `[otel]` table (with its exporter sub-tables).
    pub fn otel_toml(&self) -> String {
        let mut out = String::from("[otel]\n");
        writeln!(out, "environment = {}", toml_str(&self.environment)).unwrap();
        writeln!(out, "log_user_prompt = {}", self.log_user_prompt).unwrap();
        if !self.extra_otel_toml.trim().is_empty() {
            writeln!(out, "{}", self.extra_otel_toml.trim_end()).unwrap();
        }
        for (table, url) in [
            ("exporter", &self.logs_url),
            ("trace_exporter", &self.traces_url),
            ("metrics_exporter", &self.metrics_url),
        ] {
            match self.protocol {
                OtelProtocol::HttpBinary | OtelProtocol::HttpJson => {
                    let protocol = if self.protocol == OtelProtocol::HttpJson {
                        "json"
                    } else {
                        "binary"
                    };
                    write!(
                        out,
                        "\n[otel.{table}.otlp-http]\nendpoint = {}\nprotocol = \"{protocol}\"\n",
                        toml_str(url)
                    )
                    .unwrap();
                }
                OtelProtocol::Grpc => {
                    write!(
                        out,
                        "\n[otel.{table}.otlp-grpc]\nendpoint = {}\n",
                        toml_str(url)
                    )
                    .unwrap();
                }
            }
        }
        out
    }

    /// The whole `config.toml`, with `otel_block` (an `[otel]` table and its sub-tables) last.
    pub fn config_toml(&self, otel_block: &str) -> String {
        format!(
            "model = {model}\nmodel_provider = \"mock\"\n\n\
             [model_providers.mock]\nname = \"mock\"\nbase_url = {base}\n\
             wire_api = \"responses\"\nenv_key = \"{API_KEY_ENV}\"\n\n\
             [features]\nplugins = false\n\n{otel}\n",
            model = toml_str(MODEL),
            base = toml_str(&self.model_base_url),
            otel = otel_block.trim_end(),
        )
    }

    /// Runs the session with the generated `[otel]` table ([`Self::otel_toml`]).
    pub async fn run(&self) -> CodexRun {
        self.run_with_otel_toml(&self.otel_toml()).await
    }

    /// Runs the session with `otel_block` (e.g. the block the gateway prints) as the config's
    /// `[otel]` part instead of the generated one; `protocol`, the URLs, `log_user_prompt`,
    /// `environment` and `extra_otel_toml` are then unused.
    pub async fn run_with_otel_toml(&self, otel_block: &str) -> CodexRun {
        let bin = self.bin();
        let config = self.config_toml(otel_block);
        let session = self.clone();
        match tokio::task::spawn_blocking(move || session.run_blocking(&bin, config)).await {
            Ok(run) => run,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }

    /// The session's folders (config, `auth.json` when logged in, git work tree) and a hermetic
    /// command running the CLI in the work tree with `args`.
    fn prepare(&self, bin: &Path, config_toml: &str, args: &[&str]) -> (TempDir, TempDir, Command) {
        let codex_home = codex_home_dir();
        std::fs::write(codex_home.path().join("config.toml"), config_toml)
            .expect("write config.toml");
        if let Some(login) = &self.login {
            std::fs::write(codex_home.path().join("auth.json"), login.auth_json())
                .expect("write auth.json");
        }
        let work_dir = git_work_dir();
        write_work_files(work_dir.path(), &self.work_files);
        let mut command = codex_command(bin);
        command
            .args(args)
            .current_dir(work_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // Keep the session hermetic: nothing from the caller's environment may redirect Codex's
        // telemetry, model traffic or config.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let upper = key.to_ascii_uppercase();
            if upper.starts_with("OTEL_")
                || upper.starts_with("CODEX_")
                || upper.starts_with("OPENAI_")
                || matches!(
                    upper.as_str(),
                    "RUST_LOG" | "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY"
                )
            {
                command.env_remove(key.as_ref());
            }
        }
        command
            .env("CODEX_HOME", codex_home.path())
            .env(API_KEY_ENV, "sk-test-dummy")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        (codex_home, work_dir, command)
    }

    fn run_blocking(&self, bin: &Path, config_toml: String) -> CodexRun {
        let (codex_home, work_dir, mut command) = self.prepare(
            bin,
            &config_toml,
            &[
                "exec",
                "--strict-config",
                "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                &self.prompt,
            ],
        );
        command.stdin(Stdio::null());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start {}: {err}", bin.display()));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let (exit_status, timed_out) = wait_or_kill(&mut child, started, self.timeout);
        CodexRun {
            exit_status,
            timed_out,
            elapsed: started.elapsed(),
            stdout: read_drained(stdout),
            stderr: read_drained(stderr),
            config_toml,
            codex_home,
            work_dir,
        }
    }

    /// Runs the prompt as one turn of `codex app-server` (JSON-RPC over stdio: `initialize`,
    /// `thread/start`, `turn/start`) instead of `codex exec`, then keeps the server up until
    /// `done()` holds or `linger` has passed, then closes its stdin (it exits, exporting its
    /// telemetry). Unlike `codex exec`, a running app-server polls the model provider for turn
    /// costs (every 150 s) and exports `codex.turn.cost_microusd`. Approval requests are accepted.
    pub async fn run_app_server_turn(
        &self,
        linger: Duration,
        done: impl Fn() -> bool + Send + 'static,
    ) -> CodexRun {
        let bin = self.bin();
        let config = self.config_toml(&self.otel_toml());
        let session = self.clone();
        match tokio::task::spawn_blocking(move || {
            session.app_server_blocking(&bin, config, linger, &done)
        })
        .await
        {
            Ok(run) => run,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }

    fn app_server_blocking(
        &self,
        bin: &Path,
        config_toml: String,
        linger: Duration,
        done: &dyn Fn() -> bool,
    ) -> CodexRun {
        let (codex_home, work_dir, mut command) = self.prepare(bin, &config_toml, &["app-server"]);
        command.stdin(Stdio::piped());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start {}: {err}", bin.display()));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let mut rpc = AppServerClient::new(&mut child);
        let cwd = work_dir.path().to_string_lossy().into_owned();
        let turn = rpc.run_turn(&cwd, &self.prompt, self.timeout);
        let linger_until = Instant::now() + linger;
        while turn.is_ok() && Instant::now() < linger_until && !done() {
            if !rpc.pump(Duration::from_millis(200)) {
                break;
            }
        }
        let transcript = rpc.close();
        let (exit_status, timed_out) =
            wait_or_kill(&mut child, Instant::now(), Duration::from_secs(60));
        CodexRun {
            exit_status,
            timed_out: timed_out || turn.is_err(),
            elapsed: started.elapsed(),
            stdout: match turn {
                Ok(()) => transcript,
                Err(e) => format!("{e}\n{transcript}"),
            },
            stderr: read_drained(stderr),
            config_toml,
            codex_home,
            work_dir,
        }
    }

    /// The CLI this session runs: [`CodexSession::bin`] if set, else its version's.
    fn bin(&self) -> PathBuf {
        self.bin.clone().unwrap_or_else(|| self.version.bin())
    }
}

/// A minimal JSON-RPC client of `codex app-server` over the child's stdin/stdout.
struct AppServerClient {
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    transcript: String,
    next_id: u64,
}

impl AppServerClient {
    fn new(child: &mut std::process::Child) -> Self {
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        AppServerClient {
            stdin: child.stdin.take(),
            lines,
            transcript: String::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, msg: &serde_json::Value) {
        use std::io::Write;
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{msg}");
            let _ = stdin.flush();
        }
    }

    fn request(
        &mut self,
        method: &str,
        params: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&serde_json::json!({"id": id, "method": method, "params": params}));
        self.wait(timeout, |m| m["id"] == id && m.get("method").is_none())
            .map(|m| m["result"].clone())
            .map_err(|e| format!("{method}: {e}"))
    }

    /// Reads messages (answering server requests) until one satisfies `pred`.
    fn wait(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, String> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("timed out".into());
            }
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => return Err("timed out".into()),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the app-server stopped".into())
                }
            };
            self.transcript.push_str(&line);
            self.transcript.push('\n');
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(error) = msg.get("error") {
                return Err(format!("error answer: {error}"));
            }
            if msg.get("id").is_some() && msg.get("method").is_some() {
                // A request from the server (an approval): accept it.
                let id = msg["id"].clone();
                self.send(&serde_json::json!({"id": id, "result": {"decision": "accept"}}));
                continue;
            }
            if pred(&msg) {
                return Ok(msg);
            }
        }
    }

    fn run_turn(&mut self, cwd: &str, prompt: &str, timeout: Duration) -> Result<(), String> {
        let client =
            serde_json::json!({"clientInfo": {"name": "codex-otel-gateway-tests", "version": "0"}});
        self.request("initialize", client, timeout)?;
        self.send(&serde_json::json!({"method": "initialized"}));
        let thread = self.request(
            "thread/start",
            serde_json::json!({"cwd": cwd, "approvalPolicy": "never", "sandbox": "danger-full-access"}),
            timeout,
        )?;
        let thread_id = thread["thread"]["id"].clone();
        self.request(
            "turn/start",
            serde_json::json!({"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}),
            timeout,
        )?;
        self.wait(timeout, |m| m["method"] == "turn/completed")
            .map(|_| ())
    }

    /// Handles what arrives within `d`; `false` once the server closed its stdout.
    fn pump(&mut self, d: Duration) -> bool {
        !matches!(self.wait(d, |_| false), Err(e) if e.contains("stopped"))
    }

    /// Closes stdin (the server exits) and returns the transcript.
    fn close(mut self) -> String {
        self.stdin = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            self.transcript.push_str(&line);
            self.transcript.push('\n');
        }
        self.transcript
    }
}

/// Waits for `child` until `timeout` after `started`, then kills its process group.
fn wait_or_kill(
    child: &mut std::process::Child,
    started: Instant,
    timeout: Duration,
) -> (ExitStatus, bool) {
    loop {
        if let Some(status) = child.try_wait().expect("wait for codex") {
            return (status, false);
        }
        if started.elapsed() >= timeout {
            kill_process_group(child.id());
            let _ = child.kill();
            return (child.wait().expect("wait for killed codex"), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a [`drain`] thread read, waiting a few seconds at most: a leftover grandchild could keep
/// a pipe open.
fn read_drained(rx: mpsc::Receiver<Vec<u8>>) -> String {
    String::from_utf8_lossy(&rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default())
        .into_owned()
}

/// The outcome of one session. The folders live as long as this value.
#[derive(Debug)]
pub struct CodexRun {
    /// Codex's exit status.
    pub exit_status: ExitStatus,
    /// Whether the session was killed after [`CodexSession::timeout`].
    pub timed_out: bool,
    /// Wall time from start to exit.
    pub elapsed: Duration,
    /// Codex's standard output (the final assistant message).
    pub stdout: String,
    /// Codex's standard error (the session transcript).
    pub stderr: String,
    /// The `config.toml` the session ran with.
    pub config_toml: String,
    /// The session's `CODEX_HOME` (config, rollouts, Codex's own log).
    pub codex_home: TempDir,
    /// The session's git work tree.
    pub work_dir: TempDir,
}

impl CodexRun {
    /// Whether Codex exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_status.success() && !self.timed_out
    }

    /// Panics with the transcript unless Codex exited with status 0.
    #[track_caller]
    pub fn assert_success(&self) {
        assert!(
            self.success(),
            "codex exec failed ({}, timed out: {}, {:?})\n--- config.toml ---\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.exit_status,
            self.timed_out,
            self.elapsed,
            self.config_toml,
            self.stdout,
            self.stderr
        );
    }
}

/// A basic TOML string (JSON's escapes are valid TOML).
fn toml_str(value: &str) -> String {
    serde_json::to_string(value).expect("string serializes")
}

/// A fresh `CODEX_HOME`. Kept out of the system temp dir when possible: Codex refuses to set up
/// its helper-binary PATH aliases under `/tmp` and warns about it on every run.
pub fn codex_home_dir() -> TempDir {
    let builder = || {
        let mut builder = tempfile::Builder::new();
        builder.prefix("codex-home-");
        builder
    };
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(target_tmp)
        .ok()
        .and_then(|()| builder().tempdir_in(target_tmp).ok())
        .unwrap_or_else(|| builder().tempdir().expect("create CODEX_HOME"))
}

/// A fresh git work tree with one commit and `origin` = [`WORK_DIR_REMOTE`].
pub fn git_work_dir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("codex-work-")
        .tempdir()
        .expect("create work dir");
    std::fs::write(dir.path().join("README.md"), "demo\n").expect("write README.md");
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "user.email=dev@acme.test",
                "-c",
                "user.name=dev",
            ])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", WORK_DIR_REMOTE]);
    git(&["add", "README.md"]);
    git(&["commit", "-qm", "init"]);
    dir
}

/// Writes `files` under `dir`, creating folders, setting the executable bit where asked.
fn write_work_files(dir: &Path, files: &[WorkTreeFile]) {
    use std::os::unix::fs::PermissionsExt as _;
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create work tree folder");
        }
        std::fs::write(&path, &f.content)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        if f.executable {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod +x");
        }
    }
}

/// Reads `pipe` to its end on a thread; the receiver gets everything read.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// SIGKILLs the process group `pgid` (the session runs in its own group: the npm wrapper, the
/// native binary and the shells it spawns).
pub fn kill_process_group(pgid: u32) {
    let _ = Command::new("sh")
        .args(["-c", "kill -s KILL -- \"-$1\"", "sh", &pgid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
