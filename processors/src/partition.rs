//! Splitting one request by a key per item: the routing connector sends each part of a request
//! to its route's pipelines, and an exporter with per-tenant headers sends each part with its
//! tenant's headers. Keys are small numbers chosen by the caller (a route index, a tenant
//! group); a part keeps the resource and scope (and, for metrics, the metric) of its items, and
//! items keep their order.
//!
//! Items are spans, log records and metric data points (a metric whose points go to different
//! keys is split, each part a copy of the metric with its own points).

use crate::request::{metric_point_count, OtlpRequest};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;

/// The key of every item of a request, in walk order (resource, scope, item).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    keys: Vec<u32>,
}

impl Keys {
    fn push_n(&mut self, key: u32, n: usize) {
        self.keys.extend(std::iter::repeat_n(key, n));
    }

    /// The key every item has, when they all have the same one (and there is at least one item):
    /// the request goes whole, no split needed.
    pub fn single(&self) -> Option<u32> {
        let first = *self.keys.first()?;
        self.keys.iter().all(|k| *k == first).then_some(first)
    }

    /// Number of items with key `key`.
    pub fn count(&self, key: u32) -> usize {
        self.keys.iter().filter(|k| **k == key).count()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the request had no items.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Splitting a request of any signal by a key per item.
pub trait Partition: OtlpRequest {
    /// The key of every item. `by_resource` decides for a whole resource when it can
    /// (`Some(key)`); otherwise `by_item` is asked for each item of that resource, with the
    /// item's attributes (span, log record or data point attributes).
    fn item_keys(
        &self,
        by_resource: impl FnMut(Option<&Resource>) -> Option<u32>,
        by_item: impl FnMut(Option<&Resource>, &[KeyValue]) -> u32,
    ) -> Keys;

    /// Moves the items into one request per key, in ascending key order (resources without
    /// items are left out). `keys` must be what [`Partition::item_keys`] returned for this
    /// request.
    fn partition(self, keys: &Keys) -> Vec<(u32, Self)>;
}

/// The entry of `key` in a short list of parts, made by `make` when it is not there yet.
fn slot<T>(parts: &mut Vec<(u32, T)>, key: u32, make: impl FnOnce() -> T) -> &mut T {
    let i = match parts.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            parts.push((key, make()));
            parts.len() - 1
        }
    };
    &mut parts[i].1
}

/// The keys of the next `n` items, and the one they share if they do.
fn next_keys<'a>(keys: &'a [u32], pos: &mut usize, n: usize) -> (&'a [u32], Option<u32>) {
    let start = (*pos).min(keys.len());
    let end = (start + n).min(keys.len());
    *pos += n;
    let mine = &keys[start..end];
    let shared = match mine.first() {
        Some(first) if mine.len() == n && mine.iter().all(|k| k == first) => Some(*first),
        _ => None,
    };
    (mine, shared)
}

macro_rules! partition_items {
    ($req:ty, $res:ident, $scopes:ident, $items:ident) => {
        impl Partition for $req {
            fn item_keys(
                &self,
                mut by_resource: impl FnMut(Option<&Resource>) -> Option<u32>,
                mut by_item: impl FnMut(Option<&Resource>, &[KeyValue]) -> u32,
            ) -> Keys {
                let mut keys = Keys::default();
                for rs in &self.$res {
                    let r = rs.resource.as_ref();
                    if let Some(k) = by_resource(r) {
                        keys.push_n(k, rs.$scopes.iter().map(|s| s.$items.len()).sum());
                        continue;
                    }
                    for item in rs.$scopes.iter().flat_map(|s| &s.$items) {
                        keys.keys.push(by_item(r, &item.attributes));
                    }
                }
                keys
            }

            fn partition(self, keys: &Keys) -> Vec<(u32, Self)> {
                let mut parts: Vec<(u32, Self)> = Vec::new();
                let mut pos = 0;
                for mut rs in self.$res {
                    let n = rs.$scopes.iter().map(|s| s.$items.len()).sum();
                    if n == 0 {
                        continue;
                    }
                    let (mine, shared) = next_keys(&keys.keys, &mut pos, n);
                    if let Some(k) = shared {
                        slot(&mut parts, k, Self::default).$res.push(rs);
                        continue;
                    }
                    let mut next = mine.iter().copied();
                    let mut res_parts = Vec::new();
                    for mut ss in std::mem::take(&mut rs.$scopes) {
                        let mut scope_parts = Vec::new();
                        for item in std::mem::take(&mut ss.$items) {
                            let k = next.next().unwrap_or(0);
                            slot(&mut scope_parts, k, || ss.clone()).$items.push(item);
                        }
                        for (k, s) in scope_parts {
                            slot(&mut res_parts, k, || rs.clone()).$scopes.push(s);
                        }
                    }
                    for (k, r) in res_parts {
                        slot(&mut parts, k, Self::default).$res.push(r);
                    }
                }
                parts.sort_by_key(|(k, _)| *k);
                parts
            }
        }
    };
}

