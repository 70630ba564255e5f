//! `cost` processor: prices every model response Codex reports, from a price table in config, and
//! puts the result on the record as `cost.usd` (a double, US dollars).
//!
//! Place in the flow: logs pipeline, after `codex` (it reads token counts as integers or as the
//! numeric strings Codex 0.169.0 sends, so it also works before) and before `filter` and the
//! exporters. A usage connector can sum `cost.usd` into a `codex_cost_usd` counter, or price
//! token counts itself with [`cost_usd`] / [`CostProcessor::cost_for`].
//!
//! Which records: `codex.sse_event` with `event.kind = response.completed` that carry
//! `input_token_count` and `output_token_count` (Codex sends a second, count-less
//! `response.completed` per response; it is left alone). A record that already has `cost.usd`
//! keeps it.
//!
//! The formula, with prices in USD per 1M tokens:
//!
//! ```text
//! cost = ( (input − cached) × input_price + cached × cached_input_price
//!        + (output − reasoning) × output_price + reasoning × reasoning_price ) / 1e6
//! ```
//!
//! Codex's counts overlap: `input_token_count` **includes** `cached_token_count`, and
//! `output_token_count` **includes** `reasoning_token_count` (as in the OpenAI Responses API
//! usage object), so the cached and reasoning parts are taken out of input and output before
//! pricing (a part larger than its whole counts as the whole). `cache_write_token_count` is not
//! priced separately (OpenAI charges no cache writes; they are part of the input). `cached_input`
//! defaults to `input` and `reasoning` to `output` (OpenAI bills reasoning tokens as output).
//!
//! Model matching, on the record's `model` attribute: the exact key first; else (with
//! `prefix_match: true`, the default) the **longest** key that the model name starts with,
//! followed by `-`, so dated snapshots and variants (`gpt-5.1-codex-2025-11-13`,
//! `gpt-5-codex-latest`) take the price of their base entry while `gpt-5.1` never matches
//! `gpt-5`; else `default` if configured; else no cost. Case matters (Codex sends lower case).
//!
//! ```yaml
//! cost:
//!   models:
//!     gpt-5.1-codex: { input: 1.25, cached_input: 0.125, output: 10 }
//!     gpt-5.1-codex-mini: { input: 0.25, cached_input: 0.025, output: 2 }
//!   default: { input: 1.25, cached_input: 0.125, output: 10 }   # optional
//!   prefix_match: true
//!   model_attribute: model
//!   attribute: cost.usd
//! ```
//!
//! Counted as `cost_priced{label=<matched models key, or default>}` per priced record, and
//! `unknown_model{label=default}` (priced with `default`) or `unknown_model{label=none}` (no
//! price) for records whose model has no entry.
//!
//! **Codex's own cost.** Codex (0.171.0, with an OTLP exporter configured and an API-key
//! account) asks OpenAI's backend what each finished turn cost and reports it as a
//! `codex.turn_cost` log event (`usage.estimated_usd`, a decimal string, with `turn.id`) and a
//! `codex.turn.cost_microusd` counter. `source` chooses which cost goes on the records:
//!
//! - `price_table`: only the table, as above;
//! - `reported`: only Codex's figure: `cost.usd` (double) on each `codex.turn_cost` record;
//! - `both` (default): both, each record saying which in `cost.source` (`price_table` /
//!   `reported`); the `codex_usage` connector then counts `codex_cost_usd` per `cost_source` and
//!   `codex_cost_reconciliation_usd` (reported − table).
//!
//! Counted as `cost_reported{label=<model>}` per reported cost taken and
//! `reported_cost_invalid{label=<model>}` when `usage.estimated_usd` is not a number.
//!
//! Price entries may carry where they come from: `as_of` (the date the price was read,
//! `YYYY-MM-DD`) and `source_url` (the page it was read on); `estimate: true` marks a price not
//! confirmed by OpenAI's own pricing pages. They do not change the cost; they are checked
//! (`as_of` must be a date, `source_url` an http(s) URL) and documented next to the price.

