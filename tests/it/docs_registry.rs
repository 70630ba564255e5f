//! The documented component lists cannot drift from what the build knows: every type in each
//! registry has a heading in the reference (`## Processor \`team\``), and every documented type
//! exists.

use codex_otel_gateway::exporters::ExporterConfig;
use codex_otel_gateway::pipeline::connector::ConnectorConfig;
use codex_otel_gateway::pipeline::processors::ProcessorConfig;
use codex_otel_gateway::receivers::ReceiverConfig;
use std::collections::BTreeSet;

fn doc(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Component types named in backticks in `## <Kind> ...` / `## <Kind>s ...` headings.
fn documented(text: &str, kind: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("## ") else {
            continue;
        };
        if !(rest.starts_with(&format!("{kind} `")) || rest.starts_with(&format!("{kind}s `"))) {
            continue;
        }
        out.extend(rest.split('`').skip(1).step_by(2).map(str::to_string));
    }
    out
}

fn assert_same(kind: &str, registry: &[&str], documented: BTreeSet<String>) {
    let known: BTreeSet<String> = registry.iter().map(|t| t.to_string()).collect();
    let undocumented: Vec<_> = known.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&known).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{kind}s: in the registry but not documented: {undocumented:?}; documented but not in the registry: {unknown:?}"
    );
}

#[test]
fn every_registered_component_type_is_documented_and_every_documented_one_exists() {
    assert_same(
        "Receiver",
        ReceiverConfig::TYPES,
        documented(&doc("docs/configuration/receivers.md"), "Receiver"),
    );
    let mut processors = documented(&doc("docs/configuration/processors.md"), "Processor");
    processors.extend(documented(&doc("docs/codex.md"), "Processor"));
    assert_same("Processor", ProcessorConfig::TYPES, processors);
    assert_same(
        "Exporter",
        ExporterConfig::TYPES,
        documented(&doc("docs/configuration/exporters.md"), "Exporter"),
    );
    assert_same(
        "Connector",
        ConnectorConfig::TYPES,
        documented(&doc("docs/configuration/connectors.md"), "Connector"),
    );
}
