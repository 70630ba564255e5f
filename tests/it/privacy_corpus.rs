//! The privacy judge: real Codex CLI sessions (the pinned npm CLI, scripted model) carry a fresh
//! random corpus (tests/it/support/corpus: every credential format, PII, generic secrets after
//! secret-ish keys, structured credential files, and a secret-free corpus of ordinary work) in the
//! prompt, shell arguments, tool outputs, `apply_patch` content and error messages, over
//! OTLP/HTTP protobuf, OTLP/HTTP JSON and OTLP/gRPC, through the real gateway with
//! `preset: codex` (a test config) and with the shipped `config/gateway.yaml`.
//!
//! What is judged, on everything the backends received (gRPC, OTLP/HTTP protobuf and JSON)
//! decoded to text — every string field of every message, with its path (support/exported.rs):
//!
//! * no planted value arrives anywhere, neither whole nor as its distinctive core (≥ 12
//!   characters of its random part), nor inside base64 that decodes to it;
//! * two independent scanners — secretlint (recommended preset) and detect-secrets — flag the
//!   planted secrets in the raw input (a minimum per scanner proves the oracle works) and flag
//!   **nothing** in what the gateway exported, except strings they also flag in the secret-free
//!   corpus (their own false positives, e.g. `existingSecret: redis-auth`, which the gateway
//!   must keep);
//! * at most 1 % of the ordinary substrings are altered (the measured figure is printed).
//!
//! With `preset: codex` a raw pipeline (no processors) feeds a pass-through backend from the
//! same receiver, which proves every planted value and ordinary substring really reached the
//! gateway. A report (per category, channel, scanner) is printed and written to
//! `$CARGO_TARGET_TMPDIR/privacy-corpus-<config>.txt`. `PRIVACY_CORPUS_SEED=N` repeats a run;
//! `scripts/print-corpus --seed N` prints its corpus.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, OtelProtocol, WorkTreeFile};
use crate::support::corpus::{Category, Channel, Corpus, Planted, Session};
use crate::support::exported::Exported;
use crate::support::fixtures::{all_log_records, attr_text};
use crate::support::gateway::{free_port, start_shipped_config, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use crate::support::scanners::{self, Finding, ScanSet, Scanner};

const PROTOCOLS: [OtelProtocol; 3] = [
    OtelProtocol::HttpBinary,
    OtelProtocol::HttpJson,
    OtelProtocol::Grpc,
];
const WAIT: Duration = Duration::from_secs(90);
/// Largest share of ordinary substrings the gateway may alter.
const MAX_ALTERED: f64 = 0.01;
/// Planted values each scanner must flag in the raw input of a run: about two thirds of what
/// each flags on a corpus (secretlint ~65, detect-secrets ~210 of ~420), so the oracle is proven
/// to see secrets.
const MIN_FLAGGED: [(Scanner, usize); 2] =
    [(Scanner::Secretlint, 45), (Scanner::DetectSecrets, 150)];

/// A gateway under judgement and its backends.
struct Target {
    label: &'static str,
    gateway: Gateway,
    grpc_base: String,
    http_base: String,
    /// Backends behind the redaction, with a label.
    redacted: Vec<(&'static str, FakeBackend)>,
    /// The pass-through backend (raw pipelines), when the config has one.
    raw: Option<FakeBackend>,
}

async fn preset_codex_target() -> Target {
    let raw = FakeBackend::http().await;
    let grpc = FakeBackend::grpc().await;
    let proto = FakeBackend::http().await;
    let json = FakeBackend::http().await;
    let (g, h, a) = (free_port(), free_port(), free_port());
    let redacted = "[otlp/redacted, otlphttp/redacted-proto, otlphttp/redacted-json]";
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{g}
      http:
        endpoint: 127.0.0.1:{h}
processors:
  redaction:
    preset: codex
    hash_key: "0123456789abcdef0123456789abcdef"
exporters:
  otlp/redacted:
    endpoint: {grpc_ep}
  otlphttp/redacted-proto:
    endpoint: {proto_ep}
    encoding: proto
  otlphttp/redacted-json:
    endpoint: {json_ep}
    encoding: json
  otlphttp/raw:
    endpoint: {raw_ep}
    encoding: json
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{a}
  pipelines:
    logs:
      receivers: [otlp]
      processors: [redaction]
      exporters: {redacted}
    traces:
      receivers: [otlp]
      processors: [redaction]
      exporters: {redacted}
    metrics:
      receivers: [otlp]
      processors: [redaction]
      exporters: {redacted}
    logs/raw:
      receivers: [otlp]
      exporters: [otlphttp/raw]
    traces/raw:
      receivers: [otlp]
      exporters: [otlphttp/raw]
    metrics/raw:
      receivers: [otlp]
      exporters: [otlphttp/raw]
"#,
        grpc_ep = grpc.endpoint(),
        proto_ep = proto.endpoint(),
        json_ep = json.endpoint(),
        raw_ep = raw.endpoint(),
    );
    let gateway = Gateway::start(&yaml, &[g, h, a]).await;
    Target {
        label: "preset-codex",
        gateway,
        grpc_base: format!("http://127.0.0.1:{g}"),
        http_base: format!("http://127.0.0.1:{h}"),
        redacted: vec![("grpc", grpc), ("http-proto", proto), ("http-json", json)],
        raw: Some(raw),
    }
}

async fn shipped_config_target() -> Target {
    let primary = FakeBackend::grpc().await;
    let secondary = FakeBackend::http().await;
    let (gateway, [g, h, _]) =
        start_shipped_config(&primary.endpoint(), &secondary.endpoint()).await;
    Target {
        label: "shipped-gateway-yaml",
        gateway,
        grpc_base: format!("http://127.0.0.1:{g}"),
        http_base: format!("http://127.0.0.1:{h}"),
        redacted: vec![("otlp/primary", primary), ("otlphttp/secondary", secondary)],
        raw: None,
    }
}

fn seed() -> u64 {
    std::env::var("PRIVACY_CORPUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Runs one Codex session per protocol at once, each carrying its share of a fresh corpus;
/// returns the shares.
async fn run_sessions(t: &Target, seed: u64, report: &mut String) -> Vec<Session> {
    let corpus = Corpus::generate(seed);
    let runs = corpus
        .split(PROTOCOLS.len())
        .into_iter()
        .zip(PROTOCOLS)
        .map(|(session, protocol)| run_session(t, session, protocol));
    let sessions = futures::future::join_all(runs).await;
    for (i, (_, line)) in sessions.iter().enumerate() {
        eprintln!("{}: session {i} over {:?}: {line}", t.label, PROTOCOLS[i]);
        writeln!(report, "session {i} over {:?}: {line}", PROTOCOLS[i]).unwrap();
    }
    sessions.into_iter().map(|(s, _)| s).collect()
}

/// Prints how long a phase took (to stderr, shown with `--nocapture`).
fn phase(label: &str, what: &str, since: Instant) {
    eprintln!("{label}: {what} in {:.1} s", since.elapsed().as_secs_f64());
}

/// One Codex session over `protocol` carrying `s`; checks the model saw every planted value.
async fn run_session(t: &Target, s: Session, protocol: OtelProtocol) -> (Session, String) {
    let llm = MockLlm::start(Script::with_tool_calls(s.commands.clone(), "Done.")).await;
    let base = match protocol {
        OtelProtocol::Grpc => &t.grpc_base,
        _ => &t.http_base,
    };
    let mut cs = CodexSession::new(&s.prompt, &llm.base_url(), protocol, base);
    cs.work_files = s
        .files
        .iter()
        .map(|f| WorkTreeFile {
            path: f.path.clone(),
            content: f.content.clone().into_bytes(),
            executable: f.executable,
        })
        .collect();
    let started = Instant::now();
    let run = cs.run().await;
    run.assert_success();
    assert!(
        llm.requests() > s.commands.len(),
        "{protocol:?}: the model was asked {} times for {} steps",
        llm.requests(),
        s.commands.len()
    );
    // The session really carried every value: the model saw each (prompt, commands and
    // outputs travel back to it in the conversation).
    let bodies: Vec<String> = llm
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let cores: Vec<&str> = s.planted.iter().map(|p| p.core.as_str()).collect();
    let seen = seen_in(&cores, &bodies);
    let unseen: Vec<(&str, &str)> = s
        .planted
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
        .map(|(p, _)| (p.format.as_str(), p.carrier.as_str()))
        .collect();
    assert!(
        unseen.is_empty(),
        "{protocol:?}: the model never saw {unseen:?}"
    );
    let line = format!(
        "{} steps, {} planted values, {} ordinary substrings, {:.1} s",
        s.commands.len(),
        s.planted.len(),
        s.ordinary.len(),
        started.elapsed().as_secs_f64()
    );
    (s, line)
}

/// For each needle, whether it occurs in any of `hay`.
fn seen_in(needles: &[&str], hay: &[String]) -> Vec<bool> {
    let ac = AhoCorasick::new(needles).expect("automaton");
    let mut seen = vec![false; needles.len()];
    for h in hay {
        for m in ac.find_overlapping_iter(h) {
            seen[m.pattern().as_usize()] = true;
        }
    }
    seen
}

fn count_events(b: &FakeBackend, name: &str) -> usize {
    all_log_records(&b.received_logs())
        .iter()
        .filter(|r| attr_text(&r.attributes, "event.name").as_deref() == Some(name))
        .count()
}

/// Waits until every backend holds every session's prompt and tool results, spans and metrics.
async fn wait_for_delivery(t: &Target, sessions: &[Session]) {
    let tools: usize = sessions.iter().map(|s| s.commands.len()).sum();
    let backends = t.redacted.iter().map(|(_, b)| b).chain(t.raw.iter());
    for b in backends {
        let ok = b
            .wait_for(
                |b| {
                    count_events(b, "codex.tool_result") >= tools
                        && count_events(b, "codex.user_prompt") >= sessions.len()
                        && b.span_count() > 0
                        && b.data_point_count() > 0
                },
                WAIT,
            )
            .await;
        assert!(
            ok,
            "{}: waited {WAIT:?} for {tools} tool results: {}\n{}",
            t.label,
            b.describe(),
            t.gateway.output_report()
        );
    }
    // Let the last requests of each signal land.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// A leak: a planted value (or its core) found at a backend.
struct Leak<'a> {
    planted: &'a Planted,
    backend: &'static str,
    place: String,
}

/// The planted values found in `e`: by their core (so a partial leak counts), or by the decoded
/// core in base64.
fn found_planted<'a>(e: &Exported, planted: &[&'a Planted]) -> Vec<(&'a Planted, String)> {
    // A value contains its core, so finding the core finds the value too (whole or in part).
    let cores: Vec<&str> = planted.iter().map(|p| p.core.as_str()).collect();
    let decoded: Vec<&str> = planted
        .iter()
        .map(|p| p.decoded_core.as_deref().unwrap_or(""))
        .collect();
    let (c, d) = (e.find_all(&cores, false), e.find_all(&decoded, true));
    planted
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((*p, c[i].clone().or_else(|| d[i].clone())?)))
        .collect()
}