use crate::codex_event::{count_attr, event_name, is_response_completed, set_if_absent, str_attr};
use crate::{find_attr, BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Counter label of records priced with `default`.
pub const DEFAULT_LABEL: &str = "default";

/// Config of the `cost` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Model name (as in Codex's `model` attribute) → prices. Default: empty.
    pub models: BTreeMap<String, PriceConfig>,
    /// Prices for models without an entry. Default: none (such records get no cost).
    pub default: Option<PriceConfig>,
    /// Let a key match model names that start with it followed by `-` (longest key wins).
    /// Default: `true`.
    pub prefix_match: bool,
    /// Attribute holding the model name. Default: `model`.
    pub model_attribute: String,
    /// Attribute the cost is written to (a double, USD). Default: `cost.usd`.
    pub attribute: String,
    /// Which cost goes on the records: `price_table`, `reported` (Codex's own) or `both`
    /// (default).
    pub source: CostSource,
    /// Attribute of `codex.turn_cost` holding Codex's reported cost in USD (a decimal string).
    /// Default: `usage.estimated_usd`.
    pub reported_attribute: String,
    /// Attribute naming where a record's cost came from (`price_table` / `reported`). Default:
    /// `cost.source`.
    pub source_attribute: String,
}

/// Where the cost on a record comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The price table only.
    PriceTable,
    /// Codex's reported turn cost only.
    Reported,
    /// Both, each record labelled with its source.
    #[default]
    Both,
}

impl CostSource {
    fn prices(self) -> bool {
        self != CostSource::Reported
    }

    fn reports(self) -> bool {
        self != CostSource::PriceTable
    }
}

/// Event name of Codex's reported turn cost.
pub const TURN_COST_EVENT: &str = "codex.turn_cost";
/// `cost.source` of a table price.
pub const SOURCE_PRICE_TABLE: &str = "price_table";
/// `cost.source` of Codex's reported cost.
pub const SOURCE_REPORTED: &str = "reported";

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            models: BTreeMap::new(),
            default: None,
            prefix_match: true,
            model_attribute: "model".to_string(),
            attribute: "cost.usd".to_string(),
            source: CostSource::Both,
            reported_attribute: "usage.estimated_usd".to_string(),
            source_attribute: "cost.source".to_string(),
        }
    }
}

/// Prices of one model in USD per 1M tokens, as written in config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Uncached input tokens. Required.
    pub input: f64,
    /// Cached input tokens. Default: `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Output tokens other than reasoning. Required.
    pub output: f64,
    /// Reasoning tokens. Default: `output`.
    #[serde(default)]
    pub reasoning: Option<f64>,
    /// The date the price was read, `YYYY-MM-DD`. Documentation only. Default: none.
    #[serde(default)]
    pub as_of: Option<String>,
    /// The page the price was read on (http or https). Documentation only. Default: none.
    #[serde(default)]
    pub source_url: Option<String>,
    /// `true` when the price is not confirmed by OpenAI's own pricing pages. Default: `false`.
    #[serde(default)]
    pub estimate: bool,
}

impl PriceConfig {
    /// The prices with the defaults applied.
    pub fn resolve(&self) -> Prices {
        Prices {
            input: self.input,
            cached_input: self.cached_input.unwrap_or(self.input),
            output: self.output,
            reasoning: self.reasoning.unwrap_or(self.output),
        }
    }

    fn validate(&self, path: &str, errors: &mut Vec<BuildError>) {
        if let Some(d) = &self.as_of {
            if !is_date(d) {
                errors.push(BuildError::field(
                    format!("{path}.as_of"),
                    format!("a date YYYY-MM-DD, got {d:?}"),
                ));
            }
        }
        if let Some(u) = &self.source_url {
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                errors.push(BuildError::field(
                    format!("{path}.source_url"),
                    format!("an http(s) URL, got {u:?}"),
                ));
            }
        }
        for (field, v) in [
            ("input", Some(self.input)),
            ("cached_input", self.cached_input),
            ("output", Some(self.output)),
            ("reasoning", self.reasoning),
        ] {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    errors.push(BuildError::field(
                        format!("{path}.{field}"),
                        format!("price must be a finite number >= 0 (USD per 1M tokens), got {v}"),
                    ));
                }
            }
        }
    }
}

