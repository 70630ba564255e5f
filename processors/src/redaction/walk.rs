//! The walk over one request: every place a string can hide, attribute lists with their key
//! rules, and nested array/kvlist values at any depth without recursion (an explicit stack on the
//! heap, so a hostile 100,000-level value cannot overflow the thread's stack).

use super::scan::ScanState;
use super::{KeyRuleAction, RedactionProcessor};
use crate::logs_view::{KvView, Val, ValueView};
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::borrow::Cow;

/// The attribute added to each changed record when `summary: counts`.
pub const SUMMARY_ATTRIBUTE: &str = "redaction.masked.count";

/// How strings found under a key are treated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Value rules only.
    Scan,
    /// Value rules, then cut to `len` characters (counted under audit label `label`).
    Truncate { len: usize, label: usize },
}

/// Work left to do, on the heap.
enum Item<'a> {
    Value(&'a mut AnyValue, Mode),
    Kvs(&'a mut Vec<KeyValue>, Mode),
}

/// One request's pass: the processor plus what was redacted so far.
pub(crate) struct Run<'p> {
    p: &'p RedactionProcessor,
    /// Replacements per audit label.
    pub(crate) counts: Vec<u64>,
    /// Replacements in total, for `summary: counts`.
    total: u64,
    /// The scanner's scratch space, reused for every string of the request.
    state: ScanState<'p>,
}

impl<'p> Run<'p> {
    pub(crate) fn new(p: &'p RedactionProcessor) -> Self {
        Run {
            p,
            counts: vec![0; p.labels.len()],
            total: 0,
            state: p.scanner.state(),
        }
    }

    fn count(&mut self, label: usize, n: u64) {
        if let Some(c) = self.counts.get_mut(label) {
            *c += n;
        }
        self.total += n;
    }

    /// Runs the value rules over one string, rewriting it only when something matched.
    pub(crate) fn string(&mut self, s: &mut String) {
        let p = self.p;
        if let Some((new, n)) =
            p.scanner
                .redact(s, &mut self.state, p.hasher.as_ref(), &mut self.counts)
        {
            *s = new;
            self.total += n;
        }
    }

    fn truncate(&mut self, s: &mut String, len: usize, label: usize) {
        if let Some((cut, _)) = s.char_indices().nth(len) {
            s.truncate(cut);
            self.count(label, 1);
        }
    }

    /// A resource: its attributes (allowlist applies).
    pub(crate) fn resource(&mut self, r: &mut Option<Resource>) {
        if let Some(r) = r {
            self.attributes(&mut r.attributes);
        }
    }

    /// A scope: name, version and attributes (allowlist applies).
    pub(crate) fn scope(&mut self, s: &mut Option<InstrumentationScope>) {
        if let Some(s) = s {
            self.string(&mut s.name);
            self.string(&mut s.version);
            self.attributes(&mut s.attributes);
        }
    }

    /// Replacements so far; a record's own count is the difference across it.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// With `summary: counts`, sets `redaction.masked.count` on a record that had replacements
    /// since `before`.
    pub(crate) fn summarize(&self, attrs: &mut Vec<KeyValue>, before: u64) {
        let n = self.total - before;
        if !self.p.summary || n == 0 {
            return;
        }
        let value = Some(AnyValue {
            value: Some(Value::IntValue(i64::try_from(n).unwrap_or(i64::MAX))),
        });
        match attrs.iter_mut().find(|kv| kv.key == SUMMARY_ATTRIBUTE) {
            Some(kv) => drop_deep(std::mem::replace(&mut kv.value, value)),
            None => attrs.push(KeyValue {
                key: SUMMARY_ATTRIBUTE.to_string(),
                value,
                ..Default::default()
            }),
        }
    }

    /// A record/resource/scope attribute list: allowlist, then key rules, then value rules.
    pub(crate) fn attributes(&mut self, kvs: &mut Vec<KeyValue>) {
        self.allowlist(kvs);
        let mut stack = Vec::new();
        self.kvs(kvs, Mode::Scan, &mut stack);
        self.drain(stack);
    }

    /// A free-standing value (a log body): key rules inside kvlists, value rules everywhere.
    pub(crate) fn any_value(&mut self, v: &mut AnyValue) {
        let mut stack = Vec::new();
        self.value(v, Mode::Scan, &mut stack);
        self.drain(stack);
    }

