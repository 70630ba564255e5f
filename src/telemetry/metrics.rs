//! Self-metrics: every name in one place, Collector-style (`otelcol_receiver_accepted_spans` →
//! `gateway_receiver_accepted_spans`), labelled only by component id. Counters are resolved once
//! at build time into cheap handles, so the hot path only increments atomics.

use processors::Signal;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

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
    /// Items reloaded from a persistent queue at start.
    pub const EXPORTER_QUEUE_RECOVERED: &str = "gateway_exporter_queue_recovered";
    /// Items still queued when the shutdown deadline passed.
    pub const EXPORTER_SHUTDOWN_DROPPED: &str = "gateway_exporter_shutdown_dropped";
    /// Requests in an exporter's queue.
    pub const EXPORTER_QUEUE_SIZE: &str = "gateway_exporter_queue_size";
    /// Encoded bytes in an exporter's queue.
    pub const EXPORTER_QUEUE_BYTES: &str = "gateway_exporter_queue_bytes";
    /// Records a persistent queue lost to damage: unreadable records skipped, and records of a
    /// damaged file that could not be read back.
    pub const EXPORTER_QUEUE_CORRUPT: &str = "gateway_exporter_queue_corrupt_records";
    /// Persistent queue files found damaged or empty at open (moved aside), or missing after an
    /// unclean shutdown.
    pub const EXPORTER_QUEUE_DAMAGED_FILES: &str = "gateway_exporter_queue_damaged_files";
    /// Size of the damaged persistent queue files moved aside.
    pub const EXPORTER_QUEUE_DAMAGED_BYTES: &str = "gateway_exporter_queue_damaged_bytes";
    /// Failed commits (and reopen attempts) of a persistent queue: disk full, I/O errors.
    pub const EXPORTER_QUEUE_WRITE_FAILURES: &str = "gateway_exporter_queue_write_failures";
    /// Capacity of an exporter's queue, in requests.
    pub const EXPORTER_QUEUE_CAPACITY: &str = "gateway_exporter_queue_capacity";
    /// Retry attempts of an exporter (requests).
    pub const EXPORTER_RETRIES: &str = "gateway_exporter_retries";
    /// Queued requests an exporter sent merged with others (`sending_queue.batch`).
    pub const EXPORTER_MERGED_REQUESTS: &str = "gateway_exporter_merged_requests";
    /// Audit events of a processor: `{processor, event, rule}` (e.g. redactions per rule). Rule
    /// labels come from config (rule names, detector names), never from request content.
    pub const PROCESSOR_EVENTS: &str = "gateway_processor_events";
    /// Requests a receiver refused, whatever the signal (bad input, overload).
    pub const RECEIVER_REFUSED_REQUESTS: &str = "gateway_receiver_refused_requests";
    /// Requests a receiver accepted, whatever the signal (reserved: the receiver does not count
    /// them yet).
    pub const RECEIVER_ACCEPTED_REQUESTS: &str = "gateway_receiver_accepted_requests";
    /// Items handed to a processor.
    pub const PROCESSOR_INCOMING: &str = "gateway_processor_incoming";
    /// Items a processor handed on.
    pub const PROCESSOR_OUTGOING: &str = "gateway_processor_outgoing";
    /// Capacity of an exporter's queue, in encoded bytes (`max_bytes`).
    pub const EXPORTER_QUEUE_CAPACITY_BYTES: &str = "gateway_exporter_queue_capacity_bytes";
    /// Requests an exporter is sending now (between taking them off the queue and the answer).
    pub const EXPORTER_IN_FLIGHT_REQUESTS: &str = "gateway_exporter_in_flight_requests";
    /// Resident set size of the process (gauge, computed at scrape time).
    pub const PROCESS_RESIDENT_MEMORY: &str = "gateway_process_resident_memory_bytes";
    /// User + system CPU time of the process (counter, computed at scrape time; `_total` added).
    pub const PROCESS_CPU_SECONDS: &str = "gateway_process_cpu_seconds";
    /// Seconds since the self-metrics were set up at start (gauge, computed at scrape time).
    pub const PROCESS_UPTIME: &str = "gateway_process_uptime_seconds";
    /// Attributes or values a receiver dropped, truncated or replaced under its `limits:`.
    pub const RECEIVER_LIMITED_VALUES: &str = "gateway_receiver_limited_values";
    /// Members a `loadbalancing` exporter routes to now.
    pub const EXPORTER_LOADBALANCER_MEMBERS: &str = "gateway_exporter_loadbalancer_members";
    /// Delta (or unspecified-temporality) sum and histogram points a `prometheusremotewrite`
    /// exporter dropped: remote write carries cumulative series only.
    pub const EXPORTER_DROPPED_DELTA_POINTS: &str = "gateway_exporter_dropped_delta_metric_points";
    /// Points a `prometheusremotewrite` exporter cannot send: exponential histograms, points
    /// without a value or timestamp, histograms whose buckets do not fit their bounds.
    pub const EXPORTER_DROPPED_UNSUPPORTED_POINTS: &str =
        "gateway_exporter_dropped_unsupported_metric_points";
    /// Items a connector read from the pipelines that export to it.
    pub const CONNECTOR_RECEIVED: &str = "gateway_connector_received";
    /// Items a connector produced for the pipelines it feeds.
    pub const CONNECTOR_PRODUCED: &str = "gateway_connector_produced";
    /// Produced items no downstream pipeline took: their queues were full, or (`routing`) they
    /// matched no route and there are no `default_pipelines`.
    pub const CONNECTOR_DROPPED: &str = "gateway_connector_dropped";
    /// Items a `routing` connector sent to a route's pipelines: `{connector, route}` (the
    /// route's `name`, or its index in `table`).
    pub const CONNECTOR_ROUTED: &str = "gateway_connector_routed";
    /// Items a `routing` connector found no route for (sent to `default_pipelines`, or dropped
    /// and counted in [`CONNECTOR_DROPPED`] when there are none).
    pub const CONNECTOR_UNMATCHED: &str = "gateway_connector_unmatched";
    /// Items an exporter with `headers_from_resource` sent without their resource's value for
    /// some header (attribute missing, empty or not a valid header value): the header took its
    /// `default`, the exporter's static header, or was left out.
    pub const EXPORTER_HEADER_FALLBACKS: &str = "gateway_exporter_header_fallbacks";
    /// Connections open on a listener now (gauge, `{listener}`).
    pub const LISTENER_CONNECTIONS: &str = "gateway_listener_connections";
    /// Connections a listener closed at accept: `max_connections` were open (`{listener}`).
    pub const LISTENER_CONNECTIONS_REFUSED: &str = "gateway_listener_connections_refused";
    /// Connections a listener closed: `{listener, reason="idle"|"slow"}` (idle past
    /// `idle_timeout`; handshake or first request not done within `handshake_timeout`).
    pub const LISTENER_CONNECTIONS_CLOSED: &str = "gateway_listener_connections_closed";
    /// Failed accepts of a listener, e.g. out of file descriptors (`{listener}`).
    pub const LISTENER_ACCEPT_ERRORS: &str = "gateway_listener_accept_errors";
    /// Requests whose body (HTTP) or message (gRPC) did not arrive within the read timeout.
    pub const RECEIVER_READ_TIMEOUTS: &str = "gateway_receiver_read_timeouts";
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
    counters: Mutex<HashMap<String, Family<Labels, Counter>>>,
    gauges: Mutex<HashMap<String, Family<Labels, Gauge>>>,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Help text of every metric stem (shown in `/metrics`).
