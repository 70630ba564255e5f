//! Shared helpers for the integration tests: fake OTLP backends, the gateway process, fixtures,
//! the scripted model endpoint, the real Codex CLI driver and a real Prometheus server.
#![allow(dead_code)]
pub mod backends;
pub mod codex;
pub mod drift;
pub mod fixtures;
pub mod gateway;
pub mod mock_llm;
pub mod prometheus;
pub mod rotel;