    fn drain<'a>(&mut self, mut stack: Vec<Item<'a>>) {
        while let Some(item) = stack.pop() {
            match item {
                Item::Value(v, mode) => self.value(v, mode, &mut stack),
                Item::Kvs(kvs, mode) => self.kvs(kvs, mode, &mut stack),
            }
        }
    }

    fn allowlist(&mut self, kvs: &mut Vec<KeyValue>) {
        let p = self.p;
        let Some(allowed) = &p.allowed_keys else {
            return;
        };
        let label = p.allowlist_label;
        kvs.retain_mut(|kv| {
            if allowed.contains(kv.key.as_str()) {
                return true;
            }
            drop_deep(kv.value.take());
            self.count(label, 1);
            false
        });
    }

    fn kvs<'a>(&mut self, kvs: &'a mut Vec<KeyValue>, mode: Mode, stack: &mut Vec<Item<'a>>) {
        let p = self.p;
        if p.has_drop_rules {
            kvs.retain_mut(|kv| match p.rule_for(&kv.key) {
                Some(rule) if matches!(rule.action, KeyRuleAction::Drop) => {
                    drop_deep(kv.value.take());
                    self.count(rule.label, 1);
                    false
                }
                _ => true,
            });
        }
        for kv in kvs.iter_mut() {
            let Some(rule) = p.rule_for(&kv.key) else {
                if let Some(v) = kv.value.as_mut() {
                    self.value(v, mode, stack);
                }
                continue;
            };
            match &rule.action {
                KeyRuleAction::Keep | KeyRuleAction::Drop => {}
                KeyRuleAction::Mask(text) => {
                    let unchanged = match kv.value.as_ref().map(|v| &v.value) {
                        None | Some(None) => true,
                        Some(Some(Value::StringValue(s))) => s == text,
                        Some(Some(_)) => false,
                    };
                    if !unchanged {
                        let masked = string_value(text.clone());
                        drop_deep(kv.value.replace(masked));
                        self.count(rule.label, 1);
                    }
                }
                KeyRuleAction::Hash => {
                    let hashed = match kv.value.as_ref() {
                        None | Some(AnyValue { value: None }) => continue,
                        // Hashed upstream already: left as it is, not counted again.
                        Some(AnyValue {
                            value: Some(Value::StringValue(s)),
                        }) if super::hash::is_hashed(s) => continue,
                        Some(v) => match &p.hasher {
                            Some(h) => h.hash_value(v),
                            // A hash rule always gets a hasher at build; fail closed regardless.
                            None => "[REDACTED]".to_string(),
                        },
                    };
                    drop_deep(kv.value.replace(string_value(hashed)));
                    self.count(rule.label, 1);
                }
                KeyRuleAction::Truncate(len) => {
                    if let Some(v) = kv.value.as_mut() {
                        let mode = Mode::Truncate {
                            len: *len,
                            label: rule.label,
                        };
                        self.value(v, mode, stack);
                    }
                }
            }
        }
    }

    fn value<'a>(&mut self, v: &'a mut AnyValue, mode: Mode, stack: &mut Vec<Item<'a>>) {
        match &mut v.value {
            Some(Value::StringValue(s)) => self.scan_string(s, mode),
            Some(Value::ArrayValue(a)) => {
                for x in a.values.iter_mut() {
                    match &mut x.value {
                        // Scalars right away; only containers go on the stack.
                        Some(Value::StringValue(s)) => self.scan_string(s, mode),
                        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
                            stack.push(Item::Value(x, mode))
                        }
                        _ => {}
                    }
                }
            }
            Some(Value::KvlistValue(l)) => stack.push(Item::Kvs(&mut l.values, mode)),
            // Bytes, numbers and booleans are left alone.
            _ => {}
        }
    }

    fn scan_string(&mut self, s: &mut String, mode: Mode) {
        self.string(s);
        if let Mode::Truncate { len, label } = mode {
            self.truncate(s, len, label);
        }
    }
}

