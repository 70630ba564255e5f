//! `${env:VAR}` and `${env:VAR:-default}` expansion in config string values, Collector style.
//! `$$` stands for a literal `$`. A missing variable without a default is an error naming it. A
//! default may itself hold references (`${env:URL:-https://${env:HOST:-a.example}/otlp}`): they
//! are expanded only when the default is used.

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
            let end =
                closing_brace(body).ok_or_else(|| format!("unterminated \"${{\" in {input:?}"))?;
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

/// Index of the `}` closing a reference whose text starts `body`, counting nested `${`.
fn closing_brace(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
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
        (None, Some(d)) => expand(d, lookup),
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
    fn a_default_may_hold_references_expanded_only_when_it_is_used() {
        let url =
            "${env:FULL_URL:-https://otlp-gateway-${env:ZONE:-prod-us-central-0}.grafana.net/otlp}";
        assert_eq!(
            expand(url, &env),
            Ok("https://otlp-gateway-prod-us-central-0.grafana.net/otlp".into())
        );
        let set = |n: &str| match n {
            "ZONE" => Some("prod-eu-west-2".to_string()),
            "FULL_URL" => Some("http://127.0.0.1:1/otlp".to_string()),
            _ => None,
        };
        let zone_only = |n: &str| (n == "ZONE").then(|| "prod-eu-west-2".to_string());
        assert_eq!(
            expand(url, &zone_only),
            Ok("https://otlp-gateway-prod-eu-west-2.grafana.net/otlp".into())
        );
        assert_eq!(expand(url, &set), Ok("http://127.0.0.1:1/otlp".into()));
        assert_eq!(
            expand("a${env:NOPE:-${env:TOKEN}}b", &env),
            Ok("aabcb".into())
        );
        assert!(expand("${env:NOPE:-${env:ALSO_NOT_SET}}", &env).is_err());
        assert!(expand("${env:NOPE:-${env:TOKEN}", &env).is_err());
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
