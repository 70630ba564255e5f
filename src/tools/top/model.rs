//! What `top` shows, computed from two scrapes of `/metrics`: per receiver, processor,
//! connector and exporter the rates of items in, out, dropped and failed, retries and queue
//! fill; redactions per rule and anomaly alerts per kind; the process' memory and CPU.
//! Pure: the caller supplies the samples and the time between them.

use super::exposition::Sample;
use crate::telemetry::metrics::names;
use processors::Signal;
use std::collections::BTreeMap;

/// The kinds of pipeline components, in the order of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Receives from clients.
    Receiver,
    /// Transforms in a pipeline.
    Processor,
    /// Joins pipelines (logs → metrics).
    Connector,
    /// Sends to a destination.
    Exporter,
}

impl Kind {
    /// `receiver`, `processor`, `connector`, `exporter`: also the self-metrics' label key.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Connector => "connector",
            Kind::Exporter => "exporter",
        }
    }
}

/// Counter totals and gauges of one component in one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Items that came in (`None`: the component has no such count).
    pub items_in: Option<f64>,
    /// Items handed on or delivered.
    pub items_out: f64,
    /// Items dropped or refused.
    pub dropped: f64,
    /// Items an exporter gave up on.
    pub failed: Option<f64>,
    /// Retry attempts (requests) of an exporter.
    pub retries: Option<f64>,
    /// (requests held, capacity) of an exporter's queue.
    pub queue: Option<(f64, f64)>,
}

/// One scrape, reduced to what `top` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Per component.
    pub components: BTreeMap<(Kind, String), Totals>,
    /// Redactions per rule (`gateway_processor_events_total{event="redactions"}`).
    pub redactions: BTreeMap<String, f64>,
    /// Anomaly alerts per kind (`gateway_processor_events_total{event="alerts"}`).
    pub alerts: BTreeMap<String, f64>,
    /// Resident memory, bytes.
    pub rss: Option<f64>,
    /// CPU seconds used so far.
    pub cpu_seconds: Option<f64>,
    /// Seconds since the gateway started.
    pub uptime: Option<f64>,
}

/// What a counter stem contributes to a component's totals.
#[derive(Clone, Copy)]
enum Field {
    In,
    Out,
    Dropped,
    Failed,
}

/// Per-signal counter stems (`<stem>_<items>_total`) and what they count, per kind.
const SIGNAL_COUNTERS: [(&str, Kind, &[Field]); 12] = [
    (
        names::RECEIVER_ACCEPTED,
        Kind::Receiver,
        &[Field::In, Field::Out],
    ),
    (
        names::RECEIVER_REFUSED,
        Kind::Receiver,
        &[Field::In, Field::Dropped],
    ),
    (names::PROCESSOR_INCOMING, Kind::Processor, &[Field::In]),
    (names::PROCESSOR_OUTGOING, Kind::Processor, &[Field::Out]),
    (names::PROCESSOR_DROPPED, Kind::Processor, &[Field::Dropped]),
    (names::CONNECTOR_RECEIVED, Kind::Connector, &[Field::In]),
    (names::CONNECTOR_PRODUCED, Kind::Connector, &[Field::Out]),
    (names::CONNECTOR_DROPPED, Kind::Connector, &[Field::Dropped]),
    (names::EXPORTER_SENT, Kind::Exporter, &[Field::Out]),
    (
        names::EXPORTER_SEND_FAILED,
        Kind::Exporter,
        &[Field::Failed],
    ),
    (
        names::EXPORTER_ENQUEUE_FAILED,
        Kind::Exporter,
        &[Field::Dropped],
    ),
    (
        names::EXPORTER_SHUTDOWN_DROPPED,
        Kind::Exporter,
        &[Field::Dropped],
    ),
];

/// Index of `name` → (kind, fields) for the per-signal counters and the other exporter
/// counters of points dropped.
fn counter_table() -> BTreeMap<String, (Kind, &'static [Field])> {
    let mut table = BTreeMap::new();
    for (stem, kind, fields) in SIGNAL_COUNTERS {
        for signal in Signal::ALL {
            table.insert(
                format!("{stem}_{}_total", signal.item_name()),
                (kind, fields),
            );
        }
    }
    for stem in [
        names::EXPORTER_DROPPED_DELTA_POINTS,
        names::EXPORTER_DROPPED_UNSUPPORTED_POINTS,
    ] {
        table.insert(
            format!("{stem}_total"),
            (Kind::Exporter, &[Field::Dropped][..]),
        );
    }
    table
}

