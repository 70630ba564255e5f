//! The secret-free half of the corpus: ordinary developer work that a redactor must leave alone
//! — git logs with commit SHAs, lockfiles with integrity hashes, source code in several
//! languages, Kubernetes manifests naming secrets (`existingSecret: redis-auth`), CSV, logs with
//! trace/span ids and UUIDs, base64 images, CI run ids, ticket ids, timestamps, versions, private
//! IPs, file paths, cloud resource ids and payment-object ids. Every file comes with the
//! distinctive substrings (fresh random values where the real ones are random) whose survival
//! the tests measure.

use super::documents::Builder;
use super::gen::{b64, Gen};

/// Collects substrings as a file is written.
struct Doc {
    text: String,
    keep: Vec<String>,
}

impl Doc {
    fn new() -> Self {
        Self {
            text: String::new(),
            keep: Vec::new(),
        }
    }
    /// Appends `line` (a newline is added).
    fn line(&mut self, line: impl AsRef<str>) {
        self.text += line.as_ref();
        self.text.push('\n');
    }
    /// Records `s` as a substring to measure and returns it.
    fn k(&mut self, s: impl Into<String>) -> String {
        let s = s.into();
        self.keep.push(s.clone());
        s
    }
}

fn ts(g: &mut Gen) -> String {
    format!(
        "2025-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        g.int(1, 12),
        g.int(1, 28),
        g.int(0, 23),
        g.int(0, 59),
        g.int(0, 59),
        g.int(0, 999)
    )
}

fn semver(g: &mut Gen) -> String {
    format!("{}.{}.{}", g.int(1, 9), g.int(0, 40), g.int(0, 99))
}

/// Makes one ordinary file.
type Maker = fn(&mut Gen) -> Doc;

/// Writes every ordinary file (printed with `cat`) and a command whose arguments carry
/// ordinary values, with the substrings to measure.
pub fn plant_ordinary(b: &mut Builder<'_>) {
    let makers: [(&str, Maker); 14] = [
        ("git-log.txt", git_log),
        ("package-lock.excerpt.json", package_lock),
        ("Cargo.lock.excerpt", cargo_and_go),
        ("deploy/payments-api.yaml", k8s_manifest),
        ("charts/payments/values.yaml", helm_values),
        ("src/refunds.rs", rust_and_python),
        ("web/src/session.ts", ts_go_java),
        ("reports/latency.csv", csv),
        ("logs/api.log", app_log),
        ("web/public/badge.html", base64_image),
        ("logs/ci-run.log", ci_log),
        ("CHANGELOG.md", changelog),
        ("logs/terraform-plan.txt", terraform),
        ("logs/payments-db.txt", payment_objects),
    ];
    for (path, make) in makers {
        let doc = make(b.g);
        for s in doc.keep {
            assert!(doc.text.contains(s.as_str()), "{path}: {s}");
            b.keep(s);
        }
        b.ordinary_file(path, doc.text);
    }
    // Ordinary values in command arguments (and in the errors they cause).
    let sha = b.g.hex(40);
    let ticket = format!("PAY-{}", b.g.int(1000, 9999));
    let dir = format!("/tmp/build-{}", b.g.uuid());
    let cmd = format!("git show --stat {sha} 2>&1 | head -3; grep -rn '{ticket}' src 2>/dev/null | head -3; ls -d {dir} 2>&1 || true");
    for s in [sha, ticket, dir] {
        b.keep(s);
    }
    b.command(cmd);
}

fn git_log(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let subjects = [
        "retry refunds on 502 from the acquirer",
        "bump tokio to 1.38 and drop the patched fork",
        "add secret rotation runbook link to README",
        "fix flaky session timeout test",
        "log the password policy version, not the policy",
        "move api_key header name to config",
        "use existingSecret for redis in the chart",
        "cache token counts per model",
        "reject expired signatures with 401",
        "split auth middleware from rate limiter",
    ];
    for s in subjects {
        let sha = d.k(g.hex(40));
        let ticket = d.k(format!("PAY-{}", g.int(1000, 9999)));
        let when = format!(
            "2025-{:02}-{:02} {:02}:{:02}:{:02} +0200",
            g.int(1, 12),
            g.int(1, 28),
            g.int(0, 23),
            g.int(0, 59),
            g.int(0, 59)
        );
        d.line(format!("{sha} {when} {ticket}: {s} (#{})", g.int(100, 999)));
    }
    d
}

