//! Integration tests: the real gateway binary with real sockets, fake backends on port 0.
mod support;
