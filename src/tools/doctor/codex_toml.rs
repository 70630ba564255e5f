//! `doctor`, first group: the Codex CLI's `config.toml` `[otel]` table, read leniently (any Codex
//! version's extra keys are fine) and held against the gateway's `otlp` receiver. The shape
//! (Codex 0.169.0 and 0.171.0, checked with `codex exec --strict-config`):
//!
//! ```toml
//! [otel]
//! environment = "prod"            # default "dev"
//! log_user_prompt = false         # default false
//! [otel.exporter.otlp-http]       # logs; also trace_exporter, metrics_exporter
//! endpoint = "http://127.0.0.1:4318/v1/logs"   # posted to as is: no /v1/logs appended
//! protocol = "binary"             # or "json"; required
//! headers = { authorization = "Bearer ..." }   # sent as written, no ${VAR} expansion
//! [otel.trace_exporter.otlp-grpc] # no `protocol` key
//! endpoint = "http://127.0.0.1:4317"
//! ```
//!
//! An exporter may also be `"none"` (the default of `exporter` and `trace_exporter`) or
//! `"statsig"` (the default of `metrics_exporter`: Codex's metrics go to OpenAI).

use super::Check;
use crate::config::model::GatewayConfig;
use crate::receivers::otlp::config::OtlpReceiverConfig;
use crate::tools::codex_config::{pick_receiver, split_host_port};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The three exporter tables of `[otel]`: key, signal, the path the OTLP spec gives it.
const TABLES: [(&str, &str, &str); 3] = [
    ("exporter", "logs", "/v1/logs"),
    ("trace_exporter", "traces", "/v1/traces"),
    ("metrics_exporter", "metrics", "/v1/metrics"),
];

/// Largest `config.toml` read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

/// What the gateway's receiver serves, as Codex must address it.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The receiver's id.
    pub receiver: String,
    /// OTLP/HTTP: port, TLS, and the logs, traces, metrics paths.
    pub http: Option<(u16, bool, [String; 3])>,
    /// OTLP/gRPC: port, TLS.
    pub grpc: Option<(u16, bool)>,
    /// Accepted `Authorization` schemes (`Bearer`, `Basic`); empty: no auth.
    pub schemes: Vec<&'static str>,
}

impl Expect {
    /// From the receiver Codex would point at (the only `otlp` receiver, or the one feeding a
    /// pipeline); `Err` says why none could be chosen.
    pub fn from_config(cfg: &GatewayConfig) -> Result<Self, String> {
        let (id, r) = pick_receiver(cfg, None).map_err(|e| e.to_string())?;
        Ok(Self::from_receiver(id, r))
    }

    fn from_receiver(id: &str, r: &OtlpReceiverConfig) -> Self {
        let http = r.protocols.http.as_ref().and_then(|h| {
            let (_, port) = split_host_port(&h.endpoint)?;
            let path = |p: &str| {
                if p.starts_with('/') {
                    p.to_string()
                } else {
                    format!("/{p}")
                }
            };
            Some((
                port,
                h.tls.is_some(),
                [
                    path(&h.logs_url_path),
                    path(&h.traces_url_path),
                    path(&h.metrics_url_path),
                ],
            ))
        });
        let grpc = r.protocols.grpc.as_ref().and_then(|g| {
            let (_, port) = split_host_port(&g.endpoint)?;
            Some((port, g.tls.is_some()))
        });
        let mut schemes = Vec::new();
        if let Some(a) = &r.auth {
            if !a.bearer_tokens.is_empty() {
                schemes.push("Bearer");
            }
            if !a.basic.is_empty() {
                schemes.push("Basic");
            }
        }
        Expect {
            receiver: id.to_string(),
            http,
            grpc,
            schemes,
        }
    }
}