impl Snapshot {
    /// Reduces the samples of one scrape; unknown series are ignored.
    pub fn from_samples(samples: &[Sample]) -> Snapshot {
        let table = counter_table();
        let retries = format!("{}_total", names::EXPORTER_RETRIES);
        let events = format!("{}_total", names::PROCESSOR_EVENTS);
        let cpu = format!("{}_total", names::PROCESS_CPU_SECONDS);
        let mut snap = Snapshot::default();
        for s in samples {
            let name = s.name.as_str();
            if let Some((kind, fields)) = table.get(name) {
                let totals = snap.component(*kind, s);
                for field in *fields {
                    match field {
                        Field::In => *totals.items_in.get_or_insert(0.0) += s.value,
                        Field::Out => totals.items_out += s.value,
                        Field::Dropped => totals.dropped += s.value,
                        Field::Failed => *totals.failed.get_or_insert(0.0) += s.value,
                    }
                }
            } else if name == retries {
                *snap.component(Kind::Exporter, s).retries.get_or_insert(0.0) += s.value;
            } else if name == names::EXPORTER_QUEUE_SIZE {
                snap.component(Kind::Exporter, s)
                    .queue
                    .get_or_insert((0.0, 0.0))
                    .0 = s.value;
            } else if name == names::EXPORTER_QUEUE_CAPACITY {
                snap.component(Kind::Exporter, s)
                    .queue
                    .get_or_insert((0.0, 0.0))
                    .1 = s.value;
            } else if name == events {
                let rule = s.label("rule").unwrap_or_default().to_string();
                match s.label("event") {
                    Some("redactions") => *snap.redactions.entry(rule).or_default() += s.value,
                    Some("alerts") => *snap.alerts.entry(rule).or_default() += s.value,
                    _ => {}
                }
            } else if name == names::PROCESS_RESIDENT_MEMORY {
                snap.rss = Some(s.value);
            } else if name == cpu {
                snap.cpu_seconds = Some(s.value);
            } else if name == names::PROCESS_UPTIME {
                snap.uptime = Some(s.value);
            }
        }
        snap
    }

    fn component(&mut self, kind: Kind, s: &Sample) -> &mut Totals {
        let id = s.label(kind.as_str()).unwrap_or_default().to_string();
        self.components.entry((kind, id)).or_default()
    }
}

/// One line of the components table: per-second rates (`None`: no earlier scrape yet, or
/// not counted for this kind).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The component's kind.
    pub kind: Kind,
    /// Its id (`otlp`, `batch`, `otlphttp/backend`).
    pub id: String,
    /// Items in per second.
    pub items_in: Option<f64>,
    /// Items out per second.
    pub items_out: Option<f64>,
    /// Items dropped or refused per second.
    pub dropped: Option<f64>,
    /// Items given up per second (exporters).
    pub failed: Option<f64>,
    /// Retry attempts per second (exporters).
    pub retries: Option<f64>,
    /// Queue (held, capacity) now (exporters).
    pub queue: Option<(f64, f64)>,
}

/// A named count: its rate and its total.
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    /// Rule or kind.
    pub name: String,
    /// Per second since the previous scrape.
    pub rate: Option<f64>,
    /// Since the gateway started.
    pub total: f64,
}

/// Everything on the screen but the header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Screen {
    /// Components in flow order.
    pub rows: Vec<Row>,
    /// Redactions per rule.
    pub redactions: Vec<Count>,
    /// Alerts per kind.
    pub alerts: Vec<Count>,
    /// Resident memory, bytes.
    pub rss: Option<f64>,
    /// CPU cores used since the previous scrape.
    pub cpu: Option<f64>,
    /// Seconds since the gateway started.
    pub uptime: Option<f64>,
}

/// Per-second rate of a counter between two scrapes `secs` apart; a counter that went down
/// (the gateway restarted) counts from zero.
fn rate(prev: Option<f64>, cur: f64, secs: f64) -> Option<f64> {
    let prev = prev?;
    if secs <= 0.0 {
        return None;
    }
    let delta = if cur >= prev { cur - prev } else { cur };
    Some(delta / secs)
}

fn counts(
    prev: Option<&BTreeMap<String, f64>>,
    cur: &BTreeMap<String, f64>,
    secs: f64,
) -> Vec<Count> {
    cur.iter()
        .map(|(name, total)| Count {
            name: name.clone(),
            rate: prev.and_then(|p| rate(Some(p.get(name).copied().unwrap_or(0.0)), *total, secs)),
            total: *total,
        })
        .collect()
}

