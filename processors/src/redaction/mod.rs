//! `redaction` processor: removes secrets and personal data from every signal before anything
//! leaves the gateway.
//!
//! Place in the flow: receiver → **redaction** → other processors → exporters. Put it first in
//! every pipeline's chain, so that no later processor (or a debug exporter) ever sees the raw
//! values. It works in place on the decoded request; strings in which nothing matched are not
//! rewritten.
//!
//! Why it exists: Codex CLI sends the full prompt (`codex.user_prompt` → `prompt`, when
//! `log_user_prompt = true`), raw tool-call arguments and tool output (`codex.tool_result` →
//! `arguments`, `output`, **always**), the assistant answer (`codex.agent_response` → `response`)
//! and `user.email` / `user.account_id` when logged in.
//!
//! ```yaml
//! redaction:
//!   preset: codex                       # see CODEX_PRESET_DOC
//!   hash_key: "${env:REDACTION_HASH_KEY}"
//!   keys:
//!     - { key: prompt, action: truncate, length: 200 }   # replaces the preset's `mask`
//!     - { pattern: "^thread\\.", action: keep }
//!   patterns:
//!     - { name: internal_host, regex: "corp\\.acme\\.internal", action: mask }
//!   summary: counts
//! ```
//!
//! # Where it looks
//!
//! Every string in: resource attributes; scope name, version and attributes; span name,
//! attributes, status message, event names and attributes, link attributes; log record body
//! (strings, and arrays/kvlists at any depth; bytes are left alone), attributes, `event_name` and
//! `severity_text`; metric `metadata`; data point attributes of all five metric types; exemplar
//! filtered attributes. Left alone: attribute keys themselves (they select key rules but are not
//! scanned), metric names, descriptions and units, trace ids, span ids, `trace_state`, schema
//! URLs, and non-string values (except under a `mask`/`hash`/`drop` key rule, which acts on any
//! value).
//!
//! # Order, for each attribute list
//!
//! 1. `mode: allowlist`: keys not in `allowed_keys` are dropped (see [`RedactionConfig::mode`]).
//! 2. Key rules (`keys:`), the first matching rule wins. They apply to attribute keys at every
//!    level and to the keys of nested kvlists (in attribute values and in log bodies).
//! 3. Value rules (`detectors:` and `patterns:`) on every string not under a `keep`, `mask`,
//!    `hash` or `drop` key. Under `truncate`, value rules run first and the result is then cut,
//!    so a secret is never cut in half and left partly readable.
//!
//! # Audit
//!
//! Each replacement adds 1 to the audit counter `redactions` with the rule as label: a detector
//! name (`openai`, ...), a custom pattern name, `key:<key>` for an exact key rule,
//! `key_pattern:<regex>` for a key rule given by `pattern`, `allowlist` for keys dropped by the
//! allowlist. Secrets themselves are never counted, logged or kept.

mod catalog;
mod checks;
mod context;
mod detectors;
mod hash;
mod memo;
mod pii;
mod prefilter;
mod scan;
mod walk;

pub use detectors::{Category, Detector, DetectorSelection, PiiConfig, PiiKind, Selector};
pub use hash::{HASH_PREFIX, MIN_KEY_LEN};
pub use walk::{drop_deep, SUMMARY_ATTRIBUTE};

use crate::logs_view::LogsView;
use crate::{BuildError, ProcessContext, Processor};
use hash::Hasher;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use regex::Regex;
use scan::{Replace, RuleRegex, Scanner};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use walk::Run;

/// What `preset: codex` does, word for word as the README quotes it.
pub const CODEX_PRESET_DOC: &str = "\
`preset: codex` is shorthand for:

    keys:
      - { key: prompt, action: mask }           # codex.user_prompt: the whole prompt becomes [REDACTED]
      - { key: response, action: mask }         # codex.agent_response: the whole answer becomes [REDACTED]
      - { key: user.email, action: hash }       # hmac-sha256:<hex>: joinable, not reversible
      - { key: user.account_id, action: hash }
    detectors: all

