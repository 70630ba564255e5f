//! The built-in secret detectors: one regex (or a few) per kind of secret, plus a check on each
//! match where a regex alone would be too loose (Luhn for card numbers, "does this look like code"
//! for `password = ...`).
//!
//! Every regex here is ASCII-only in what it looks for (explicit `[A-Za-z0-9]` classes, ASCII word
//! boundaries), so the lazy DFA never has to give up on non-ASCII text. A capture group whose name
//! starts with `secret` marks the part that is replaced; without one the whole match is.

use serde::Deserialize;

/// A built-in detector, enabled by name under `detectors:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// OpenAI keys: `sk-` followed by 10 or more of `[A-Za-z0-9_-]` (covers `sk-proj-…`,
    /// `sk-svcacct-…` and key-like strings such as `sk-live-…`), but not `sk-ant-…`.
    Openai,
    /// Anthropic keys: `sk-ant-` followed by 10 or more of `[A-Za-z0-9_-]`.
    Anthropic,
    /// GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` followed by 20 or more alphanumerics,
    /// and fine-grained `github_pat_…`.
    Github,
    /// AWS access key ids (`AKIA`, `ASIA`, `ABIA`, `ACCA`, `A3T…` + 16 upper-case alphanumerics) and
    /// the value of `aws_secret_access_key = …` (any case, `=` or `:`, optional quotes).
    Aws,
    /// Google API keys: `AIza` followed by 30 or more of `[A-Za-z0-9_-]`.
    GoogleApiKey,
    /// Slack tokens: `xoxa-`, `xoxb-`, `xoxe-`, `xoxo-`, `xoxp-`, `xoxr-`, `xoxs-` + 10 or more chars.
    Slack,
    /// Stripe secret and restricted keys: `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`.
    Stripe,
    /// JSON Web Tokens: three base64url segments, the first starting `eyJ`.
    Jwt,
    /// PEM private keys: from `-----BEGIN … PRIVATE KEY-----` to the matching `-----END …-----`
    /// line, or to the end of the string when the block was cut off.
    PrivateKey,
    /// The credential of `Authorization: Bearer|Basic|Token|Digest|Negotiate <value>` (also
    /// `Proxy-Authorization`, JSON/quoted forms) and of a bare `Bearer <token>` (8+ chars with a
    /// digit, or 20+ chars). Only the credential is replaced.
    AuthHeader,
    /// The password of `scheme://user:password@host`. Only the password is replaced.
    UrlPassword,
    /// The value of `password`, `passwd`, `secret`, `token`, `api_key`, `api-key`, `apikey` (also
    /// as the end of a longer name: `DB_PASSWORD`, `GITHUB_TOKEN`, `client_secret`) followed by `=`,
    /// `:`, `:=` or `=>`, quoted or not. Values that look like code or placeholders (`&str`,
    /// `Option<String>`, `input(...)`, `${VAR}`, `self.token`, `None`, ...) are left alone.
    Assignment,
    /// E-mail addresses (`local@domain.tld`); `git@host` SSH remotes are left alone.
    Email,
    /// Payment card numbers: 13 to 19 digits, optionally separated by single spaces or dashes,
    /// starting with 2–6 (the issuer ranges of Visa, Mastercard, Amex, Discover, JCB, Diners,
    /// UnionPay), standing alone (not inside a longer word or number), and Luhn-valid.
    CreditCard,
}

/// What is checked on a regex match before it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Every match counts.
    None,
    /// Not an Anthropic key (the `openai` detector leaves those to `anthropic`).
    NotAnthropic,
    /// Digits pass the Luhn check.
    Luhn,
    /// A bare bearer token: 8+ chars with a digit, or 20+ chars.
    BareBearer,
    /// An `Authorization:` value without scheme that is not itself a scheme word.
    NotSchemeWord,
    /// The value of an assignment does not look like code or a placeholder.
    AssignmentValue,
    /// An e-mail address that is not an SSH remote (`git@…`).
    NotGitRemote,
    /// As `NotGitRemote`, and not the `password@host` of a URL's userinfo: used when the
    /// `url_password` detector runs too, so that it masks the password and the host stays.
    EmailOutsideUrlUserinfo,
}

/// One regex of a detector and the check its matches must pass.
pub(crate) struct DetectorRegex {
    pub regex: &'static str,
    pub check: Check,
}

const fn re(regex: &'static str, check: Check) -> DetectorRegex {
    DetectorRegex { regex, check }
}

