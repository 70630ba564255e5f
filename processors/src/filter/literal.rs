//! Regexes that are only literal text, matched without the regex engine.
//!
//! Config patterns are mostly anchored literals or alternations of literals (`^code\.`,
//! `^(append_items|persist_rollout_items)$`, `(plugin|skill|hook)`). Such a pattern matches a
//! string exactly when one of finitely many literal strings is equal to it, a prefix of it, a
//! suffix of it or a substring of it (by its anchors), which plain byte comparisons answer much
//! faster than a regex search. [`Pattern::new`] always compiles the regex first (so errors are
//! the regex crate's), then keeps a literal matcher instead when [`Literals::parse`] proves the
//! pattern is one; anything it does not fully understand stays a regex.

use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A regex, or an equivalent literal matcher.
#[derive(Debug)]
pub(crate) enum Pattern {
    /// The pattern is a finite set of literals with anchors.
    Literal(Literals),
    /// Anything else.
    Regex(Regex),
}

impl Pattern {
    /// Compiles `pattern` (regex syntax, unanchored unless it says `^` / `$`).
    pub(crate) fn new(pattern: &str) -> Result<Pattern, regex::Error> {
        let re = Regex::new(pattern)?;
        Ok(match Literals::parse(pattern) {
            Some(lit) => Pattern::Literal(lit),
            None => Pattern::Regex(re),
        })
    }

    /// Whether the pattern matches anywhere in `text` (`Regex::is_match`).
    #[inline]
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match self {
            Pattern::Literal(l) => l.is_match(text),
            Pattern::Regex(re) => re.is_match(text),
        }
    }

    /// The whole set of strings the pattern matches, when it is `^(a|b|...)$`.
    pub(crate) fn exact_strings(&self) -> Option<&[String]> {
        match self {
            Pattern::Literal(l) if l.anchor == Anchor::Exact => Some(&l.alts),
            _ => None,
        }
    }
}

/// How [`Literals`] tests a text.
#[derive(Debug)]
enum Test {
    /// Some alternative is empty and the anchor is not `Exact`: every text matches.
    Always,
    /// Equal to one of these.
    Exact(Vec<Box<str>>),
    /// Equal to a member (many alternatives).
    ExactSet(FastSet),
    /// Starts with one of these (non-empty); the set holds their first bytes.
    Prefix(Vec<Box<str>>, ByteSet),
    /// Ends with one of these (non-empty); the set holds their last bytes.
    Suffix(Vec<Box<str>>, ByteSet),
    /// Contains one of these (non-empty); the set holds their first bytes.
    Contains(Vec<Box<str>>, ByteSet),
}

/// A set of byte values.
#[derive(Debug, Default, Clone, Copy)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn of(bytes: impl IntoIterator<Item = u8>) -> ByteSet {
        let mut set = ByteSet::default();
        for b in bytes {
            set.0[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        set
    }

    #[inline]
    fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

/// `a == b` for byte strings from telemetry (attribute keys, names): byte by byte from the
/// front when short, stopping at the first difference. Keys of one list mostly differ early,
/// and such strings are often cold in cache when first compared: a `memcmp` call reads the
/// whole length at once, often one more cache line than the first differing byte needs.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() <= 64 {
            a.iter().zip(b).all(|(x, y)| x == y)
        } else {
            a == b
        }
}

/// `a == b` for slices of the same length (see [`bytes_eq`]).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    bytes_eq(a, b)
}

/// Where the literals must sit in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// `^…$`: the whole text.
    Exact,
    /// `^…`: a prefix.
    Prefix,
    /// `…$`: a suffix.
    Suffix,
    /// No anchor: anywhere.
    Contains,
}

/// At most this many literals from expanding groups; beyond, the regex is kept.
const MAX_ALTERNATIVES: usize = 256;
/// Above this many exact literals, membership goes through a hash set.
const LINEAR_EXACT_MAX: usize = 16;

/// A pattern's literal alternatives and anchors.
#[derive(Debug)]
pub(crate) struct Literals {
    anchor: Anchor,
    /// Distinct alternatives, in pattern order.
    alts: Vec<String>,
    test: Test,
}

