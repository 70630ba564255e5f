//! Placeholder: written by the redaction work.
fn main() {}