// A secret may follow start of text or any non-alphanumeric character (`_` and `-` included, so
// `MY_sk-…` is caught); it may not start inside a word (`task-…` is not `sk-…`).
const OPENAI: &[DetectorRegex] = &[re(
    r"(?:^|[^A-Za-z0-9])(?P<secret>sk-[A-Za-z0-9_-]{10,})",
    Check::NotAnthropic,
)];
const ANTHROPIC: &[DetectorRegex] = &[re(
    r"(?:^|[^A-Za-z0-9])(?P<secret>sk-ant-[A-Za-z0-9_-]{10,})",
    Check::None,
)];
const GITHUB: &[DetectorRegex] = &[re(
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",
    Check::None,
)];
const AWS: &[DetectorRegex] = &[
    re(
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
        Check::None,
    ),
    re(
        r#"(?i:aws_?secret_?access_?key)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?P<secret>[A-Za-z0-9/+=]{16,})"#,
        Check::None,
    ),
];
const GOOGLE_API_KEY: &[DetectorRegex] = &[re(r"AIza[A-Za-z0-9_-]{30,}", Check::None)];
const SLACK: &[DetectorRegex] = &[re(r"xox[abeoprs]-[A-Za-z0-9-]{10,}", Check::None)];
const STRIPE: &[DetectorRegex] = &[re(r"[rs]k_(?:live|test)_[A-Za-z0-9]{10,}", Check::None)];
const JWT: &[DetectorRegex] = &[re(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    Check::None,
)];
const PRIVATE_KEY: &[DetectorRegex] = &[re(
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\z)",
    Check::None,
)];
const AUTH_HEADER: &[DetectorRegex] = &[
    re(
        r#"(?i:authorization)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?i:bearer|basic|token|digest|negotiate)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]+=*)"#,
        Check::None,
    ),
    re(
        r#"(?i:authorization)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)"#,
        Check::NotSchemeWord,
    ),
    re(
        r"(?-u:\b)(?i:bearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]+=*)",
        Check::BareBearer,
    ),
];
const URL_PASSWORD: &[DetectorRegex] = &[re(
    r#"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>\\]*:(?P<secret>[^\s/?#"'<>\\]+)@"#,
    Check::None,
)];
const ASSIGNMENT: &[DetectorRegex] = &[re(
    r#"(?i:passwd|password|secret|token|api[_-]?key|apikey)\\?["']?[ \t]*(?::=|=>|[:=])[ \t]*(?:\\?"(?P<secret_dq>[^"\\\r\n]*)|\\?'(?P<secret_sq>[^'\\\r\n]*)|(?P<secret>[^\s"'`,;&\\)}\]>=][^\s"'`,;&\\)}\]>]*))"#,
    Check::AssignmentValue,
)];
const EMAIL: &[DetectorRegex] = &[re(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    Check::NotGitRemote,
)];
const CREDIT_CARD: &[DetectorRegex] = &[re(
    r"(?-u:\b)[2-6][0-9](?:[ -]?[0-9]){11,17}(?-u:\b)",
    Check::Luhn,
)];

impl Detector {
    /// Every detector, in the order they are tried (which also breaks ties between equal matches).
    pub const ALL: [Detector; 14] = [
        Detector::Openai,
        Detector::Anthropic,
        Detector::Github,
        Detector::Aws,
        Detector::GoogleApiKey,
        Detector::Slack,
        Detector::Stripe,
        Detector::Jwt,
        Detector::PrivateKey,
        Detector::AuthHeader,
        Detector::UrlPassword,
        Detector::Assignment,
        Detector::Email,
        Detector::CreditCard,
    ];

    /// The name used in config, in `[REDACTED:<name>]` and as the audit counter label.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Openai => "openai",
            Detector::Anthropic => "anthropic",
            Detector::Github => "github",
            Detector::Aws => "aws",
            Detector::GoogleApiKey => "google_api_key",
            Detector::Slack => "slack",
            Detector::Stripe => "stripe",
            Detector::Jwt => "jwt",
            Detector::PrivateKey => "private_key",
            Detector::AuthHeader => "auth_header",
            Detector::UrlPassword => "url_password",
            Detector::Assignment => "assignment",
            Detector::Email => "email",
            Detector::CreditCard => "credit_card",
        }
    }

    pub(crate) fn regexes(self) -> &'static [DetectorRegex] {
        match self {
            Detector::Openai => OPENAI,
            Detector::Anthropic => ANTHROPIC,
            Detector::Github => GITHUB,
            Detector::Aws => AWS,
            Detector::GoogleApiKey => GOOGLE_API_KEY,
            Detector::Slack => SLACK,
            Detector::Stripe => STRIPE,
            Detector::Jwt => JWT,
            Detector::PrivateKey => PRIVATE_KEY,
            Detector::AuthHeader => AUTH_HEADER,
            Detector::UrlPassword => URL_PASSWORD,
            Detector::Assignment => ASSIGNMENT,
            Detector::Email => EMAIL,
            Detector::CreditCard => CREDIT_CARD,
        }
    }
}

