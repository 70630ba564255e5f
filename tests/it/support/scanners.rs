//! Two independent third-party secret scanners used as oracles of the privacy tests:
//! **secretlint** with `@secretlint/secretlint-rule-preset-recommend` (npm, pinned in
//! `tests/scanners/package-lock.json`, installed by `npm ci --prefix tests/scanners`) and
//! **detect-secrets** (PyPI, pinned in `scripts/python-tools.txt`, installed by
//! `scripts/python-tools` into the test venv).
//!
//! A [`ScanSet`] holds texts (one file each, `NNNNN.txt`, in a fresh folder under the system
//! temp dir so no `.gitignore` hides them); [`ScanSet::scan`] runs both scanners once over the
//! folder and returns their [`Finding`]s with the text and line they are on.
//!
//! Both run with their recommended rules. Two settings teach them what the gateway's mask looks
//! like, nothing more: secretlint's connection-string rule accepts a URL whose password is
//! exactly a mask token (`user:[REDACTED:rule]@host`, as it accepts `{password}`), and
//! detect-secrets drops a finding whose secret *is* a mask token (`--exclude-secrets`).
//! detect-secrets always runs with `--no-verify` (no network).
//!
//! Tools: `$SECRETLINT` or `tests/scanners/node_modules/.bin/secretlint`; `$DETECT_SECRETS` or
//! `detect-secrets` of the venv (`$CODEX_OTEL_GATEWAY_VENV`, default
//! `${XDG_CACHE_HOME:-~/.cache}/codex-otel-gateway/venv`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A gateway mask token, as the scanners are told to accept it.
pub const MASK_TOKEN_REGEX: &str = r"\[REDACTED(?::[^\]\s]{1,64})?\]";

/// Which scanner found something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scanner {
    Secretlint,
    DetectSecrets,
}

impl Scanner {
    pub fn name(self) -> &'static str {
        match self {
            Scanner::Secretlint => "secretlint",
            Scanner::DetectSecrets => "detect-secrets",
        }
    }
}

/// One finding.
#[derive(Clone, Debug)]
pub struct Finding {
    pub scanner: Scanner,
    /// secretlint `ruleId/messageId`, detect-secrets `type`.
    pub rule: String,
    /// Index of the text in its [`ScanSet`].
    pub text: usize,
    /// 1-based line within the text.
    pub line: usize,
    /// What identifies the flagged secret across texts: the matched text (secretlint) or the
    /// SHA-1 detect-secrets reports.
    pub identity: String,
}

/// Texts to scan, one file each.
pub struct ScanSet {
    dir: tempfile::TempDir,
    texts: Vec<String>,
}

impl Default for ScanSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ScanSet {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("privacy-scan-")
            .tempdir_in(std::env::temp_dir())
            .expect("scan dir");
        Self {
            dir,
            texts: Vec::new(),
        }
    }

    /// Adds a text; returns its index.
    pub fn add(&mut self, text: &str) -> usize {
        let i = self.texts.len();
        std::fs::write(self.dir.path().join(file_name(i)), text).expect("write scan file");
        self.texts.push(text.to_owned());
        i
    }

    pub fn text(&self, i: usize) -> &str {
        &self.texts[i]
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Runs both scanners (at once); returns the findings and how long each scanner took.
    pub fn scan(&self) -> (Vec<Finding>, String) {
        let (mut out, timing) = std::thread::scope(|scope| {
            let timed = |f: fn(&ScanSet) -> Vec<Finding>| {
                let started = std::time::Instant::now();
                let found = f(self);
                (found, started.elapsed().as_secs_f64())
            };
            let sl = scope.spawn(move || timed(secretlint));
            let (ds, ds_secs) = timed(detect_secrets);
            let (sl, sl_secs) = sl.join().expect("secretlint thread");
            (
                [sl, ds].concat(),
                format!("secretlint {sl_secs:.1} s, detect-secrets {ds_secs:.1} s"),
            )
        });
        out.sort_by_key(|f| (f.text, f.line));
        (out, timing)
    }
}

fn file_name(i: usize) -> String {
    format!("{i:05}.txt")
}

fn index_of(path: &str) -> Option<usize> {
    Path::new(path).file_stem()?.to_str()?.parse().ok()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The secretlint binary; panics with how to install it.
pub fn secretlint_bin() -> PathBuf {
    let bin = std::env::var_os("SECRETLINT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/scanners/node_modules/.bin/secretlint"));
    assert!(
        bin.exists(),
        "secretlint not installed: run `npm ci --prefix tests/scanners` (or scripts/test); looked for {}",
        bin.display()
    );
    bin
}