/// The same walk over log records read as views ([`crate::logs_view`]): strings are replaced
/// only when a rule changes them; everything else keeps borrowing the request. Views nest at
/// most [`crate::logs_view::MAX_VIEW_DEPTH`] deep, so this walk may recurse.
impl Run<'_> {
    /// [`Run::string`] on a viewed string.
    pub(crate) fn text(&mut self, s: &mut Cow<'_, str>) {
        let p = self.p;
        if let Some((new, n)) =
            p.scanner
                .redact(s, &mut self.state, p.hasher.as_ref(), &mut self.counts)
        {
            *s = Cow::Owned(new);
            self.total += n;
        }
    }

    /// [`Run::attributes`] on viewed attributes.
    pub(crate) fn view_attributes(&mut self, kvs: &mut Vec<KvView<'_>>) {
        let p = self.p;
        if let Some(allowed) = &p.allowed_keys {
            let before = kvs.len();
            kvs.retain(|kv| allowed.contains(kv.key.as_ref()));
            self.count(p.allowlist_label, (before - kvs.len()) as u64);
        }
        self.view_kvs(kvs, Mode::Scan);
    }

    /// [`Run::any_value`] on a viewed value.
    pub(crate) fn view_value(&mut self, v: &mut ValueView<'_>, mode: Mode) {
        match &mut v.value {
            Some(Val::String(s)) => {
                self.text(s);
                if let Mode::Truncate { len, label } = mode {
                    if let Some((cut, _)) = s.char_indices().nth(len) {
                        match s {
                            Cow::Borrowed(b) => *b = &b[..cut],
                            Cow::Owned(o) => o.truncate(cut),
                        }
                        self.count(label, 1);
                    }
                }
            }
            Some(Val::Array(a)) => a.iter_mut().for_each(|x| self.view_value(x, mode)),
            Some(Val::Kvlist(l)) => self.view_kvs(l, mode),
            _ => {}
        }
    }

    fn view_kvs(&mut self, kvs: &mut Vec<KvView<'_>>, mode: Mode) {
        let p = self.p;
        if p.has_drop_rules {
            kvs.retain(|kv| match p.rule_for(&kv.key) {
                Some(rule) if matches!(rule.action, KeyRuleAction::Drop) => {
                    self.count(rule.label, 1);
                    false
                }
                _ => true,
            });
        }
        for kv in kvs.iter_mut() {
            let Some(rule) = p.rule_for(&kv.key) else {
                if let Some(v) = kv.value.as_mut() {
                    self.view_value(v, mode);
                }
                continue;
            };
            match &rule.action {
                KeyRuleAction::Keep | KeyRuleAction::Drop => {}
                KeyRuleAction::Mask(text) => {
                    let unchanged = match kv.value.as_ref().map(|v| &v.value) {
                        None | Some(None) => true,
                        Some(Some(Val::String(s))) => s == text,
                        Some(Some(_)) => false,
                    };
                    if !unchanged {
                        kv.value = Some(ValueView::string(text.clone()));
                        self.count(rule.label, 1);
                    }
                }
                KeyRuleAction::Hash => {
                    let hashed = match kv.value.as_ref() {
                        None | Some(ValueView { value: None }) => continue,
                        Some(v) if v.as_str().is_some_and(super::hash::is_hashed) => continue,
                        Some(v) => match &p.hasher {
                            Some(h) => h.hash_value(&v.to_any_value()),
                            None => "[REDACTED]".to_string(),
                        },
                    };
                    kv.value = Some(ValueView::string(hashed));
                    self.count(rule.label, 1);
                }
                KeyRuleAction::Truncate(len) => {
                    if let Some(v) = kv.value.as_mut() {
                        let mode = Mode::Truncate {
                            len: *len,
                            label: rule.label,
                        };
                        self.view_value(v, mode);
                    }
                }
            }
        }
    }

    /// [`Run::summarize`] on viewed attributes.
    pub(crate) fn view_summarize(&self, attrs: &mut Vec<KvView<'_>>, before: u64) {
        let n = self.total - before;
        if !self.p.summary || n == 0 {
            return;
        }
        let value = Some(ValueView {
            value: Some(Val::Int(i64::try_from(n).unwrap_or(i64::MAX))),
        });
        match attrs.iter_mut().find(|kv| kv.key == SUMMARY_ATTRIBUTE) {
            Some(kv) => kv.value = value,
            None => attrs.push(KvView::new(SUMMARY_ATTRIBUTE, value)),
        }
    }
}

fn string_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s)),
    }
}

/// Drops a value without recursion: nested arrays and kvlists are taken apart on a heap stack
/// first, so dropping a deeply nested value cannot overflow the thread's stack.
pub fn drop_deep(v: Option<AnyValue>) {
    let Some(v) = v else { return };
    if !matches!(
        v.value,
        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_))
    ) {
        return;
    }
    let mut stack = vec![v];
    while let Some(mut v) = stack.pop() {
        match v.value.take() {
            Some(Value::ArrayValue(a)) => stack.extend(a.values),
            Some(Value::KvlistValue(l)) => {
                stack.extend(l.values.into_iter().filter_map(|kv| kv.value))
            }
            _ => {}
        }
    }
}
