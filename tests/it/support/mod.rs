//! Shared helpers for the integration tests: fake OTLP backends, the gateway process, fixtures,
//! the scripted model endpoint and the real Codex CLI driver.
#![allow(dead_code)]
pub mod backends;
pub mod codex;
pub mod fixtures;
pub mod gateway;
pub mod mock_llm;