/// The detect-secrets binary; panics with how to install it.
pub fn detect_secrets_bin() -> PathBuf {
    let bin = std::env::var_os("DETECT_SECRETS")
        .map(PathBuf::from)
        .or_else(|| {
            let venv = std::env::var_os("CODEX_OTEL_GATEWAY_VENV")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"))
                        })
                        .map(|c| c.join("codex-otel-gateway/venv"))
                })?;
            Some(venv.join("bin/detect-secrets"))
        })
        .unwrap_or_else(|| PathBuf::from("detect-secrets"));
    assert!(
        bin.exists(),
        "detect-secrets not installed: run scripts/python-tools (or scripts/test), or set DETECT_SECRETS; looked for {}",
        bin.display()
    );
    bin
}

/// `secretlint --version` and `detect-secrets --version`, for reports.
pub fn versions() -> String {
    let v = |bin: PathBuf| {
        Command::new(&bin)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|e| format!("({e})"))
    };
    let preset = std::fs::read_to_string(repo().join(
        "tests/scanners/node_modules/@secretlint/secretlint-rule-preset-recommend/package.json",
    ))
    .ok()
    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    .and_then(|v| v["version"].as_str().map(str::to_owned))
    .unwrap_or_default();
    format!(
        "secretlint {} (preset-recommend {preset}), detect-secrets {}",
        v(secretlint_bin()),
        v(detect_secrets_bin())
    )
}

fn secretlint(set: &ScanSet) -> Vec<Finding> {
    let rc = repo().join("tests/scanners/secretlintrc.json");
    // Written to a file: node cuts a piped stdout at 64 KiB when it exits.
    let report = set.dir.path().join("secretlint-report.json");
    let output = Command::new(secretlint_bin())
        .args(["--format", "json", "--no-color", "--secretlintrc"])
        .arg(&rc)
        .arg("--output")
        .arg(&report)
        .arg("*.txt")
        .current_dir(set.dir.path())
        .output()
        .expect("run secretlint");
    // Exit 1 means "found something"; anything else but 0 is a failure of the tool.
    let code = output.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "secretlint failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json = std::fs::read(&report).unwrap_or_default();
    let results: Value = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "secretlint wrote no JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut out = Vec::new();
    for file in results.as_array().into_iter().flatten() {
        let Some(i) = file["filePath"].as_str().and_then(index_of) else {
            continue;
        };
        for m in file["messages"].as_array().into_iter().flatten() {
            let text = set.text(i);
            let (start, end) = (
                m["range"][0].as_u64().unwrap_or(0) as usize,
                m["range"][1].as_u64().unwrap_or(0) as usize,
            );
            // Ranges are UTF-16 offsets in JS; our texts are almost always ASCII.
            let matched = text
                .get(start.min(text.len())..end.min(text.len()))
                .unwrap_or("")
                .to_owned();
            out.push(Finding {
                scanner: Scanner::Secretlint,
                rule: format!(
                    "{}/{}",
                    m["ruleId"]
                        .as_str()
                        .unwrap_or("?")
                        .trim_start_matches("@secretlint/secretlint-rule-"),
                    m["messageId"].as_str().unwrap_or("?")
                ),
                text: i,
                line: m["loc"]["start"]["line"].as_u64().unwrap_or(0) as usize,
                identity: matched,
            });
        }
    }
    out
}

fn detect_secrets(set: &ScanSet) -> Vec<Finding> {
    let output = Command::new(detect_secrets_bin())
        .args(["scan", "--all-files", "--no-verify", "--exclude-secrets"])
        .arg(format!("^{MASK_TOKEN_REGEX}$"))
        .arg(".")
        .current_dir(set.dir.path())
        .output()
        .expect("run detect-secrets");
    assert!(
        output.status.success(),
        "detect-secrets failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let baseline: Value = serde_json::from_slice(&output.stdout).expect("detect-secrets JSON");
    let mut out = Vec::new();
    let results = baseline["results"].as_object().cloned().unwrap_or_default();
    let results: BTreeMap<_, _> = results.into_iter().collect();
    for (path, items) in results {
        let Some(i) = index_of(&path) else { continue };
        for r in items.as_array().into_iter().flatten() {
            out.push(Finding {
                scanner: Scanner::DetectSecrets,
                rule: r["type"].as_str().unwrap_or("?").to_owned(),
                text: i,
                line: r["line_number"].as_u64().unwrap_or(0) as usize,
                identity: r["hashed_secret"].as_str().unwrap_or("").to_owned(),
            });
        }
    }
    out
}
