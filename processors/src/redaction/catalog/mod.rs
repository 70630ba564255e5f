//! The catalog of built-in detectors and their formats, in the order they are tried.
//!
//! A format is found in two steps, so that ordinary text costs one pass and no regex:
//! 1. *Where*: next to a literal (`ghp_`, `-----BEGIN`, `password`, `@`, ...) that the scanner's
//!    single Aho-Corasick automaton reports, or at a word start of a given kind (a digit, an
//!    upper-case letter, `+` or `(` before a digit) that the lexical pass reports.
//! 2. *What*: a regex run anchored at that position on the candidate only (all regexes are
//!    compiled into one multi-pattern regex), then a [`Check`]; or code (checksums, key/value
//!    parsing, base64 decoding) for what a regex cannot say.
//!
//! Facts (prefixes, lengths, alphabets) come from the providers' documentation and from the
//! public rule sets of gitleaks, secretlint and detect-secrets; the regexes are written here.

mod providers;
mod structural;

use super::checks;
use super::detectors::Def;

/// Every detector, in the order they are tried: providers' own formats before the generic ones,
/// personal data last. The order also breaks ties between matches of the same span.
pub(crate) static CATALOG: &[Def] = &[
    // ai
    providers::ANTHROPIC,
    providers::OPENROUTER,
    providers::LANGFUSE,
    providers::OPENAI,
    providers::HUGGINGFACE,
    providers::GROQ,
    providers::REPLICATE,
    providers::PERPLEXITY,
    providers::XAI,
    providers::FIREWORKS,
    providers::LANGSMITH,
    providers::PINECONE,
    providers::NVIDIA,
    providers::ELEVENLABS,
    providers::ANYSCALE,
    // source hosting
    providers::GITHUB,
    providers::GITLAB,
    providers::ATLASSIAN,
    providers::SOURCEGRAPH,
    // ci/cd
    providers::CIRCLECI,
    providers::BUILDKITE,
    providers::VERCEL,
    providers::NETLIFY,
    providers::HEROKU,
    providers::FLYIO,
    providers::RENDER,
    providers::TERRAFORM_CLOUD,
    providers::PULUMI,
    providers::TAILSCALE,
    providers::SONARQUBE,
    providers::OCTOPUS_DEPLOY,
    providers::HARNESS,
    providers::INFRACOST,
    providers::PREFECT,
    providers::POSTMAN,
    providers::SCALINGO,
    providers::JENKINS,
    providers::OPENSHIFT,
    // cloud
    providers::AWS,
    providers::GOOGLE_API_KEY,
    providers::GCP,
    providers::AZURE,
    providers::DIGITALOCEAN,
    providers::ALIBABA,
    providers::TENCENT,
    providers::CLOUDFLARE,
    providers::SCALEWAY,
    providers::YANDEX,
    providers::BACKBLAZE,
    // registries
    providers::NPM,
    providers::PYPI,
    providers::RUBYGEMS,
    providers::NUGET,
    providers::CRATES_IO,
    providers::DOCKER_HUB,
    providers::JFROG,
    providers::CLOJARS,
    // chat
    providers::SLACK,
    providers::SLACK_WEBHOOK,
    providers::DISCORD,
    providers::TEAMS_WEBHOOK,
    providers::TELEGRAM,
    providers::ZAPIER_WEBHOOK,
    providers::CHAT_WEBHOOK,
    // payments
    providers::STRIPE,
    providers::SQUARE,
    providers::BRAINTREE,
    providers::ADYEN,
    providers::SHOPIFY,
    providers::FLUTTERWAVE,
    providers::MOLLIE,
    providers::GOCARDLESS,
    providers::PLAID,
    providers::DUFFEL,
    providers::EASYPOST,
    providers::SHIPPO,
    // messaging
    providers::SENDGRID,
    providers::MAILGUN,
    providers::MAILCHIMP,
    providers::BREVO,
    providers::MANDRILL,
    providers::RESEND,
    providers::TWILIO,
    // observability
    providers::NEW_RELIC,
    providers::GRAFANA,
    providers::SENTRY,
    providers::HONEYCOMB,
    providers::DYNATRACE,
    providers::AXIOM,
    providers::PAGERDUTY,
    providers::CORALOGIX,
    providers::POSTHOG,
    providers::LAUNCHDARKLY,
    // secret managers
    providers::ONEPASSWORD,
    providers::DOPPLER,
    providers::VAULT,
    providers::INFISICAL,
    providers::BITWARDEN,
    // saas
    providers::LINEAR,
    providers::NOTION,
    providers::FIGMA,
    providers::AIRTABLE,
    providers::HUBSPOT,
    providers::MAPBOX,
    providers::DROPBOX,
    providers::TYPEFORM,
    providers::CONTENTFUL,
    providers::README,
    providers::FRAMEIO,
    providers::FACEBOOK,
    // databases
    providers::PLANETSCALE,
    providers::SUPABASE,
    providers::DATABRICKS,
    providers::CLICKHOUSE,
    structural::URL_PASSWORD,
    structural::CONNECTION_STRING,
    structural::SQL_PASSWORD,
    structural::DB_CLI_PASSWORD,
    // private keys
    structural::PRIVATE_KEY,
    structural::PRIVATE_KEY_BASE64,
    structural::PUTTY_PRIVATE_KEY,
    structural::AGE_SECRET_KEY,
    structural::WIREGUARD,
    // http
    structural::AUTH_HEADER,
    structural::COOKIE,
    structural::API_KEY_HEADER,
    structural::CURL_USER,
    // generic
    structural::JWT,
    structural::NETRC,
    structural::BASE64_CREDENTIALS,
    structural::ASSIGNMENT,
    structural::GENERIC_SECRET,
    // pii
    structural::EMAIL,
    structural::PHONE,
    structural::IBAN,
    structural::CREDIT_CARD,
    structural::US_SSN,
    structural::UK_NINO,
    structural::CA_SIN,
    structural::IN_AADHAAR,
    structural::BR_CPF,
    structural::ES_DNI,
    structural::IT_CODICE_FISCALE,
    structural::FR_NIR,
    structural::NL_BSN,
];

