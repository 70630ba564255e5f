//! The value scanner: every value rule (built-in detectors and custom patterns) over one string.
//!
//! Built-in detectors cost one pass over the text when nothing is there:
//! - **Prefilter**: one Aho-Corasick DFA (ASCII case-insensitive) over every literal any enabled
//!   format starts from (`ghp_`, `sk-`, `-----BEGIN`, `password`, `@`, ...; a few hundred).
//!   Each occurrence names the formats to try there.
//! - **Lexical pass** (only when a format wants it): word starts — a digit, an upper-case
//!   letter, `+`/`(` before a digit — for the formats without a literal (cards, phone numbers,
//!   IBANs, national ids, Twilio SIDs, Discord bot tokens). Digit runs are parsed once.
//! - **Confirmation**, on candidates only: the format's regex, run *anchored* at the candidate
//!   (all regexes are one multi-pattern regex, searched per pattern), or its code.
//!
//! Custom patterns are searched as before: a `RegexSet` says which can match a short string,
//! and each is then run on its own (on long strings each directly, with its literal
//! optimisations).
//!
//! The matches of all rules are merged (earliest start first; at equal start the longest; at
//! equal length the rule listed first; a match overlapping one already taken extends what it
//! removes) and the output string is built once.

use super::catalog::{self, Check, Edge, Format, How, On, Start, WordStart};
use super::detectors::Detector;
use super::hash::Hasher;
use super::memo::{self, Memo};
use super::pii::Wanted;
use super::prefilter::{self, LitFilter};
use regex::{CaptureLocations, Regex, RegexSet};
use regex_automata::meta;
use regex_automata::util::captures::Captures;
use regex_automata::util::pool::{Pool, PoolGuard};
use regex_automata::{Anchored, Input, PatternID};

/// From this length on, a custom pattern is searched on its own instead of through the set.
const LONG: usize = 1024;

/// Strings shorter than this cannot hold any built-in format.
const SHORTEST: usize = 5;

/// What a value rule puts in place of what it matched.
pub(crate) enum Replace {
    /// This fixed text, e.g. `[REDACTED:openai]`.
    Text(String),
    /// `hmac-sha256:<hex>` of the matched text.
    Hash,
}

/// One compiled custom pattern.
pub(crate) struct RuleRegex {
    regex: Regex,
    /// Index of the rule (and of its audit label) this regex belongs to.
    rule: usize,
    /// Capture group naming the secret part, if any.
    secret_group: Option<usize>,
}

impl RuleRegex {
    /// Compiles `pattern` for rule `rule`.
    pub(crate) fn new(pattern: &str, rule: usize) -> Result<RuleRegex, regex::Error> {
        let regex = Regex::new(pattern)?;
        let secret_group = regex
            .capture_names()
            .position(|name| name.is_some_and(|n| n.starts_with("secret")));
        Ok(RuleRegex {
            regex,
            rule,
            secret_group,
        })
    }

    /// Whether the regex matches the empty string (and so would match everywhere).
    pub(crate) fn matches_empty(&self) -> bool {
        self.regex.is_match("")
    }
}

/// How a built format is confirmed.
enum Confirm {
    Re {
        pid: PatternID,
        secret: Option<usize>,
        edge: Edge,
        check: Check,
        /// The fewest bytes the regex can match: a candidate with fewer left is not searched.
        min_len: usize,
    },
    Fn(catalog::MatchFn),
    Word(catalog::WordFn),
}

/// A format of an enabled detector, ready to run.
struct Built {
    rule: usize,
    start: Start,
    confirm: Confirm,
}

/// A literal of the prefilter and the formats it starts.
struct Anchor {
    /// `(format, exact literal)`: with an exact literal, the text must match it byte for byte.
    uses: Vec<(usize, Option<&'static str>)>,
}

/// A regex cache with capture slots, taken from the pool once per walk.
pub(crate) struct Scratch {
    cache: meta::Cache,
    caps: Captures,
    clean: Memo,
}

type ScratchFn =
    Box<dyn Fn() -> Scratch + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

/// The built-in detectors, compiled.
struct Builtins {
    lits: LitFilter,
    anchors: Vec<Anchor>,
    formats: Vec<Built>,
    want: Wanted,
    by_word: [Vec<usize>; 5],
    re: meta::Regex,
    scratch: Pool<Scratch, ScratchFn>,
}

/// All value rules, compiled.
pub(crate) struct Scanner {
    builtins: Option<Builtins>,
    set: RegexSet,
    patterns: Vec<RuleRegex>,
    replace: Vec<Replace>,
}

/// A match: byte range and rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    start: usize,
    end: usize,
    rule: usize,
}

