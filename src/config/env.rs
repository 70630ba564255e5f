//! `${env:VAR}` and `${env:VAR:-default}` expansion in config string values, Collector style.
//! `$$` stands for a literal `$`. A missing variable without a default is an error naming it.

/// Expands every `${env:...}` reference in `input` with `lookup`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !input.contains('$') {
        return Ok(input.to_string());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated \"${{\" in {input:?}"))?;
            out.push_str(&resolve(&body[..end], lookup)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(reference: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let Some(spec) = reference.strip_prefix("env:") else {
        return Err(format!(
            "unsupported reference \"${{{reference}}}\": use ${{env:NAME}} or ${{env:NAME:-default}}"
        ));
    };
    let (name, default) = match spec.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (spec, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!("invalid environment variable name {name:?}"));
    }
    match (lookup(name), default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(format!(
            "environment variable {name} is not set (use ${{env:{name}:-default}} for a default)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("abc".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_defaults_and_escapes() {
        assert_eq!(expand("Basic ${env:TOKEN}", &env), Ok("Basic abc".into()));
        assert_eq!(expand("${env:NOPE:-x:y}", &env), Ok("x:y".into()));
        assert_eq!(expand("${env:EMPTY:-d}", &env), Ok("".into()));
        assert_eq!(expand("cost $$5 and $x", &env), Ok("cost $5 and $x".into()));
        assert_eq!(expand("plain", &env), Ok("plain".into()));
    }

    #[test]
    fn a_missing_variable_without_default_is_an_error_naming_it() {
        let err = expand("${env:LAST9_TOKEN}", &env).unwrap_err();
        assert!(err.contains("LAST9_TOKEN"), "{err}");
        assert!(expand("${env:A", &env).is_err());
        assert!(expand("${HOME}", &env).is_err());
        assert!(expand("${env:1BAD}", &env).is_err());
    }
}