/// One credential format of a detector.
pub(crate) struct Format {
    /// What it is, one line, for `docs/redaction.md`.
    pub what: &'static str,
    pub on: On,
    pub how: How,
}

/// Where a format is looked for.
pub(crate) enum On {
    /// Wherever one of these literals occurs. The prefilter finds them ignoring ASCII case;
    /// with `exact` the case must match too. The match starts as `start` says.
    Lit {
        lits: &'static [&'static str],
        exact: bool,
        start: Start,
    },
    /// At a word start of this kind, reported by the lexical pass.
    Word(WordStart),
}

/// Where a match starts relative to the literal that found it.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    /// At the literal.
    At,
    /// This many bytes before it.
    Fixed(usize),
    /// As far back (at most this many bytes) as the bytes before it are in the class.
    Back(fn(u8) -> bool, usize),
}

/// Word starts the lexical pass reports: a letter or digit not preceded by one, `+`/`(` right
/// before a digit, or `@`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum WordStart {
    /// A word starting with a digit; the numeric run there is parsed once for all formats.
    Digit,
    /// A word starting with an upper-case letter.
    Upper,
    /// `+` followed by a digit (international phone numbers).
    Plus,
    /// `(` followed by a digit (North American area codes).
    Paren,
    /// `@` (e-mail addresses).
    At,
}

/// What a byte must not be on either side of a match.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    /// No requirement.
    Free,
    /// The byte before is not a letter or digit.
    Before,
    /// Neither the byte before nor the byte after is a letter or digit.
    Both,
}

/// A code matcher started at a literal: `(text, match start, literal end, spans found)`.
pub(crate) type MatchFn = fn(&str, usize, usize, &mut Vec<(usize, usize)>);

/// A code matcher started by the lexical pass.
pub(crate) type WordFn = fn(&str, &super::pii::Word, &mut Vec<(usize, usize)>);

/// How a candidate is confirmed.
pub(crate) enum How {
    /// A regex matched anchored at the start. A group named `secret` limits the replacement.
    Re(&'static str, Edge, Check),
    /// Code, from a literal.
    Fn(MatchFn),
    /// Code, from a word start.
    Word(WordFn),
}

/// A test on the replaced text of a regex match before it counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Check {
    /// Every match counts.
    None,
    /// Does not start with one of these (leaves them to their own detectors).
    NotPrefixed(&'static [&'static str]),
    /// A bare bearer token: 8+ chars with a digit, or 20+ chars.
    BareBearer,
    /// An `Authorization:` value without scheme that is not a scheme word or a placeholder.
    NotSchemeWord,
    /// High entropy: the userinfo of `scheme://token@host`.
    Token,
    /// Random-looking: two classes of characters and 3+ bits of entropy per character (a
    /// short prefix such as `s.` or `md-` says little on its own).
    Random,
    /// Decodes (base64) to a PEM private key.
    Base64PrivateKey,
    /// Preceded by `?`, `&` or `;` (a URL query or connection string parameter).
    Param,
}

