//! A reader of the Prometheus text exposition format (what the admin listener's `/metrics`
//! serves): one [`Sample`] per line, comments and blank lines skipped. `top` reads the
//! gateway's self-metrics with it; integration tests use it to read `/metrics` too.

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (`gateway_exporter_sent_spans_total`).
    pub name: String,
    /// Label pairs in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A line that is not a valid sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The line (cut to 200 characters).
    pub text: String,
}

/// Every sample of `text`; the first malformed line is an error.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason| ParseError {
            line: i + 1,
            reason,
            text: line.chars().take(200).collect(),
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| fail("no value"))?;
        let name = &line[..name_end];
        if name.is_empty() {
            return Err(fail("no metric name"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end + 1..]).ok_or_else(|| fail("malformed labels"))?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let value = rest
            .split_whitespace()
            .next()
            .and_then(parse_value)
            .ok_or_else(|| fail("malformed value"))?;
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Labels after the `{`: the pairs and what follows the closing `}`.
fn parse_labels(mut rest: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((key, value));
        rest = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels_escapes_and_special_values() {
        let text = "# HELP x help\n# TYPE x counter\n\
                    gateway_exporter_sent_spans_total{exporter=\"otlp/a\"} 12\n\
                    up 1 1700000000000\n\
                    odd{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\",} NaN\n\
                    inf{le=\"+Inf\"} +Inf\n\n";
        let s = parse(text).expect("valid");
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "gateway_exporter_sent_spans_total");
        assert_eq!(s[0].label("exporter"), Some("otlp/a"));
        assert_eq!(s[0].value, 12.0);
        assert_eq!((s[1].name.as_str(), s[1].value), ("up", 1.0));
        assert_eq!(s[2].label("a"), Some("q\"uote"));
        assert_eq!(s[2].label("b"), Some("back\\slash"));
        assert_eq!(s[2].label("c"), Some("new\nline"));
        assert!(s[2].value.is_nan());
        assert_eq!(s[3].value, f64::INFINITY);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line_number() {
        for (text, reason) in [
            ("ok 1\nbroken{a=\"x\" 1", "malformed labels"),
            ("ok 1\nnovalue", "no value"),
            ("ok 1\nx{a=\"b\"} abc", "malformed value"),
            ("ok 1\n{a=\"b\"} 1", "no metric name"),
        ] {
            let err = parse(text).expect_err(text);
            assert_eq!((err.line, err.reason), (2, reason), "{text}");
        }
    }
}
