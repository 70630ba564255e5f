//! `codex-otel-gateway top` in a real terminal: tmux runs it against a gateway that
//! `loadgen send` keeps busy with a Codex session's logs; the captured screen must show the
//! receiver, the processors, the connector and the exporter with non-zero rates, redactions
//! per rule and the anomaly alerts, and `q` must end it (exit status 0, terminal restored).

use crate::support::backends::FakeBackend;
use crate::support::gateway::{free_port, Gateway, GATEWAY_BIN};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tmux server of its own (private socket), killed when dropped.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn new() -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is not installed: this test needs it (apt-get install -y tmux; CI does this \
             in .ci/run)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        Tmux {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    /// Polls the screen until `done` accepts it; panics with the last screen after `timeout`.
    fn wait_screen(&self, timeout: Duration, what: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < timeout,
                "waited {timeout:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `loadgen send` for `secs` seconds at 20 requests/s, killed when dropped.
struct Load(Child);

impl Load {
    fn start(http: u16, payload: &Path, secs: u64) -> Load {
        let child = Command::new(GATEWAY_BIN)
            .args(["loadgen", "send", "--endpoint"])
            .arg(format!("http://127.0.0.1:{http}"))
            .arg("--payload")
            .arg(payload)
            .args(["--connections", "2", "--rate", "20", "--duration"])
            .arg(format!("{secs}s"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start loadgen send");
        Load(child)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How many scrapes the header reports.
fn scrapes(screen: &str) -> u64 {
    screen
        .split("scrapes ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The numbers of the components-table line of `kind` `id` (`–` is left out).
fn rates(screen: &str, kind: &str, id: &str) -> Vec<f64> {
    let line = screen
        .lines()
        .map(|l| l.replace('│', " "))
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(2).any(|w| w[0] == kind && w[1] == id)
        })
        .unwrap_or_else(|| panic!("no {kind} {id} line on the screen:\n{screen}"));
    line.split_whitespace()
        .filter_map(|w| w.trim_end_matches(['k', 'M']).parse::<f64>().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_shows_every_component_with_live_rates_in_a_real_terminal_and_quits_on_q() {
    let tmux = Tmux::new();
    let backend = FakeBackend::http().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
  redaction: {{ preset: codex }}
  codex_anomaly: {{ skip_replayed: false, tool_failure_loop: {{ consecutive_failures: 5 }} }}
connectors:
  codex_usage: {{}}
exporters:
  otlphttp/backend:
    endpoint: "{}"
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs:
      receivers: [otlp]
      processors: [codex, redaction, codex_anomaly]
      exporters: [otlphttp/backend, codex_usage]
    metrics/usage:
      receivers: [codex_usage]
      exporters: [otlphttp/backend]
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // Secrets for the redaction rules, a failing tool loop for the alerts.
    let _secrets = Load::start(
        http,
        &fixtures.join("tool-secrets-protobuf/004_logs.pb"),
        60,
    );
    let _looping = Load::start(
        http,
        &fixtures.join("failing-tool-loop-protobuf/005_logs.pb"),
        60,
    );

    let command =
        format!("{GATEWAY_BIN} top --admin http://127.0.0.1:{admin}; echo TOP-EXITED=$?; sleep 60");
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "45",
        "sh",
        "-c",
        &command,
    ]);
    let screen = tmux.wait_screen(
        Duration::from_secs(30),
        "live rates of every component",
        |s| {
            scrapes(s) >= 3
                && [
                    "otlp",
                    "codex",
                    "redaction",
                    "codex_anomaly",
                    "codex_usage",
                    "otlphttp/backend",
                ]
                .iter()
                .all(|id| s.contains(id))
        },
    );
    // In and out of the receiver, out of a processor, in of the connector, out of the
    // exporter (its first number: it has no in).
    for (kind, id, column, what) in [
        ("receiver", "otlp", 0, "in"),
        ("receiver", "otlp", 1, "out"),
        ("processor", "redaction", 1, "out"),
        ("connector", "codex_usage", 0, "in"),
        ("exporter", "otlphttp/backend", 0, "out"),
    ] {
        let rate = rates(&screen, kind, id).get(column).copied();
        assert!(
            rate > Some(0.0),
            "{kind} {id} {what}/s is {rate:?}:\n{screen}"
        );
    }
    for needle in [
        "Redactions per rule",
        "github",
        "openai",
        "Anomaly alerts per kind",
        "tool_failure_loop",
        "QUEUE",
    ] {
        assert!(
            screen.contains(needle),
            "{needle:?} not on the screen:\n{screen}"
        );
    }

    tmux.run(&["send-keys", "-t", "top", "q"]);
    let after = tmux.wait_screen(Duration::from_secs(10), "top to exit on q", |s| {
        s.contains("TOP-EXITED=")
    });
    assert!(after.contains("TOP-EXITED=0"), "exit status:\n{after}");
    assert!(
        !after.contains("Components"),
        "the alternate screen was left (terminal restored):\n{after}"
    );
    drop(tmux);
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}