/// Whether `s` is a calendar date `YYYY-MM-DD` (month 1–12, day 1–31).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    (1..=12).contains(&num(5..7)) && (1..=31).contains(&num(8..10))
}

/// Resolved prices of one model, USD per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// Uncached input tokens.
    pub input: f64,
    /// Cached input tokens.
    pub cached_input: f64,
    /// Output tokens other than reasoning.
    pub output: f64,
    /// Reasoning tokens.
    pub reasoning: f64,
}

/// Token counts of one model response, as Codex reports them: `input` includes `cached_input`,
/// `output` includes `reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// `input_token_count` (cached included).
    pub input: u64,
    /// `cached_token_count`.
    pub cached_input: u64,
    /// `output_token_count` (reasoning included).
    pub output: u64,
    /// `reasoning_token_count`.
    pub reasoning: u64,
}

impl TokenUsage {
    /// Reads Codex's token counts from a `response.completed` record's attributes: `None`
    /// unless `input_token_count` and `output_token_count` are there (as integers or numeric
    /// strings); missing cached / reasoning counts are 0.
    pub fn from_attributes(attrs: &[KeyValue]) -> Option<TokenUsage> {
        Some(TokenUsage {
            input: count_attr(attrs, "input_token_count")?,
            output: count_attr(attrs, "output_token_count")?,
            cached_input: count_attr(attrs, "cached_token_count").unwrap_or(0),
            reasoning: count_attr(attrs, "reasoning_token_count").unwrap_or(0),
        })
    }
}

/// The cost in USD of `usage` at `prices` (see the module docs for the formula). Cached tokens
/// beyond `input` count as `input`, reasoning tokens beyond `output` as `output`.
pub fn cost_usd(prices: &Prices, usage: &TokenUsage) -> f64 {
    let cached = usage.cached_input.min(usage.input);
    let reasoning = usage.reasoning.min(usage.output);
    let uncached = usage.input - cached;
    let plain_output = usage.output - reasoning;
    (uncached as f64 * prices.input
        + cached as f64 * prices.cached_input
        + plain_output as f64 * prices.output
        + reasoning as f64 * prices.reasoning)
        / 1e6
}

/// The built `cost` processor.
#[derive(Debug)]
pub struct CostProcessor {
    exact: HashMap<String, Prices>,
    /// Keys for prefix matching, longest first.
    prefixes: Vec<(String, Prices)>,
    default: Option<Prices>,
    model_attribute: String,
    attribute: String,
    source: CostSource,
    reported_attribute: String,
    source_attribute: String,
}