Every other string (tool-call `arguments` and `output`, `error.message`, span names, resource \
and scope attributes, log bodies, ...) is scanned by every built-in detector, and only the \
matching part is replaced with [REDACTED:<detector>]. `prompt_length` and `response_length` are \
other keys and stay as they are. Your own settings override the preset: a `keys` entry for the \
same key replaces the preset's entry (and all your `keys` entries are tried first), an explicit \
`detectors:` list replaces `all`, and `patterns:` are added. Without `hash_key`, hashes use a \
random key made when the gateway starts, so they are joinable only within one gateway process.";

/// A named set of defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Codex CLI telemetry; see [`CODEX_PRESET_DOC`].
    Codex,
}

/// Whether attribute keys are filtered by a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every key passes; key and value rules say what is hidden (default).
    #[default]
    Denylist,
    /// Only `allowed_keys` pass; every other attribute is dropped (fail closed).
    Allowlist,
}

/// What a key rule does to the value of a matching attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAction {
    /// Removes the attribute (or kvlist entry).
    Drop,
    /// Replaces the whole value, of any type, with `replacement` (default `[REDACTED]`).
    Mask,
    /// Replaces the value with `hmac-sha256:<64 hex digits>`, the HMAC-SHA256 of the value under
    /// `hash_key`. Strings and bytes are hashed as they are; numbers and booleans as their text;
    /// arrays and kvlists as a canonical encoding of their content.
    Hash,
    /// Runs the value rules, then keeps the first `length` characters of each string (of the value
    /// or, for arrays/kvlists, of every string inside).
    Truncate,
    /// Leaves the value exactly as it is: no value rules either.
    Keep,
}

/// One key rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRuleConfig {
    /// The exact attribute key.
    #[serde(default)]
    pub key: Option<String>,
    /// A regex (Rust `regex` syntax) matched against attribute keys; instead of `key`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `drop`, `mask`, `hash`, `truncate` or `keep`.
    pub action: KeyAction,
    /// `mask` only: the text put in place of the value. Default `[REDACTED]`.
    #[serde(default)]
    pub replacement: Option<String>,
    /// `truncate` only (required there): characters kept.
    #[serde(default)]
    pub length: Option<usize>,
}

/// What a custom value pattern puts in place of what it matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatternAction {
    /// `[REDACTED:<name>]` (default).
    #[default]
    Mask,
    /// `hmac-sha256:<hex>` of the matched text, under `hash_key`.
    Hash,
}

/// A custom value pattern, applied like the built-in detectors.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// Rule name: letters, digits, `_`, `-`, `.`; used in `[REDACTED:<name>]` and as the audit
    /// label. Must differ from the built-in detector names and from the other patterns.
    pub name: String,
    /// Regex (Rust `regex` syntax). If it has a capture group named `secret`, only that group is
    /// replaced; otherwise the whole match is.
    pub regex: String,
    /// `mask` (default) or `hash`.
    #[serde(default)]
    pub action: PatternAction,
}

/// The HMAC key: shown as `HashKey(<redacted>)` in debug output.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct HashKey(String);

