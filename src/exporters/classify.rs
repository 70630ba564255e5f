//! The OTLP specification's retry table, in one place: which HTTP statuses and gRPC codes are
//! retryable, and how long the backend asked us to wait (`Retry-After`, gRPC `RetryInfo`). The
//! Prometheus remote write specification's rule (5xx and 429 retryable) is here too.

use crate::codec::rpc;
use prost::Message;
use std::time::{Duration, SystemTime};

/// Why an export attempt failed, as the retry policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Worth another attempt (after `retry_after` if the backend said so).
    #[error("{message}")]
    Retryable {
        /// What happened (no payload content, no header values).
        message: String,
        /// The backend's requested delay.
        retry_after: Option<Duration>,
    },
    /// Will never succeed: dropped and counted.
    #[error("{message}")]
    Permanent {
        /// What happened.
        message: String,
    },
}

impl ExportError {
    /// A retryable failure without a delay hint.
    pub fn retryable(message: impl Into<String>) -> Self {
        ExportError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError::Permanent {
            message: message.into(),
        }
    }
}

/// Classifies a non-2xx HTTP status: 429, 502, 503, 504 are retryable, everything else permanent.
pub fn http_status(status: u16, retry_after: Option<&str>, body_hint: &str) -> ExportError {
    let message = if body_hint.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body_hint}")
    };
    match status {
        429 | 502 | 503 | 504 => ExportError::Retryable {
            message,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        _ => ExportError::Permanent { message },
    }
}

/// Classifies a non-2xx answer to a Prometheus remote write request, as the remote write 1.0
/// specification says: 5xx and 429 are retryable, every other status is permanent.
pub fn remote_write_status(status: u16, retry_after: Option<&str>, body_hint: &str) -> ExportError {
    let message = if body_hint.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body_hint}")
    };
    if status == 429 || (500..600).contains(&status) {
        ExportError::Retryable {
            message,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())),
        }
    } else {
        ExportError::Permanent { message }
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Classifies a gRPC status per the OTLP table. `RESOURCE_EXHAUSTED` is retryable only when the
/// server attached `RetryInfo`.
///
/// The table applies to statuses the server sent. A status the client made up from a transport
/// failure — connection refused or reset, the connection closed or the stream reset before a
/// response (`Unknown: transport error`, `Internal: h2 protocol error`, ...) — carries that
/// failure as its source, and is retryable whatever its code, as a failed request is for
/// `otlphttp`: the backend may never have seen the data.
pub fn grpc_status(status: &tonic::Status) -> ExportError {
    use std::error::Error as _;
    use tonic::Code;
    if let Some(source) = status.source() {
        return ExportError::retryable(format!(
            "gRPC transport failure ({:?}): {}",
            status.code(),
            super::otlp_http::error_chain(source)
        ));
    }
    let message = format!("gRPC {:?}: {}", status.code(), status.message());
    let retry_info = retry_info_delay(status.details());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => ExportError::Retryable {
            message,
            retry_after: retry_info.flatten(),
        },
        Code::ResourceExhausted if retry_info.is_some() => ExportError::Retryable {
            message,
            retry_after: retry_info.flatten(),
        },
        _ => ExportError::Permanent { message },
    }
}

/// `Some(delay)` when `details` (a `google.rpc.Status`) carries a `RetryInfo`.
fn retry_info_delay(details: &[u8]) -> Option<Option<Duration>> {
    if details.is_empty() {
        return None;
    }
    let status = rpc::Status::decode(details).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url == rpc::RETRY_INFO_TYPE)?;
    let info = rpc::RetryInfo::decode(any.value.as_slice()).ok()?;
    Some(info.delay())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_retryable(e: &ExportError) -> bool {
        matches!(e, ExportError::Retryable { .. })
    }

    #[test]
    fn http_table_matches_the_otlp_spec() {
        for s in [429, 502, 503, 504] {
            assert!(is_retryable(&http_status(s, None, "")), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 500] {
            assert!(!is_retryable(&http_status(s, None, "")), "{s}");
        }
    }

    #[test]
    fn remote_write_retries_5xx_and_429_and_gives_up_on_other_4xx() {
        for s in [429, 500, 502, 503, 504, 599] {
            assert!(is_retryable(&remote_write_status(s, None, "")), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 422] {
            assert!(!is_retryable(&remote_write_status(s, None, "")), "{s}");
        }
        assert_eq!(
            remote_write_status(503, Some("2"), "busy"),
            ExportError::Retryable {
                message: "HTTP 503: busy".into(),
                retry_after: Some(Duration::from_secs(2))
            }
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn grpc_transport_failures_are_retryable_whatever_their_code_but_server_statuses_follow_the_table(
    ) {
        use tonic::Code;
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let made_up = tonic::Status::from_error(Box::new(reset));
        assert_eq!(made_up.code(), Code::Unknown, "what tonic makes of it");
        let e = grpc_status(&made_up);
        assert!(is_retryable(&e), "{e:?}");
        assert!(e.to_string().contains("connection reset"), "{e}");
        for code in [Code::Unknown, Code::Internal] {
            assert!(
                !is_retryable(&grpc_status(&tonic::Status::new(code, "transport error"))),
                "a server's {code:?} is permanent, whatever its message"
            );
        }
    }

    #[test]
    fn grpc_resource_exhausted_is_retryable_only_with_retry_info() {
        use tonic::Code;
        let plain = tonic::Status::new(Code::ResourceExhausted, "full");
        assert!(!is_retryable(&grpc_status(&plain)));
        let info = rpc::RetryInfo {
            retry_delay: Some(rpc::ProtoDuration {
                seconds: 2,
                nanos: 0,
            }),
        };
        let details = rpc::Status {
            code: Code::ResourceExhausted as i32,
            message: "full".into(),
            details: vec![rpc::Any {
                type_url: rpc::RETRY_INFO_TYPE.into(),
                value: info.encode_to_vec(),
            }],
        };
        let with_info = tonic::Status::with_details(
            Code::ResourceExhausted,
            "full",
            details.encode_to_vec().into(),
        );
        assert_eq!(
            grpc_status(&with_info),
            ExportError::Retryable {
                message: "gRPC ResourceExhausted: full".into(),
                retry_after: Some(Duration::from_secs(2))
            }
        );
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::DataLoss,
        ] {
            assert!(
                is_retryable(&grpc_status(&tonic::Status::new(code, ""))),
                "{code:?}"
            );
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Internal,
        ] {
            assert!(
                !is_retryable(&grpc_status(&tonic::Status::new(code, ""))),
                "{code:?}"
            );
        }
    }
}