/// Reads the Codex config (`path`, or the default location) and checks it against `cfg`.
pub fn check_file(
    cfg: &GatewayConfig,
    path: Option<&Path>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<Check> {
    let (path, named) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path(lookup) {
            Some(p) => (p, false),
            None => {
                return vec![Check::warn(
                    "codex config",
                    "neither CODEX_HOME nor HOME is set, so the Codex config cannot be found",
                    "pass --codex-config PATH",
                )]
            }
        },
    };
    let subject = format!("codex {}", path.display());
    let text = match read_bounded(&path) {
        Ok(t) => t,
        Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Check::warn(
                subject,
                "not found: Codex on this machine exports no telemetry",
                "run codex-otel-gateway codex-config and add its block to this file, or pass \
                 --codex-config PATH",
            )]
        }
        Err(e) => {
            return vec![Check::fail(
                subject,
                format!("cannot read: {e}"),
                "pass --codex-config with the file Codex uses ($CODEX_HOME/config.toml)",
            )]
        }
    };
    let mut out = Vec::new();
    let expect = match Expect::from_config(cfg) {
        Ok(e) => Some(e),
        Err(e) => {
            out.push(Check::warn(
                "codex config",
                format!("URLs are checked for form only: {e}"),
                "",
            ));
            None
        }
    };
    out.extend(check_text(&text, expect.as_ref(), lookup));
    out
}

fn default_path(lookup: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |k: &str| lookup(k).filter(|v| !v.is_empty());
    if let Some(home) = nonempty("CODEX_HOME") {
        return Some(PathBuf::from(home).join("config.toml"));
    }
    nonempty("HOME").map(|h| PathBuf::from(h).join(".codex").join("config.toml"))
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Checks the text of a `config.toml`; `expect` is the receiver Codex should reach.
pub fn check_text(
    text: &str,
    expect: Option<&Expect>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<Check> {
    let root: Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            return vec![Check::fail(
                "codex config",
                format!("not valid TOML: {}", e.to_string().replace('\n', " ")),
                "fix the syntax; Codex refuses to start with it",
            )]
        }
    };
    let Some(otel) = root.get("otel").and_then(Value::as_table) else {
        return vec![Check::fail(
            "codex [otel]",
            "missing: Codex exports no logs or traces, and its metrics go to OpenAI (statsig)",
            "add the block `codex-otel-gateway codex-config` prints",
        )];
    };
    let mut out = Vec::new();
    match otel.get("log_user_prompt").and_then(Value::as_bool) {
        Some(true) => out.push(Check::warn(
            "codex [otel] log_user_prompt",
            "true: every prompt leaves the machine in the codex.user_prompt log record",
            "set log_user_prompt = false, or keep a redaction processor in every logs pipeline",
        )),
        _ => out.push(Check::ok(
            "codex [otel] log_user_prompt",
            "false: prompts are not exported",
        )),
    }
    match otel.get("environment").and_then(Value::as_str) {
        Some(env) if !env.trim().is_empty() => {
            out.push(Check::ok("codex [otel] environment", format!("{env:?}")))
        }
        _ => out.push(Check::warn(
            "codex [otel] environment",
            "not set: everything is tagged env=dev",
            "set environment = \"prod\" (or your stage) under [otel]",
        )),
    }
    let env_headers = lookup("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default();
    for (index, (key, signal, spec_path)) in TABLES.into_iter().enumerate() {
        let ctx = Ctx {
            subject: format!("codex [otel.{key}]"),
            signal,
            index,
            spec_path,
            expect,
            env_headers: &env_headers,
        };
        ctx.exporter(otel.get(key), &mut out);
    }
    out
}

/// One exporter table being checked.
struct Ctx<'a> {
    subject: String,
    signal: &'static str,
    index: usize,
    spec_path: &'static str,
    expect: Option<&'a Expect>,
    env_headers: &'a str,
}