fn package_lock(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    d.line("{\n  \"name\": \"payments-web\",\n  \"lockfileVersion\": 3,\n  \"packages\": {");
    for name in ["lodash", "axios", "zod", "date-fns", "uuid"] {
        let v = semver(g);
        let resolved = d.k(format!(
            "https://registry.npmjs.org/{name}/-/{name}-{v}.tgz"
        ));
        let integrity = d.k(format!("sha512-{}", b64(&g.bytes(64))));
        d.line(format!("    \"node_modules/{name}\": {{\n      \"version\": \"{v}\",\n      \"resolved\": \"{resolved}\",\n      \"integrity\": \"{integrity}\"\n    }},"));
    }
    d.line("  }\n}");
    d
}

fn cargo_and_go(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    for name in ["serde", "tokio", "hyper", "prost"] {
        let v = semver(g);
        let sum = d.k(g.hex(64));
        d.line(format!("[[package]]\nname = \"{name}\"\nversion = \"{v}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{sum}\"\n"));
    }
    d.line("# go.sum");
    for m in [
        "github.com/acme/ledger",
        "golang.org/x/crypto",
        "google.golang.org/grpc",
    ] {
        let line = d.k(format!("{m} v{} h1:{}", semver(g), b64(&g.bytes(32))));
        d.line(line);
    }
    d.line("# requirements.txt");
    let h = d.k(format!("--hash=sha256:{}", g.hex(64)));
    d.line(format!("requests=={} \\\n    {h}", semver(g)));
    d
}

