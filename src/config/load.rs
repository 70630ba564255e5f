//! YAML text → a generic value tree with `${env:...}` expanded. The only module that names the YAML
//! crate (`serde-saphyr`); everything after this works on `serde_json::Value`, so one component's
//! bad field does not hide another's and every problem gets its YAML path.

use super::{env, Diagnostic};
use serde_json::Value;

/// Parses YAML text into a value tree and expands environment references in every string.
pub fn load_yaml(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, Vec<Diagnostic>> {
    let value: Value = serde_saphyr::from_str(text).map_err(|e| {
        let e = e.without_snippet();
        let place = match e.location() {
            Some(loc) => format!("line {} column {}", loc.line(), loc.column()),
            None => "<yaml>".to_string(),
        };
        let message = e.to_string();
        let message = message.lines().next().unwrap_or("invalid YAML").to_string();
        vec![Diagnostic::error(place, format!("YAML syntax: {message}"))]
    })?;
    let mut errors = Vec::new();
    let value = expand_tree(value, String::new(), lookup, &mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

fn expand_tree(
    value: Value,
    path: String,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) -> Value {
    match value {
        Value::String(s) => match env::expand(&s, lookup) {
            Ok(v) => Value::String(v),
            Err(msg) => {
                errors.push(Diagnostic::error(path, msg));
                Value::String(s)
            }
        },
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| expand_tree(v, format!("{path}[{i}]"), lookup, errors))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let child = super::join(&path, &k);
                    (k, expand_tree(v, child, lookup, errors))
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let errs = load_yaml("receivers:\n  otlp: [unclosed\n", &|_| None).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].path.starts_with("line "), "{:?}", errs[0]);
        assert!(errs[0].path.contains("column"), "{:?}", errs[0]);
    }

    #[test]
    fn env_errors_are_reported_with_the_value_path() {
        let errs = load_yaml(
            "exporters:\n  otlp:\n    headers:\n      key: \"${env:NOT_SET_X}\"\n",
            &|_| None,
        )
        .unwrap_err();
        assert_eq!(errs[0].path, "exporters.otlp.headers.key");
        assert!(errs[0].message.contains("NOT_SET_X"));
    }
}
