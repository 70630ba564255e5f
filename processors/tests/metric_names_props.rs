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
    fn label_names_are_valid_and_stable(name in "\\PC{1,40}") {
        let out = label_name(&name);
        prop_assert!(valid_metric_name(&out) && !out.contains(':'), "{name:?} → {out:?}");
        prop_assert_eq!(label_name(&out), out.clone());
    }

    /// The specification's rules, one property each, over names built from the tokens that
    /// trigger them and every kind of unit.
    #[test]
    fn prometheus_names_follow_the_specification(
        name in prop_oneof!["[a-zA-Z0-9._ -]{1,30}", tricky_names()],
        unit in units(),
        kind in 0..KINDS.len(),
    ) {
        let kind = KINDS[kind];
        let out = prometheus_name(&name, &unit, kind);
        let tokens: Vec<&str> = out.trim_start_matches('_').split('_').collect();
        if !out.is_empty() {
            prop_assert!(valid_metric_name(&out), "{name:?} {unit:?} → {out:?}");
        }
        // The name's own tokens come first, in order (minus the managed type suffix).
        let managed = match kind {
            MetricKind::MonotonicSum => Some("total"),
            MetricKind::Gauge if unit == "1" => Some("ratio"),
            _ => None,
        };
        let own: Vec<&str> = name
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
            .filter(|t| !t.is_empty() && Some(*t) != managed)
            .collect();
        prop_assert!(tokens.starts_with(&own) || own.is_empty(), "{name:?} {unit:?} → {out:?}");
        // The type suffix: exactly one, at the end.
        if let Some(suffix) = managed {
            prop_assert_eq!(tokens.last().copied(), Some(suffix), "{:?}", out);
            prop_assert_eq!(tokens.iter().filter(|t| **t == suffix).count(), 1, "{:?}", out);
        }
        // A known unit word appears once: appended unless the name had it already.
        let word = match unit.as_str() {
            "ms" => Some("milliseconds"),
            "s" => Some("seconds"),
            "By" => Some("bytes"),
            _ => None,
        };
        if let Some(word) = word {
            let before = own.iter().filter(|t| **t == word).count();
            let after = tokens.iter().filter(|t| **t == word).count();
            prop_assert_eq!(after, before.max(1), "{:?} {:?} → {:?}", name, unit, out);
        }
        // An annotated unit adds nothing; neither does `1` (beyond `ratio`).
        if unit.starts_with('{') && !unit.contains('/') {
            prop_assert_eq!(out.clone(), prometheus_name(&name, "", kind));
        }
        // A `/` part adds `per_<word>` at the end (before the type suffix).
        if let Some(per) = unit.split_once('/').map(|(_, p)| p.trim()) {
            if per == "s" {
                let end = tokens.len() - usize::from(managed.is_some());
                prop_assert!(end >= 2 && tokens[end - 2..end] == ["per", "second"], "{:?}", out);
            }
        }
    }

    /// What makes `metric_names` safe in front of a translating backend: for units without a
    /// `/` whose word is one token, translating the translated name changes nothing.
    #[test]
    fn prometheus_names_are_stable_for_single_word_units(
        name in prop_oneof!["[a-zA-Z0-9._ -]{1,30}", tricky_names()],
        unit in prop_oneof![
            Just(""), Just("1"), Just("ms"), Just("s"), Just("By"), Just("MiBy"), Just("%"),
            Just("{request}"), Just("USD"), Just("tokens"),
        ],
        kind in 0..KINDS.len(),
    ) {
        let kind = KINDS[kind];
        let out = prometheus_name(&name, unit, kind);
        prop_assert_eq!(prometheus_name(&out, unit, kind), out.clone(), "{:?} {:?}", name, unit);
    }
}
