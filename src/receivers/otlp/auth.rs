//! Client authentication of the OTLP receiver: `Authorization: Bearer <token>` and
//! `Authorization: Basic <base64(user:password)>`, checked from the request headers (HTTP) or
//! metadata (gRPC) before the body is read. Secrets are compared in constant time (per
//! candidate, every candidate compared) and never logged.
//!
//! The attributes of the credentials that matched are handed to the processors as request
//! metadata `auth.<key>`; metadata keys starting with `auth.` sent by the client are dropped, so
//! they cannot be forged, and the `authorization` value itself is not passed on when `auth` is
//! configured.

use super::config::{AuthConfig, BasicAuthConfig, BearerTokenConfig};
use super::status::RequestError;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use processors::Metadata;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Prefix of the metadata keys that carry authenticated attributes.
pub const ATTRIBUTE_PREFIX: &str = "auth.";

/// A problem in `auth:`; `field` is relative to `auth` (`bearer_tokens[0].token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AuthConfigError {
    /// The key to fix, relative to `auth` (empty: `auth` itself).
    pub field: String,
    /// What is wrong (never the secret).
    pub message: String,
}

/// The attributes of the credentials a request authenticated with, as metadata pairs
/// (`("auth.team", "payments")`). Stored in the request extensions on gRPC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthAttributes(Arc<[(String, String)]>);

impl AuthAttributes {
    /// The `(auth.<key>, value)` pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

struct Credential {
    secret: Vec<u8>,
    attributes: AuthAttributes,
}

/// Checks requests against the configured credentials.
pub struct Authenticator {
    bearer: Vec<Credential>,
    basic: Vec<Credential>,
    challenges: Vec<HeaderValue>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("bearer_tokens", &self.bearer.len())
            .field("basic", &self.basic.len())
            .finish()
    }
}

fn attributes(
    field: &str,
    attrs: &std::collections::BTreeMap<String, String>,
    errors: &mut Vec<AuthConfigError>,
) -> AuthAttributes {
    let mut pairs = Vec::new();
    for (k, v) in attrs {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_graphic()) {
            errors.push(AuthConfigError {
                field: format!("{field}.attributes.{k}"),
                message: "an attribute key is printable ASCII without spaces".into(),
            });
            continue;
        }
        pairs.push((
            format!("{ATTRIBUTE_PREFIX}{}", k.to_ascii_lowercase()),
            v.clone(),
        ));
    }
    AuthAttributes(pairs.into())
}

/// The credentials of `bearer_tokens`; problems go to `errors`.
fn bearer_credentials(
    tokens: &[BearerTokenConfig],
    errors: &mut Vec<AuthConfigError>,
) -> Vec<Credential> {
    let mut bearer = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        let field = format!("bearer_tokens[{i}]");
        let token = t.token.expose();
        if token.is_empty() {
            errors.push(AuthConfigError {
                field: format!("{field}.token"),
                message: "must not be empty (is its environment variable set?)".into(),
            });
        } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
            errors.push(AuthConfigError {
                field: format!("{field}.token"),
                message: "a bearer token is printable ASCII without spaces".into(),
            });
        } else if !seen.insert(token) {
            errors.push(AuthConfigError {
                field: format!("{field}.token"),
                message: "the same token is listed twice".into(),
            });
        }
        let attributes = attributes(&field, &t.attributes, errors);
        bearer.push(Credential {
            secret: token.as_bytes().to_vec(),
            attributes,
        });
    }
    bearer
}

/// The credentials (`user:password`) of `basic`; problems go to `errors`.
fn basic_credentials(
    users: &[BasicAuthConfig],
    errors: &mut Vec<AuthConfigError>,
) -> Vec<Credential> {
    let mut basic = Vec::new();
    let mut names = BTreeSet::new();
    for (i, b) in users.iter().enumerate() {
        let field = format!("basic[{i}]");
        if b.username.is_empty() || b.username.contains(':') {
            errors.push(AuthConfigError {
                field: format!("{field}.username"),
                message: "must be non-empty and contain no ':'".into(),
            });
        } else if !names.insert(b.username.as_str()) {
            errors.push(AuthConfigError {
                field: format!("{field}.username"),
                message: format!("{:?} is listed twice", b.username),
            });
        }
        if b.password.expose().is_empty() {
            errors.push(AuthConfigError {
                field: format!("{field}.password"),
                message: "must not be empty (is its environment variable set?)".into(),
            });
        }
        let attributes = attributes(&field, &b.attributes, errors);
        basic.push(Credential {
            secret: format!("{}:{}", b.username, b.password.expose()).into_bytes(),
            attributes,
        });
    }
    basic
}