/// Per-walk scratch space, reused across the strings of one request: the regex cache, capture
/// slots and match lists, so that scanning a string allocates nothing.
pub(crate) struct ScanState<'s> {
    scratch: Option<PoolGuard<'s, Scratch, ScratchFn>>,
    hits: Vec<Hit>,
    spans: Vec<(usize, usize)>,
}

fn word_index(k: WordStart) -> usize {
    match k {
        WordStart::Digit => 0,
        WordStart::Upper => 1,
        WordStart::Plus => 2,
        WordStart::Paren => 3,
        WordStart::At => 4,
    }
}

impl Builtins {
    /// Compiles the formats of `detectors`; detector `i` gets rule index `i`.
    fn new(detectors: &[Detector]) -> Result<Option<Builtins>, String> {
        let mut lits: Vec<String> = Vec::new();
        let mut anchors: Vec<Anchor> = Vec::new();
        let mut formats = Vec::new();
        let mut patterns: Vec<&'static str> = Vec::new();
        let mut want = Wanted::default();
        let mut by_word: [Vec<usize>; 5] = Default::default();
        for (rule, d) in detectors.iter().enumerate() {
            for f in d.format_defs() {
                let index = formats.len();
                let (start, confirm) = Self::confirm(f, &mut patterns);
                match &f.on {
                    On::Lit {
                        lits: ls, exact, ..
                    } => {
                        for &l in *ls {
                            let key = l.to_ascii_lowercase();
                            let a = match lits.iter().position(|x| *x == key) {
                                Some(a) => a,
                                None => {
                                    lits.push(key);
                                    anchors.push(Anchor { uses: Vec::new() });
                                    anchors.len() - 1
                                }
                            };
                            anchors[a].uses.push((index, exact.then_some(l)));
                        }
                    }
                    On::Word(k) => {
                        want.add(*k);
                        by_word[word_index(*k)].push(index);
                    }
                }
                formats.push(Built {
                    rule,
                    start,
                    confirm,
                });
            }
        }
        if formats.is_empty() {
            return Ok(None);
        }
        let lit_filter = LitFilter::new(&lits)?;
        let re = meta::Builder::new()
            .configure(meta::Config::new().nfa_size_limit(Some(64 << 20)))
            .build_many(&patterns)
            .map_err(|e| e.to_string())?;
        let re2 = re.clone();
        let make: ScratchFn = Box::new(move || Scratch {
            cache: re2.create_cache(),
            caps: re2.create_captures(),
            clean: Memo::default(),
        });
        for f in &mut formats {
            if let Confirm::Re { pid, secret, .. } = &mut f.confirm {
                *secret = re.group_info().to_index(*pid, "secret");
            }
        }
        Ok(Some(Builtins {
            lits: lit_filter,
            anchors,
            formats,
            want,
            by_word,
            re,
            scratch: Pool::new(make),
        }))
    }

    fn confirm(f: &Format, patterns: &mut Vec<&'static str>) -> (Start, Confirm) {
        let start = match &f.on {
            On::Lit { start, .. } => *start,
            On::Word(_) => Start::At,
        };
        let confirm = match &f.how {
            How::Re(re, edge, check) => {
                patterns.push(re);
                // 0 (search every candidate) if the pattern does not parse alone; it is
                // compiled with the others, which reports any error.
                let min_len = regex_automata::util::syntax::parse(re)
                    .ok()
                    .and_then(|hir| hir.properties().minimum_len())
                    .unwrap_or(0);
                Confirm::Re {
                    pid: PatternID::new_unchecked(patterns.len() - 1),
                    secret: None,
                    edge: *edge,
                    check: *check,
                    min_len,
                }
            }
            How::Fn(m) => Confirm::Fn(*m),
            How::Word(w) => Confirm::Word(*w),
        };
        (start, confirm)
    }