partition_items!(
    ExportTraceServiceRequest,
    resource_spans,
    scope_spans,
    spans
);
partition_items!(
    ExportLogsServiceRequest,
    resource_logs,
    scope_logs,
    log_records
);

/// Calls `f` with the attributes of every data point of `m`, in order.
fn each_point(m: &Metric, mut f: impl FnMut(&[KeyValue])) {
    match &m.data {
        Some(Data::Gauge(d)) => d.data_points.iter().for_each(|p| f(&p.attributes)),
        Some(Data::Sum(d)) => d.data_points.iter().for_each(|p| f(&p.attributes)),
        Some(Data::Histogram(d)) => d.data_points.iter().for_each(|p| f(&p.attributes)),
        Some(Data::ExponentialHistogram(d)) => d.data_points.iter().for_each(|p| f(&p.attributes)),
        Some(Data::Summary(d)) => d.data_points.iter().for_each(|p| f(&p.attributes)),
        None => {}
    }
}

/// Splits one metric by the keys of its points: a copy of the metric per key, each with its
/// own points in order.
fn split_metric(mut m: Metric, keys: &[u32]) -> Vec<(u32, Metric)> {
    let mut out: Vec<(u32, Metric)> = Vec::new();
    let data = m.data.take();
    macro_rules! cut {
        ($variant:ident, $d:expr) => {{
            let mut d = $d;
            let points = std::mem::take(&mut d.data_points);
            for (p, k) in points.into_iter().zip(keys.iter().copied()) {
                let part = slot(&mut out, k, || Metric {
                    data: Some(Data::$variant(d.clone())),
                    ..m.clone()
                });
                if let Some(Data::$variant(x)) = &mut part.data {
                    x.data_points.push(p);
                }
            }
        }};
    }
    match data {
        Some(Data::Gauge(d)) => cut!(Gauge, d),
        Some(Data::Sum(d)) => cut!(Sum, d),
        Some(Data::Histogram(d)) => cut!(Histogram, d),
        Some(Data::ExponentialHistogram(d)) => cut!(ExponentialHistogram, d),
        Some(Data::Summary(d)) => cut!(Summary, d),
        None => {}
    }
    out
}

impl Partition for ExportMetricsServiceRequest {
    fn item_keys(
        &self,
        mut by_resource: impl FnMut(Option<&Resource>) -> Option<u32>,
        mut by_item: impl FnMut(Option<&Resource>, &[KeyValue]) -> u32,
    ) -> Keys {
        let mut keys = Keys::default();
        for rm in &self.resource_metrics {
            let r = rm.resource.as_ref();
            let metrics = rm.scope_metrics.iter().flat_map(|s| &s.metrics);
            match by_resource(r) {
                Some(k) => keys.push_n(k, metrics.map(metric_point_count).sum()),
                None => metrics.for_each(|m| each_point(m, |a| keys.keys.push(by_item(r, a)))),
            }
        }
        keys
    }

