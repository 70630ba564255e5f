//! Self-metrics: every name in one place, Collector-style (`otelcol_receiver_accepted_spans` →
//! `gateway_receiver_accepted_spans`), labelled only by component id. Counters are resolved once
//! at build time into cheap handles, so the hot path only increments atomics.

use processors::Signal;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};

/// Metric name stems; the item name of the signal (`spans`, `metric_points`, `log_records`) is
/// appended, and Prometheus adds `_total` to counters.
pub mod names {
    /// Items a receiver accepted into at least one exporter queue.
    pub const RECEIVER_ACCEPTED: &str = "gateway_receiver_accepted";
    /// Items a receiver refused (bad request, or every queue full).
    pub const RECEIVER_REFUSED: &str = "gateway_receiver_refused";
    /// Items a processor dropped on purpose.
    pub const PROCESSOR_DROPPED: &str = "gateway_processor_dropped";
    /// Items an exporter delivered.
    pub const EXPORTER_SENT: &str = "gateway_exporter_sent";
    /// Items an exporter gave up on (permanent error or retries exhausted).
    pub const EXPORTER_SEND_FAILED: &str = "gateway_exporter_send_failed";
    /// Items dropped because the exporter's queue was full.
    pub const EXPORTER_ENQUEUE_FAILED: &str = "gateway_exporter_enqueue_failed";
    /// Items still queued when the shutdown deadline passed.
    pub const EXPORTER_SHUTDOWN_DROPPED: &str = "gateway_exporter_shutdown_dropped";
    /// Requests in an exporter's queue.
    pub const EXPORTER_QUEUE_SIZE: &str = "gateway_exporter_queue_size";
    /// Capacity of an exporter's queue, in requests.
    pub const EXPORTER_QUEUE_CAPACITY: &str = "gateway_exporter_queue_capacity";
    /// Retry attempts of an exporter (requests).
    pub const EXPORTER_RETRIES: &str = "gateway_exporter_retries";
    /// Audit events of a processor: `{processor, event, rule}` (e.g. redactions per rule). Rule
    /// labels come from config (rule names, detector names), never from request content.
    pub const PROCESSOR_EVENTS: &str = "gateway_processor_events";
    /// Requests a receiver refused, whatever the signal (bad input, overload).
    pub const RECEIVER_REFUSED_REQUESTS: &str = "gateway_receiver_refused_requests";
}

type Labels = Vec<(&'static str, String)>;

/// The registry of self-metrics, shared by every component.
#[derive(Clone)]
pub struct SelfMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    events: Family<Labels, Counter>,
    counters: Vec<(String, Family<Labels, Counter>)>,
    gauges: Vec<(&'static str, Family<Labels, Gauge>)>,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

const COUNTERS: &[(&str, &str)] = &[
    (names::RECEIVER_ACCEPTED, "Items accepted by a receiver"),
    (names::RECEIVER_REFUSED, "Items refused by a receiver"),
    (names::PROCESSOR_DROPPED, "Items dropped by a processor"),
    (names::EXPORTER_SENT, "Items delivered by an exporter"),
    (
        names::EXPORTER_SEND_FAILED,
        "Items an exporter failed to deliver",
    ),
    (
        names::EXPORTER_ENQUEUE_FAILED,
        "Items dropped because the exporter queue was full",
    ),
    (
        names::EXPORTER_SHUTDOWN_DROPPED,
        "Items still queued at the shutdown deadline",
    ),
];

const REQUEST_COUNTERS: &[(&str, &str)] = &[
    (names::EXPORTER_RETRIES, "Retry attempts of an exporter"),
    (
        names::RECEIVER_REFUSED_REQUESTS,
        "Requests refused by a receiver",
    ),
];

const GAUGES: &[(&str, &str)] = &[
    (
        names::EXPORTER_QUEUE_SIZE,
        "Requests waiting in the exporter queue",
    ),
    (
        names::EXPORTER_QUEUE_CAPACITY,
        "Capacity of the exporter queue in requests",
    ),
];

impl SelfMetrics {
    /// A registry with every family registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let mut counters = Vec::new();
        for (stem, help) in COUNTERS {
            for signal in Signal::ALL {
                let name = format!("{stem}_{}", signal.item_name());
                let family = Family::<Labels, Counter>::default();
                registry.register(name.clone(), *help, family.clone());
                counters.push((name, family));
            }
        }
        for (name, help) in REQUEST_COUNTERS {
            let family = Family::<Labels, Counter>::default();
            registry.register(*name, *help, family.clone());
            counters.push((name.to_string(), family));
        }
        let events = Family::<Labels, Counter>::default();
        registry.register(
            names::PROCESSOR_EVENTS,
            "Audit events of a processor (redactions per rule, tags, fixes, attribute drops)",
            events.clone(),
        );
        let mut gauges = Vec::new();
        for (name, help) in GAUGES {
            let family = Family::<Labels, Gauge>::default();
            registry.register(*name, *help, family.clone());
            gauges.push((*name, family));
        }
        SelfMetrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                events,
                counters,
                gauges,
            }),
        }
    }

    /// The counter `<stem>_<items of signal>{<kind>="<id>"}`, e.g.
    /// `counter(RECEIVER_ACCEPTED, Signal::Traces, "receiver", "otlp")`.
    pub fn counter(&self, stem: &str, signal: Signal, kind: &'static str, id: &str) -> Counter {
        let name = format!("{stem}_{}", signal.item_name());
        self.inner
            .counters
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.get_or_create(&vec![(kind, id.to_string())]).clone())
            .unwrap_or_default()
    }

    /// The counter `name{<kind>="<id>"}` for counts that are not per signal (requests, retries).
    pub fn request_counter(&self, name: &str, kind: &'static str, id: &str) -> Counter {
        self.inner
            .counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.get_or_create(&vec![(kind, id.to_string())]).clone())
            .unwrap_or_default()
    }

    /// Adds `n` to `gateway_processor_events_total{processor, event, rule}`.
    pub fn processor_event(&self, processor: &str, event: &str, rule: &str, n: u64) {
        let labels = vec![
            ("processor", processor.to_string()),
            ("event", event.to_string()),
            ("rule", rule.to_string()),
        ];
        self.inner.events.get_or_create(&labels).inc_by(n);
    }

    /// The gauge `name{<kind>="<id>"}`.
    pub fn gauge(&self, name: &str, kind: &'static str, id: &str) -> Gauge {
        self.inner
            .gauges
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.get_or_create(&vec![(kind, id.to_string())]).clone())
            .unwrap_or_default()
    }

    /// Prometheus text exposition of every metric.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.inner.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}

/// Per-signal counters of one component, resolved once.
#[derive(Clone, Debug, Default)]
pub struct SignalCounters {
    counters: [Counter; 3],
}

impl SignalCounters {
    /// Resolves `<stem>_<items>{<kind>="<id>"}` for the three signals.
    pub fn new(m: &SelfMetrics, stem: &str, kind: &'static str, id: &str) -> Self {
        SignalCounters {
            counters: Signal::ALL.map(|s| m.counter(stem, s, kind, id)),
        }
    }

    /// Adds `n` for `signal`.
    pub fn add(&self, signal: Signal, n: u64) {
        if n > 0 {
            self.counters[signal as usize].inc_by(n);
        }
    }

    /// Current value for `signal`.
    pub fn get(&self, signal: Signal) -> u64 {
        self.counters[signal as usize].get()
    }
}