impl Check {
    /// Whether `secret` (found in `s` at `start`, in a match that starts at `match_start`)
    /// passes.
    pub(crate) fn passes(self, s: &str, match_start: usize, _start: usize, secret: &str) -> bool {
        match self {
            Check::None => true,
            Check::NotPrefixed(list) => !list.iter().any(|p| secret.starts_with(p)),
            Check::BareBearer => {
                let len = secret.len();
                len >= 20 || (len >= 8 && secret.bytes().any(|b| b.is_ascii_digit()))
            }
            Check::NotSchemeWord => {
                !super::context::is_placeholder(secret.as_bytes())
                    && ![
                        "bearer",
                        "basic",
                        "token",
                        "digest",
                        "negotiate",
                        "required",
                        "none",
                        "null",
                    ]
                    .iter()
                    .any(|w| secret.eq_ignore_ascii_case(w))
            }
            Check::Token => {
                let b = secret.as_bytes();
                checks::entropy(b) >= 3.0
                    && checks::char_classes(b) >= 2
                    && b.iter().any(u8::is_ascii_digit)
            }
            Check::Random => {
                let b = secret.as_bytes();
                checks::entropy(b) >= 3.0 && checks::char_classes(b) >= 2
            }
            Check::Base64PrivateKey => checks::base64_decode_prefix(secret.as_bytes(), 64)
                .is_some_and(|d| d.windows(11).any(|w| w == b"PRIVATE KEY")),
            Check::Param => matches!(
                match_start.checked_sub(1).and_then(|i| s.as_bytes().get(i)),
                Some(b'?' | b'&' | b';')
            ),
        }
    }
}

pub(crate) use structural::ends_with_url_userinfo;

/// Letters and digits.
pub(crate) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Digits.
pub(crate) fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// A regex started at one of `lits` (exact case, the match starts at the literal), with an
/// edge rule and a check.
const fn exact(
    what: &'static str,
    lits: &'static [&'static str],
    re: &'static str,
    edge: Edge,
    check: Check,
) -> Format {
    Format {
        what,
        on: On::Lit {
            lits,
            exact: true,
            start: Start::At,
        },
        how: How::Re(re, edge, check),
    }
}

/// A token starting with one of `lits` (exact case), not preceded by a letter or digit; the
/// whole match is replaced.
const fn token(what: &'static str, lits: &'static [&'static str], re: &'static str) -> Format {
    exact(what, lits, re, Edge::Before, Check::None)
}

/// As [`token`], and not followed by a letter or digit either (fixed-length formats whose
/// prefix is short).
const fn word(what: &'static str, lits: &'static [&'static str], re: &'static str) -> Format {
    exact(what, lits, re, Edge::Both, Check::None)
}

/// A short-prefix token, not preceded by a letter or digit, whose body must look random
/// ([`Check::Random`]). Its regex says what may not follow (`_` and `-` are not edges).
const fn random(what: &'static str, lits: &'static [&'static str], re: &'static str) -> Format {
    exact(what, lits, re, Edge::Before, Check::Random)
}

/// A regex started at one of `lits` in any case (keys such as `AccountKey=`), no edge rule.
const fn keyed(what: &'static str, lits: &'static [&'static str], re: &'static str) -> Format {
    Format {
        what,
        on: On::Lit {
            lits,
            exact: false,
            start: Start::At,
        },
        how: How::Re(re, Edge::Free, Check::None),
    }
}

/// Code started at one of `lits` (any case).
const fn code(what: &'static str, lits: &'static [&'static str], f: MatchFn) -> Format {
    Format {
        what,
        on: On::Lit {
            lits,
            exact: false,
            start: Start::At,
        },
        how: How::Fn(f),
    }
}

/// Code started at word starts of a kind.
const fn at_word(what: &'static str, start: WordStart, f: WordFn) -> Format {
    Format {
        what,
        on: On::Word(start),
        how: How::Word(f),
    }
}

#[cfg(test)]
mod tests;
