//! Properties of the naming rules over arbitrary names and units.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

use processors::metric_names::{label_name, prometheus_name, underscore_name, MetricKind};
use proptest::prelude::*;

const KINDS: [MetricKind; 6] = [
    MetricKind::Gauge,
    MetricKind::MonotonicSum,
    MetricKind::NonMonotonicSum,
    MetricKind::Histogram,
    MetricKind::ExponentialHistogram,
    MetricKind::Summary,
];

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn units() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("1".to_string()),
        Just("ms".to_string()),
        Just("s".to_string()),
        Just("By".to_string()),
        Just("{request}".to_string()),
        Just("By/s".to_string()),
        Just("ms/s".to_string()),
        Just("1/s".to_string()),
        "[a-zA-Z{}/%. ]{0,8}",
    ]
}

/// Names built from tokens that trigger the suffix rules, joined by assorted separators.
fn tricky_names() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("total"),
        Just("ratio"),
        Just("ms"),
        Just("s"),
        Just("seconds"),
        Just("milliseconds"),
        Just("per"),
        Just("second"),
        Just("bytes"),
        Just("by"),
        Just("codex"),
        Just("duration"),
        Just("1"),
        Just("tool"),
    ];
    let sep = prop_oneof![Just("."), Just("_"), Just("__"), Just("-"), Just("/")];
    prop::collection::vec((token, sep), 1..6).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(t, s)| format!("{t}{s}"))
            .collect::<String>()
    })
}

proptest! {
    #[test]
    fn underscore_names_are_valid_and_stable(name in "\\PC{1,40}") {
        let out = underscore_name(&name);
        prop_assert!(valid_metric_name(&out), "{name:?} → {out:?}");
        prop_assert!(!out.contains("__"), "{out:?}");
        prop_assert_eq!(underscore_name(&out), out.clone());
    }

    #[test]
    fn label_names_have_no_colons(name in "\\PC{1,40}") {
        let out = label_name(&name);
        prop_assert!(valid_metric_name(&out) && !out.contains(':'), "{name:?} → {out:?}");
    }

    #[test]
    fn prometheus_names_are_valid_idempotent_and_never_double_suffixed(
        name in prop_oneof!["[a-zA-Z0-9._ -]{1,30}", tricky_names()],
        unit in units(),
        kind in 0..KINDS.len(),
    ) {
        let kind = KINDS[kind];
        let out = prometheus_name(&name, &unit, kind);
        if !out.is_empty() {
            prop_assert!(valid_metric_name(&out), "{name:?} {unit:?} → {out:?}");
        }
        prop_assert!(!out.contains("__"), "{out:?}");
        // A suffix the rules add is never doubled (a name that was doubled already may stay so,
        // except `total` on counters and `ratio` on ratio gauges, which are always deduplicated).
        let input = underscore_name(&name);
        for suffix in ["_total_total", "_milliseconds_milliseconds", "_ratio_ratio", "_bytes_bytes"] {
            let managed = (suffix == "_total_total" && kind == MetricKind::MonotonicSum)
                || (suffix == "_ratio_ratio" && kind == MetricKind::Gauge && unit == "1");
            if managed || !input.contains(suffix) {
                prop_assert!(!out.ends_with(suffix), "{name:?} {unit:?} → {out:?}");
            }
        }
        if kind == MetricKind::MonotonicSum && !out.is_empty() {
            prop_assert!(out.ends_with("_total") || out == "total", "{out:?}");
        }
        prop_assert_eq!(prometheus_name(&out, &unit, kind), out.clone(), "{:?} {:?}", name, unit);
    }
}