impl HashKey {
    /// A key from its text (its UTF-8 bytes are the HMAC key).
    pub fn new(key: impl Into<String>) -> Self {
        HashKey(key.into())
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// Whether changed records are marked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryMode {
    /// Nothing is added (default).
    #[default]
    None,
    /// Each span, log record and data point with at least one replacement gets the int attribute
    /// `redaction.masked.count`: its number of replacements (value-rule matches, key-rule
    /// actions and allowlist drops in the record and its events, links or exemplars).
    Counts,
}

/// Config of the `redaction` processor. All fields are optional; the default does nothing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// `codex`: the defaults described in [`CODEX_PRESET_DOC`]. Default: no preset.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// `denylist` (default) or `allowlist`. With `allowlist`, every attribute whose key is not in
    /// `allowed_keys` is dropped from resource attributes, scope attributes, span, span event and
    /// span link attributes, log record attributes, metric `metadata`, data point attributes and
    /// exemplar filtered attributes. Keys inside nested kvlist values and log bodies are not
    /// filtered by the list (key and value rules still apply to them).
    #[serde(default)]
    pub mode: Mode,
    /// `mode: allowlist` only (required there): the exact keys kept.
    #[serde(default)]
    pub allowed_keys: Vec<String>,
    /// Key rules, tried in order; the first match wins. Default: none (the preset's, if any).
    #[serde(default)]
    pub keys: Vec<KeyRuleConfig>,
    /// Built-in detectors: `all`, `none` or a list of detector and category names such as
    /// `[openai, github, cloud, pii]` (docs/redaction.md lists them all). Default: `all` with
    /// `preset: codex`, none otherwise.
    #[serde(default)]
    pub detectors: Option<DetectorSelection>,
    /// Detectors and categories taken out of `detectors`, e.g. `[generic, jwt]`. Default: none.
    #[serde(default)]
    pub exclude_detectors: Vec<Selector>,
    /// Personal data on or off by kind: `{ email, phone, iban, payment_card, national_id }`,
    /// each `true` or `false`; a kind left out follows `detectors` (so all are on with
    /// `preset: codex`). `true` turns a kind on even when `detectors` leaves it out.
    #[serde(default)]
    pub pii: PiiConfig,
    /// Custom value patterns, after the detectors. Default: none.
    #[serde(default)]
    pub patterns: Vec<PatternConfig>,
    /// Key of the `hash` actions, usually `${env:REDACTION_HASH_KEY:-}`; at least 16 bytes. Default:
    /// none, in which case a random 32-byte key is made when the processor is built (see
    /// [`RedactionProcessor::uses_ephemeral_key`]): values are still hashed, but a pseudonym is the
    /// same only within one gateway process. An empty string is the same as none, so a shipped
    /// config validates and redacts on a machine where the variable is not set.
    #[serde(default)]
    pub hash_key: Option<HashKey>,
    /// `none` (default) or `counts`: see [`SummaryMode::Counts`].
    #[serde(default)]
    pub summary: SummaryMode,
}

/// The preset's key rules.
fn codex_preset_keys() -> Vec<KeyRuleConfig> {
    let rule = |key: &str, action| KeyRuleConfig {
        key: Some(key.to_string()),
        pattern: None,
        action,
        replacement: None,
        length: None,
    };
    vec![
        rule("prompt", KeyAction::Mask),
        rule("response", KeyAction::Mask),
        rule("user.email", KeyAction::Hash),
        rule("user.account_id", KeyAction::Hash),
    ]
}

/// What a built key rule does.
#[derive(Debug, Clone)]
pub(crate) enum KeyRuleAction {
    Drop,
    Mask(String),
    Hash,
    Truncate(usize),
    Keep,
}

#[derive(Debug, Clone)]
enum KeyMatcher {
    Exact(String),
    Pattern(Regex),
}

/// A built key rule.
#[derive(Debug, Clone)]
pub(crate) struct KeyRule {
    matcher: KeyMatcher,
    pub(crate) action: KeyRuleAction,
    /// Index of its audit label.
    pub(crate) label: usize,
}

/// The built processor.
pub struct RedactionProcessor {
    keys: Vec<KeyRule>,
    has_drop_rules: bool,
    allowed_keys: Option<HashSet<String>>,
    allowlist_label: usize,
    scanner: Scanner,
    hasher: Option<Hasher>,
    ephemeral_key: bool,
    summary: bool,
    /// Audit label of each rule: value rules first, then key rules, then `allowlist`.
    labels: Vec<String>,
}

impl fmt::Debug for RedactionProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactionProcessor")
            .field("rules", &self.labels)
            .field("ephemeral_key", &self.ephemeral_key)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

