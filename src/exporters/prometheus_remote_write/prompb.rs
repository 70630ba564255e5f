//! The four messages of the Prometheus remote write 1.0 protocol (`prometheus.WriteRequest`),
//! derived by hand with prost: only the fields the 1.0 specification defines. Field 2 and 3 of
//! `WriteRequest` (Cortex source, metadata) are reserved by the specification and never sent.

/// `prometheus.WriteRequest`: the body of one remote write request (before snappy).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series of this request.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: one label set and its samples (oldest first).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name (byte order); `__name__` carries the metric name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in increasing timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    /// Label name (`[a-zA-Z_][a-zA-Z0-9_]*`, or `__name__`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value (any UTF-8; never empty: an empty value is the same as no label).
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value; the stale marker is a special NaN ([`super::convert::STALE_NAN`]).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}