/// Judges a run; returns the report and the failures.
async fn judge(target: Target) {
    let mut t = target;
    let started = Instant::now();
    let seed = seed();
    let mut report = format!(
        "privacy corpus, config {}, seed {seed} (PRIVACY_CORPUS_SEED={seed} repeats it)\nscanners: {}\n",
        t.label,
        scanners::versions()
    );
    let sessions = run_sessions(&t, seed, &mut report).await;
    phase(t.label, "sessions", started);
    let since = Instant::now();
    wait_for_delivery(&t, &sessions).await;
    phase(t.label, "delivery", since);
    let since = Instant::now();
    let planted: Vec<&Planted> = sessions.iter().flat_map(|s| &s.planted).collect();
    let ordinary: Vec<&str> = sessions
        .iter()
        .flat_map(|s| s.ordinary.iter().map(String::as_str))
        .collect();
    let mut failures: Vec<String> = Vec::new();

    // What the backends received, decoded.
    let mut all = Exported::default();
    let mut per_backend: Vec<(&'static str, Exported)> = Vec::new();
    for (label, b) in &t.redacted {
        let mut e = Exported::default();
        e.add_backend(label, b);
        all.merge(&e);
        per_backend.push((label, e));
    }
    phase(t.label, "decoding the redacted backends", since);
    if let Some(raw) = &t.raw {
        let mut e = Exported::default();
        e.add_backend("raw", raw);
        all.merge(&e);
        // Proof that every planted value and ordinary substring reached the gateway.
        let delivered: BTreeSet<*const Planted> = found_planted(&e, &planted)
            .iter()
            .map(|(p, _)| *p as *const _)
            .collect();
        let missing: Vec<String> = planted
            .iter()
            .filter(|p| !delivered.contains(&(**p as *const _)))
            .map(|p| format!("{} ({}, {})", p.format, p.channel.name(), p.carrier))
            .collect();
        let ord_found = e.find_all(&ordinary, false);
        let ord_missing: Vec<&str> = ordinary
            .iter()
            .zip(&ord_found)
            .filter(|(_, f)| f.is_none())
            .map(|(o, _)| *o)
            .collect();
        writeln!(
            report,
            "raw pipeline: {}/{} planted values and {}/{} ordinary substrings arrived",
            planted.len() - missing.len(),
            planted.len(),
            ordinary.len() - ord_missing.len(),
            ordinary.len()
        )
        .unwrap();
        if !missing.is_empty() || !ord_missing.is_empty() {
            failures.push(format!("not delivered to the gateway (corpus or session broken): {missing:?} {ord_missing:?}"));
        }
    }

    phase(t.label, "raw delivery check", since);
    // Leaks, per redacted backend.
    let mut leaks: Vec<Leak<'_>> = Vec::new();
    for (label, e) in &per_backend {
        for (p, place) in found_planted(e, &planted) {
            leaks.push(Leak {
                planted: p,
                backend: label,
                place,
            });
        }
    }
    phase(t.label, "leak search", since);
    leak_report(&planted, &leaks, &per_backend, &mut report);
    if !leaks.is_empty() {
        let leaked: BTreeSet<*const Planted> =
            leaks.iter().map(|l| l.planted as *const _).collect();
        failures.push(format!(
            "{} of {} planted values reached a backend",
            leaked.len(),
            planted.len()
        ));
    }

    // Ordinary substrings altered.
    let mut altered: BTreeSet<&str> = BTreeSet::new();
    for (_, e) in &per_backend {
        for (o, f) in ordinary.iter().zip(e.find_all(&ordinary, false)) {
            if f.is_none() {
                altered.insert(o);
            }
        }
    }
    let share = altered.len() as f64 / ordinary.len() as f64;
    writeln!(
        report,
        "\nordinary substrings altered: {}/{} = {:.2} % (limit {:.0} %)",
        altered.len(),
        ordinary.len(),
        share * 100.0,
        MAX_ALTERED * 100.0
    )
    .unwrap();
    for o in &altered {
        writeln!(report, "  altered: {o}").unwrap();
    }
    if share > MAX_ALTERED {
        failures.push(format!(
            "{:.2} % of ordinary substrings altered",
            share * 100.0
        ));
    }

    phase(t.label, "leak and ordinary checks", since);
    scanner_verdict(&t, &sessions, &planted, &all, &mut report, &mut failures);
    writeln!(
        report,
        "\nrun time {:.1} s",
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("privacy-corpus-{}.txt", t.label));
    let _ = std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::write(&path, &report);
    println!("{report}\n(report written to {})", path.display());
    assert!(t.gateway.stop().await.success(), "gateway exit");
    assert!(
        failures.is_empty(),
        "{}: {} (report above and in {})",
        t.label,
        failures.join("; "),
        path.display()
    );
}

fn leak_report(
    planted: &[&Planted],
    leaks: &[Leak<'_>],
    backends: &[(&'static str, Exported)],
    report: &mut String,
) {
    let leaked: BTreeSet<*const Planted> = leaks.iter().map(|l| l.planted as *const _).collect();
    let is_leaked = |p: &Planted| leaked.contains(&(p as *const _));
    writeln!(
        report,
        "\nplanted values reaching any of {} backends, by category:",
        backends.len()
    )
    .unwrap();
    writeln!(
        report,
        "  {:<16} {:>8} {:>7} {:>7}",
        "category", "formats", "values", "leaked"
    )
    .unwrap();
    let mut by_cat: BTreeMap<Category, (BTreeSet<&str>, usize, usize)> = BTreeMap::new();
    for p in planted {
        let e = by_cat.entry(p.category).or_default();
        e.0.insert(&p.format);
        e.1 += 1;
        e.2 += usize::from(is_leaked(p));
    }
    let (mut f, mut v, mut l) = (0, 0, 0);
    for (c, (formats, values, n)) in &by_cat {
        writeln!(
            report,
            "  {:<16} {:>8} {:>7} {:>7}",
            c.name(),
            formats.len(),
            values,
            n
        )
        .unwrap();
        (f, v, l) = (f + formats.len(), v + values, l + n);
    }
    writeln!(report, "  {:<16} {f:>8} {v:>7} {l:>7}", "total").unwrap();
    let mut by_channel: BTreeMap<Channel, (usize, usize)> = BTreeMap::new();
    for p in planted {
        let e = by_channel.entry(p.channel).or_default();
        e.0 += 1;
        e.1 += usize::from(is_leaked(p));
    }
    writeln!(report, "by channel:").unwrap();
    for (c, (n, k)) in by_channel {
        writeln!(report, "  {:<16} {k:>4} of {n:>4} leaked", c.name()).unwrap();
    }
    // Formats with a leak, how many of their values leaked, and one place.
    let mut by_format: BTreeMap<&str, (usize, usize, Option<&Leak<'_>>)> = BTreeMap::new();
    for p in planted {
        let e = by_format.entry(&p.format).or_default();
        e.0 += 1;
        e.1 += usize::from(is_leaked(p));
    }
    for l in leaks {
        let e = by_format.entry(&l.planted.format).or_default();
        e.2.get_or_insert(l);
    }
    let leaking: Vec<_> = by_format.iter().filter(|(_, (_, k, _))| *k > 0).collect();
    writeln!(
        report,
        "formats leaking ({} of {}):",
        leaking.len(),
        by_format.len()
    )
    .unwrap();
    for (format, (n, k, first)) in leaking {
        let first = first.expect("a leak");
        writeln!(
            report,
            "  LEAK {format} [{}]: {k}/{n} values, e.g. via {} ({}) at {}: {}",
            first.planted.category.name(),
            first.planted.channel.name(),
            first.planted.carrier,
            first.backend,
            first.place
        )
        .unwrap();
    }
}

/// Runs both scanners over the raw input, the secret-free corpus and everything exported.
fn scanner_verdict(
    t: &Target,
    sessions: &[Session],
    planted: &[&Planted],
    all: &Exported,
    report: &mut String,
    failures: &mut Vec<String>,
) {
    let mut set = ScanSet::new();
    // The raw input: what the sessions were given.
    let mut inputs = Vec::new();
    for s in sessions {
        for f in s.secret_files() {
            inputs.push(set.add(&f.content));
        }
        for c in &s.commands {
            inputs.push(set.add(c));
        }
        inputs.push(set.add(&s.prompt));
    }
    // The secret-free corpus: what the scanners flag here is their own false positive.
    let mut baseline_texts = Vec::new();
    for s in sessions {
        for f in s.ordinary_file_texts() {
            baseline_texts.push(set.add(&f.content));
        }
    }
    // Everything exported, grouped by attribute path (one text per path, the distinct strings
    // separated by blank lines; integers are not scanned).
    let first_exported = set.len();
    let mut groups: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for (s, locs) in &all.strings {
        if s.trim().parse::<i64>().is_ok() {
            continue;
        }
        let l = &locs[0];
        groups
            .entry(format!("{} {} / {}", l.signal, l.item, l.key))
            .or_default()
            .push(s);
    }
    // (text index, first line of each member, members)
    let mut exported: Vec<(usize, Vec<usize>, Vec<&String>)> = Vec::new();
    for (_, members) in groups {
        // Texts of at most ~32 KiB: the scanners' line rules are slow on huge files.
        for chunk in chunk_by_size(&members, 32 * 1024) {
            let mut text = String::new();
            let mut starts = Vec::new();
            for m in &chunk {
                starts.push(text.matches('\n').count() + 1);
                text.push_str(m);
                text.push_str("\n\n");
            }
            exported.push((set.add(&text), starts, chunk));
        }
    }
    let member_at = |text: usize, line: usize| -> Option<&String> {
        let (_, starts, members) = exported.iter().find(|(i, _, _)| *i == text)?;
        let k = starts.partition_point(|s| *s <= line).checked_sub(1)?;
        Some(members[k])
    };
    let scan_started = Instant::now();
    let (findings, timing) = set.scan();
    eprintln!(
        "{}: scanned {} texts in {:.1} s ({timing})",
        t.label,
        set.len(),
        scan_started.elapsed().as_secs_f64()
    );
    let baseline: BTreeSet<(Scanner, &str)> = findings
        .iter()
        .filter(|f| baseline_texts.contains(&f.text))
        .map(|f| (f.scanner, f.identity.as_str()))
        .collect();

    writeln!(
        report,
        "\nscanners on the raw input (planted values flagged / rules):"
    )
    .unwrap();
    for (scanner, min) in MIN_FLAGGED {
        let on_input: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.scanner == scanner && inputs.contains(&f.text))
            .collect();
        let flagged = attribute(&set, &on_input, planted);
        let mut by_cat: BTreeMap<Category, usize> = BTreeMap::new();
        for p in &flagged {
            *by_cat.entry(p.category).or_default() += 1;
        }
        let rules: BTreeSet<&str> = on_input.iter().map(|f| f.rule.as_str()).collect();
        writeln!(
            report,
            "  {}: {} findings, {} planted values flagged (minimum {min}); by category {:?}",
            scanner.name(),
            on_input.len(),
            flagged.len(),
            by_cat
                .iter()
                .map(|(c, n)| (c.name(), *n))
                .collect::<Vec<_>>()
        )
        .unwrap();
        writeln!(report, "    rules: {rules:?}").unwrap();
        if flagged.len() < min {
            failures.push(format!(
                "{} flagged only {} planted values in the raw input (oracle broken?)",
                scanner.name(),
                flagged.len()
            ));
        }
        if t.raw.is_some() {
            let on_raw: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.scanner == scanner && f.text >= first_exported)
                .filter(|f| {
                    member_at(f.text, f.line)
                        .and_then(|m| all.strings.get(m))
                        .is_some_and(|locs| locs.iter().any(|l| l.backend == "raw"))
                })
                .collect();
            let flagged_raw = attribute(&set, &on_raw, planted);
            writeln!(
                report,
                "    on the pass-through export: {} findings, {} planted values flagged",
                on_raw.len(),
                flagged_raw.len()
            )
            .unwrap();
        }
        let baseline_n = findings
            .iter()
            .filter(|f| f.scanner == scanner && baseline_texts.contains(&f.text))
            .count();
        writeln!(
            report,
            "    on the secret-free corpus: {baseline_n} findings (its false positives)"
        )
        .unwrap();
    }

    // Everything exported behind the redaction must be clean.
    let mut leaks = Vec::new();
    let mut noise = 0;
    for f in findings.iter().filter(|f| f.text >= first_exported) {
        let Some(member) = member_at(f.text, f.line) else {
            continue;
        };
        let locs = &all.strings[member];
        let redacted: Vec<String> = locs
            .iter()
            .filter(|l| l.backend != "raw")
            .map(ToString::to_string)
            .collect();
        if redacted.is_empty() {
            continue;
        }
        if baseline.contains(&(f.scanner, f.identity.as_str())) {
            noise += 1;
            continue;
        }
        let line = set
            .text(f.text)
            .lines()
            .nth(f.line.saturating_sub(1))
            .unwrap_or("");
        let line: String = line.chars().take(160).collect();
        leaks.push(format!(
            "  {} {} at {} (line: {line})",
            f.scanner.name(),
            f.rule,
            redacted.join(", ")
        ));
    }
    writeln!(report, "scanners on the exported data: {} findings ({noise} more are flagged in the secret-free corpus too)", leaks.len()).unwrap();
    for l in &leaks {
        writeln!(report, "{l}").unwrap();
    }
    if !leaks.is_empty() {
        failures.push(format!(
            "the scanners flag {} strings in the exported data",
            leaks.len()
        ));
    }
}

/// `members` in runs whose total length stays under `limit` (a longer member stands alone).
fn chunk_by_size<'a>(members: &[&'a String], limit: usize) -> Vec<Vec<&'a String>> {
    let mut out: Vec<Vec<&String>> = Vec::new();
    let mut size = 0;
    for m in members {
        if out.is_empty() || size + m.len() > limit {
            out.push(Vec::new());
            size = 0;
        }
        size += m.len() + 2;
        out.last_mut().expect("pushed").push(m);
    }
    out
}

