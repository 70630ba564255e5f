//! `redaction` processor (being written).