    fn partition(self, keys: &Keys) -> Vec<(u32, Self)> {
        let mut parts: Vec<(u32, Self)> = Vec::new();
        let mut pos = 0;
        for mut rm in self.resource_metrics {
            let n = rm
                .scope_metrics
                .iter()
                .flat_map(|s| &s.metrics)
                .map(metric_point_count)
                .sum();
            if n == 0 {
                continue;
            }
            let (mine, whole) = next_keys(&keys.keys, &mut pos, n);
            if let Some(k) = whole {
                slot(&mut parts, k, Self::default).resource_metrics.push(rm);
                continue;
            }
            let mut at = 0;
            let mut res_parts = Vec::new();
            for mut sm in std::mem::take(&mut rm.scope_metrics) {
                let mut scope_parts = Vec::new();
                for m in std::mem::take(&mut sm.metrics) {
                    let (points, _) = next_keys(mine, &mut at, metric_point_count(&m));
                    for (k, part) in split_metric(m, points) {
                        slot(&mut scope_parts, k, || sm.clone()).metrics.push(part);
                    }
                }
                for (k, s) in scope_parts {
                    slot(&mut res_parts, k, || rm.clone()).scope_metrics.push(s);
                }
            }
            for (k, r) in res_parts {
                slot(&mut parts, k, Self::default).resource_metrics.push(r);
            }
        }
        parts.sort_by_key(|(k, _)| *k);
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find_attr;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;

    fn fixture<T: Message + Default>(path: &str) -> T {
        let body = std::fs::read(format!(
            "{}/../tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        T::decode(body.as_slice()).expect("decode")
    }

    fn text(attrs: &[KeyValue], key: &str) -> String {
        match find_attr(attrs, key) {
            Some(Value::StringValue(s)) => s.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        }
    }

    #[test]
    fn log_records_split_by_their_event_name_keep_resource_scope_and_order() {
        let logs: ExportLogsServiceRequest = fixture("tool-secrets-protobuf/004_logs.pb");
        let names: Vec<String> = logs
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| text(&l.attributes, "event.name"))
            .collect();
        let keys = logs.item_keys(
            |_| None,
            |_, a| u32::from(text(a, "event.name") == "codex.tool_result"),
        );
        assert_eq!(keys.len(), names.len());
        assert!(
            keys.single().is_none(),
            "the fixture has tool results and other events"
        );
        let parts = logs.clone().partition(&keys);
        assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 1]);
        for (k, part) in &parts {
            assert_eq!(part.item_count(), keys.count(*k));
            for r in &part.resource_logs {
                assert_eq!(r.resource, logs.resource_logs[0].resource);
                for s in &r.scope_logs {
                    for l in &s.log_records {
                        let is_result = text(&l.attributes, "event.name") == "codex.tool_result";
                        assert_eq!(u32::from(is_result), *k);
                    }
                }
            }
        }
        let back: Vec<String> = parts[0]
            .1
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| text(&l.attributes, "event.name"))
            .collect();
        let expected: Vec<String> = names
            .into_iter()
            .filter(|n| n != "codex.tool_result")
            .collect();
        assert_eq!(back, expected, "items keep their order");
    }

    #[test]
    fn a_resource_decided_whole_is_moved_whole_and_one_key_means_no_split() {
        let traces: ExportTraceServiceRequest = fixture("tool-secrets-protobuf/001_traces.pb");
        let mut asked = 0;
        let keys = traces.item_keys(
            |_| Some(7),
            |_, _| {
                asked += 1;
                0
            },
        );
        assert_eq!(asked, 0, "no item is asked when its resource is decided");
        assert_eq!(keys.single(), Some(7));
        let parts = traces.clone().partition(&keys);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0, 7);
        assert_eq!(parts[0].1, traces);
    }

    #[test]
    fn metric_points_of_one_metric_are_split_into_copies_of_the_metric() {
        let metrics: ExportMetricsServiceRequest =
            fixture("failing-tool-loop-protobuf/004_metrics.pb");
        let total = metrics.item_count();
        let mut n = 0;
        let keys = metrics.item_keys(
            |_| None,
            |_, _| {
                n += 1;
                n % 2
            },
        );
        assert_eq!(keys.len(), total);
        let parts = metrics.clone().partition(&keys);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1.item_count() + parts[1].1.item_count(), total);
        assert_eq!(parts[0].1.item_count(), keys.count(0));
        let names = |r: &ExportMetricsServiceRequest| -> Vec<String> {
            let mut v: Vec<String> = r
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| m.name.clone())
                .collect();
            v.dedup();
            v
        };
        let split_metric = names(&parts[0].1)
            .into_iter()
            .find(|n| names(&parts[1].1).contains(n));
        assert!(
            split_metric.is_some(),
            "some metric has points on both sides"
        );
    }
}
