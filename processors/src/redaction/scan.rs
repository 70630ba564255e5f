//! The value scanner: every value rule (built-in detectors and custom patterns) over one string.
//!
//! One [`RegexSet`] over all rule regexes answers "could anything match here?" in a single pass
//! without allocating; only strings that pass it are searched rule by rule. The matches of all rules
//! are merged (earliest start first; at equal start the longest; at equal length the rule listed
//! first) and the output string is built once.

use super::detectors::Check;
use super::hash::Hasher;
use regex::{CaptureLocations, Regex, RegexSet};

/// From this length on, a string is searched regex by regex instead of through the set first.
const LONG: usize = 1024;

/// What a value rule puts in place of what it matched.
pub(crate) enum Replace {
    /// This fixed text, e.g. `[REDACTED:openai]`.
    Text(String),
    /// `hmac-sha256:<hex>` of the matched text.
    Hash,
}

/// One compiled regex of a value rule.
pub(crate) struct RuleRegex {
    regex: Regex,
    /// Index of the rule (and of its audit label) this regex belongs to.
    rule: usize,
    /// Capture groups naming the secret part (`secret*`), with whether each is a quoted form.
    secret_groups: Vec<(usize, bool)>,
    check: Check,
}

impl RuleRegex {
    /// Compiles `pattern` for rule `rule`.
    pub(crate) fn new(pattern: &str, rule: usize, check: Check) -> Result<RuleRegex, regex::Error> {
        let regex = Regex::new(pattern)?;
        let secret_groups = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| {
                let name = name?;
                name.starts_with("secret")
                    .then(|| (i, name.ends_with("_dq") || name.ends_with("_sq")))
            })
            .collect();
        Ok(RuleRegex {
            regex,
            rule,
            secret_groups,
            check,
        })
    }
}

impl RuleRegex {
    /// Whether the regex matches the empty string (and so would match everywhere).
    pub(crate) fn matches_empty(&self) -> bool {
        self.regex.is_match("")
    }
}

/// All value rules, compiled.
pub(crate) struct Scanner {
    set: RegexSet,
    regexes: Vec<RuleRegex>,
    replace: Vec<Replace>,
}

/// A match: byte range and rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    start: usize,
    end: usize,
    rule: usize,
}

impl Scanner {
    /// A scanner over `regexes`; `replace[r]` is what rule `r` puts in place of its matches.
    pub(crate) fn new(
        regexes: Vec<RuleRegex>,
        replace: Vec<Replace>,
    ) -> Result<Scanner, regex::Error> {
        let set = RegexSet::new(regexes.iter().map(|r| r.regex.as_str()))?;
        Ok(Scanner {
            set,
            regexes,
            replace,
        })
    }

    /// Whether there are no value rules at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.regexes.is_empty()
    }

    /// The redacted form of `s`, or `None` when nothing in it matched (the common case: one scan,
    /// no allocation). Adds the number of replacements of each rule to `counts[rule]` and returns
    /// their total with the new text.
    pub(crate) fn redact(
        &self,
        s: &str,
        hasher: Option<&Hasher>,
        counts: &mut [u64],
    ) -> Option<(String, u64)> {
        if self.regexes.is_empty() {
            return None;
        }
        let mut hits = Vec::new();
        if s.len() >= LONG {
            // Long text: each regex on its own is faster than the set, thanks to the literal
            // prefilters (memchr/Teddy on `sk-`, `ghp_`, `@`, ...) the set cannot use.
            for r in &self.regexes {
                collect(r, s, &mut hits);
            }
        } else {
            if !self.set.is_match(s) {
                return None;
            }
            for i in self.set.matches(s).iter() {
                if let Some(r) = self.regexes.get(i) {
                    collect(r, s, &mut hits);
                }
            }
        }
        if hits.is_empty() {
            return None;
        }
        hits.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.rule.cmp(&b.rule))
        });
        let mut out = String::with_capacity(s.len() + 16);
        let mut pos = 0;
        let mut total = 0;
        for hit in hits {
            if hit.start < pos {
                continue; // overlaps a hit already taken
            }
            out.push_str(s.get(pos..hit.start)?);
            match self.replace.get(hit.rule)? {
                Replace::Text(t) => out.push_str(t),
                Replace::Hash => match hasher {
                    Some(h) => out.push_str(&h.hash_bytes(s.get(hit.start..hit.end)?.as_bytes())),
                    // Unreachable by construction (a hash rule always has a hasher); fail closed.
                    None => out.push_str("[REDACTED]"),
                },
            }
            if let Some(c) = counts.get_mut(hit.rule) {
                *c += 1;
            }
            total += 1;
            pos = hit.end;
        }
        out.push_str(s.get(pos..)?);
        Some((out, total))
    }
}

/// Every match of one regex in `s` that passes its check, as the byte range of its secret part.
fn collect(r: &RuleRegex, s: &str, hits: &mut Vec<Hit>) {
    // The common case, nothing found, costs one search and no allocation.
    let Some(first) = r.regex.find(s) else {
        return;
    };
    // A match cannot start before the first one.
    let mut at = first.start();
    if r.secret_groups.is_empty() {
        while let Some(m) = r.regex.find_at(s, at) {
            if m.start() < m.end()
                && r.check
                    .passes(m.as_str(), s.get(..m.start()).unwrap_or_default(), false)
            {
                hits.push(Hit {
                    start: m.start(),
                    end: m.end(),
                    rule: r.rule,
                });
            }
            at = next_start(s, m.start(), m.end());
            if at > s.len() {
                break;
            }
        }
        return;
    }
    let mut locs: CaptureLocations = r.regex.capture_locations();
    while let Some(m) = r.regex.captures_read_at(&mut locs, s, at) {
        let secret = r
            .secret_groups
            .iter()
            .find_map(|&(g, quoted)| locs.get(g).map(|(a, b)| (a, b, quoted)));
        let mut resume = m.end();
        if let Some((a, b, quoted)) = secret {
            // Resume right after the secret, so that a boundary character consumed after it can
            // start the next match.
            resume = b;
            if a < b
                && r.check.passes(
                    s.get(a..b).unwrap_or_default(),
                    s.get(..a).unwrap_or_default(),
                    quoted,
                )
            {
                hits.push(Hit {
                    start: a,
                    end: b,
                    rule: r.rule,
                });
            }
        }
        at = next_start(s, m.start(), resume);
        if at > s.len() {
            break;
        }
    }
}

/// Where to search next after a match `[start, end)`: at `end`, or one character further when the
/// match was empty (so the search always moves forward).
fn next_start(s: &str, start: usize, end: usize) -> usize {
    if end > start {
        return end;
    }
    match s.get(end..).and_then(|rest| rest.chars().next()) {
        Some(c) => end + c.len_utf8(),
        None => s.len() + 1,
    }
}