fn valid_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// What is wrong with the name of `patterns[i]`, if anything.
fn pattern_name_problem(patterns: &[PatternConfig], i: usize) -> Option<String> {
    let name = &patterns.get(i)?.name;
    if !valid_rule_name(name) {
        Some(format!(
            "invalid name {name:?}: use letters, digits, `_`, `-` or `.`"
        ))
    } else if Detector::named(name).is_some() || Category::ALL.iter().any(|c| c.name() == name) {
        Some(format!("`{name}` is a built-in detector or category name"))
    } else if patterns[..i].iter().any(|q| &q.name == name) {
        Some(format!("`{name}` is used by an earlier pattern"))
    } else {
        None
    }
}

/// Reports entries of a `detectors:`-style list named twice, at `field[i]`.
fn report_repeats(field: &str, list: &[Selector], errors: &mut Vec<BuildError>) {
    for (i, s) in list.iter().enumerate() {
        if list[..i].contains(s) {
            errors.push(BuildError::field(
                format!("{field}[{i}]"),
                format!("`{}` is listed twice", s.name()),
            ));
        }
    }
}

impl RedactionConfig {
    /// The built-in detectors that run, in catalog order.
    fn selected_detectors(&self, errors: &mut Vec<BuildError>) -> Vec<Detector> {
        if let Some(DetectorSelection::List(list)) = &self.detectors {
            report_repeats("detectors", list, errors);
        }
        report_repeats("exclude_detectors", &self.exclude_detectors, errors);
        detectors::resolve(
            self.detectors.as_ref(),
            self.preset == Some(Preset::Codex),
            &self.exclude_detectors,
            &self.pii,
        )
    }

