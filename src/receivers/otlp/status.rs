//! Request errors of the OTLP receiver and their statuses: HTTP codes with a `google.rpc.Status`
//! body in the request's encoding, and gRPC codes (with `RetryInfo` when the client should retry).

use crate::codec::rpc;
use crate::pipeline::IngestError;
use prost::Message;
use std::time::Duration;

/// Delay suggested to clients when every exporter queue is full.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `auth` is configured and the request carries no valid credentials (401 /
    /// UNAUTHENTICATED). The message never says which part was wrong.
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// Unknown path.
    #[error("unknown path {0}; OTLP/HTTP paths are the configured traces, metrics and logs paths")]
    NotFound(String),
    /// Not a POST.
    #[error("method {0} not allowed; use POST")]
    MethodNotAllowed(String),
    /// Content type or encoding the receiver does not speak.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Body larger than the configured limit (after decompression).
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Undecodable body.
    #[error("{0}")]
    BadRequest(String),
    /// The body (HTTP) or message (gRPC) did not arrive within the read timeout.
    #[error("the request body did not arrive in time")]
    ReadTimeout,
    /// A memory limiter refused new data: retry later.
    #[error("the gateway is over its memory limit; retry later")]
    Overloaded,
    /// `max_concurrent_requests` requests are already in progress: retry later.
    #[error("too many concurrent requests; retry later")]
    TooManyRequests,
    /// The signal has no pipeline on this receiver (found before the body was read).
    #[error("no {0} pipeline uses this receiver")]
    NotRouted(processors::Signal),
    /// The pipeline refused the request (counted by the pipeline entry).
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl RequestError {
    /// The HTTP status.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            RequestError::Unauthenticated => S::UNAUTHORIZED,
            RequestError::NotFound(_) => S::NOT_FOUND,
            RequestError::MethodNotAllowed(_) => S::METHOD_NOT_ALLOWED,
            RequestError::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            RequestError::PayloadTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            RequestError::BadRequest(_) => S::BAD_REQUEST,
            RequestError::ReadTimeout => S::REQUEST_TIMEOUT,
            RequestError::Overloaded | RequestError::TooManyRequests => S::SERVICE_UNAVAILABLE,
            RequestError::NotRouted(_) | RequestError::Ingest(IngestError::NotRouted(_)) => {
                S::NOT_FOUND
            }
            RequestError::Ingest(IngestError::Invalid(_)) => S::BAD_REQUEST,
            RequestError::Ingest(IngestError::TooLarge(_)) => S::PAYLOAD_TOO_LARGE,
            RequestError::Ingest(
                IngestError::Unavailable | IngestError::Storage | IngestError::Overloaded,
            ) => S::SERVICE_UNAVAILABLE,
        }
    }

    /// The gRPC code.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            RequestError::Unauthenticated => C::Unauthenticated,
            RequestError::NotFound(_)
            | RequestError::NotRouted(_)
            | RequestError::Ingest(IngestError::NotRouted(_)) => C::Unimplemented,
            RequestError::MethodNotAllowed(_) | RequestError::UnsupportedMediaType(_) => {
                C::InvalidArgument
            }
            RequestError::PayloadTooLarge { .. } => C::ResourceExhausted,
            RequestError::BadRequest(_) => C::InvalidArgument,
            RequestError::ReadTimeout => C::DeadlineExceeded,
            RequestError::Overloaded | RequestError::TooManyRequests => C::Unavailable,
            RequestError::Ingest(IngestError::Invalid(_)) => C::InvalidArgument,
            RequestError::Ingest(IngestError::TooLarge(_)) => C::ResourceExhausted,
            RequestError::Ingest(
                IngestError::Unavailable | IngestError::Storage | IngestError::Overloaded,
            ) => C::Unavailable,
        }
    }

    /// Whether the client should retry (and gets a retry hint).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            RequestError::Overloaded
                | RequestError::TooManyRequests
                | RequestError::Ingest(
                    IngestError::Unavailable | IngestError::Storage | IngestError::Overloaded
                )
        )
    }

    /// Whether the pipeline entry counted this refusal already (it came from
    /// [`crate::pipeline::Entry::accept`]).
    pub fn counted_by_entry(&self) -> bool {
        matches!(self, RequestError::Ingest(_))
    }

    /// The `google.rpc.Status` describing this error (with `RetryInfo` when retryable).
    pub fn rpc_status(&self) -> rpc::Status {
        let mut details = Vec::new();
        if self.retryable() {
            let info = rpc::RetryInfo {
                retry_delay: Some(rpc::ProtoDuration {
                    seconds: RETRY_AFTER.as_secs() as i64,
                    nanos: 0,
                }),
            };
            details.push(rpc::Any {
                type_url: rpc::RETRY_INFO_TYPE.into(),
                value: info.encode_to_vec(),
            });
        }
        rpc::Status {
            code: self.grpc_code() as i32,
            message: self.to_string(),
            details,
        }
    }

    /// The gRPC status.
    pub fn to_grpc(&self) -> tonic::Status {
        if self.retryable() {
            tonic::Status::with_details(
                self.grpc_code(),
                self.to_string(),
                self.rpc_status().encode_to_vec().into(),
            )
        } else {
            tonic::Status::new(self.grpc_code(), self.to_string())
        }
    }

    /// The JSON form of the status body (`{"code": 3, "message": "..."}`).
    pub fn json_body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "code": self.grpc_code() as i32,
            "message": self.to_string(),
        }))
        .unwrap_or_default()
    }
}