impl Literals {
    /// The literal form of `pattern`, when it is one: an optional `^`, then literal characters
    /// (`\`-escaped meta characters included) and groups `(a|b)` / `(?:a|b)` of such literals
    /// (not nested), then an optional `$`. Anything else (classes, repetitions, flags, other
    /// escapes, top-level `|`) gives `None`.
    pub(crate) fn parse(pattern: &str) -> Option<Literals> {
        let (start, rest) = match pattern.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, pattern),
        };
        let mut chars = rest.chars().peekable();
        // Alternatives of the pattern read so far (the cross product of its items).
        let mut alts: Vec<String> = vec![String::new()];
        let mut end = false;
        while let Some(c) = chars.next() {
            if end {
                return None; // something after `$`
            }
            let item: Vec<String> = match c {
                '$' => {
                    end = true;
                    continue;
                }
                '\\' => vec![escaped(chars.next()?)?.to_string()],
                '(' => group(&mut chars)?,
                c if is_meta(c) => return None,
                c => vec![c.to_string()],
            };
            if alts.len().checked_mul(item.len())? > MAX_ALTERNATIVES {
                return None;
            }
            alts = alts
                .iter()
                .flat_map(|a| item.iter().map(move |b| format!("{a}{b}")))
                .collect();
        }
        let anchor = match (start, end) {
            (true, true) => Anchor::Exact,
            (true, false) => Anchor::Prefix,
            (false, true) => Anchor::Suffix,
            (false, false) => Anchor::Contains,
        };
        let mut unique = Vec::with_capacity(alts.len());
        for a in alts {
            if !unique.contains(&a) {
                unique.push(a);
            }
        }
        Some(Literals {
            anchor,
            test: Test::new(anchor, &unique),
            alts: unique,
        })
    }

    /// Whether some alternative sits in `text` where the anchors say.
    #[inline]
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let t = text.as_bytes();
        match &self.test {
            Test::Always => true,
            Test::Exact(alts) => alts.iter().any(|a| bytes_eq(a.as_bytes(), t)),
            Test::ExactSet(set) => set.contains(text),
            Test::Prefix(alts, firsts) => {
                t.first().is_some_and(|b| firsts.has(*b))
                    && alts.iter().any(|a| {
                        let a = a.as_bytes();
                        t.len() >= a.len() && same_bytes(a, &t[..a.len()])
                    })
            }
            Test::Suffix(alts, lasts) => {
                t.last().is_some_and(|b| lasts.has(*b))
                    && alts.iter().any(|a| {
                        let a = a.as_bytes();
                        t.len() >= a.len() && same_bytes(a, &t[t.len() - a.len()..])
                    })
            }
            Test::Contains(alts, firsts) => contains_any(text, alts, firsts),
        }
    }
}

/// The alternatives of a group `(a|b)` / `(?:a|b)` of literals, read after its `(` up to and
/// including its `)`; `None` when it is anything else (nested groups, flags, meta characters).
fn group(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Vec<String>> {
    if chars.peek() == Some(&'?') {
        chars.next();
        if chars.next()? != ':' {
            return None;
        }
    }
    let mut group = vec![String::new()];
    loop {
        match chars.next()? {
            ')' => return Some(group),
            '|' => group.push(String::new()),
            '\\' => group.last_mut()?.push(escaped(chars.next()?)?),
            c if is_meta(c) => return None,
            c => group.last_mut()?.push(c),
        }
    }
}

impl Test {
    /// How to test a text for the distinct alternatives `unique` at `anchor`.
    fn new(anchor: Anchor, unique: &[String]) -> Test {
        let boxed = || unique.iter().map(|a| a.as_str().into()).collect();
        let firsts = || ByteSet::of(unique.iter().map(|a| a.as_bytes()[0]));
        match anchor {
            Anchor::Exact if unique.len() > LINEAR_EXACT_MAX => {
                Test::ExactSet(unique.iter().cloned().collect())
            }
            Anchor::Exact => Test::Exact(boxed()),
            _ if unique.iter().any(|a| a.is_empty()) => Test::Always,
            Anchor::Prefix => Test::Prefix(boxed(), firsts()),
            Anchor::Suffix => Test::Suffix(
                boxed(),
                ByteSet::of(unique.iter().map(|a| a.as_bytes()[a.len() - 1])),
            ),
            Anchor::Contains => Test::Contains(boxed(), firsts()),
        }
    }
}

/// Characters with a meaning in regex syntax outside a class.
fn is_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
    )
}

/// The literal character `\c` stands for, when `c` is one the regex crate escapes
/// (`regex::escape`); other escapes (`\d`, `\b`, `\n`, `\<`, ...) are not literals here.
fn escaped(c: char) -> Option<char> {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
    .then_some(c)
}

/// Whether one of `needles` (non-empty, with first bytes `firsts`) occurs in `text`.
fn contains_any(text: &str, needles: &[Box<str>], firsts: &ByteSet) -> bool {
    if text.len() > 256 {
        // Long texts: the standard library's two-way search, needle by needle.
        return needles.iter().any(|n| text.contains(&**n));
    }
    // Short texts: one pass, trying the needles that start with the byte at hand.
    let hay = text.as_bytes();
    hay.iter().enumerate().any(|(i, b)| {
        firsts.has(*b)
            && needles.iter().any(|n| {
                let n = n.as_bytes();
                hay.len() - i >= n.len() && same_bytes(n, &hay[i..i + n.len()])
            })
    })
}