    /// Checks the config and builds the processor; all problems are returned at once, each with
    /// the path of the field inside this config (`keys[1].pattern`, `patterns[2].regex`, ...).
    pub fn build(&self) -> Result<RedactionProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        let mut rules = Rules::default();
        // Value rules: detectors, then custom patterns; then key rules; then the allowlist.
        let detectors = self.selected_detectors(&mut errors);
        for d in &detectors {
            rules.label(d.name(), Replace::Text(format!("[REDACTED:{}]", d.name())));
        }
        let regexes = self.pattern_rules(&mut rules, &mut errors);
        let keys = self.key_rules(&mut rules, &mut errors);
        let allowlist_label = rules.labels.len();
        rules.labels.push("allowlist".to_string());
        let allowed_keys = self.allowed_keys(&mut errors);
        let (hasher, ephemeral_key) = self.hasher(rules.needs_hash, &mut errors);
        let scanner = match Scanner::new(&detectors, regexes, rules.replace) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(BuildError::field(
                    "patterns",
                    format!("the detectors and patterns together do not compile: {e}"),
                ));
                None
            }
        };
        match scanner {
            Some(scanner) if errors.is_empty() => Ok(RedactionProcessor {
                has_drop_rules: keys.iter().any(|k| matches!(k.action, KeyRuleAction::Drop)),
                keys,
                allowed_keys,
                allowlist_label,
                scanner,
                hasher,
                ephemeral_key,
                summary: self.summary == SummaryMode::Counts,
                labels: rules.labels,
            }),
            _ => Err(errors),
        }
    }

    /// The custom `patterns`: their regexes, labels and replacements.
    fn pattern_rules(&self, rules: &mut Rules, errors: &mut Vec<BuildError>) -> Vec<RuleRegex> {
        let mut regexes = Vec::with_capacity(self.patterns.len());
        for (i, p) in self.patterns.iter().enumerate() {
            if let Some(problem) = pattern_name_problem(&self.patterns, i) {
                errors.push(BuildError::field(format!("patterns[{i}].name"), problem));
            }
            match RuleRegex::new(&p.regex, rules.labels.len()) {
                Ok(r) if r.matches_empty() => errors.push(BuildError::field(
                    format!("patterns[{i}].regex"),
                    format!(
                        "regex {:?} matches the empty string; it would flag every value",
                        p.regex
                    ),
                )),
                Ok(r) => regexes.push(r),
                Err(e) => errors.push(BuildError::field(
                    format!("patterns[{i}].regex"),
                    format!("invalid regex {:?}: {e}", p.regex),
                )),
            }
            let replace = match p.action {
                PatternAction::Mask => Replace::Text(format!("[REDACTED:{}]", p.name)),
                PatternAction::Hash => {
                    rules.needs_hash = true;
                    Replace::Hash
                }
            };
            rules.label(&p.name, replace);
        }
        regexes
    }

    /// Key rules: yours (errors name their index), then the preset's you did not override.
    fn key_rules(&self, rules: &mut Rules, errors: &mut Vec<BuildError>) -> Vec<KeyRule> {
        let mut key_configs: Vec<(Option<usize>, KeyRuleConfig)> = self
            .keys
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, k)| (Some(i), k))
            .collect();
        if self.preset == Some(Preset::Codex) {
            for k in codex_preset_keys() {
                if !self.keys.iter().any(|own| own.key == k.key) {
                    key_configs.push((None, k));
                }
            }
        }
        let mut keys = Vec::with_capacity(key_configs.len());
        for (index, k) in &key_configs {
            match build_key_rule(k, rules.labels.len()) {
                Ok((rule, label)) => {
                    rules.needs_hash |= matches!(rule.action, KeyRuleAction::Hash);
                    keys.push(rule);
                    rules.labels.push(label);
                }
                Err((field, msg)) => {
                    let at = match index {
                        Some(i) => format!("keys[{i}]{field}"),
                        None => format!("preset{field}"),
                    };
                    errors.push(BuildError::field(at, msg));
                }
            }
        }
        keys
    }

    /// `allowed_keys`, used with `mode: allowlist` only.
    fn allowed_keys(&self, errors: &mut Vec<BuildError>) -> Option<HashSet<String>> {
        match self.mode {
            Mode::Allowlist if self.allowed_keys.is_empty() => {
                errors.push(BuildError::field(
                    "allowed_keys",
                    "`mode: allowlist` needs a non-empty `allowed_keys` list",
                ));
                None
            }
            Mode::Allowlist => Some(self.allowed_keys.iter().cloned().collect()),
            Mode::Denylist if !self.allowed_keys.is_empty() => {
                errors.push(BuildError::field(
                    "allowed_keys",
                    "`allowed_keys` is only used with `mode: allowlist`",
                ));
                None
            }
            Mode::Denylist => None,
        }
    }

    /// The HMAC hasher: from `hash_key`, else (when a rule hashes) a random per-process key
    /// (the flag says so).
    fn hasher(&self, needs_hash: bool, errors: &mut Vec<BuildError>) -> (Option<Hasher>, bool) {
        let mut ephemeral_key = false;
        // An empty key (`${env:REDACTION_HASH_KEY:-}` with the variable unset) is no key.
        let hash_key = self.hash_key.as_ref().filter(|HashKey(k)| !k.is_empty());
        let hasher = match hash_key {
            Some(HashKey(k)) if k.len() < MIN_KEY_LEN => {
                errors.push(BuildError::field(
                    "hash_key",
                    format!(
                        "must be at least {MIN_KEY_LEN} bytes (got {}); leave it out to use a \
                         random per-process key",
                        k.len()
                    ),
                ));
                None
            }
            Some(HashKey(k)) => Hasher::new(k.as_bytes()),
            None if needs_hash => {
                ephemeral_key = true;
                Hasher::new(&hash::ephemeral_key())
            }
            None => None,
        };
        if needs_hash && hasher.is_none() && errors.is_empty() {
            errors.push(BuildError::field("hash_key", "cannot key HMAC-SHA256"));
        }
        (hasher, ephemeral_key)
    }
}

/// What the rules built so far say: a label per rule (the audit label of its counter), the
/// replacement of each value rule, and whether any rule hashes.
#[derive(Default)]
struct Rules {
    labels: Vec<String>,
    replace: Vec<Replace>,
    needs_hash: bool,
}

impl Rules {
    /// A value rule: its label and replacement.
    fn label(&mut self, name: &str, replace: Replace) {
        self.labels.push(name.to_string());
        self.replace.push(replace);
    }
}

