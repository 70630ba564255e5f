//! codex-otel-gateway: an OpenTelemetry gateway between the OpenAI Codex CLI and observability
//! backends.
//!
//! Flow: [`receivers`] decode OTLP (gRPC, HTTP protobuf/JSON) → [`pipeline`] runs the processor
//! chain (crate `processors`) in place and fans the result out → [`exporters`] each own a bounded
//! queue, workers and a tower stack (retry → timeout → client). [`config`] loads and validates the
//! YAML; [`app`] runs the lifecycle; [`telemetry`] is the gateway's own logs and metrics.
//! Client-side helpers: [`codex_config`] renders the Codex `[otel]` block for a config;
//! [`ingest`] sends the token usage recorded in Codex session files; [`loadgen`] is the
//! benchmark load generator and counting sink.

pub mod app;
pub mod base;
pub mod codec;
pub mod codex_config;
pub mod config;
pub mod exporters;
pub mod ingest;
pub mod loadgen;
pub mod pipeline;
pub mod receivers;
pub mod telemetry;

pub use processors;
