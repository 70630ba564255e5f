//! The scanners' verdict: secretlint and detect-secrets (support/scanners.rs) run once over the
//! raw input of a run (what the sessions were given), the secret-free corpus and every string
//! the backends received (grouped by attribute path). On the raw input they must flag a minimum
//! of planted values (the oracle works); on what the gateway exported they must flag nothing but
//! what they also flag in the secret-free corpus (their own false positives).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use aho_corasick::AhoCorasick;

use super::verdict::Verdict;
use crate::support::corpus::{Category, Planted, Session};
use crate::support::exported::Exported;
use crate::support::scanners::{Finding, ScanSet, Scanner};

/// Planted values each scanner must flag in the raw input of a run: about two thirds of what
/// each flags on a corpus (secretlint ~65-90, detect-secrets ~210-230 of ~420), so the oracle is
/// proven to see secrets.
pub const MIN_FLAGGED: [(Scanner, usize); 2] =
    [(Scanner::Secretlint, 45), (Scanner::DetectSecrets, 150)];

/// Largest text handed to the scanners (their line rules are slow on huge files).
const MAX_TEXT: usize = 32 * 1024;

/// One scan of everything, and where each text came from.
struct Scan<'a> {
    set: ScanSet,
    inputs: BTreeSet<usize>,
    baseline: BTreeSet<usize>,
    first_exported: usize,
    /// Per exported text: its index, the first line of each member string, the members.
    exported: Vec<(usize, Vec<usize>, Vec<&'a String>)>,
    findings: Vec<Finding>,
}

impl<'a> Scan<'a> {
    fn run(label: &str, sessions: &[Session], all: &'a Exported) -> Scan<'a> {
        let mut set = ScanSet::new();
        let mut inputs = BTreeSet::new();
        let mut baseline = BTreeSet::new();
        for s in sessions {
            for f in s.secret_files() {
                inputs.insert(set.add(&f.content));
            }
            for c in s.commands.iter().chain([&s.prompt]) {
                inputs.insert(set.add(c));
            }
            for f in s.ordinary_file_texts() {
                baseline.insert(set.add(&f.content));
            }
        }
        let first_exported = set.len();
        let mut exported = Vec::new();
        for members in group_by_path(all) {
            for chunk in chunk_by_size(&members, MAX_TEXT) {
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
        let started = Instant::now();
        let (findings, timing) = set.scan();
        eprintln!(
            "{label}: scanned {} texts in {:.1} s ({timing})",
            set.len(),
            started.elapsed().as_secs_f64()
        );
        Scan {
            set,
            inputs,
            baseline,
            first_exported,
            exported,
            findings,
        }
    }

    /// The exported string a finding's text and line point at.
    fn member_at(&self, text: usize, line: usize) -> Option<&'a String> {
        let (_, starts, members) = self.exported.iter().find(|(i, _, _)| *i == text)?;
        let k = starts.partition_point(|s| *s <= line).checked_sub(1)?;
        Some(members[k])
    }
}

/// The distinct exported strings grouped by their first attribute path (integers are not
/// scanned).
fn group_by_path(all: &Exported) -> Vec<Vec<&String>> {
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
    groups.into_values().collect()
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

/// Both scanners see the planted secrets in the raw input and nothing in what was exported.
pub fn scanners_agree(
    label: &str,
    sessions: &[Session],
    planted: &[&Planted],
    all: &Exported,
    v: &mut Verdict,
) {
    let scan = Scan::run(label, sessions, all);
    v.line("\nscanners on the raw input (planted values flagged / rules):");
    for (scanner, min) in MIN_FLAGGED {
        raw_input_flagged(&scan, scanner, min, planted, all, v);
    }
    exported_clean(&scan, all, v);
}

fn raw_input_flagged(
    scan: &Scan<'_>,
    scanner: Scanner,
    min: usize,
    planted: &[&Planted],
    all: &Exported,
    v: &mut Verdict,
) {
    let mine = |f: &&Finding| f.scanner == scanner;
    let on_input: Vec<&Finding> = scan
        .findings
        .iter()
        .filter(mine)
        .filter(|f| scan.inputs.contains(&f.text))
        .collect();
    let flagged = attribute(&scan.set, &on_input, planted);
    let mut by_cat: BTreeMap<Category, usize> = BTreeMap::new();
    for p in &flagged {
        *by_cat.entry(p.category).or_default() += 1;
    }
    let by_cat: Vec<(&str, usize)> = by_cat.iter().map(|(c, n)| (c.name(), *n)).collect();
    let rules: BTreeSet<&str> = on_input.iter().map(|f| f.rule.as_str()).collect();
    v.line(format!(
        "  {}: {} findings, {} planted values flagged (minimum {min}); by category {by_cat:?}",
        scanner.name(),
        on_input.len(),
        flagged.len()
    ));
    v.line(format!("    rules: {rules:?}"));
    if flagged.len() < min {
        v.fail(format!(
            "{} flagged only {} planted values in the raw input (oracle broken?)",
            scanner.name(),
            flagged.len()
        ));
    }
    let on_raw: Vec<&Finding> = scan
        .findings
        .iter()
        .filter(mine)
        .filter(|f| f.text >= scan.first_exported)
        .filter(|f| {
            scan.member_at(f.text, f.line)
                .and_then(|m| all.strings.get(m))
                .is_some_and(|locs| locs.iter().any(|l| l.backend == "raw"))
        })
        .collect();
    if !on_raw.is_empty() {
        v.line(format!(
            "    on the pass-through export: {} findings, {} planted values flagged",
            on_raw.len(),
            attribute(&scan.set, &on_raw, planted).len()
        ));
    }
    let baseline_n = scan
        .findings
        .iter()
        .filter(mine)
        .filter(|f| scan.baseline.contains(&f.text))
        .count();
    v.line(format!(
        "    on the secret-free corpus: {baseline_n} findings (its false positives)"
    ));
}

/// Nothing exported behind the redaction is flagged, but for the scanners' own false positives.
fn exported_clean(scan: &Scan<'_>, all: &Exported, v: &mut Verdict) {
    let baseline: BTreeSet<(Scanner, &str)> = scan
        .findings
        .iter()
        .filter(|f| scan.baseline.contains(&f.text))
        .map(|f| (f.scanner, f.identity.as_str()))
        .collect();
    let mut flagged = Vec::new();
    let mut noise = 0;
    for f in scan
        .findings
        .iter()
        .filter(|f| f.text >= scan.first_exported)
    {
        let Some(member) = scan.member_at(f.text, f.line) else {
            continue;
        };
        let redacted: Vec<String> = all.strings[member]
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
        let text = scan.set.text(f.text);
        let line = text.lines().nth(f.line.saturating_sub(1)).unwrap_or("");
        let line: String = line.chars().take(160).collect();
        flagged.push(format!(
            "  {} {} at {} (line: {line})",
            f.scanner.name(),
            f.rule,
            redacted.join(", ")
        ));
    }
    v.line(format!(
        "scanners on the exported data: {} findings ({noise} more are flagged in the secret-free corpus too)",
        flagged.len()
    ));
    for l in &flagged {
        v.line(l);
    }
    if !flagged.is_empty() {
        v.fail(format!(
            "the scanners flag {} strings in the exported data",
            flagged.len()
        ));
    }
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