/// Builds one key rule with its audit label, or says which field is wrong.
fn build_key_rule(
    k: &KeyRuleConfig,
    label: usize,
) -> Result<(KeyRule, String), (&'static str, String)> {
    let (matcher, name) = match (&k.key, &k.pattern) {
        (Some(key), None) if !key.is_empty() => {
            (KeyMatcher::Exact(key.clone()), format!("key:{key}"))
        }
        (Some(_), None) => return Err((".key", "must not be empty".to_string())),
        (None, Some(p)) => match Regex::new(p) {
            Ok(re) => (KeyMatcher::Pattern(re), format!("key_pattern:{p}")),
            Err(e) => return Err((".pattern", format!("invalid regex {p:?}: {e}"))),
        },
        _ => return Err(("", "needs exactly one of `key` or `pattern`".to_string())),
    };
    if k.replacement.is_some() && k.action != KeyAction::Mask {
        return Err((
            ".replacement",
            "`replacement` is only used with `action: mask`".to_string(),
        ));
    }
    let action = match (k.action, k.length) {
        (KeyAction::Truncate, Some(n)) => KeyRuleAction::Truncate(n),
        (KeyAction::Truncate, None) => {
            return Err((".length", "`truncate` needs `length`".to_string()))
        }
        (_, Some(_)) => {
            return Err((
                ".length",
                "`length` is only used with `action: truncate`".to_string(),
            ))
        }
        (KeyAction::Drop, None) => KeyRuleAction::Drop,
        (KeyAction::Mask, None) => KeyRuleAction::Mask(
            k.replacement
                .clone()
                .unwrap_or_else(|| "[REDACTED]".to_string()),
        ),
        (KeyAction::Hash, None) => KeyRuleAction::Hash,
        (KeyAction::Keep, None) => KeyRuleAction::Keep,
    };
    Ok((
        KeyRule {
            matcher,
            action,
            label,
        },
        name,
    ))
}

impl RedactionProcessor {
    /// True when a `hash` action is configured without `hash_key`: hashes then use a random key
    /// made at build time, so they are joinable only within this process. The gateway should warn.
    pub fn uses_ephemeral_key(&self) -> bool {
        self.ephemeral_key
    }

    /// The audit labels this processor can count under, in rule order.
    pub fn rule_labels(&self) -> &[String] {
        &self.labels
    }

    /// The first key rule matching `key`.
    pub(crate) fn rule_for(&self, key: &str) -> Option<&KeyRule> {
        self.keys.iter().find(|r| match &r.matcher {
            KeyMatcher::Exact(k) => k == key,
            KeyMatcher::Pattern(re) => re.is_match(key),
        })
    }

    /// Runs the value rules over one string, as the processor does everywhere; returns the
    /// redacted text, or `None` when nothing matched. For tests and tools.
    pub fn redact_str(&self, s: &str) -> Option<String> {
        let mut counts = vec![0; self.labels.len()];
        let mut state = self.scanner.state();
        self.scanner
            .redact(s, &mut state, self.hasher.as_ref(), &mut counts)
            .map(|(s, _)| s)
    }

    fn is_noop(&self) -> bool {
        self.keys.is_empty() && self.allowed_keys.is_none() && self.scanner.is_empty()
    }

    fn finish(&self, run: Run<'_>, cx: &mut ProcessContext<'_>) {
        for (label, n) in self.labels.iter().zip(&run.counts) {
            if *n > 0 {
                cx.count("redactions", label, *n);
            }
        }
    }
}

