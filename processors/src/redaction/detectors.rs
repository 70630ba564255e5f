//! The built-in detectors: what a detector is (a named rule, the `rule` label of the audit counter
//! and the `<name>` of `[REDACTED:<name>]`), the categories they are grouped in, the PII kinds
//! `pii:` switches, and how a config's `detectors:` / `exclude_detectors:` / `pii:` become the set
//! that runs. The detectors themselves (their formats) are listed in [`super::catalog`].
//!
//! Every detector has one or more *formats*: one shape of credential each (GitHub has seven:
//! `ghp_`, `gho_`, ...). A format says where it is looked for (next to a literal such as `ghp_`,
//! found by the prefilter, or at a word start found by the lexical pass) and how the candidate
//! is confirmed (an anchored regex, or code: checksums, key/value parsing, base64 decoding).

use super::catalog::{Format, CATALOG};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// A group of detectors that can be switched on or off together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// LLM and AI providers: OpenAI, Anthropic, Hugging Face, Groq, ...
    Ai,
    /// Source hosting: GitHub, GitLab, Atlassian/Bitbucket, Sourcegraph.
    SourceHosting,
    /// CI/CD and deployment platforms: CircleCI, Buildkite, Vercel, Netlify, Heroku, Fly.io, ...
    CiCd,
    /// Cloud providers: AWS, Google Cloud, Azure, DigitalOcean, Cloudflare, ...
    Cloud,
    /// Package and container registries: npm, PyPI, RubyGems, NuGet, crates.io, Docker Hub, ...
    Registry,
    /// Chat and webhooks: Slack, Discord, Microsoft Teams, Telegram, Zapier.
    Chat,
    /// Payments and commerce: Stripe, Square, Braintree, Adyen, Shopify, ...
    Payments,
    /// E-mail and SMS providers: SendGrid, Mailgun, Mailchimp, Brevo, Twilio.
    Messaging,
    /// Observability vendors: New Relic, Grafana, Sentry, Honeycomb, Dynatrace, ...
    Observability,
    /// Secret managers: 1Password, Doppler, HashiCorp Vault.
    SecretManager,
    /// Databases: URLs with passwords, JDBC/ODBC strings, SQL and CLI passwords, PlanetScale, ...
    Database,
    /// Private key material: PEM blocks of every armour, PuTTY, age, WireGuard, base64 PEM.
    PrivateKeys,
    /// HTTP credentials: `Authorization`, `Cookie`/`Set-Cookie`, `X-*-Key`/`X-*-Token` headers,
    /// `curl -u`.
    HttpHeader,
    /// SaaS APIs: Linear, Notion, Figma, Airtable, HubSpot, Mapbox, ...
    Saas,
    /// Provider-neutral: secrets after secret-ish keys (`password=`, `"token": ...`, with or
    /// without entropy), JWTs, `.netrc`, base64-encoded `user:password`.
    Generic,
    /// Personal data: e-mail addresses, phone numbers, IBANs, payment cards, national ids.
    Pii,
}

impl Category {
    /// Every category, in documentation order.
    pub const ALL: [Category; 16] = [
        Category::Ai,
        Category::SourceHosting,
        Category::CiCd,
        Category::Cloud,
        Category::Registry,
        Category::Chat,
        Category::Payments,
        Category::Messaging,
        Category::Observability,
        Category::SecretManager,
        Category::Database,
        Category::PrivateKeys,
        Category::HttpHeader,
        Category::Saas,
        Category::Generic,
        Category::Pii,
    ];

