//! Shared helpers for the integration tests: fake OTLP backends, the gateway process, fixtures,
//! the scripted model endpoint, the real Codex CLI driver, a real Prometheus server, and the
//! privacy corpus with its secret-scanner oracles.
#![allow(dead_code)]
pub mod backends;
pub mod codex;
pub mod corpus;
pub mod drift;
pub mod exported;
pub mod fixtures;
pub mod gateway;
pub mod mock_llm;
pub mod prometheus;
pub mod rotel;
pub mod scanners;
pub mod shipped;
pub mod soak;