fn k8s_manifest(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let w = g.word();
    let digest = d.k(format!("ghcr.io/acme/payments-api@sha256:{}", g.hex(64)));
    let uid = d.k(g.uuid());
    let rv = d.k(format!("resourceVersion: \"{}\"", g.digits(8)));
    let sa = d.k(format!("payments-{w}-runner"));
    let secret_ref = d.k(format!("db-credentials-{w}"));
    let tls = d.k(format!("tls-payments-{}", g.digits(4)));
    let cm = d.k(format!("payments-config-{}", g.lower_alnum(5)));
    let ip = d.k(format!("10.42.{}.{}", g.int(1, 254), g.int(1, 254)));
    d.line(format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments-api\n  uid: {uid}\n  {rv}\nspec:\n  template:\n    spec:\n      serviceAccountName: {sa}\n      containers:\n        - name: api\n          image: {digest}\n          env:\n            - name: DB_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: {secret_ref}\n                  key: password\n            - name: API_TOKEN_FILE\n              value: /var/run/secrets/api/token\n          envFrom:\n            - configMapRef:\n                name: {cm}\n      volumes:\n        - name: tls\n          secret:\n            secretName: {tls}\nstatus:\n  podIP: {ip}"));
    d
}

fn helm_values(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let redis = d.k(format!("existingSecret: redis-auth-{}", g.word()));
    let pg = d.k(format!("existingSecret: pg-{}-credentials", g.word()));
    let key = d.k("existingSecretPasswordKey: redis-password");
    let sentry = d.k(format!("dsnSecretName: sentry-dsn-{}", g.word()));
    let issuer = d.k(format!("clusterIssuer: letsencrypt-{}", g.word()));
    d.line(format!("redis:\n  auth:\n    enabled: true\n    {redis}\n    {key}\npostgresql:\n  auth:\n    {pg}\n    secretKeys:\n      userPasswordKey: password\nsentry:\n  {sentry}\ningress:\n  annotations:\n    cert-manager.io/{issuer}\n  tls:\n    - secretName: payments-tls\n      hosts: [payments.acme.internal]"));
    d
}

fn rust_and_python(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let ttl = d.k(format!(
        "const REFRESH_TOKEN_TTL_SECS: u64 = {};",
        g.int(600, 86_400)
    ));
    let f = d.k(format!(
        "fn rotate_session_secret_{}(store: &SecretStore)",
        g.word()
    ));
    let hash = d.k(format!(
        "let password_hash = argon2::hash_encoded(input.as_bytes(), &salt, &ARGON2_{})?;",
        g.upper_alnum(4)
    ));
    d.line(format!("// src/refunds.rs\nuse crate::secrets::SecretStore;\n\n{ttl}\n\npub {f} -> Result<(), Error> {{\n    {hash}\n    store.put(\"session\", &password_hash)\n}}\n"));
    let py1 = d.k(format!("API_KEY_HEADER = \"X-Api-Key-{}\"", g.word()));
    let py2 = d.k(format!(
        "def get_token_count(model: str, budget={}) -> int:",
        g.int(1000, 90_000)
    ));
    let py3 = d.k(format!("secret_name = f\"{{env}}-{}-tls\"", g.word()));
    d.line(format!(
        "# scripts/tokens.py\n{py1}\n\n{py2}\n    {py3}\n    return len(model) * budget\n"
    ));
    d
}

fn ts_go_java(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let t1 = d.k(format!(
        "const SESSION_TIMEOUT_MS = {};",
        g.int(10_000, 900_000)
    ));
    let t2 = d.k(format!(
        "export function isTokenExpired{}(token: Token): boolean",
        g.word()
    ));
    d.line(format!(
        "// web/src/session.ts\n{t1}\n{t2} {{\n  return token.expiresAt < Date.now();\n}}\n"
    ));
    let go1 = d.k(format!(
        "secretName := fmt.Sprintf(\"%s-{}-tls\", name)",
        g.word()
    ));
    let go2 = d.k(format!(
        "ctx, cancel := context.WithTimeout(ctx, {}*time.Millisecond)",
        g.int(100, 9000)
    ));
    d.line(format!("// internal/k8s/secrets.go\nfunc tlsSecretName(name string) string {{\n\t{go1}\n\t{go2}\n\tdefer cancel()\n\treturn secretName\n}}\n"));
    let j1 = d.k(format!(
        "private static final int PASSWORD_MIN_LENGTH_{} = {};",
        g.upper_alnum(3),
        g.int(8, 16)
    ));
    let j2 = d.k(format!(
        "if (!session.isValid()) throw new AuthException(\"E{}\");",
        g.digits(4)
    ));
    d.line(format!("// src/main/java/com/acme/Auth.java\n{j1}\npublic void check(Session session) {{\n    {j2}\n}}"));
    d
}

fn csv(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    d.line("timestamp,service,route,status,latency_ms,trace_id");
    for _ in 0..10 {
        let t = d.k(ts(g));
        let trace = d.k(g.hex(32));
        d.line(format!(
            "{t},payments-api,/v1/refunds,200,{},{trace}",
            g.int(3, 900)
        ));
    }
    d
}

fn app_log(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    for _ in 0..8 {
        let t = ts(g);
        let trace = d.k(format!("trace_id={}", g.hex(32)));
        let span = d.k(format!("span_id={}", g.hex(16)));
        let req = d.k(g.uuid());
        let ip = d.k(format!("192.168.{}.{}", g.int(0, 254), g.int(1, 254)));
        d.line(format!("{t} INFO {trace} {span} request_id={req} route=/v1/charges status=200 duration_ms={} client_ip={ip}", g.int(2, 800)));
    }
    d
}

fn base64_image(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let mut png = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
    ];
    png.extend(g.bytes(420));
    let data = b64(&png);
    d.k(format!("data:image/png;base64,{}", &data[..40]));
    d.k(&data[200..260]);
    d.k(&data[data.len() - 50..]);
    d.line(format!(
        "<a href=\"/status\"><img alt=\"build passing\" src=\"data:image/png;base64,{data}\"></a>"
    ));
    let svg = d.k(format!(
        "data:image/svg+xml;base64,{}",
        b64(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"20\"/>",
            g.int(80, 120)
        )
        .as_bytes())
    ));
    d.line(format!("<img src=\"{svg}\">"));
    d
}