    /// The name used in config.
    pub fn name(self) -> &'static str {
        match self {
            Category::Ai => "ai",
            Category::SourceHosting => "source_hosting",
            Category::CiCd => "ci_cd",
            Category::Cloud => "cloud",
            Category::Registry => "registry",
            Category::Chat => "chat",
            Category::Payments => "payments",
            Category::Messaging => "messaging",
            Category::Observability => "observability",
            Category::SecretManager => "secret_manager",
            Category::Database => "database",
            Category::PrivateKeys => "private_keys",
            Category::HttpHeader => "http_header",
            Category::Saas => "saas",
            Category::Generic => "generic",
            Category::Pii => "pii",
        }
    }

    fn named(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A kind of personal data, switched by `pii:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiKind {
    /// E-mail addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// International bank account numbers.
    Iban,
    /// Payment card numbers.
    PaymentCard,
    /// National identity numbers (US SSN, UK NINO, ...).
    NationalId,
}

/// One detector's definition: its name, category and formats.
pub(crate) struct Def {
    pub name: &'static str,
    pub category: Category,
    pub pii: Option<PiiKind>,
    /// One line on what it catches, for the docs.
    pub what: &'static str,
    pub formats: &'static [Format],
}

/// A built-in detector, named in config (`detectors: [openai, github, ...]`), in
/// `[REDACTED:<name>]` and in the audit counter's `rule` label.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Detector(u16);

impl Detector {
    /// Every detector, in the order they are tried (which also breaks ties between equal
    /// matches: a provider's own detector before a generic one).
    pub fn all() -> impl Iterator<Item = Detector> {
        (0..CATALOG.len()).map(|i| Detector(i as u16))
    }

    /// The detector with this name.
    pub fn named(name: &str) -> Option<Detector> {
        CATALOG
            .iter()
            .position(|d| d.name == name)
            .map(|i| Detector(i as u16))
    }

    pub(crate) fn def(self) -> &'static Def {
        // Detectors are only made from CATALOG indexes.
        &CATALOG[usize::from(self.0)]
    }

    /// The name used in config, in `[REDACTED:<name>]` and as the audit counter label.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// Its category.
    pub fn category(self) -> Category {
        self.def().category
    }

    /// The kind of personal data it finds, for detectors in [`Category::Pii`].
    pub fn pii(self) -> Option<PiiKind> {
        self.def().pii
    }

    /// One line on what it catches.
    pub fn description(self) -> &'static str {
        self.def().what
    }

    /// What each of its formats is (one line each).
    pub fn formats(self) -> impl Iterator<Item = &'static str> {
        self.def().formats.iter().map(|f| f.what)
    }

    pub(crate) fn format_defs(self) -> &'static [Format] {
        self.def().formats
    }
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Detector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Detector::named(&name).ok_or_else(|| {
            de::Error::invalid_value(de::Unexpected::Str(&name), &"a built-in detector name")
        })
    }
}

/// An entry of `detectors:` or `exclude_detectors:`: a detector or a whole category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// One detector.
    Detector(Detector),
    /// Every detector of a category.
    Category(Category),
}

impl Selector {
    /// The name as written in config.
    pub fn name(self) -> &'static str {
        match self {
            Selector::Detector(d) => d.name(),
            Selector::Category(c) => c.name(),
        }
    }

    /// Whether `d` is selected by this entry.
    pub fn selects(self, d: Detector) -> bool {
        match self {
            Selector::Detector(x) => x == d,
            Selector::Category(c) => d.category() == c,
        }
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if let Some(det) = Detector::named(&name) {
            return Ok(Selector::Detector(det));
        }
        Category::named(&name)
            .map(Selector::Category)
            .ok_or_else(|| {
                de::Error::invalid_value(
                    de::Unexpected::Str(&name),
                    &"a built-in detector or category name (see docs/redaction.md)",
                )
            })
    }
}

/// Which built-in detectors run: `all`, `none`, or a list of detector and category names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorSelection {
    /// Every built-in detector.
    All,
    /// Exactly these detectors and categories (an empty list: none).
    List(Vec<Selector>),
}

impl<'de> Deserialize<'de> for DetectorSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DetectorSelection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all`, `none`, or a list of detector and category names")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match s {
                    "all" => Ok(DetectorSelection::All),
                    "none" => Ok(DetectorSelection::List(Vec::new())),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::new();
                while let Some(s) = seq.next_element::<Selector>()? {
                    list.push(s);
                }
                Ok(DetectorSelection::List(list))
            }
        }
        d.deserialize_any(V)
    }
}

