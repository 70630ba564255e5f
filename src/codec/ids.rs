//! Trace and span id lengths of a decoded protobuf request. Protobuf `bytes` fields decode at any
//! length, but OTLP ids are 16 bytes (trace) or 8 bytes (span), or empty for "not set"; the
//! entry point refuses a request holding any other length (400 / INVALID_ARGUMENT) instead of
//! forwarding ids no backend can use. (OTLP/JSON ids are checked while parsing.)

use super::Payload;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Exemplar};

const TRACE_ID: usize = 16;
const SPAN_ID: usize = 8;

/// The first id of `payload` with a wrong length, as `path: problem`. Nothing is allocated
/// unless an id is wrong (the path is written only then).
pub fn check(payload: &Payload) -> Result<(), String> {
    match payload {
        Payload::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    for (k, s) in ss.spans.iter().enumerate() {
                        let at = || format!("resource_spans[{i}].scope_spans[{j}].spans[{k}]");
                        id(&at, "trace_id", &s.trace_id, TRACE_ID)?;
                        id(&at, "span_id", &s.span_id, SPAN_ID)?;
                        id(&at, "parent_span_id", &s.parent_span_id, SPAN_ID)?;
                        for (l, link) in s.links.iter().enumerate() {
                            let at = || format!("{}.links[{l}]", at());
                            id(&at, "trace_id", &link.trace_id, TRACE_ID)?;
                            id(&at, "span_id", &link.span_id, SPAN_ID)?;
                        }
                    }
                }
            }
        }
        Payload::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    for (k, l) in sl.log_records.iter().enumerate() {
                        let at = || format!("resource_logs[{i}].scope_logs[{j}].log_records[{k}]");
                        id(&at, "trace_id", &l.trace_id, TRACE_ID)?;
                        id(&at, "span_id", &l.span_id, SPAN_ID)?;
                    }
                }
            }
        }
        Payload::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    for (k, m) in sm.metrics.iter().enumerate() {
                        let at =
                            || format!("resource_metrics[{i}].scope_metrics[{j}].metrics[{k}]");
                        exemplars(&at, m.data.as_ref())?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The exemplars of every data point of one metric.
fn exemplars(at: &dyn Fn() -> String, data: Option<&Data>) -> Result<(), String> {
    match data {
        Some(Data::Gauge(g)) => points(at, g.data_points.iter().map(|p| &p.exemplars[..])),
        Some(Data::Sum(s)) => points(at, s.data_points.iter().map(|p| &p.exemplars[..])),
        Some(Data::Histogram(h)) => points(at, h.data_points.iter().map(|p| &p.exemplars[..])),
        Some(Data::ExponentialHistogram(h)) => {
            points(at, h.data_points.iter().map(|p| &p.exemplars[..]))
        }
        Some(Data::Summary(_)) | None => Ok(()),
    }
}

/// The exemplars of each data point, by point index.
fn points<'a>(
    at: &dyn Fn() -> String,
    lists: impl Iterator<Item = &'a [Exemplar]>,
) -> Result<(), String> {
    for (p, list) in lists.enumerate() {
        for (e, x) in list.iter().enumerate() {
            let at = || format!("{}.data_points[{p}].exemplars[{e}]", at());
            id(&at, "trace_id", &x.trace_id, TRACE_ID)?;
            id(&at, "span_id", &x.span_id, SPAN_ID)?;
        }
    }
    Ok(())
}

fn id(at: &dyn Fn() -> String, field: &str, bytes: &[u8], len: usize) -> Result<(), String> {
    if bytes.is_empty() || bytes.len() == len {
        return Ok(());
    }
    Err(format!(
        "{}.{field} is {} bytes; an OTLP {} is {len} bytes (or empty)",
        at(),
        bytes.len(),
        if len == TRACE_ID {
            "trace id"
        } else {
            "span id"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::trace::v1::{span::Link, ResourceSpans, ScopeSpans, Span};

    fn traces(span: Span) -> Payload {
        Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    #[test]
    fn ids_of_the_right_length_or_empty_pass_and_others_are_named_by_path() {
        let good = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        assert_eq!(check(&traces(good.clone())), Ok(()));
        assert_eq!(check(&traces(Span::default())), Ok(()));
        let five = Span {
            trace_id: vec![1; 5],
            ..good.clone()
        };
        let err = check(&traces(five)).unwrap_err();
        assert!(err.contains("spans[0].trace_id is 5 bytes"), "{err}");
        let link = Span {
            links: vec![Link {
                span_id: vec![0; 9],
                ..Default::default()
            }],
            ..good
        };
        assert!(check(&traces(link))
            .unwrap_err()
            .contains("links[0].span_id is 9 bytes"));
        let log = Payload::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        span_id: vec![0; 16],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        assert!(check(&log)
            .unwrap_err()
            .contains("log_records[0].span_id is 16 bytes"));
    }
}