impl CostConfig {
    /// Checks every price and builds the processor; all problems are returned at once.
    pub fn build(&self) -> Result<CostProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        for (name, price) in &self.models {
            if name.is_empty() {
                errors.push(BuildError::field("models", "empty model name"));
            }
            price.validate(&format!("models.{name}"), &mut errors);
        }
        if let Some(d) = &self.default {
            d.validate("default", &mut errors);
        }
        for (field, v) in [
            ("model_attribute", &self.model_attribute),
            ("attribute", &self.attribute),
            ("reported_attribute", &self.reported_attribute),
            ("source_attribute", &self.source_attribute),
        ] {
            if v.is_empty() {
                errors.push(BuildError::field(field, "must not be empty"));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let exact: HashMap<String, Prices> = self
            .models
            .iter()
            .map(|(k, v)| (k.clone(), v.resolve()))
            .collect();
        let mut prefixes: Vec<(String, Prices)> = if self.prefix_match {
            self.models
                .iter()
                .map(|(k, v)| (k.clone(), v.resolve()))
                .collect()
        } else {
            Vec::new()
        };
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(CostProcessor {
            exact,
            prefixes,
            default: self.default.as_ref().map(PriceConfig::resolve),
            model_attribute: self.model_attribute.clone(),
            attribute: self.attribute.clone(),
            source: self.source,
            reported_attribute: self.reported_attribute.clone(),
            source_attribute: self.source_attribute.clone(),
        })
    }
}

/// Which entry priced a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriceMatch<'a> {
    /// The `models` key (exact or prefix match).
    Model(&'a str, &'a Prices),
    /// The `default` entry.
    Default(&'a Prices),
}

impl PriceMatch<'_> {
    /// The prices matched.
    pub fn prices(&self) -> &Prices {
        match self {
            PriceMatch::Model(_, p) | PriceMatch::Default(p) => p,
        }
    }
}

impl CostProcessor {
    /// The entry that prices `model`: exact key, longest `<key>-` prefix, `default`; `None`
    /// when nothing applies.
    pub fn lookup(&self, model: &str) -> Option<PriceMatch<'_>> {
        if let Some((k, p)) = self.exact.get_key_value(model) {
            return Some(PriceMatch::Model(k, p));
        }
        self.prefixes
            .iter()
            .find(|(k, _)| {
                model.len() > k.len()
                    && model.starts_with(k.as_str())
                    && model.as_bytes()[k.len()] == b'-'
            })
            .map(|(k, p)| PriceMatch::Model(k, p))
            .or_else(|| self.default.as_ref().map(PriceMatch::Default))
    }

    /// The cost in USD of `usage` for `model`, or `None` if the model has no price.
    pub fn cost_for(&self, model: &str, usage: &TokenUsage) -> Option<f64> {
        self.lookup(model).map(|m| cost_usd(m.prices(), usage))
    }
}

impl Processor for CostProcessor {
    fn process_logs(&self, req: &mut ExportLogsServiceRequest, cx: &mut ProcessContext<'_>) {
        let mut tally = Tally::default();
        for lr in req
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
        {
            if lr.attributes.iter().any(|a| a.key == self.attribute) {
                continue;
            }
            if self.source.reports() && event_name(lr) == TURN_COST_EVENT {
                self.take_reported(lr, &mut tally);
            } else if self.source.prices() && is_response_completed(lr) {
                self.price(lr, &mut tally);
            }
        }
        tally.report(cx);
    }
}

/// What one request's records got, for the counters.
#[derive(Default)]
struct Tally {
    priced: Vec<(String, u64)>,
    reported: Vec<(String, u64)>,
    invalid: Vec<(String, u64)>,
    unknown_default: u64,
    unknown_none: u64,
}

fn bump(list: &mut Vec<(String, u64)>, label: &str) {
    match list.iter_mut().find(|(l, _)| l == label) {
        Some(e) => e.1 += 1,
        None => list.push((label.to_string(), 1)),
    }
}

impl Tally {
    fn report(&self, cx: &mut ProcessContext<'_>) {
        for (name, list) in [
            ("cost_priced", &self.priced),
            ("cost_reported", &self.reported),
            ("reported_cost_invalid", &self.invalid),
        ] {
            for (label, n) in list {
                cx.count(name, label, *n);
            }
        }
        if self.unknown_default > 0 {
            cx.count("unknown_model", DEFAULT_LABEL, self.unknown_default);
        }
        if self.unknown_none > 0 {
            cx.count("unknown_model", "none", self.unknown_none);
        }
    }
}

