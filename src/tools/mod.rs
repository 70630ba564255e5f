//! Client-side tools of the command line, beside the gateway itself: [`codex_config`] renders
//! the Codex `[otel]` block for a config; [`init`] writes a vendor profile and prints that block
//! for it; [`ingest`] sends the token usage recorded in Codex
//! session files; [`loadgen`] is the benchmark load generator and counting sink;
//! [`healthcheck`] is the container HEALTHCHECK client of `/healthz`; [`top`] is the live
//! terminal view of a running gateway's `/metrics`; [`doctor`] checks the Codex config, the
//! gateway and every exporter's destination.

pub mod codex_config;
pub mod doctor;
pub mod healthcheck;
pub mod ingest;
pub mod init;
pub mod loadgen;
pub mod top;