impl Check {
    /// Whether a match passes. `secret` is the part that would be replaced, `before` the text in
    /// front of it; `quoted` says whether it came from a quoted alternative.
    pub(crate) fn passes(self, secret: &str, before: &str, quoted: bool) -> bool {
        match self {
            Check::None => true,
            Check::NotAnthropic => !secret.starts_with("sk-ant-"),
            Check::Luhn => luhn_valid(secret),
            Check::BareBearer => {
                let len = secret.len();
                len >= 20 || (len >= 8 && secret.bytes().any(|b| b.is_ascii_digit()))
            }
            Check::NotSchemeWord => !["bearer", "basic", "token", "digest", "negotiate"]
                .iter()
                .any(|w| secret.eq_ignore_ascii_case(w)),
            Check::AssignmentValue => assignment_value_is_secret(secret, quoted),
            Check::NotGitRemote => !secret.starts_with("git@"),
            Check::EmailOutsideUrlUserinfo => {
                !secret.starts_with("git@") && !ends_with_url_userinfo(before)
            }
        }
    }
}

/// Whether `before` ends with `scheme://user:` (so what follows is a URL password).
fn ends_with_url_userinfo(before: &str) -> bool {
    let Some(rest) = before.strip_suffix(':') else {
        return false;
    };
    let token = rest
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
        .next()
        .unwrap_or(rest);
    match token.find("://") {
        Some(i) => !token[i + 3..].contains(['/', '@']),
        None => false,
    }
}

/// Luhn check over the digits of `s` (separators ignored); 13 to 19 digits.
pub(crate) fn luhn_valid(s: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    (13..=19).contains(&count) && sum.is_multiple_of(10)
}

/// Words that, as the whole value of `token: …` / `password = …`, are code (types, keywords,
/// placeholders), not secrets.
const CODE_WORDS: &[&str] = &[
    "string",
    "str",
    "bool",
    "int",
    "i32",
    "i64",
    "u8",
    "u32",
    "u64",
    "usize",
    "bytes",
    "option",
    "vec",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "undefined",
    "self",
    "impl",
    "dyn",
    "any",
    "object",
    "number",
    "text",
    "required",
    "optional",
    "secret",
    "token",
    "password",
    "string?",
    "str?",
    "redacted",
];

fn assignment_value_is_secret(v: &str, quoted: bool) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    // Placeholders and templates: ${VAR}, $VAR, {{ var }}, %s, <your-token>, [REDACTED].
    if matches!(first, '$' | '{' | '%' | '<' | '[') {
        return false;
    }
    if quoted {
        return true;
    }
    // Code: references, calls, generics, indexing, masks like ****.
    if first == '&' || first == '*' || v.contains(['(', '[', '<', '{']) {
        return false;
    }
    if CODE_WORDS.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        return false;
    }
    !is_dotted_identifier(v)
}

/// `self.token`, `config.api_key`, `os.environ`: identifier segments joined by dots.
fn is_dotted_identifier(v: &str) -> bool {
    v.contains('.')
        && v.split('.').all(|seg| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_card_numbers_and_rejects_off_by_one() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("411111111111"), "12 digits is too short");
    }

    #[test]
    fn assignment_values_that_look_like_code_are_not_secrets() {
        for v in [
            "&str",
            "String",
            "Option<String>",
            "input(",
            "${TOKEN}",
            "self.token",
            "None",
        ] {
            assert!(!assignment_value_is_secret(v, false), "{v}");
        }
        for v in ["hunter2", "Summer.2024", "s3cr3t!"] {
            assert!(assignment_value_is_secret(v, false), "{v}");
        }
        assert!(
            assignment_value_is_secret("String", true),
            "quoted values count"
        );
    }
}
