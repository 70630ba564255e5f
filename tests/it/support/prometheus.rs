//! A real Prometheus server (the Debian package `prometheus`) for the tests that check what a
//! user would see in Prometheus: scraping the gateway's admin listener, or receiving the
//! `prometheusremotewrite` exporter's requests (`--web.enable-remote-write-receiver`).

use crate::support::gateway::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package `prometheus` puts the server (CI: `apt-get install -y prometheus`).
pub fn prometheus_binary() -> PathBuf {
    let candidates = std::iter::once(PathBuf::from("/usr/bin/prometheus")).chain(
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.join("prometheus")),
    );
    for path in candidates {
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "the Prometheus server is not installed (no /usr/bin/prometheus, none on PATH): this test \
         needs it. Install it with `apt-get install -y prometheus` (Debian/Ubuntu; CI does this \
         in .ci/run)"
    );
}

/// A Prometheus server killed when dropped; its output goes to a file for messages.
pub struct Prometheus {
    child: Child,
    /// The port of its web API on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with its data in `dir`, scraping `127.0.0.1:<port>` every second as job
    /// `gateway` when `scrape_port` is given, with `extra_args` (e.g.
    /// `--web.enable-remote-write-receiver`).
    pub fn start(dir: &Path, scrape_port: Option<u16>, extra_args: &[&str]) -> Prometheus {
        let binary = prometheus_binary();
        let config = dir.join("prometheus.yml");
        let mut yaml = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  \
                        evaluation_interval: 1s\n"
            .to_string();
        if let Some(port) = scrape_port {
            yaml.push_str(&format!(
                "scrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: \
                 ['127.0.0.1:{port}']\n"
            ));
        }
        std::fs::write(&config, yaml).expect("write prometheus.yml");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).expect("create prometheus.log");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Prometheus { child, port, log }
    }

    /// What Prometheus logged so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The instant-query result vector of `query`, or an error text (not up yet, bad answer).
    pub async fn query(&self, query: &str) -> Result<Vec<serde_json::Value>, String> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let body = client
            .get(&url)
            .query(&[("query", query)])
            .send()
            .await
            .map_err(|e| format!("{e:#}"))?
            .bytes()
            .await
            .map_err(|e| format!("{e:#}"))?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&body)))?;
        if answer["status"] != "success" {
            return Err(answer.to_string());
        }
        answer["data"]["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| answer.to_string())
    }

    /// Polls `query` until it returns exactly one series whose value is `want`; panics with
    /// the last answer and Prometheus' output after `timeout`.
    pub async fn wait_for_value(&mut self, query: &str, want: &str, timeout: Duration) {
        self.wait_for(query, timeout, |result| {
            result.len() == 1 && result[0]["value"][1] == want
        })
        .await;
    }

    /// Polls `query` until `done` accepts its result, which is returned; panics with the last
    /// answer and Prometheus' output after `timeout`.
    pub async fn wait_for(
        &mut self,
        query: &str,
        timeout: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.query(query).await;
            if let Ok(result) = &last {
                if done(result) {
                    return result.clone();
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Prometheus exited with {status}:\n{}", self.output());
            }
            if Instant::now() >= deadline {
                panic!(
                    "waited {timeout:?} for {query}; last answer: {last:?}\n\
                     --- prometheus output ---\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