impl Authenticator {
    /// Checks the config and prepares the credentials; every problem is returned.
    pub fn new(cfg: &AuthConfig) -> Result<Self, Vec<AuthConfigError>> {
        let mut errors = Vec::new();
        if cfg.bearer_tokens.is_empty() && cfg.basic.is_empty() {
            errors.push(AuthConfigError {
                field: String::new(),
                message: "set at least one of bearer_tokens or basic (remove `auth` to accept \
                          every client)"
                    .into(),
            });
        }
        let bearer = bearer_credentials(&cfg.bearer_tokens, &mut errors);
        let basic = basic_credentials(&cfg.basic, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut challenges = Vec::new();
        if !bearer.is_empty() {
            challenges.push(HeaderValue::from_static("Bearer realm=\"otlp\""));
        }
        if !basic.is_empty() {
            challenges.push(HeaderValue::from_static(
                "Basic realm=\"otlp\", charset=\"UTF-8\"",
            ));
        }
        Ok(Authenticator {
            bearer,
            basic,
            challenges,
        })
    }

    /// The `WWW-Authenticate` values of a 401 answer: one per configured scheme.
    pub fn challenges(&self) -> &[HeaderValue] {
        &self.challenges
    }

    /// The attributes of the credentials in `headers`, or `Unauthenticated` when there is no
    /// single `Authorization` header, its scheme is not configured, or nothing matches.
    pub fn check(&self, headers: &HeaderMap) -> Result<AuthAttributes, RequestError> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(RequestError::Unauthenticated);
        };
        let value = value.as_bytes();
        let split = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
        let (scheme, rest) = value.split_at(split);
        let credentials = trim_ascii(rest);
        let found = if scheme.eq_ignore_ascii_case(b"bearer") && !self.bearer.is_empty() {
            find(&self.bearer, credentials)
        } else if scheme.eq_ignore_ascii_case(b"basic") && !self.basic.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .map_err(|_| RequestError::Unauthenticated)?;
            find(&self.basic, &decoded)
        } else {
            None
        };
        found.ok_or(RequestError::Unauthenticated)
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// Compares `given` with every candidate in constant time (for equal lengths; the length of a
/// secret is not hidden) without stopping at the first match.
fn find(candidates: &[Credential], given: &[u8]) -> Option<AuthAttributes> {
    let mut found = None;
    for c in candidates {
        let equal: bool = c.secret.as_slice().ct_eq(given).into();
        if equal && found.is_none() {
            found = Some(c.attributes.clone());
        }
    }
    found
}