/// The planted values on the lines `findings` point at.
fn attribute<'a>(
    set: &ScanSet,
    findings: &[&Finding],
    planted: &[&'a Planted],
) -> Vec<&'a Planted> {
    let cores: Vec<&str> = planted.iter().map(|p| p.core.as_str()).collect();
    let ac = AhoCorasick::new(&cores).expect("automaton");
    let mut hit: BTreeSet<usize> = BTreeSet::new();
    let mut by_text: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for f in findings {
        by_text.entry(f.text).or_default().push(f.line);
    }
    for (text, lines) in by_text {
        let t = set.text(text);
        for m in ac.find_overlapping_iter(t) {
            let i = m.pattern().as_usize();
            let core_line = t[..m.start()].matches('\n').count() + 1;
            let span = planted[i].value.matches('\n').count();
            let (lo, hi) = (core_line.saturating_sub(span), core_line + span);
            if lines.iter().any(|l| (lo..=hi).contains(l)) {
                hit.insert(i);
            }
        }
    }
    hit.into_iter().map(|i| planted[i]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_codex_lets_no_planted_secret_through_and_keeps_ordinary_work() {
    judge(preset_codex_target().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_gateway_yaml_lets_no_planted_secret_through_and_keeps_ordinary_work() {
    judge(shipped_config_target().await).await;
}

/// The oracles' only concession: a value that *is* a mask token is no finding; anything next to
/// it still is.
#[test]
fn the_scanners_accept_a_mask_token_and_nothing_more() {
    let mut set = ScanSet::new();
    let masked = set.add("DATABASE_URL=postgres://app:[REDACTED:url_password]@db.internal:5432/app\npassword = \"[REDACTED:assignment]\"\n");
    let partial = set.add(
        "DATABASE_URL=postgres://app:[REDACTED:url_password]Zq81kLm2Pw9x@db.internal:5432/app\n",
    );
    let real = set.add("DATABASE_URL=postgres://app:Zq81kLm2Pw9xTr4e@db.internal:5432/app\npassword = \"Zq81kLm2Pw9xTr4eYu7i\"\n");
    let (findings, _) = set.scan();
    let on = |text: usize, scanner: Scanner| {
        findings
            .iter()
            .filter(|f| f.text == text && f.scanner == scanner)
            .count()
    };
    assert_eq!(
        (
            on(masked, Scanner::Secretlint),
            on(masked, Scanner::DetectSecrets)
        ),
        (0, 0),
        "{findings:?}"
    );
    assert!(on(partial, Scanner::Secretlint) > 0, "{findings:?}");
    assert!(
        on(real, Scanner::Secretlint) > 0 && on(real, Scanner::DetectSecrets) > 0,
        "{findings:?}"
    );
}
