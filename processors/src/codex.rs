//! `codex` processor (being written).
