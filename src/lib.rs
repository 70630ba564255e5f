//! codex-otel-gateway: an OpenTelemetry gateway between the OpenAI Codex CLI and observability
//! backends.
//!
//! Flow: [`receivers`] speak OTLP (gRPC, HTTP protobuf/JSON) and hand each request body to the
//! [`pipeline`] entry point, which runs the processor chain (crate `processors`) in place and
//! fans the result out → [`exporters`] each own a bounded queue, workers and a tower stack
//! (retry → timeout → client). [`config`] loads and validates the YAML through each kind's
//! registry; [`app`] wires the graph and runs the lifecycle; [`telemetry`] is the gateway's own
//! logs and metrics; [`codec`] the OTLP encodings; [`base`] the shared building blocks at the
//! bottom of the import graph; [`tools`] the client-side commands.
//!
//! Import order, bottom to top (a module imports only from modules below it): `base` →
//! `telemetry` → `codec` → `exporters` → `pipeline` → `receivers` → `config` → `app` → `tools`.

pub mod app;
pub mod base;
pub mod codec;
pub mod config;
pub mod exporters;
pub mod pipeline;
pub mod receivers;
pub mod telemetry;
pub mod tools;

pub use processors;