fn help(stem: &str) -> &'static str {
    match stem {
        names::RECEIVER_ACCEPTED => "Items accepted by a receiver",
        names::RECEIVER_REFUSED => "Items refused by a receiver",
        names::RECEIVER_REFUSED_REQUESTS => "Requests refused by a receiver",
        names::PROCESSOR_DROPPED => "Items dropped by a processor",
        names::EXPORTER_SENT => "Items delivered by an exporter",
        names::EXPORTER_SEND_FAILED => "Items an exporter failed to deliver",
        names::EXPORTER_ENQUEUE_FAILED => "Items dropped because the exporter queue was full",
        names::EXPORTER_SHUTDOWN_DROPPED => "Items still queued at the shutdown deadline",
        names::EXPORTER_QUEUE_RECOVERED => "Items reloaded from the persistent queue at start",
        names::EXPORTER_QUEUE_CORRUPT => {
            "Records the persistent queue lost to damage (unreadable, or in a damaged file)"
        }
        names::EXPORTER_QUEUE_DAMAGED_FILES => {
            "Persistent queue files found damaged or empty (moved aside) or missing after a crash"
        }
        names::EXPORTER_QUEUE_DAMAGED_BYTES => {
            "Bytes of damaged persistent queue files moved aside"
        }
        names::EXPORTER_QUEUE_WRITE_FAILURES => {
            "Failed commits of the persistent queue (disk full, I/O errors)"
        }
        names::EXPORTER_RETRIES => "Retry attempts of an exporter",
        names::EXPORTER_MERGED_REQUESTS => {
            "Queued requests an exporter sent merged with others into one export"
        }
        names::EXPORTER_QUEUE_SIZE => "Requests the exporter holds (waiting or being sent)",
        names::EXPORTER_QUEUE_BYTES => "Encoded bytes the exporter holds (waiting or being sent)",
        names::EXPORTER_QUEUE_CAPACITY => "Capacity of the exporter queue in requests",
        names::RECEIVER_ACCEPTED_REQUESTS => "Requests accepted by a receiver",
        names::PROCESSOR_INCOMING => "Items handed to a processor",
        names::PROCESSOR_OUTGOING => "Items a processor handed on",
        names::EXPORTER_QUEUE_CAPACITY_BYTES => "Capacity of the exporter queue in encoded bytes",
        names::EXPORTER_IN_FLIGHT_REQUESTS => "Requests the exporter is sending now",
        names::EXPORTER_DROPPED_DELTA_POINTS => {
            "Delta metric points dropped by a Prometheus remote write exporter"
        }
        names::EXPORTER_DROPPED_UNSUPPORTED_POINTS => {
            "Metric points a Prometheus remote write exporter cannot send (exponential histograms, \
             malformed points)"
        }
        names::RECEIVER_LIMITED_VALUES => {
            "Attributes or values dropped, truncated or replaced by receiver limits"
        }
        names::EXPORTER_LOADBALANCER_MEMBERS => "Members a loadbalancing exporter routes to",
        names::CONNECTOR_RECEIVED => "Items a connector read",
        names::CONNECTOR_PRODUCED => "Items a connector produced",
        names::CONNECTOR_DROPPED => {
            "Items a connector produced that no downstream pipeline took (queues full, or no \
             route and no default pipelines)"
        }
        names::CONNECTOR_ROUTED => "Items a routing connector sent to a route's pipelines",
        names::CONNECTOR_UNMATCHED => "Items a routing connector found no route for",
        names::EXPORTER_HEADER_FALLBACKS => {
            "Items an exporter sent without their resource's value for a header from \
             headers_from_resource"
        }
        names::LISTENER_CONNECTIONS => "Connections open on a listener",
        names::LISTENER_CONNECTIONS_REFUSED => {
            "Connections closed at accept because max_connections were open"
        }
        names::LISTENER_CONNECTIONS_CLOSED => {
            "Connections closed by a listener: idle past idle_timeout, or slow (handshake or first \
             request not done within handshake_timeout)"
        }
        names::LISTENER_ACCEPT_ERRORS => {
            "Failed accepts of a listener (e.g. out of file descriptors)"
        }
        names::RECEIVER_READ_TIMEOUTS => {
            "Requests whose body or message did not arrive within the read timeout"
        }
        _ => "codex-otel-gateway self-metric",
    }
}

