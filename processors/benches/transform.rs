//! Placeholder: written by the transform work.
fn main() {}