impl CostProcessor {
    /// Prices one `response.completed` record from the table.
    fn price(&self, lr: &mut LogRecord, tally: &mut Tally) {
        let Some(usage) = TokenUsage::from_attributes(&lr.attributes) else {
            return;
        };
        let model = str_attr(&lr.attributes, &self.model_attribute).unwrap_or("");
        let cost = match self.lookup(model) {
            Some(PriceMatch::Model(key, p)) => {
                bump(&mut tally.priced, key);
                cost_usd(p, &usage)
            }
            Some(PriceMatch::Default(p)) => {
                tally.unknown_default += 1;
                bump(&mut tally.priced, DEFAULT_LABEL);
                cost_usd(p, &usage)
            }
            None => {
                tally.unknown_none += 1;
                return;
            }
        };
        self.put(lr, cost, SOURCE_PRICE_TABLE);
    }

    /// Takes Codex's reported cost of one `codex.turn_cost` record.
    fn take_reported(&self, lr: &mut LogRecord, tally: &mut Tally) {
        let model = str_attr(&lr.attributes, &self.model_attribute)
            .unwrap_or("")
            .to_string();
        let usd = match find_attr(&lr.attributes, &self.reported_attribute) {
            Some(Value::StringValue(s)) => s.trim().parse::<f64>().ok(),
            Some(Value::DoubleValue(d)) => Some(*d),
            Some(Value::IntValue(n)) => Some(*n as f64),
            _ => None,
        };
        match usd.filter(|d| d.is_finite() && *d >= 0.0) {
            Some(usd) => {
                bump(&mut tally.reported, &model);
                self.put(lr, usd, SOURCE_REPORTED);
            }
            None => bump(&mut tally.invalid, &model),
        }
    }

    fn put(&self, lr: &mut LogRecord, usd: f64, source: &str) {
        set_if_absent(&mut lr.attributes, &self.attribute, Value::DoubleValue(usd));
        set_if_absent(
            &mut lr.attributes,
            &self.source_attribute,
            Value::StringValue(source.to_string()),
        );
    }
}