/// Request metadata for the processors: the client's `(key, value)` pairs minus any key
/// starting with `auth.` (reserved) and, when the receiver authenticated the request
/// (`auth` is `Some`), minus `authorization`; then the authenticated `auth.<key>` attributes.
pub fn request_metadata<I, K>(pairs: I, auth: Option<&AuthAttributes>) -> Metadata
where
    I: IntoIterator<Item = (K, String)>,
    K: AsRef<str>,
{
    let reserved = |k: &str| {
        k.get(..ATTRIBUTE_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(ATTRIBUTE_PREFIX))
            || (auth.is_some() && k.eq_ignore_ascii_case("authorization"))
    };
    let from_auth = auth.map(|a| a.pairs().to_vec()).unwrap_or_default();
    let from_client = pairs
        .into_iter()
        .filter(|(k, _)| !reserved(k.as_ref()))
        .map(|(k, v)| (k.as_ref().to_string(), v));
    Metadata::from_pairs(from_auth.into_iter().chain(from_client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::otlp::config::{BasicAuthConfig, BearerTokenConfig};

    fn auth() -> Authenticator {
        let cfg = AuthConfig {
            bearer_tokens: vec![
                BearerTokenConfig {
                    token: "tok-payments".into(),
                    attributes: [("team".to_string(), "payments".to_string())].into(),
                },
                BearerTokenConfig {
                    token: "tok-plain".into(),
                    attributes: Default::default(),
                },
            ],
            basic: vec![BasicAuthConfig {
                username: "codex".into(),
                password: "pa:ss".into(),
                attributes: [("Team".to_string(), "search".to_string())].into(),
            }],
        };
        Authenticator::new(&cfg).expect("valid auth config")
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                AUTHORIZATION,
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        h
    }

    #[test]
    fn bearer_and_basic_credentials_match_and_carry_their_attributes() {
        let a = auth();
        let ok = a.check(&headers(&["Bearer tok-payments"])).expect("bearer");
        assert_eq!(
            ok.pairs(),
            &[("auth.team".to_string(), "payments".to_string())]
        );
        assert!(a.check(&headers(&["bearer  tok-plain "])).is_ok());
        let basic = base64::engine::general_purpose::STANDARD.encode("codex:pa:ss");
        let ok = a
            .check(&headers(&[&format!("Basic {basic}")]))
            .expect("basic");
        assert_eq!(
            ok.pairs(),
            &[("auth.team".to_string(), "search".to_string())]
        );
    }

    #[test]
    fn missing_wrong_and_wrong_scheme_credentials_are_refused() {
        let a = auth();
        for bad in [
            &[][..],
            &["Bearer nope"][..],
            &["Bearer"][..],
            &["Bearer tok-payments", "Bearer tok-payments"][..],
            &["Token tok-payments"][..],
            &["tok-payments"][..],
            &["Basic !!!notbase64"][..],
            &["Basic Y29kZXg6d3Jvbmc="][..],
        ] {
            assert_eq!(
                a.check(&headers(bad)),
                Err(RequestError::Unauthenticated),
                "{bad:?}"
            );
        }
        let only_bearer = Authenticator::new(&AuthConfig {
            bearer_tokens: vec![BearerTokenConfig {
                token: "t".into(),
                attributes: Default::default(),
            }],
            basic: vec![],
        })
        .expect("valid");
        let basic = base64::engine::general_purpose::STANDARD.encode("u:t");
        assert!(only_bearer
            .check(&headers(&[&format!("Basic {basic}")]))
            .is_err());
        assert_eq!(only_bearer.challenges().len(), 1);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let errs = Authenticator::new(&AuthConfig::default()).expect_err("empty");
        assert_eq!(errs[0].field, "");
        let errs = Authenticator::new(&AuthConfig {
            bearer_tokens: vec![
                BearerTokenConfig {
                    token: "".into(),
                    attributes: Default::default(),
                },
                BearerTokenConfig {
                    token: "a b".into(),
                    attributes: Default::default(),
                },
            ],
            basic: vec![BasicAuthConfig {
                username: "a:b".into(),
                password: "".into(),
                attributes: Default::default(),
            }],
        })
        .expect_err("bad");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "bearer_tokens[0].token",
                "bearer_tokens[1].token",
                "basic[0].username",
                "basic[0].password"
            ]
        );
    }

    #[test]
    fn metadata_drops_forged_auth_keys_and_the_credential() {
        let attrs = AuthAttributes(vec![("auth.team".to_string(), "payments".to_string())].into());
        let pairs = vec![
            ("Auth.Team", "forged".to_string()),
            ("authorization", "Bearer x".to_string()),
            ("x-team", "y".to_string()),
        ];
        let md = request_metadata(pairs.clone(), Some(&attrs));
        assert_eq!(md.get("auth.team"), Some("payments"));
        assert_eq!(md.get("authorization"), None);
        assert_eq!(md.get("x-team"), Some("y"));
        let md = request_metadata(pairs, None);
        assert_eq!(md.get("auth.team"), None);
        assert_eq!(md.get("authorization"), Some("Bearer x"));
    }
}