/// A map from strings fixed at build time (config keys, names) to values, for lookups with
/// strings from telemetry. Strings are bucketed by length, so a lookup reads the bytes of the
/// looked-up string only when some entry has its length (and then mostly just the first byte);
/// when a length has many entries, a hash map is used instead.
#[derive(Debug, Clone)]
pub(crate) enum StrMap<V> {
    /// `by_len[n]`: the entries of length `n`, in insertion order.
    ByLen(Vec<Vec<(Box<str>, V)>>),
    /// Many entries of one length, or long keys.
    Hashed(HashMap<Box<str>, V, FxBuild>),
}

/// Entries of one length beyond which [`StrMap`] hashes.
const BUCKET_MAX: usize = 8;
/// Key length beyond which [`StrMap`] hashes (`by_len` has an entry per length up to the
/// longest key).
const BY_LEN_MAX: usize = 256;

impl<V> Default for StrMap<V> {
    fn default() -> Self {
        StrMap::ByLen(Vec::new())
    }
}

impl<V> StrMap<V> {
    /// Whether there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            // Buckets are only made by inserting.
            StrMap::ByLen(b) => b.is_empty(),
            StrMap::Hashed(m) => m.is_empty(),
        }
    }

    /// The value of `key`, if present.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        match self {
            StrMap::ByLen(by_len) => {
                let k = key.as_bytes();
                by_len
                    .get(k.len())?
                    .iter()
                    .find(|(e, _)| same_bytes(e.as_bytes(), k))
                    .map(|(_, v)| v)
            }
            StrMap::Hashed(m) => m.get(key),
        }
    }

    /// Whether `key` is present.
    #[inline]
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Inserts `key` → `value` unless `key` is already present (the first value stays).
    pub(crate) fn insert_if_absent(&mut self, key: &str, value: V) {
        if self.contains_key(key) {
            return;
        }
        match self {
            StrMap::ByLen(by_len) => {
                if by_len.len() <= key.len() {
                    by_len.resize_with(key.len() + 1, Vec::new);
                }
                by_len[key.len()].push((key.into(), value));
                if by_len[key.len()].len() > BUCKET_MAX || key.len() > BY_LEN_MAX {
                    let entries = std::mem::take(by_len).into_iter().flatten();
                    *self = StrMap::Hashed(entries.collect());
                }
            }
            StrMap::Hashed(m) => {
                m.insert(key.into(), value);
            }
        }
    }
}