impl Processor for RedactionProcessor {
    fn process_traces(&self, req: &mut ExportTraceServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.is_noop() {
            return;
        }
        let mut run = Run::new(self);
        for rs in &mut req.resource_spans {
            run.resource(&mut rs.resource);
            for ss in &mut rs.scope_spans {
                run.scope(&mut ss.scope);
                for span in &mut ss.spans {
                    let before = run.total();
                    run.string(&mut span.name);
                    run.attributes(&mut span.attributes);
                    if let Some(status) = &mut span.status {
                        run.string(&mut status.message);
                    }
                    for event in &mut span.events {
                        run.string(&mut event.name);
                        run.attributes(&mut event.attributes);
                    }
                    for link in &mut span.links {
                        run.attributes(&mut link.attributes);
                    }
                    run.summarize(&mut span.attributes, before);
                }
            }
        }
        self.finish(run, cx);
    }

    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.is_noop() {
            return;
        }
        let mut run = Run::new(self);
        macro_rules! points {
            ($points:expr, exemplars) => {
                for dp in $points {
                    let before = run.total();
                    run.attributes(&mut dp.attributes);
                    for ex in &mut dp.exemplars {
                        run.attributes(&mut ex.filtered_attributes);
                    }
                    run.summarize(&mut dp.attributes, before);
                }
            };
            ($points:expr) => {
                for dp in $points {
                    let before = run.total();
                    run.attributes(&mut dp.attributes);
                    run.summarize(&mut dp.attributes, before);
                }
            };
        }
        for rm in &mut req.resource_metrics {
            run.resource(&mut rm.resource);
            for sm in &mut rm.scope_metrics {
                run.scope(&mut sm.scope);
                for m in &mut sm.metrics {
                    run.attributes(&mut m.metadata);
                    match &mut m.data {
                        Some(Data::Gauge(g)) => points!(&mut g.data_points, exemplars),
                        Some(Data::Sum(s)) => points!(&mut s.data_points, exemplars),
                        Some(Data::Histogram(h)) => points!(&mut h.data_points, exemplars),
                        Some(Data::ExponentialHistogram(h)) => {
                            points!(&mut h.data_points, exemplars)
                        }
                        Some(Data::Summary(s)) => points!(&mut s.data_points),
                        None => {}
                    }
                }
            }
        }
        self.finish(run, cx);
    }

    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        if self.is_noop() {
            return;
        }
        let mut run = Run::new(self);
        for rl in &mut req.resource_logs {
            run.resource(&mut rl.resource);
            for sl in &mut rl.scope_logs {
                run.scope(&mut sl.scope);
                for rec in &mut sl.log_records {
                    let before = run.total();
                    run.string(&mut rec.event_name);
                    run.string(&mut rec.severity_text);
                    if let Some(body) = &mut rec.body {
                        run.any_value(body);
                    }
                    run.attributes(&mut rec.attributes);
                    run.summarize(&mut rec.attributes, before);
                }
            }
        }
        self.finish(run, cx);
    }

    fn handles_log_views(&self) -> bool {
        true
    }

    fn process_log_views(&self, logs: &mut LogsView<'_>, cx: &mut ProcessContext<'_>) {
        if self.is_noop() {
            return;
        }
        let mut run = Run::new(self);
        for rl in &mut logs.resource_logs {
            run.resource(&mut rl.resource);
            for sl in &mut rl.scope_logs {
                run.scope(&mut sl.scope);
                for rec in &mut sl.log_records {
                    let before = run.total();
                    run.text(&mut rec.event_name);
                    run.text(&mut rec.severity_text);
                    if let Some(body) = &mut rec.body {
                        run.view_value(body, walk::Mode::Scan);
                    }
                    run.view_attributes(&mut rec.attributes);
                    run.view_summarize(&mut rec.attributes, before);
                }
            }
        }
        self.finish(run, cx);
    }
}

impl crate::Component for RedactionConfig {
    fn startup_warnings(&self) -> Vec<String> {
        match self.build() {
            Ok(p) if p.uses_ephemeral_key() => vec![
                "redaction: hash_key not set (or empty): user.email, user.account_id and the \
                 other hashed values still leave as hmac-sha256 pseudonyms, but under a random \
                 per-process key, so they group only within this gateway run; set \
                 REDACTION_HASH_KEY (at least 16 bytes, e.g. `openssl rand -hex 32`) for \
                 pseudonyms stable across restarts and replicas"
                    .to_string(),
            ],
            _ => Vec::new(),
        }
    }

    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests;