impl crate::Component for CostConfig {
    fn signals(&self) -> &'static [crate::Signal] {
        &[crate::Signal::Logs]
    }

    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codex::CodexConfig;
    use crate::codex_event::int_attr;
    use crate::{find_attr, Metadata};
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use prost::Message;

    fn fixture() -> ExportLogsServiceRequest {
        let full = format!(
            "{}/../tests/fixtures/failing-tool-loop-protobuf/005_logs.pb",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
        ExportLogsServiceRequest::decode(bytes.as_slice()).expect("decode")
    }

    fn build(json: &str) -> CostProcessor {
        serde_json::from_str::<CostConfig>(json)
            .unwrap_or_else(|e| panic!("{json}: {e}"))
            .build()
            .expect("valid")
    }

    fn run(p: &CostProcessor, req: &mut ExportLogsServiceRequest) -> Vec<(String, String, u64)> {
        let md = Metadata::default();
        let mut cx = ProcessContext::new(&md);
        p.process_logs(req, &mut cx);
        cx.counts()
            .iter()
            .map(|(n, l, v)| (n.to_string(), l.clone(), *v))
            .collect()
    }

    fn costs(req: &ExportLogsServiceRequest) -> Vec<(i64, f64)> {
        req.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter_map(
                |lr: &LogRecord| match find_attr(&lr.attributes, "cost.usd") {
                    Some(Value::DoubleValue(d)) => Some((
                        int_attr(&lr.attributes, "input_token_count").expect("input"),
                        *d,
                    )),
                    Some(other) => panic!("{other:?}"),
                    None => None,
                },
            )
            .collect()
    }

    const GPT51_CODEX: &str =
        r#"{"models": {"gpt-5.1-codex": {"input": 1.25, "cached_input": 0.125, "output": 10}}}"#;

    /// (90000 + k + 1 − 20000) × 1.25 + 20000 × 0.125 + (3000 − 1500) × 10 + 1500 × 10, / 1e6.
    fn expected(input: i64) -> f64 {
        ((input - 20_000) as f64 * 1.25 + 20_000.0 * 0.125 + 1_500.0 * 10.0 + 1_500.0 * 10.0) / 1e6
    }

    #[test]
    fn each_priced_response_of_the_failing_tool_loop_gets_its_cost() {
        for normalised in [false, true] {
            let mut req = fixture();
            if normalised {
                let codex = CodexConfig::default().build().expect("codex");
                codex.process_logs(&mut req, &mut ProcessContext::new(&Metadata::default()));
            }
            let counts = run(&build(GPT51_CODEX), &mut req);
            let got = costs(&req);
            assert_eq!(got.len(), 8, "normalised={normalised}");
            for (input, cost) in &got {
                assert!((cost - expected(*input)).abs() < 1e-12, "{input}: {cost}");
            }
            // 90001: 70001 × 1.25 + 2500 + 30000 = 120001.25 µ$.
            assert!(got
                .iter()
                .any(|(i, c)| *i == 90001 && (c - 0.12000125).abs() < 1e-12));
            assert_eq!(
                counts,
                [("cost_priced".to_string(), "gpt-5.1-codex".to_string(), 8)]
            );
        }
    }

    /// Every logs body of the real Codex 0.171.0 app-server session whose turn Codex priced.
    fn turn_cost_capture() -> ExportLogsServiceRequest {
        let dir = format!(
            "{}/../tests/fixtures/codex-0.171.0/app-server-turn-cost",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with("_logs.pb"))
            .collect();
        names.sort();
        let mut all = ExportLogsServiceRequest::default();
        for n in names {
            let bytes = std::fs::read(format!("{dir}/{n}")).expect("read");
            let req = ExportLogsServiceRequest::decode(bytes.as_slice()).expect("decode");
            all.resource_logs.extend(req.resource_logs);
        }
        all
    }

    fn records_of<'a>(req: &'a ExportLogsServiceRequest, event: &str) -> Vec<&'a LogRecord> {
        req.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| crate::codex_event::event_name(r) == event)
            .collect()
    }

    #[test]
    fn codex_s_reported_turn_cost_and_the_table_price_are_both_kept_with_their_source() {
        let mut req = turn_cost_capture();
        let p = build(GPT51_CODEX);
        let counts = run(&p, &mut req);
        let turn = records_of(&req, TURN_COST_EVENT);
        assert_eq!(turn.len(), 1, "Codex 0.171.0 reported one turn");
        assert_eq!(
            find_attr(&turn[0].attributes, "cost.usd"),
            Some(&Value::DoubleValue(0.0123456))
        );
        assert_eq!(
            str_attr(&turn[0].attributes, "cost.source"),
            Some(SOURCE_REPORTED)
        );
        let priced: Vec<_> = records_of(&req, "codex.sse_event")
            .into_iter()
            .filter(|r| find_attr(&r.attributes, "cost.usd").is_some())
            .collect();
        assert_eq!(priced.len(), 2, "one tool call and the answer");
        assert!(priced
            .iter()
            .all(|r| str_attr(&r.attributes, "cost.source") == Some(SOURCE_PRICE_TABLE)));
        assert!(counts.contains(&("cost_reported".into(), "gpt-5.1-codex".into(), 1)));
        assert!(counts.contains(&("cost_priced".into(), "gpt-5.1-codex".into(), 2)));
    }

    #[test]
    fn source_picks_the_table_or_codex_s_figure() {
        let cost_records = |json: &str| {
            let mut req = turn_cost_capture();
            run(&build(json), &mut req);
            let n = |event: &str| {
                records_of(&req, event)
                    .into_iter()
                    .filter(|r| find_attr(&r.attributes, "cost.usd").is_some())
                    .count()
            };
            (n("codex.sse_event"), n(TURN_COST_EVENT))
        };
        let with = |source: &str| {
            format!(
                r#"{{"source": "{source}", "models": {{"gpt-5.1-codex": {{"input": 1.25, "output": 10}}}}}}"#
            )
        };
        assert_eq!(cost_records(&with("price_table")), (2, 0));
        assert_eq!(cost_records(&with("reported")), (0, 1));
        assert_eq!(cost_records(&with("both")), (2, 1));
    }

    #[test]
    fn a_reported_cost_that_is_not_a_number_is_counted_and_left_out() {
        // Synthesized: Codex sends a decimal string; this one is broken on purpose.
        let mut req = turn_cost_capture();
        for r in req
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
        {
            for kv in &mut r.attributes {
                if kv.key == "usage.estimated_usd" {
                    kv.value = Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                        value: Some(Value::StringValue("n/a".into())),
                    });
                }
            }
        }
        let counts = run(&build(r#"{"source": "reported"}"#), &mut req);
        assert!(records_of(&req, TURN_COST_EVENT).iter().all(|r| find_attr(
            &r.attributes,
            "cost.usd"
        )
        .is_none()));
        assert_eq!(
            counts,
            [(
                "reported_cost_invalid".to_string(),
                "gpt-5.1-codex".to_string(),
                1
            )]
        );
    }

    #[test]
    fn price_dates_and_source_urls_are_checked() {
        let errs = serde_json::from_str::<CostConfig>(
            r#"{"models": {"m": {"input": 1, "output": 1, "as_of": "2026-13-01", "source_url": "openai.com/pricing"}}}"#,
        )
        .expect("parses")
        .build()
        .expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["models.m.as_of", "models.m.source_url"]);
        build(
            r#"{"models": {"m": {"input": 1, "output": 1, "as_of": "2026-12-04",
                "source_url": "https://developers.openai.com/api/docs/pricing", "estimate": true}}}"#,
        );
    }

    #[test]
    fn unknown_models_use_the_default_or_get_no_cost_and_are_counted() {
        let mut req = fixture();
        let counts = run(
            &build(r#"{"models": {"gpt-4.1": {"input": 2, "output": 8}}}"#),
            &mut req,
        );
        assert!(costs(&req).is_empty());
        assert_eq!(
            counts,
            [("unknown_model".to_string(), "none".to_string(), 8)]
        );
        let mut req = fixture();
        let counts = run(
            &build(r#"{"models": {}, "default": {"input": 1, "output": 1}}"#),
            &mut req,
        );
        let got = costs(&req);
        assert_eq!(got.len(), 8);
        for (input, cost) in got {
            assert!((cost - (input + 3000) as f64 / 1e6).abs() < 1e-12);
        }
        assert!(counts.contains(&("unknown_model".into(), "default".into(), 8)));
        assert!(counts.contains(&("cost_priced".into(), "default".into(), 8)));
    }

    #[test]
    fn model_lookup_prefers_exact_then_longest_dash_prefix() {
        let p = build(
            r#"{"models": {"gpt-5": {"input": 1, "output": 1},
                           "gpt-5.1-codex": {"input": 2, "output": 2},
                           "gpt-5.1-codex-mini": {"input": 3, "output": 3}}}"#,
        );
        let key = |m: &str| match p.lookup(m) {
            Some(PriceMatch::Model(k, _)) => Some(k.to_string()),
            Some(PriceMatch::Default(_)) => Some("default".into()),
            None => None,
        };
        assert_eq!(key("gpt-5.1-codex").as_deref(), Some("gpt-5.1-codex"));
        assert_eq!(
            key("gpt-5.1-codex-mini").as_deref(),
            Some("gpt-5.1-codex-mini")
        );
        assert_eq!(
            key("gpt-5.1-codex-mini-2025-11-13").as_deref(),
            Some("gpt-5.1-codex-mini")
        );
        assert_eq!(key("gpt-5.1-codex-max").as_deref(), Some("gpt-5.1-codex"));
        assert_eq!(key("gpt-5-codex").as_deref(), Some("gpt-5"));
        assert_eq!(key("gpt-5.1"), None, "no '-' after the key");
        assert_eq!(key("GPT-5.1-CODEX"), None, "case matters");
        let exact_only =
            build(r#"{"prefix_match": false, "models": {"gpt-5": {"input": 1, "output": 1}}}"#);
        assert!(exact_only.lookup("gpt-5-codex").is_none());
    }

    #[test]
    fn existing_cost_is_kept_and_records_without_counts_are_skipped() {
        let mut req = fixture();
        let p = build(GPT51_CODEX);
        run(&p, &mut req);
        let first = costs(&req);
        let counts = run(&p, &mut req);
        assert_eq!(costs(&req), first);
        assert!(counts.is_empty(), "{counts:?}");
    }

    #[test]
    fn negative_or_non_finite_prices_are_build_errors_with_paths() {
        let cfg = CostConfig {
            models: BTreeMap::from([
                (
                    "gpt-5.1-codex".to_string(),
                    PriceConfig {
                        input: 1.25,
                        cached_input: Some(f64::NAN),
                        output: -10.0,
                        reasoning: None,
                        as_of: None,
                        source_url: None,
                        estimate: false,
                    },
                ),
                (
                    String::new(),
                    PriceConfig {
                        input: 1.0,
                        cached_input: None,
                        output: 1.0,
                        reasoning: Some(f64::INFINITY),
                        as_of: None,
                        source_url: None,
                        estimate: false,
                    },
                ),
            ]),
            default: Some(PriceConfig {
                input: -1.0,
                cached_input: None,
                output: 0.0,
                reasoning: None,
                as_of: None,
                source_url: None,
                estimate: false,
            }),
            attribute: String::new(),
            ..Default::default()
        };
        let errs = cfg.build().expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "models",
                "models..reasoning",
                "models.gpt-5.1-codex.cached_input",
                "models.gpt-5.1-codex.output",
                "default.input",
                "attribute"
            ]
        );
        assert!(serde_json::from_str::<CostConfig>(
            r#"{"models": {"m": {"input": 1, "output": 1, "cache": 1}}}"#
        )
        .is_err());
        assert!(serde_json::from_str::<CostConfig>(r#"{"models": {"m": {"input": 1}}}"#).is_err());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn price() -> impl Strategy<Value = f64> {
            0.0f64..200.0
        }

        proptest! {
            #[test]
            fn cost_is_non_negative_and_monotone_in_every_count(
                input in 0u64..10_000_000, cached in 0u64..10_000_000,
                output in 0u64..1_000_000, reasoning in 0u64..1_000_000,
                more in 0u64..1_000_000,
                pi in price(), pc in price(), po in price(), pr in price(),
            ) {
                let prices = Prices { input: pi, cached_input: pc.min(pi), output: po, reasoning: pr };
                let u = TokenUsage { input, cached_input: cached, output, reasoning };
                let c = cost_usd(&prices, &u);
                prop_assert!(c.is_finite() && c >= 0.0);
                // More uncached input, or more plain output, never costs less.
                let more_input = TokenUsage { input: input + more, ..u };
                prop_assert!(cost_usd(&prices, &more_input) >= c - 1e-12);
                let more_output = TokenUsage { output: output + more, ..u };
                prop_assert!(cost_usd(&prices, &more_output) >= c - 1e-12);
            }

            #[test]
            fn with_defaults_the_split_does_not_matter(
                input in 0u64..10_000_000, cached in 0u64..10_000_000,
                output in 0u64..1_000_000, reasoning in 0u64..1_000_000,
                pi in price(), po in price(),
            ) {
                // cached_input = input and reasoning = output: cost = input × pi + output × po.
                let prices = PriceConfig { input: pi, cached_input: None, output: po, reasoning: None, as_of: None, source_url: None, estimate: false }
                    .resolve();
                let u = TokenUsage { input, cached_input: cached, output, reasoning };
                let want = (input as f64 * pi + output as f64 * po) / 1e6;
                prop_assert!((cost_usd(&prices, &u) - want).abs() <= 1e-9 * want.max(1.0));
            }
        }
    }
}