/// FxHash (rustc's hasher): fast on short keys. Only for sets built from config, where the
/// keys cannot be chosen by whoever sends telemetry.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` of [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
/// A string set hashed with [`FxHasher`].
pub(crate) type FastSet = HashSet<String, FxBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lit(p: &str) -> Option<Literals> {
        Literals::parse(p)
    }

    #[test]
    fn literal_forms_are_recognised() {
        let l = lit(r"^code\.").expect("literal");
        assert_eq!(
            (l.anchor, &l.alts[..]),
            (Anchor::Prefix, &["code.".to_string()][..])
        );
        let l = lit(r"^(a|b\.c)$").expect("literal");
        assert_eq!(l.anchor, Anchor::Exact);
        assert_eq!(l.alts, ["a", "b.c"]);
        let l = lit(r"^(step|run)\.").expect("literal");
        assert_eq!(l.alts, ["step.", "run."]);
        let l = lit("(plugin|skill|hook)").expect("literal");
        assert_eq!(l.anchor, Anchor::Contains);
        let l = lit("(?:x|y)_z$").expect("literal");
        assert_eq!(
            (l.anchor, &l.alts[..]),
            (Anchor::Suffix, &["x_z".to_string(), "y_z".to_string()][..])
        );
        for not_literal in [
            "a|b", "^a.b", r"\d", "a*", "a+", "a?", "[ab]", "a{2}", "(?i)a", "(?P<x>a)", "((a))",
            "a$b", "a^", r"\b", r"\n", r"\<", "(a", "a)",
        ] {
            assert!(lit(not_literal).is_none(), "{not_literal}");
        }
    }

    #[test]
    fn empty_alternatives_match_everything_unless_exact() {
        let p = Pattern::new("^(a|)").expect("valid");
        assert!(p.is_match("zzz"));
        let p = Pattern::new("^(a|)$").expect("valid");
        assert!(p.is_match("") && p.is_match("a") && !p.is_match("b"));
        let p = Pattern::new("").expect("valid");
        assert!(p.is_match("anything"));
    }

    #[test]
    fn many_exact_alternatives_use_a_set() {
        let names: Vec<String> = (0..40).map(|i| format!("name_{i}")).collect();
        let p = Pattern::new(&format!("^({})$", names.join("|"))).expect("valid");
        assert!(matches!(
            &p,
            Pattern::Literal(Literals {
                test: Test::ExactSet(_),
                ..
            })
        ));
        assert!(names.iter().all(|n| p.is_match(n)));
        assert!(!p.is_match("name_40") && !p.is_match("name_1x"));
    }

    #[test]
    fn str_map_keeps_the_first_value_and_switches_to_hashing() {
        let mut m = StrMap::default();
        assert!(m.is_empty() && m.get("").is_none());
        m.insert_if_absent("busy_ns", 0);
        m.insert_if_absent("idle_ns", 1);
        m.insert_if_absent("busy_ns", 2);
        m.insert_if_absent("", 3);
        assert_eq!(m.get("busy_ns"), Some(&0));
        assert_eq!(m.get("idle_ns"), Some(&1));
        assert_eq!(m.get(""), Some(&3));
        assert_eq!(m.get("busy_nx"), None);
        assert_eq!(m.get("a_much_longer_key_than_any"), None);
        for i in 0..20 {
            m.insert_if_absent(&format!("key{i:02}"), 10 + i);
        }
        assert!(matches!(m, StrMap::Hashed(_)));
        assert_eq!(m.get("busy_ns"), Some(&0));
        assert_eq!(m.get(""), Some(&3));
        assert_eq!(m.get("key07"), Some(&17));
        m.insert_if_absent("key07", 99);
        assert_eq!(m.get("key07"), Some(&17));
        assert_eq!(m.get("key20"), None);
        assert!(!m.is_empty());
    }

    #[test]
    fn long_texts_and_long_keys_take_the_other_paths() {
        let p = Pattern::new("(plugin|skill)").expect("valid");
        let mut text = "x".repeat(300);
        assert!(!p.is_match(&text));
        text.push_str("skill");
        assert!(p.is_match(&text));
        let p = Pattern::new("ill$").expect("valid");
        assert!(p.is_match(&text) && !p.is_match("illx"));
        let long = "k".repeat(BY_LEN_MAX + 1);
        let mut m = StrMap::default();
        m.insert_if_absent("short", 1);
        m.insert_if_absent(&long, 2);
        assert!(matches!(m, StrMap::Hashed(_)));
        assert_eq!(
            (m.get("short"), m.get(&long), m.get("k")),
            (Some(&1), Some(&2), None)
        );
    }

    #[test]
    fn invalid_patterns_are_the_regex_crates_errors() {
        assert!(Pattern::new("((").is_err());
        assert!(Pattern::new("(a").is_err());
    }

    /// Patterns over a small alphabet that includes regex syntax, and texts over the same
    /// letters (plus a multi-byte one and a newline).
    fn pattern() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("é".to_string()),
            Just(r"\.".to_string()),
            Just(".".to_string()),
            Just("|".to_string()),
            Just("(".to_string()),
            Just("(?:".to_string()),
            Just(")".to_string()),
            Just("*".to_string()),
            Just(r"\-".to_string()),
            Just("-".to_string()),
            Just(r"\n".to_string()),
        ];
        (
            any::<bool>(),
            proptest::collection::vec(piece, 0..8),
            any::<bool>(),
        )
            .prop_map(|(s, body, e)| {
                format!(
                    "{}{}{}",
                    if s { "^" } else { "" },
                    body.concat(),
                    if e { "$" } else { "" }
                )
            })
    }

    proptest! {
        #[test]
        fn literal_matching_agrees_with_the_regex(
            p in pattern(),
            texts in proptest::collection::vec("[ab.é\n-]{0,6}", 1..12),
        ) {
            if let Ok(re) = Regex::new(&p) {
                let pat = Pattern::new(&p).expect("regex compiled");
                let mut texts = texts;
                if let Pattern::Literal(l) = &pat {
                    // Texts around each alternative, so that matches are common.
                    for a in &l.alts {
                        for t in [a.clone(), format!("a{a}"), format!("{a}b"), format!("é{a}\n")] {
                            texts.push(t);
                        }
                    }
                }
                for t in &texts {
                    prop_assert_eq!(pat.is_match(t), re.is_match(t), "{:?} on {:?}", p, t);
                }
            } else {
                prop_assert!(Pattern::new(&p).is_err());
            }
        }
    }
}