/// The screen for scrape `cur`, with rates against `prev` taken `secs` seconds earlier.
pub fn screen(prev: Option<&Snapshot>, cur: &Snapshot, secs: f64) -> Screen {
    let rows = cur
        .components
        .iter()
        .map(|((kind, id), t)| {
            let p = prev.and_then(|p| p.components.get(&(*kind, id.clone())));
            let opt = |f: fn(&Totals) -> Option<f64>| match (f(t), p) {
                (Some(c), Some(p)) => rate(f(p), c, secs),
                _ => None,
            };
            Row {
                kind: *kind,
                id: id.clone(),
                items_in: opt(|t| t.items_in),
                items_out: opt(|t| Some(t.items_out)),
                dropped: opt(|t| Some(t.dropped)),
                failed: opt(|t| t.failed),
                retries: opt(|t| t.retries),
                queue: t.queue,
            }
        })
        .collect();
    Screen {
        rows,
        redactions: counts(prev.map(|p| &p.redactions), &cur.redactions, secs),
        alerts: counts(prev.map(|p| &p.alerts), &cur.alerts, secs),
        rss: cur.rss,
        cpu: cur
            .cpu_seconds
            .and_then(|c| rate(prev.and_then(|p| p.cpu_seconds), c, secs)),
        uptime: cur.uptime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::top::exposition::parse;

    const FIRST: &str = "\
gateway_receiver_accepted_log_records_total{receiver=\"otlp\"} 100
gateway_receiver_refused_log_records_total{receiver=\"otlp\"} 0
gateway_receiver_accepted_spans_total{receiver=\"otlp\"} 10
gateway_processor_incoming_log_records_total{processor=\"redaction\"} 100
gateway_processor_outgoing_log_records_total{processor=\"redaction\"} 100
gateway_processor_dropped_log_records_total{processor=\"redaction\"} 0
gateway_connector_received_log_records_total{connector=\"codex_usage\"} 100
gateway_connector_produced_metric_points_total{connector=\"codex_usage\"} 30
gateway_exporter_sent_log_records_total{exporter=\"otlp/a\"} 90
gateway_exporter_send_failed_log_records_total{exporter=\"otlp/a\"} 0
gateway_exporter_enqueue_failed_log_records_total{exporter=\"otlp/a\"} 0
gateway_exporter_retries_total{exporter=\"otlp/a\"} 1
gateway_exporter_queue_size{exporter=\"otlp/a\"} 2
gateway_exporter_queue_capacity{exporter=\"otlp/a\"} 10
gateway_processor_events_total{processor=\"redaction\",event=\"redactions\",rule=\"openai\"} 4
gateway_processor_events_total{processor=\"codex_anomaly\",event=\"alerts\",rule=\"tool_failure_loop\"} 1
gateway_processor_events_total{processor=\"team\",event=\"team_tagged\",rule=\"default\"} 7
gateway_process_resident_memory_bytes 50000000
gateway_process_cpu_seconds_total 1.5
gateway_process_uptime_seconds 60
something_else_entirely 3
";

    fn snapshot(text: &str) -> Snapshot {
        Snapshot::from_samples(&parse(text).expect("exposition"))
    }

    #[test]
    fn one_scrape_has_totals_and_no_rates_yet() {
        let s = snapshot(FIRST);
        let otlp = &s.components[&(Kind::Receiver, "otlp".into())];
        assert_eq!(
            (otlp.items_in, otlp.items_out, otlp.dropped),
            (Some(110.0), 110.0, 0.0)
        );
        let a = &s.components[&(Kind::Exporter, "otlp/a".into())];
        assert_eq!(
            (a.queue, a.retries, a.failed),
            (Some((2.0, 10.0)), Some(1.0), Some(0.0))
        );
        assert_eq!(a.items_in, None);
        assert_eq!(s.redactions["openai"], 4.0);
        assert_eq!(s.alerts["tool_failure_loop"], 1.0);
        assert_eq!(s.components.len(), 4);
        let screen = screen(None, &s, 1.0);
        assert_eq!(screen.rows[0].kind, Kind::Receiver);
        assert_eq!(screen.rows[3].kind, Kind::Exporter);
        assert!(screen.rows.iter().all(|r| r.items_out.is_none()));
        assert_eq!(screen.rows[3].queue, Some((2.0, 10.0)));
        assert_eq!(screen.redactions[0].rate, None);
    }

    #[test]
    fn two_scrapes_give_per_second_rates_and_a_restart_counts_from_zero() {
        let first = snapshot(FIRST);
        let second = snapshot(
            &FIRST
                .replace(
                    "accepted_log_records_total{receiver=\"otlp\"} 100",
                    "accepted_log_records_total{receiver=\"otlp\"} 300",
                )
                .replace(
                    "refused_log_records_total{receiver=\"otlp\"} 0",
                    "refused_log_records_total{receiver=\"otlp\"} 20",
                )
                .replace(
                    "send_failed_log_records_total{exporter=\"otlp/a\"} 0",
                    "send_failed_log_records_total{exporter=\"otlp/a\"} 8",
                )
                .replace("rule=\"openai\"} 4", "rule=\"openai\"} 10")
                .replace(
                    "gateway_process_cpu_seconds_total 1.5",
                    "gateway_process_cpu_seconds_total 2.5",
                )
                .replace(
                    "gateway_exporter_retries_total{exporter=\"otlp/a\"} 1",
                    "gateway_exporter_retries_total{exporter=\"otlp/a\"} 0",
                ),
        );
        let screen = screen(Some(&first), &second, 2.0);
        let otlp = &screen.rows[0];
        assert_eq!(otlp.items_in, Some(110.0));
        assert_eq!(otlp.items_out, Some(100.0));
        assert_eq!(otlp.dropped, Some(10.0));
        let a = screen
            .rows
            .iter()
            .find(|r| r.id == "otlp/a")
            .expect("exporter");
        assert_eq!(a.failed, Some(4.0));
        assert_eq!(
            a.retries,
            Some(0.0),
            "a counter that went down restarted from zero"
        );
        assert_eq!(a.items_out, Some(0.0));
        assert_eq!(screen.redactions[0].rate, Some(3.0));
        assert_eq!(screen.cpu, Some(0.5));
    }
}
