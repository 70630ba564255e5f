//! Receivers: where telemetry enters. Only `otlp` (gRPC + HTTP) for now.

pub mod admission;
pub mod otlp;
