//! Shared building blocks at the bottom of the import graph: they import nothing from the rest
//! of the gateway, and every other module may use them. Units (durations, sizes) and clocks
//! live in the `processors` crate ([`processors::units`], [`processors::clock`]), which both
//! crates use.

pub mod component;
pub mod diagnostic;
pub mod net;
pub mod process;
pub mod serve;
pub mod swap;
pub mod tls;

pub use swap::Swap;