    /// Every match of the built-in formats in `s`, appended to `st.hits`.
    fn scan<'s>(&'s self, s: &str, st: &mut ScanState<'s>) {
        let b = s.as_bytes();
        self.lits.find(b, |lit, start, end| {
            let Some(anchor) = self.anchors.get(lit) else {
                return;
            };
            for &(fi, exact) in &anchor.uses {
                if exact.is_some_and(|l| b.get(start..end) != Some(l.as_bytes())) {
                    continue;
                }
                if let Some(f) = self.formats.get(fi) {
                    self.try_at(f, s, start, end, st);
                }
            }
        });
        let mut found = std::mem::take(&mut st.spans);
        prefilter::words(b, self.want, |kind, w| {
            for &fi in &self.by_word[word_index(kind)] {
                if let Some(Built {
                    rule,
                    confirm: Confirm::Word(f),
                    ..
                }) = self.formats.get(fi)
                {
                    found.clear();
                    f(s, w, &mut found);
                    st.hits.extend(found.iter().map(|&(start, end)| Hit {
                        start,
                        end,
                        rule: *rule,
                    }));
                }
            }
        });
        found.clear();
        st.spans = found;
    }

    /// Tries one format at a literal found at `at..lit_end`.
    fn try_at<'s>(&'s self, f: &Built, s: &str, at: usize, lit_end: usize, st: &mut ScanState<'s>) {
        let b = s.as_bytes();
        let start = match f.start {
            Start::At => at,
            Start::Fixed(n) => match at.checked_sub(n) {
                Some(x) => x,
                None => return,
            },
            Start::Back(class, max) => {
                let mut x = at;
                while x > 0 && at - x < max && class(b[x - 1]) {
                    x -= 1;
                }
                x
            }
        };
        if !s.is_char_boundary(start) {
            return;
        }
        match &f.confirm {
            Confirm::Re {
                pid,
                secret,
                edge,
                check,
                min_len,
            } => {
                // Too short a rest to match (timestamps' `11`, version strings' `0.`, ...).
                if b.len().saturating_sub(start) < *min_len {
                    return;
                }
                if *edge != Edge::Free && start > 0 && catalog::is_alnum(b[start - 1]) {
                    return;
                }
                let Some((ms, me, ss, se)) = self.run_re(s, start, *pid, *secret, st) else {
                    return;
                };
                if *edge == Edge::Both && b.get(me).is_some_and(|&c| catalog::is_alnum(c)) {
                    return;
                }
                if ss < se && check.passes(s, ms, ss, s.get(ss..se).unwrap_or_default()) {
                    st.hits.push(Hit {
                        start: ss,
                        end: se,
                        rule: f.rule,
                    });
                }
            }
            Confirm::Fn(m) => {
                let mut found = std::mem::take(&mut st.spans);
                found.clear();
                m(s, start, lit_end, &mut found);
                st.hits
                    .extend(found.iter().filter(|(a, z)| a < z).map(|&(a, z)| Hit {
                        start: a,
                        end: z,
                        rule: f.rule,
                    }));
                found.clear();
                st.spans = found;
            }
            Confirm::Word(_) => {}
        }
    }

    /// Scratch space from the pool, with an empty memo.
    fn take(&self) -> PoolGuard<'_, Scratch, ScratchFn> {
        let mut g = self.scratch.get();
        g.clean.reset();
        g
    }

    /// Runs pattern `pid` anchored at `start`: (match start, match end, secret start, secret end).
    fn run_re<'s>(
        &'s self,
        s: &str,
        start: usize,
        pid: PatternID,
        secret: Option<usize>,
        st: &mut ScanState<'s>,
    ) -> Option<(usize, usize, usize, usize)> {
        let input = Input::new(s)
            .range(start..)
            .anchored(Anchored::Pattern(pid));
        let Scratch { cache, caps, .. } = &mut **st.scratch.get_or_insert_with(|| self.take());
        match secret {
            None => {
                let m = self.re.search_with(cache, &input)?;
                Some((m.start(), m.end(), m.start(), m.end()))
            }
            Some(g) => {
                self.re.search_captures_with(cache, &input, caps);
                let m = caps.get_match()?;
                let sec = caps
                    .get_group(g)
                    .map_or((m.start(), m.end()), |sp| (sp.start, sp.end));
                Some((m.start(), m.end(), sec.0, sec.1))
            }
        }
    }
}

impl Scanner {
    /// A scanner over the formats of `detectors` (rule `i` is detector `i`), then the custom
    /// `patterns` (their `rule` indexes follow); `replace[r]` is what rule `r` puts in place of
    /// its matches.
    pub(crate) fn new(
        detectors: &[Detector],
        patterns: Vec<RuleRegex>,
        replace: Vec<Replace>,
    ) -> Result<Scanner, String> {
        let builtins = Builtins::new(detectors)?;
        let set =
            RegexSet::new(patterns.iter().map(|r| r.regex.as_str())).map_err(|e| e.to_string())?;
        Ok(Scanner {
            builtins,
            set,
            patterns,
            replace,
        })
    }

