//! [`Component`]: what a processor's config tells the gateway about the processor it builds.
//! Each processor's config type implements it in the processor's own module; the gateway's
//! processor registry lists the types, one line each, and asks them through this trait which
//! signals they take, how they behave and how they build.

use crate::{BuildError, Processor, Signal};
use std::sync::Arc;

/// A processor type, as its config describes it. Only [`Component::build_processor`] must be
/// written; the other methods default to "any signal, keeps every item, no state".
pub trait Component {
    /// The signals the processor can run on. Default: all three.
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    /// Whether the processor may remove items, so what comes out can be much smaller than what
    /// went in (the pipeline then does not judge a request by its encoded size).
    fn removes_items(&self) -> bool {
        false
    }

    /// Whether the processor keeps state across requests: each pipeline that lists it gets its
    /// own instance (a stateless one is built once and shared).
    fn stateful(&self) -> bool {
        false
    }

    /// Whether the processor turns delta metrics into cumulative ones.
    fn emits_cumulative(&self) -> bool {
        false
    }

    /// Things worth a warning in the gateway's log when it starts with this config (the config
    /// is valid; `validate` does not print these).
    fn startup_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Builds the processor; every problem of the config at once.
    fn build_processor(&self) -> Result<Arc<dyn Processor>, Vec<BuildError>>;
}