impl Ctx<'_> {
    fn exporter(&self, value: Option<&Value>, out: &mut Vec<Check>) {
        let default = if self.signal == "metrics" {
            "statsig"
        } else {
            "none"
        };
        let kind = match value {
            None => default.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Table(t)) if t.len() == 1 => {
                let Some((kind, Value::Table(body))) = t.iter().next() else {
                    return out.push(self.fail("not an exporter table", self.fix_block()));
                };
                return match kind.as_str() {
                    "otlp-http" => self.otlp(body, true, out),
                    "otlp-grpc" => self.otlp(body, false, out),
                    other => out.push(self.fail(
                        format!("unknown exporter kind {other:?}"),
                        "use otlp-http or otlp-grpc",
                    )),
                };
            }
            Some(_) => return out.push(self.fail("not an exporter table", self.fix_block())),
        };
        let why = match kind.as_str() {
            "none" => format!(
                "{} (unset or \"none\"): Codex exports no {}",
                kind, self.signal
            ),
            "statsig" => format!(
                "statsig{}: Codex's {} go to OpenAI, not to the gateway",
                if value.is_none() {
                    " (the default)"
                } else {
                    ""
                },
                self.signal
            ),
            other => format!("{other:?} is not an exporter"),
        };
        out.push(self.fail(why, self.fix_block()));
    }

    fn fix_block(&self) -> String {
        format!(
            "add [otel.{}.otlp-http] with the endpoint `codex-otel-gateway codex-config` prints",
            self.subject
                .trim_start_matches("codex [otel.")
                .trim_end_matches(']')
        )
    }

    fn fail(&self, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::fail(self.subject.clone(), message, fix)
    }

    fn otlp(&self, body: &Table, http: bool, out: &mut Vec<Check>) {
        let before = out.len();
        match body.get("endpoint").and_then(Value::as_str) {
            Some(url) => self.endpoint(url, http, out),
            None => out.push(self.fail("no endpoint", self.fix_block())),
        }
        self.protocol(body.get("protocol"), http, out);
        if let Some(headers) = body.get("headers") {
            self.headers(headers, out);
        }
        self.auth_present(body.get("headers"), out);
        if let Some(tls) = body.get("tls").and_then(Value::as_table) {
            self.tls(tls, out);
        }
        for key in body.keys() {
            if !matches!(key.as_str(), "endpoint" | "protocol" | "headers" | "tls") {
                out.push(self.fail(
                    format!("unknown key {key:?}: Codex with --strict-config refuses to start"),
                    "remove it",
                ));
            }
        }
        if out[before..].iter().all(|c| c.level == super::Level::Ok) {
            out.truncate(before);
            let url = body.get("endpoint").and_then(Value::as_str).unwrap_or("");
            out.push(Check::ok(
                self.subject.clone(),
                format!(
                    "{} {url} ({})",
                    if http { "otlp-http" } else { "otlp-grpc" },
                    self.signal
                ),
            ));
        }
    }

    fn endpoint(&self, text: &str, http: bool, out: &mut Vec<Check>) {
        let url = match reqwest::Url::parse(text.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
            _ => {
                return out.push(self.fail(
                    format!("endpoint {text:?} is not an http:// or https:// URL"),
                    self.fix_block(),
                ))
            }
        };
        let expect = self.expect.and_then(|e| {
            if http {
                e.http.as_ref().map(|(p, t, paths)| (*p, *t, Some(paths)))
            } else {
                e.grpc.map(|(p, t)| (p, t, None))
            }
        });
        if let (Some(e), None) = (self.expect, expect) {
            out.push(self.fail(
                format!(
                    "the gateway's receiver {} does not serve OTLP/{}",
                    e.receiver,
                    if http { "HTTP" } else { "gRPC" }
                ),
                format!(
                    "use otlp-{} or enable protocols.{} on the receiver",
                    if http { "grpc" } else { "http" },
                    if http { "http" } else { "grpc" }
                ),
            ));
        }
        if http {
            self.http_path(&url, expect.and_then(|e| e.2), out);
        } else if !matches!(url.path(), "" | "/") {
            out.push(Check::warn(
                self.subject.clone(),
                format!("path {} on a gRPC endpoint is ignored", url.path()),
                "use http://host:port",
            ));
        }
        if let Some((port, tls, _)) = expect {
            if url.port_or_known_default() != Some(port) {
                out.push(Check::warn(
                    self.subject.clone(),
                    format!(
                        "port {} differs from the receiver's {port} (fine behind a proxy)",
                        url.port_or_known_default().unwrap_or(0)
                    ),
                    format!("use port {port}"),
                ));
            }
            match (tls, url.scheme()) {
                (true, "http") => out.push(self.fail(
                    "http:// but the receiver uses TLS",
                    "use https:// (and tls = { ca-certificate = ... } for a private CA)",
                )),
                (false, "https") => out
                    .push(self.fail("https:// but the receiver serves plain text", "use http://")),
                _ => {}
            }
        }
    }

    fn http_path(&self, url: &reqwest::Url, expected: Option<&[String; 3]>, out: &mut Vec<Check>) {
        let path = url.path();
        let want = expected
            .map(|p| p[self.index].clone())
            .unwrap_or_else(|| self.spec_path.to_string());
        if path == want {
            return;
        }
        let mut fixed = url.clone();
        fixed.set_path(&want);
        let fix = format!("endpoint = \"{fixed}\"");
        if matches!(path, "" | "/") {
            return out.push(self.fail(
                format!(
                    "endpoint {url} has no path: Codex posts to the URL as written and does not \
                     append {want}"
                ),
                fix,
            ));
        }
        let other = TABLES
            .iter()
            .enumerate()
            .find(|(i, t)| expected.map_or(t.2, |p| p[*i].as_str()) == path)
            .map(|(_, t)| t.1);
        let message = match other {
            Some(signal) => format!(
                "path {path} is the {signal} path, not the {} one",
                self.signal
            ),
            None => format!("path {path}: the gateway takes {} at {want}", self.signal),
        };
        out.push(self.fail(message, fix));
    }

    fn protocol(&self, value: Option<&Value>, http: bool, out: &mut Vec<Check>) {
        match (http, value) {
            (true, Some(Value::String(p))) if p == "binary" || p == "json" => {}
            (true, Some(v)) => out.push(self.fail(
                format!(
                    "protocol = {}: Codex takes \"binary\" or \"json\"",
                    v.as_str().map_or_else(|| format!("{v:?}"), |s| format!("{s:?}"))
                ),
                "protocol = \"binary\"",
            )),
            (true, None) => out.push(self.fail(
                "no protocol: Codex refuses an otlp-http exporter without one",
                "protocol = \"binary\"",
            )),
            (false, Some(_)) => out.push(self.fail(
                "protocol is not an otlp-grpc key: Codex with --strict-config refuses it",
                "remove protocol (or use otlp-http)",
            )),
            (false, None) => {}
        }
    }

    fn headers(&self, value: &Value, out: &mut Vec<Check>) {
        let Some(table) = value.as_table() else {
            return out.push(self.fail(
                "headers is not a table",
                "headers = { authorization = \"Bearer <token>\" }",
            ));
        };
        for (name, v) in table {
            let Some(v) = v.as_str() else {
                out.push(self.fail(format!("header {name} is not a string"), "quote it"));
                continue;
            };
            if let Some(problem) = header_problem(name, v, self.expect) {
                out.push(self.fail(format!("header {name}: {}", problem.0), problem.1));
            }
        }
    }

    /// A receiver with auth needs a credential from the file or the environment.
    fn auth_present(&self, headers: Option<&Value>, out: &mut Vec<Check>) {
        let Some(e) = self.expect.filter(|e| !e.schemes.is_empty()) else {
            return;
        };
        let in_file = headers
            .and_then(Value::as_table)
            .is_some_and(|t| t.keys().any(|k| k.eq_ignore_ascii_case("authorization")));
        let in_env = self
            .env_headers
            .split(',')
            .any(|kv| kv.trim().to_ascii_lowercase().starts_with("authorization="));
        if !in_file && !in_env {
            out.push(self.fail(
                format!(
                    "no authorization header, and the receiver {} requires {} auth",
                    e.receiver,
                    e.schemes.join(" or ")
                ),
                "codex-otel-gateway codex-config --auth-header-env NAME writes it, or export \
                 OTEL_EXPORTER_OTLP_HEADERS=\"authorization=Bearer%20<token>\" for Codex",
            ));
        }
    }

    fn tls(&self, tls: &Table, out: &mut Vec<Check>) {
        for key in ["ca-certificate", "client-certificate", "client-private-key"] {
            if let Some(p) = tls.get(key).and_then(Value::as_str) {
                if !Path::new(p).is_file() {
                    out.push(self.fail(
                        format!("tls.{key} {p:?} is not a readable file"),
                        "give the absolute path of the PEM file",
                    ));
                }
            }
        }
    }
}