fn ci_log(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let run = d.k(format!(
        "actions/runs/{}",
        g.int(8_000_000_000, 9_999_999_999)
    ));
    let job = d.k(format!("job {}", g.int(20_000_000_000, 29_999_999_999)));
    let build = d.k(format!("Build #{}", g.int(10_000, 99_999)));
    let cache = d.k(format!("node-modules-{}", g.hex(64)));
    let artifact = d.k(format!("artifact digest sha256:{}", g.hex(64)));
    let pipeline = d.k(format!("pipeline {}", g.int(100_000_000, 999_999_999)));
    d.line(format!("https://github.com/acme/payments-service/{run}\n{build} started on runner ubuntu-22.04 ({job})\nCache restored from key: {cache}\nUploaded {artifact}\nTriggered downstream {pipeline} at {}", ts(g)));
    d
}

fn changelog(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let v1 = d.k(format!("v{}", semver(g)));
    let v2 = d.k(format!(
        "{}-rc.{}+build.{}",
        semver(g),
        g.int(1, 9),
        g.int(1, 999)
    ));
    let t1 = d.k(format!("OPS-{}", g.int(100, 9999)));
    let t2 = d.k(format!("SEC-{}", g.int(100, 9999)));
    let date = d.k(format!("2025-{:02}-{:02}", g.int(1, 12), g.int(1, 28)));
    let path = d.k(format!(
        "/home/dev/src/payments-service/src/handlers/refund_{}.rs",
        g.word()
    ));
    let win = d.k(format!(
        "C:\\Users\\dev\\AppData\\Local\\acme\\cache-{}",
        g.digits(5)
    ));
    d.line(format!("## {v1} ({date})\n- {t1}: token refresh no longer blocks the event loop\n- {t2}: rotate the signing key id in the JWKS endpoint\n- moved {path}\n- Windows cache now in {win}\n\n## {v2}\n- preview build"));
    d
}

fn terraform(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    let inst = d.k(format!("i-0{}", g.hex(16)));
    let arn = d.k(format!(
        "arn:aws:iam::{}:role/deployer-{}",
        g.digits(12),
        g.word()
    ));
    let sg = d.k(format!("sg-0{}", g.hex(16)));
    let subnet = d.k(format!("subnet-0{}", g.hex(16)));
    let bucket = d.k(format!("acme-artifacts-{}", g.lower_alnum(8)));
    let kms = d.k(format!("alias/payments-{}", g.word()));
    let ip = d.k(format!("172.20.{}.{}", g.int(0, 254), g.int(1, 254)));
    let tfstate = d.k(format!("lineage = \"{}\"", g.uuid()));
    d.line(format!("  # aws_instance.api will be updated in-place\n  ~ resource \"aws_instance\" \"api\" {{\n        id            = \"{inst}\"\n      ~ iam_role      = \"{arn}\"\n        vpc_security_group_ids = [\"{sg}\"]\n        subnet_id     = \"{subnet}\"\n        private_ip    = \"{ip}\"\n    }}\n  # aws_s3_bucket.artifacts: {bucket}\n  # kms key {kms}\n  {tfstate}"));
    d
}

fn payment_objects(g: &mut Gen) -> Doc {
    let mut d = Doc::new();
    d.line("id | object | created | amount");
    for prefix in ["cus_", "pi_", "ch_", "re_", "in_"] {
        let id = d.k(format!("{prefix}{}", g.alnum(24)));
        d.line(format!(
            "{id} | {} | {} | {}",
            &prefix[..prefix.len() - 1],
            ts(g),
            g.int(100, 99_999)
        ));
    }
    let slack = d.k(format!("C0{}", g.upper_alnum(9)));
    let order = d.k(format!("ORD-2025-{}", g.digits(6)));
    let inv = d.k(format!("INV-{}", g.digits(5)));
    let mac = d.k(format!(
        "{}:{}:{}:{}:{}:{}",
        g.hex(2),
        g.hex(2),
        g.hex(2),
        g.hex(2),
        g.hex(2),
        g.hex(2)
    ));
    let epoch = d.k(format!("epoch={}", g.int(1_700_000_000, 1_760_000_000)));
    d.line(format!(
        "notified slack channel {slack} for {order} / {inv}; terminal {mac}; {epoch}"
    ));
    let metric = d.k(format!(
        "http_requests_total{{route=\"/v1/refunds\",status=\"200\"}} {}",
        g.int(1000, 99_999)
    ));
    d.line(metric);
    d
}
