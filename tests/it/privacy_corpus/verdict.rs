//! The privacy judge's verdicts on decoded backend data: every planted value reached the gateway
//! (pass-through backend), none reached a backend behind the redaction, and the ordinary
//! substrings survived. Each adds lines to the report and failures to the [`Verdict`].

use std::collections::{BTreeMap, BTreeSet};

use crate::support::corpus::{Category, Channel, Planted};
use crate::support::exported::Exported;

/// Largest share of ordinary substrings the gateway may alter.
pub const MAX_ALTERED: f64 = 0.01;

/// The report of a run and what failed.
#[derive(Default)]
pub struct Verdict {
    pub report: String,
    pub failures: Vec<String>,
}

impl Verdict {
    pub fn line(&mut self, line: impl AsRef<str>) {
        self.report.push_str(line.as_ref());
        self.report.push('\n');
    }

    pub fn fail(&mut self, failure: String) {
        self.failures.push(failure);
    }
}

/// A leak: a planted value (or its core) found at a backend.
pub struct Leak<'a> {
    pub planted: &'a Planted,
    pub backend: &'static str,
    pub place: String,
}

/// The planted values found in `e`: by their core (so a partial leak counts), or by the decoded
/// core in base64.
pub fn found_planted<'a>(e: &Exported, planted: &[&'a Planted]) -> Vec<(&'a Planted, String)> {
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

/// Every planted value and ordinary substring arrived at the pass-through backend `raw`.
pub fn delivered(raw: &Exported, planted: &[&Planted], ordinary: &[&str], v: &mut Verdict) {
    let found: BTreeSet<*const Planted> = found_planted(raw, planted)
        .iter()
        .map(|(p, _)| *p as *const _)
        .collect();
    let missing: Vec<String> = planted
        .iter()
        .filter(|p| !found.contains(&(**p as *const _)))
        .map(|p| format!("{} ({}, {})", p.format, p.channel.name(), p.carrier))
        .collect();
    let ord_missing: Vec<&str> = ordinary
        .iter()
        .zip(raw.find_all(ordinary, false))
        .filter(|(_, f)| f.is_none())
        .map(|(o, _)| *o)
        .collect();
    v.line(format!(
        "raw pipeline: {}/{} planted values and {}/{} ordinary substrings arrived",
        planted.len() - missing.len(),
        planted.len(),
        ordinary.len() - ord_missing.len(),
        ordinary.len()
    ));
    if !missing.is_empty() || !ord_missing.is_empty() {
        v.fail(format!(
            "not delivered to the gateway (corpus or session broken): {missing:?} {ord_missing:?}"
        ));
    }
}

/// No planted value reached any of `backends`; reports by category, channel and format.
pub fn no_leaks(backends: &[(&'static str, Exported)], planted: &[&Planted], v: &mut Verdict) {
    let mut leaks: Vec<Leak<'_>> = Vec::new();
    for (label, e) in backends {
        for (p, place) in found_planted(e, planted) {
            leaks.push(Leak {
                planted: p,
                backend: label,
                place,
            });
        }
    }
    let leaked: BTreeSet<*const Planted> = leaks.iter().map(|l| l.planted as *const _).collect();
    let is_leaked = |p: &Planted| leaked.contains(&(p as *const _));
    v.line(format!(
        "\nplanted values reaching any of {} backends, by category:",
        backends.len()
    ));
    by_category(planted, &is_leaked, v);
    let mut by_channel: BTreeMap<Channel, (usize, usize)> = BTreeMap::new();
    for p in planted {
        let e = by_channel.entry(p.channel).or_default();
        e.0 += 1;
        e.1 += usize::from(is_leaked(p));
    }
    v.line("by channel:");
    for (c, (n, k)) in by_channel {
        v.line(format!("  {:<16} {k:>4} of {n:>4} leaked", c.name()));
    }
    by_format(planted, &leaks, &is_leaked, v);
    if !leaks.is_empty() {
        v.fail(format!(
            "{} of {} planted values reached a backend",
            leaked.len(),
            planted.len()
        ));
    }
}

fn by_category(planted: &[&Planted], is_leaked: &dyn Fn(&Planted) -> bool, v: &mut Verdict) {
    v.line(format!(
        "  {:<16} {:>8} {:>7} {:>7}",
        "category", "formats", "values", "leaked"
    ));
    let mut by_cat: BTreeMap<Category, (BTreeSet<&str>, usize, usize)> = BTreeMap::new();
    for p in planted {
        let e = by_cat.entry(p.category).or_default();
        e.0.insert(&p.format);
        e.1 += 1;
        e.2 += usize::from(is_leaked(p));
    }
    let (mut f, mut n, mut l) = (0, 0, 0);
    for (c, (formats, values, leaked)) in &by_cat {
        v.line(format!(
            "  {:<16} {:>8} {values:>7} {leaked:>7}",
            c.name(),
            formats.len()
        ));
        (f, n, l) = (f + formats.len(), n + values, l + leaked);
    }
    v.line(format!("  {:<16} {f:>8} {n:>7} {l:>7}", "total"));
}

/// Formats with a leak: how many of their values leaked, and one place.
fn by_format(
    planted: &[&Planted],
    leaks: &[Leak<'_>],
    is_leaked: &dyn Fn(&Planted) -> bool,
    v: &mut Verdict,
) {
    let mut by_format: BTreeMap<&str, (usize, usize, Option<&Leak<'_>>)> = BTreeMap::new();
    for p in planted {
        let e = by_format.entry(&p.format).or_default();
        e.0 += 1;
        e.1 += usize::from(is_leaked(p));
    }
    for l in leaks {
        by_format
            .entry(&l.planted.format)
            .or_default()
            .2
            .get_or_insert(l);
    }
    let leaking: Vec<_> = by_format.iter().filter(|(_, (_, k, _))| *k > 0).collect();
    v.line(format!(
        "formats leaking ({} of {}):",
        leaking.len(),
        by_format.len()
    ));
    for (format, (n, k, first)) in leaking {
        let Some(first) = first else { continue };
        v.line(format!(
            "  LEAK {format} [{}]: {k}/{n} values, e.g. via {} ({}) at {}: {}",
            first.planted.category.name(),
            first.planted.channel.name(),
            first.planted.carrier,
            first.backend,
            first.place
        ));
    }
}

/// At most [`MAX_ALTERED`] of the ordinary substrings are missing at any of `backends`.
pub fn ordinary_kept(backends: &[(&'static str, Exported)], ordinary: &[&str], v: &mut Verdict) {
    let mut altered: BTreeSet<&str> = BTreeSet::new();
    for (_, e) in backends {
        for (o, f) in ordinary.iter().zip(e.find_all(ordinary, false)) {
            if f.is_none() {
                altered.insert(o);
            }
        }
    }
    let share = altered.len() as f64 / ordinary.len() as f64;
    v.line(format!(
        "\nordinary substrings altered: {}/{} = {:.2} % (limit {:.0} %)",
        altered.len(),
        ordinary.len(),
        share * 100.0,
        MAX_ALTERED * 100.0
    ));
    for o in &altered {
        v.line(format!("  altered: {o}"));
    }
    if share > MAX_ALTERED {
        v.fail(format!(
            "{:.2} % of ordinary substrings altered",
            share * 100.0
        ));
    }
}