/// What is wrong with one header value, and the fix.
fn header_problem(name: &str, value: &str, expect: Option<&Expect>) -> Option<(String, String)> {
    let v = value.trim();
    if v.len() >= 2
        && (v.starts_with('"') || v.starts_with('\''))
        && (v.ends_with('"') || v.ends_with('\''))
    {
        return Some((
            "the value carries its own quotes, which are sent as part of it".into(),
            format!("{name} = \"{}\"", v.trim_matches(['"', '\''])),
        ));
    }
    if v.contains("${") || v.contains("$(") {
        return Some((
            "Codex does not expand variables in headers: it sends the text literally".into(),
            "write the value itself (codex-config --auth-header-env NAME does), or put it in \
             OTEL_EXPORTER_OTLP_HEADERS"
                .into(),
        ));
    }
    if !name.eq_ignore_ascii_case("authorization") {
        return None;
    }
    let (scheme, credential) = v.split_once(' ').unwrap_or(("", v));
    let credential = credential.trim();
    let accepted = expect.map(|e| e.schemes.as_slice()).unwrap_or(&[]);
    let canonical = ["Bearer", "Basic"]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(scheme));
    let Some(scheme) = canonical else {
        return Some((
            "no Bearer or Basic scheme before the credential".into(),
            format!(
                "authorization = \"{} <credential>\"",
                accepted.first().unwrap_or(&"Bearer")
            ),
        ));
    };
    if !accepted.is_empty() && !accepted.contains(&scheme) {
        return Some((
            format!(
                "{scheme} credential, but the gateway expects {}",
                accepted.join(" or ")
            ),
            format!("authorization = \"{} <credential>\"", accepted[0]),
        ));
    }
    if credential.is_empty() {
        return Some((format!("{scheme} with no credential"), String::new()));
    }
    if scheme == "Basic" {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD.decode(credential);
        match decoded {
            Err(_) => {
                return Some((
                    "the Basic credential is not base64".into(),
                    "authorization = \"Basic <base64 of user:password>\" (echo -n user:pass | \
                     base64)"
                        .into(),
                ))
            }
            Ok(bytes) if !bytes.contains(&b':') => {
                return Some((
                    "the Basic credential decodes to no user:password pair".into(),
                    "base64-encode user:password, not the password alone".into(),
                ))
            }
            Ok(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::doctor::Level;

    fn expect_bearer() -> Expect {
        Expect {
            receiver: "otlp".into(),
            http: Some((
                4318,
                false,
                ["/v1/logs".into(), "/v1/traces".into(), "/v1/metrics".into()],
            )),
            grpc: Some((4317, false)),
            schemes: vec!["Bearer"],
        }
    }

    fn fails(checks: &[Check]) -> Vec<String> {
        checks
            .iter()
            .filter(|c| c.level == Level::Fail)
            .map(|c| format!("{}: {}", c.subject, c.message))
            .collect()
    }

    const GOOD: &str = r#"
[otel]
environment = "prod"
log_user_prompt = false
[otel.exporter.otlp-http]
endpoint = "http://127.0.0.1:4318/v1/logs"
protocol = "binary"
headers = { authorization = "Bearer abc" }
[otel.trace_exporter.otlp-grpc]
endpoint = "http://127.0.0.1:4317"
headers = { authorization = "Bearer abc" }
[otel.metrics_exporter.otlp-http]
endpoint = "http://127.0.0.1:4318/v1/metrics"
protocol = "json"
headers = { authorization = "Bearer abc" }
"#;

    #[test]
    fn a_correct_block_has_no_findings() {
        let checks = check_text(GOOD, Some(&expect_bearer()), &|_| None);
        assert!(checks.iter().all(|c| c.level == Level::Ok), "{checks:#?}");
        assert_eq!(checks.len(), 5);
    }

    #[test]
    fn each_mistake_is_named_with_its_fix() {
        let bad = r#"
[otel]
log_user_prompt = true
exporter = "none"
[otel.trace_exporter.otlp-http]
endpoint = "http://127.0.0.1:4318"
[otel.metrics_exporter.otlp-http]
endpoint = "http://127.0.0.1:4318/v1/logs"
protocol = "binary"
headers = { authorization = "\"Bearer abc\"" }
"#;
        let checks = check_text(bad, Some(&expect_bearer()), &|_| None);
        let f = fails(&checks).join("\n");
        assert!(
            f.contains("[otel.exporter]: none (unset or \"none\")"),
            "{f}"
        );
        assert!(f.contains("has no path"), "{f}");
        assert!(f.contains("no protocol"), "{f}");
        assert!(
            f.contains("/v1/logs is the logs path, not the metrics one"),
            "{f}"
        );
        assert!(f.contains("carries its own quotes"), "{f}");
        assert!(f.contains("no authorization header"), "{f}");
        let fix = checks
            .iter()
            .find(|c| c.message.contains("has no path"))
            .map(|c| c.fix.clone());
        assert_eq!(
            fix.as_deref(),
            Some("endpoint = \"http://127.0.0.1:4318/v1/traces\"")
        );
        let warns: Vec<_> = checks.iter().filter(|c| c.level == Level::Warn).collect();
        assert!(warns.iter().any(|c| c.subject.ends_with("log_user_prompt")));
        assert!(warns.iter().any(|c| c.subject.ends_with("environment")));
    }

    #[test]
    fn authorization_schemes_and_basic_credentials_are_checked() {
        let mut basic = expect_bearer();
        basic.schemes = vec!["Basic"];
        let e = Some(&basic);
        assert!(header_problem("Authorization", "Bearer x", e)
            .is_some_and(|p| p.0.contains("expects Basic")));
        assert!(header_problem("authorization", "Basic !!!", e)
            .is_some_and(|p| p.0.contains("not base64")));
        assert!(header_problem("authorization", "Basic cGFzc3dvcmQ=", e)
            .is_some_and(|p| p.0.contains("no user:password")));
        assert_eq!(
            header_problem("authorization", "Basic dXNlcjpwYXNz", e),
            None
        );
        assert!(header_problem("authorization", "abc", e)
            .is_some_and(|p| p.0.contains("no Bearer or Basic")));
        assert!(
            header_problem("x-key", "${KEY}", e).is_some_and(|p| p.0.contains("does not expand"))
        );
    }

    #[test]
    fn statsig_metrics_and_a_missing_otel_table_fail() {
        let checks = check_text("model = \"x\"\n", None, &|_| None);
        assert_eq!(fails(&checks).len(), 1);
        let checks = check_text("[otel]\nenvironment = \"p\"\n", None, &|_| None);
        let f = fails(&checks).join("\n");
        assert!(f.contains("go to OpenAI"), "{f}");
        assert_eq!(fails(&checks).len(), 3, "{f}");
    }

    #[test]
    fn auth_from_the_environment_counts() {
        let no_headers = GOOD.replace("headers = { authorization = \"Bearer abc\" }\n", "");
        let checks = check_text(&no_headers, Some(&expect_bearer()), &|k| {
            (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "authorization=Bearer%20abc".into())
        });
        assert!(fails(&checks).is_empty(), "{checks:#?}");
    }
}
