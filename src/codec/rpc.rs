//! `google.rpc.Status` and `google.rpc.RetryInfo`: the body of OTLP/HTTP error replies and the
//! retry hint in gRPC `grpc-status-details-bin`. Declared here with prost so no extra proto crate
//! is needed.

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// gRPC status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Details (`google.protobuf.Any`).
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    /// Type URL, e.g. `type.googleapis.com/google.rpc.RetryInfo`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// Encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// How long to wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Type URL of [`RetryInfo`].
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The export response of any signal: all three share this wire shape
/// (`partial_success { rejected_<items> = 1; error_message = 2 }`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportResponse {
    /// Set when the backend rejected part of the request.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<PartialSuccess>,
}

/// `Export*PartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialSuccess {
    /// Items rejected by the backend.
    #[prost(int64, tag = "1")]
    pub rejected: i64,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

impl RetryInfo {
    /// The delay as a `std::time::Duration` (negative values count as zero).
    pub fn delay(&self) -> Option<std::time::Duration> {
        self.retry_delay.as_ref().map(|d| {
            std::time::Duration::from_secs(d.seconds.max(0) as u64)
                + std::time::Duration::from_nanos(d.nanos.max(0) as u64)
        })
    }
}