/// `pii:`: each kind of personal data on (`true`) or off (`false`); a kind left out follows
/// `detectors:` (on with `all` and so with `preset: codex`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// E-mail addresses (`email` detector).
    #[serde(default)]
    pub email: Option<bool>,
    /// Phone numbers: E.164 (`+44 20 7946 0958`), North American (`(415) 555-2671`), grouped
    /// national numbers with a leading 0 (`06 12 34 56 78`), and any number after `phone:`,
    /// `tel=`, `mobile:`, ... (`phone` detector).
    #[serde(default)]
    pub phone: Option<bool>,
    /// IBANs with a valid mod-97 check (`iban` detector).
    #[serde(default)]
    pub iban: Option<bool>,
    /// Luhn-valid payment card numbers (`credit_card` detector).
    #[serde(default)]
    pub payment_card: Option<bool>,
    /// National ids with their validity rules: US SSN, UK NINO, Canadian SIN, Indian Aadhaar,
    /// Brazilian CPF, Spanish DNI/NIE, Italian codice fiscale, French NIR.
    #[serde(default)]
    pub national_id: Option<bool>,
}

impl PiiConfig {
    /// What `pii:` says about a kind, if anything.
    pub fn setting(&self, kind: PiiKind) -> Option<bool> {
        match kind {
            PiiKind::Email => self.email,
            PiiKind::Phone => self.phone,
            PiiKind::Iban => self.iban,
            PiiKind::PaymentCard => self.payment_card,
            PiiKind::NationalId => self.national_id,
        }
    }
}

/// The detectors that run: the base selection, minus `exclude`, with `pii:` applied last.
pub(crate) fn resolve(
    base: Option<&DetectorSelection>,
    all_by_default: bool,
    exclude: &[Selector],
    pii: &PiiConfig,
) -> Vec<Detector> {
    Detector::all()
        .filter(|&d| {
            let selected = match base {
                Some(DetectorSelection::All) => true,
                Some(DetectorSelection::List(list)) => list.iter().any(|s| s.selects(d)),
                None => all_by_default,
            };
            let on = selected && !exclude.iter().any(|s| s.selects(d));
            match d.pii().and_then(|k| pii.setting(k)) {
                Some(explicit) => explicit,
                None => on,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_and_category_names_are_unique_and_distinct() {
        let mut names: Vec<&str> = Detector::all().map(Detector::name).collect();
        names.extend(Category::ALL.iter().map(|c| c.name()));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a name is used twice");
    }

    #[test]
    fn every_detector_name_is_a_valid_rule_name_and_has_formats() {
        for d in Detector::all() {
            assert!(
                d.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                d.name()
            );
            assert!(!d.format_defs().is_empty(), "{}", d.name());
            assert_eq!(
                d.pii().is_some(),
                d.category() == Category::Pii,
                "{}",
                d.name()
            );
        }
    }

    #[test]
    fn the_original_fourteen_detector_names_still_exist() {
        for name in [
            "openai",
            "anthropic",
            "github",
            "aws",
            "google_api_key",
            "slack",
            "stripe",
            "jwt",
            "private_key",
            "auth_header",
            "url_password",
            "assignment",
            "email",
            "credit_card",
        ] {
            assert!(Detector::named(name).is_some(), "{name}");
        }
    }

    #[test]
    fn resolve_applies_list_exclusions_and_pii_switches() {
        let github = Detector::named("github").expect("github");
        let email = Detector::named("email").expect("email");
        let phone = Detector::named("phone").expect("phone");
        let all = resolve(None, true, &[], &PiiConfig::default());
        assert_eq!(all.len(), Detector::all().count());
        let no_pii = resolve(
            Some(&DetectorSelection::All),
            false,
            &[Selector::Category(Category::Pii)],
            &PiiConfig::default(),
        );
        assert!(no_pii.contains(&github) && !no_pii.contains(&email));
        let phone_off = resolve(
            None,
            true,
            &[],
            &PiiConfig {
                phone: Some(false),
                ..PiiConfig::default()
            },
        );
        assert!(!phone_off.contains(&phone) && phone_off.contains(&email));
        let only_email = resolve(
            Some(&DetectorSelection::List(vec![Selector::Detector(github)])),
            false,
            &[],
            &PiiConfig {
                email: Some(true),
                ..PiiConfig::default()
            },
        );
        assert_eq!(only_email, vec![github, email]);
    }
}