    /// Whether there are no value rules at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.builtins.is_none() && self.patterns.is_empty()
    }

    /// Scratch space for a walk.
    pub(crate) fn state(&self) -> ScanState<'_> {
        ScanState {
            scratch: None,
            hits: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// The redacted form of `s`, or `None` when nothing in it matched (the common case: one
    /// pass, no allocation). Adds the number of replacements of each rule to `counts[rule]` and
    /// returns their total with the new text.
    pub(crate) fn redact<'s>(
        &'s self,
        s: &str,
        st: &mut ScanState<'s>,
        hasher: Option<&Hasher>,
        counts: &mut [u64],
    ) -> Option<(String, u64)> {
        st.hits.clear();
        let memo = match &self.builtins {
            Some(b) if s.len() <= memo::MAX_LEN => {
                let h = memo::hash(s.as_bytes());
                let scratch = st.scratch.get_or_insert_with(|| b.take());
                if scratch.clean.contains(s.as_bytes(), h) {
                    return None;
                }
                Some(h)
            }
            _ => None,
        };
        if let Some(b) = &self.builtins {
            if s.len() >= SHORTEST {
                b.scan(s, st);
            }
        }
        if !self.patterns.is_empty() {
            self.custom(s, &mut st.hits);
        }
        if st.hits.is_empty() {
            if let (Some(h), Some(scratch)) = (memo, st.scratch.as_mut()) {
                scratch.clean.insert(s.as_bytes(), h);
            }
            return None;
        }
        st.hits.sort_unstable_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.rule.cmp(&b.rule))
        });
        let mut out = String::with_capacity(s.len() + 16);
        let mut pos = 0;
        let mut total = 0;
        for hit in &st.hits {
            if hit.start < pos {
                // Overlaps a hit already taken: the union goes (an assignment's unterminated
                // value running into a private key must not leave the key's tail behind).
                pos = pos.max(hit.end);
                continue;
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

    fn custom(&self, s: &str, hits: &mut Vec<Hit>) {
        if s.len() >= LONG {
            for r in &self.patterns {
                collect(r, s, hits);
            }
            return;
        }
        if !self.set.is_match(s) {
            return;
        }
        for i in self.set.matches(s).iter() {
            if let Some(r) = self.patterns.get(i) {
                collect(r, s, hits);
            }
        }
    }
}

/// Every match of one custom pattern in `s`, as the byte range of its secret part.
fn collect(r: &RuleRegex, s: &str, hits: &mut Vec<Hit>) {
    let Some(first) = r.regex.find(s) else {
        return;
    };
    let mut at = first.start();
    let mut locs: CaptureLocations = r.regex.capture_locations();
    while let Some(m) = r.regex.captures_read_at(&mut locs, s, at) {
        let (a, b) = r
            .secret_group
            .and_then(|g| locs.get(g))
            .unwrap_or((m.start(), m.end()));
        if a < b {
            hits.push(Hit {
                start: a,
                end: b,
                rule: r.rule,
            });
        }
        // Resume right after the secret, so that a boundary consumed after it can start the
        // next match; always move forward.
        let resume = if r.secret_group.is_some() { b } else { m.end() };
        at = next_start(s, m.start(), resume.max(m.start()));
        if at > s.len() {
            break;
        }
    }
}

/// Where to search next after a match `[start, end)`: at `end`, or one character further when
/// the match was empty (so the search always moves forward).
fn next_start(s: &str, start: usize, end: usize) -> usize {
    if end > start {
        return end;
    }
    match s.get(end..).and_then(|rest| rest.chars().next()) {
        Some(c) => end + c.len_utf8(),
        None => s.len() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_format_compiles_into_one_scanner() {
        let all: Vec<Detector> = Detector::all().collect();
        let s = Scanner::new(&all, Vec::new(), Vec::new()).expect("compiles");
        assert!(!s.is_empty());
    }

    #[test]
    fn each_format_regex_compiles_on_its_own() {
        for d in Detector::all() {
            for f in d.format_defs() {
                if let How::Re(re, _, _) = f.how {
                    assert!(regex::Regex::new(re).is_ok(), "{}: {re}", d.name());
                }
            }
        }
    }
}
