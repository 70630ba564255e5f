//! What every component registry shares: decoding one component's YAML value into its config
//! type with the problems at their YAML paths, and the [`registry!`](crate::registry) macro that
//! declares a kind's config enum — one line per component type — next to the components of that
//! kind (receivers, processors, exporters, connectors).

use super::diagnostic::{join, Diagnostic};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserializes one component's value; a missing value (`debug:`) means all defaults. A
/// problem is pushed to `out` with its full YAML path under `path`.
pub fn decode<T: DeserializeOwned>(
    path: &str,
    value: &Value,
    out: &mut Vec<Diagnostic>,
) -> Option<T> {
    let empty = Value::Object(serde_json::Map::new());
    let value = if value.is_null() { &empty } else { value };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let full = if inner == "." {
                path.to_string()
            } else {
                join(path, &inner)
            };
            out.push(Diagnostic::error(
                full,
                clean_serde_message(&e.into_inner().to_string()),
            ));
            None
        }
    }
}

/// serde's messages mention Rust types; keep them but drop the noisy "at line 0" tails.
fn clean_serde_message(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

/// Declares the config enum of one component kind: a variant per component type, each holding
/// that type's config struct, which implements the kind's trait (`$Trait`). Generates
/// `TYPES` (the type names, in order), `type_name()`, `decode()` (type name + YAML value →
/// config, problems with their paths) and `get()` (the config as `&dyn $Trait`, through which
/// the registry asks each component what it supports and how it builds).
///
/// ```ignore
/// registry! {
///     /// A processor's config, by type.
///     pub enum ProcessorConfig: dyn ProcessorType {
///         /// `batch`: merges requests before the exporters.
///         "batch" => Batch(BatchConfig),
///     }
/// }
/// ```
#[macro_export]
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident: dyn $Trait:path {
            $( $(#[$vmeta:meta])* $name:literal => $Variant:ident($Config:ty), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $Enum {
            $( $(#[$vmeta])* $Variant($Config), )+
        }

        impl $Enum {
            /// The component types this build knows, in registry order.
            pub const TYPES: &'static [&'static str] = &[$($name),+];

            /// The type name of this config (`otlp`, `batch`, ...).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( Self::$Variant(_) => $name, )+
                }
            }

            /// Decodes the value of a component of type `kind` at YAML `path`: `None` when the
            /// type is unknown, `Some(None)` when its value has problems (pushed to `out`).
            pub fn decode(
                kind: &str,
                path: &str,
                value: &serde_json::Value,
                out: &mut Vec<$crate::base::diagnostic::Diagnostic>,
            ) -> Option<Option<Self>> {
                match kind {
                    $( $name => Some(
                        $crate::base::component::decode::<$Config>(path, value, out)
                            .map(Self::$Variant),
                    ), )+
                    _ => None,
                }
            }

            /// The config as its kind's trait object.
            pub fn get(&self) -> &dyn $Trait {
                match self {
                    $( Self::$Variant(c) => c, )+
                }
            }
        }
    };
}