/// Per-signal counter stems, registered for every signal at start so `/metrics` shows zeros.
const SIGNAL_COUNTERS: &[&str] = &[
    names::RECEIVER_ACCEPTED,
    names::RECEIVER_REFUSED,
    names::PROCESSOR_INCOMING,
    names::PROCESSOR_OUTGOING,
    names::PROCESSOR_DROPPED,
    names::EXPORTER_SENT,
    names::EXPORTER_SEND_FAILED,
    names::EXPORTER_ENQUEUE_FAILED,
    names::EXPORTER_SHUTDOWN_DROPPED,
    names::EXPORTER_QUEUE_RECOVERED,
];

impl SelfMetrics {
    /// A registry; families are registered on first use (names from [`names`]).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let events = Family::<Labels, Counter>::default();
        registry.register(
            names::PROCESSOR_EVENTS,
            "Audit events of a processor (redactions per rule, tags, fixes, attribute drops)",
            events.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector {
            started: process_start(),
        }));
        let m = SelfMetrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                events,
                counters: Mutex::new(HashMap::new()),
                gauges: Mutex::new(HashMap::new()),
            }),
        };
        for stem in SIGNAL_COUNTERS {
            for signal in Signal::ALL {
                m.counter_family(&format!("{stem}_{}", signal.item_name()), stem);
            }
        }
        m
    }

    fn counter_family(&self, name: &str, stem: &str) -> Family<Labels, Counter> {
        let mut counters = self
            .inner
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(f) = counters.get(name) {
            return f.clone();
        }
        let family = Family::<Labels, Counter>::default();
        let mut registry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        registry.register(name.to_string(), help(stem), family.clone());
        counters.insert(name.to_string(), family.clone());
        family
    }

    /// The counter `<stem>_<items of signal>{<kind>="<id>"}`, e.g.
    /// `counter(RECEIVER_ACCEPTED, Signal::Traces, "receiver", "otlp")`.
    pub fn counter(&self, stem: &str, signal: Signal, kind: &'static str, id: &str) -> Counter {
        let name = format!("{stem}_{}", signal.item_name());
        self.counter_family(&name, stem)
            .get_or_create(&vec![(kind, id.to_string())])
            .clone()
    }

    /// The counter `name{<kind>="<id>"}` for counts that are not per signal (requests, retries).
    pub fn request_counter(&self, name: &str, kind: &'static str, id: &str) -> Counter {
        self.counter_family(name, name)
            .get_or_create(&vec![(kind, id.to_string())])
            .clone()
    }

    /// The counter `name{labels}` (low-cardinality labels from config, never from requests).
    pub fn labeled_counter(&self, name: &str, labels: &[(&'static str, &str)]) -> Counter {
        let labels: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.counter_family(name, name)
            .get_or_create(&labels)
            .clone()
    }

    /// The connection counters of listener `listener` (`otlp:http`, `admin`).
    pub fn conn_metrics(&self, listener: &str) -> crate::base::serve::ConnMetrics {
        let one = |name| self.labeled_counter(name, &[("listener", listener)]);
        let closed = |reason| {
            self.labeled_counter(
                names::LISTENER_CONNECTIONS_CLOSED,
                &[("listener", listener), ("reason", reason)],
            )
        };
        crate::base::serve::ConnMetrics {
            open: self.gauge(names::LISTENER_CONNECTIONS, "listener", listener),
            refused: one(names::LISTENER_CONNECTIONS_REFUSED),
            closed_idle: closed("idle"),
            closed_slow: closed("slow"),
            accept_errors: one(names::LISTENER_ACCEPT_ERRORS),
        }
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
        let mut gauges = self.inner.gauges.lock().unwrap_or_else(|p| p.into_inner());
        let family = match gauges.get(name) {
            Some(f) => f.clone(),
            None => {
                let family = Family::<Labels, Gauge>::default();
                let mut registry = self
                    .inner
                    .registry
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                registry.register(name.to_string(), help(name), family.clone());
                gauges.insert(name.to_string(), family.clone());
                family
            }
        };
        let gauge = family.get_or_create(&vec![(kind, id.to_string())]).clone();
        gauge
    }

    /// Prometheus text exposition of every metric.
    pub fn encode_text(&self) -> String {
        let mut out = String::new();
        let registry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let _ = encode(&mut out, &registry);
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

    /// Resolves `<stem>_<items>{labels}` for the three signals (labels from config only).
    pub fn labeled(m: &SelfMetrics, stem: &str, labels: &[(&'static str, &str)]) -> Self {
        let labels: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        SignalCounters {
            counters: Signal::ALL.map(|s| {
                m.counter_family(&format!("{stem}_{}", s.item_name()), stem)
                    .get_or_create(&labels)
                    .clone()
            }),
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

/// When the process started, as near as the gateway can tell: the first call (the first
/// [`SelfMetrics::new`], at the very start of `run`).
fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, `getconf CLK_TCK`): 100 on
/// every Linux architecture the gateway is built for.
const CLK_TCK: f64 = 100.0;

/// Process metrics computed at scrape time: resident memory and CPU time from `/proc/self`, and
/// uptime. On a system without `/proc` the memory and CPU series are left out.
#[derive(Debug)]
struct ProcessCollector {
    started: Instant,
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        if let Some(rss) = crate::base::process::read_rss() {
            let gauge = ConstGauge::new(i64::try_from(rss).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(
                names::PROCESS_RESIDENT_MEMORY,
                "Resident set size of the process in bytes",
                None,
                gauge.metric_type(),
            )?)?;
        }
        if let Some(ticks) = read_cpu_ticks() {
            let counter = ConstCounter::new(ticks as f64 / CLK_TCK);
            counter.encode(encoder.encode_descriptor(
                names::PROCESS_CPU_SECONDS,
                "User and system CPU time of the process in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        let uptime = ConstGauge::new(self.started.elapsed().as_secs_f64());
        uptime.encode(encoder.encode_descriptor(
            names::PROCESS_UPTIME,
            "Seconds since the gateway started",
            None,
            uptime.metric_type(),
        )?)?;
        Ok(())
    }
}

/// `utime + stime` of this process in clock ticks, from `/proc/self/stat` (Linux).
fn read_cpu_ticks() -> Option<u64> {
    parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime` and `stime` are fields 14 and 15 of `/proc/<pid>/stat`; the second field (the
/// command name, in parentheses) may hold spaces and parentheses, so count from its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest: " <state=3> <ppid=4> ... <utime=14> <stime=15> ..."
    let mut fields = rest.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_fields_14_and_15_even_with_a_strange_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 17 0 0 20 0 \
                    9 0 123456 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(267));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(read_cpu_ticks().is_some(), "Linux has /proc/self/stat");
    }

    #[test]
    fn process_metrics_and_processor_flows_are_exposed() {
        let m = SelfMetrics::new();
        let incoming = SignalCounters::new(&m, names::PROCESSOR_INCOMING, "processor", "filter/x");
        let outgoing = SignalCounters::new(&m, names::PROCESSOR_OUTGOING, "processor", "filter/x");
        incoming.add(Signal::Logs, 15);
        outgoing.add(Signal::Logs, 12);
        let text = m.encode_text();
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has(
            "gateway_processor_incoming_log_records_total{processor=\"filter/x\"} 15"
        ));
        assert!(has(
            "gateway_processor_outgoing_log_records_total{processor=\"filter/x\"} 12"
        ));
        assert!(has(
            "gateway_processor_incoming_spans_total{processor=\"filter/x\"} 0"
        ));
        for family in [
            "# TYPE gateway_process_resident_memory_bytes gauge",
            "# TYPE gateway_process_cpu_seconds counter",
            "# TYPE gateway_process_uptime_seconds gauge",
        ] {
            assert!(has(family), "{family} in\n{text}");
        }
        let value = |prefix: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
        };
        assert!(value("gateway_process_resident_memory_bytes ") > 1e6);
        assert!(value("gateway_process_cpu_seconds_total ") >= 0.0);
        assert!(value("gateway_process_uptime_seconds ") >= 0.0);
    }
}
