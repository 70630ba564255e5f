//! The credential formats of the privacy corpus, one generator per format, written from public
//! facts only: vendors' documented token shapes and the prefixes, lengths, alphabets and
//! checksums that gitleaks' default rules and secretlint's recommended preset look for. Each call
//! makes a fresh random value of the format.
//!
//! A format is *self-identifying* when its shape alone says what it is (a vendor prefix, a
//! checksum, a URL with credentials), so it is planted in neutral text too; a *keyed* format (a
//! bare hex or alphanumeric key of a vendor without a prefix) is only ever planted after its
//! usual variable name, as people really write it, since no detector could tell it from an id.

use super::gen::{self, b64, b64_no_pad, b64url, Gen};
use super::Category;

/// One generated value: the exact text planted, a distinctive substring of its random part
/// (at least 12 characters unless the value is shorter), and for values that carry a secret only
/// in base64 the core of the decoded secret.
#[derive(Clone, Debug)]
pub struct Tok {
    pub value: String,
    pub core: String,
    pub decoded_core: Option<String>,
}

impl Tok {
    /// `prefix` + `body`, the core taken from `body`.
    pub fn pre(prefix: &str, body: String) -> Tok {
        let core = core_of(&body);
        Tok {
            value: format!("{prefix}{body}"),
            core,
            decoded_core: None,
        }
    }

    /// A value whose core is taken from its own start.
    pub fn raw(value: String) -> Tok {
        let core = core_of(&value);
        Tok {
            value,
            core,
            decoded_core: None,
        }
    }

    /// A value with an explicit core (which must occur in it).
    pub fn with_core(value: String, core: &str) -> Tok {
        assert!(value.contains(core), "core {core:?} not in {value:?}");
        Tok {
            core: core.to_owned(),
            value,
            decoded_core: None,
        }
    }

    /// A value carrying a secret in base64: `decoded_core` must occur in the decoded text. The
    /// core is the middle of the encoded text (its start often encodes fixed JSON or a user).
    pub fn encoded(value: String, decoded_core: &str) -> Tok {
        let mid = value.len() / 2;
        let core = value[mid.saturating_sub(10)..(mid + 10).min(value.len())].to_owned();
        Tok {
            value,
            core,
            decoded_core: Some(decoded_core.to_owned()),
        }
    }
}

/// The first 20 characters of a random body (the whole body when shorter).
pub fn core_of(body: &str) -> String {
    body.chars().take(20).collect()
}

/// A credential format.
pub struct Format {
    /// Stable name, `vendor-kind`.
    pub id: &'static str,
    pub category: Category,
    /// The variable name people store it under.
    pub env: &'static str,
    /// Only planted after its variable name (see the module doc).
    pub keyed_only: bool,
    pub make: fn(&mut Gen) -> Tok,
}

macro_rules! p {
    ($id:literal, $cat:ident, $env:literal, |$g:ident| $body:expr) => {
        Format {
            id: $id,
            category: Category::$cat,
            env: $env,
            keyed_only: false,
            make: |$g: &mut Gen| -> Tok { $body },
        }
    };
}
macro_rules! k {
    ($id:literal, $cat:ident, $env:literal, |$g:ident| $body:expr) => {
        Format {
            id: $id,
            category: Category::$cat,
            env: $env,
            keyed_only: true,
            make: |$g: &mut Gen| -> Tok { $body },
        }
    };
}

/// `[A-Za-z0-9_-]` of length `n` that starts and ends with an alphanumeric (a scanner's word
/// boundary needs it).
fn urlsafe_word(g: &mut Gen, n: usize) -> String {
    let mut s = g.url_safe(n);
    s.replace_range(0..1, &g.alnum(1));
    s.replace_range(n - 1..n, &g.alnum(1));
    s
}

/// A GitHub-style token: `prefix` + 30 random base62 + CRC32 checksum in base62.
fn checksummed(g: &mut Gen, prefix: &str) -> Tok {
    let random = g.alnum(30);
    let sum = gen::crc32_base62(&random);
    Tok::pre(prefix, format!("{random}{sum}"))
}

/// An HS256 JSON Web Token of these claims, really signed with a random key.
pub fn jwt_hs256(g: &mut Gen, claims: &str) -> String {
    use hmac::{Hmac, Mac};
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{header}.{}", b64url(claims.as_bytes()));
    let key = g.bytes(32);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&mac.finalize().into_bytes()))
}

/// A JWT value whose core is part of its signature.
fn jwt_tok(g: &mut Gen, claims: &str) -> Tok {
    let t = jwt_hs256(g, claims);
    let sig = t.rsplit('.').next().expect("three parts").to_owned();
    Tok::with_core(t, &core_of(&sig))
}

/// A Kubernetes service-account token (RS256 JWT as the API server issues).
pub fn k8s_sa_token(g: &mut Gen) -> Tok {
    let kid = urlsafe_word(g, 43);
    let header = b64url(format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#).as_bytes());
    let now = g.int(1_714_000_000, 1_760_000_000);
    let claims = format!(
        r#"{{"aud":["https://kubernetes.default.svc.cluster.local"],"exp":{},"iat":{now},"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{{"namespace":"payments","serviceaccount":{{"name":"deployer","uid":"{}"}}}},"nbf":{now},"sub":"system:serviceaccount:payments:deployer"}}"#,
        now + 3600,
        g.uuid()
    );
    let sig = b64url(&g.bytes(256));
    let value = format!("{header}.{}.{sig}", b64url(claims.as_bytes()));
    Tok::with_core(value, &sig[..24])
}

/// base64 of `user:password`; the decoded core is the password's.
pub fn basic_blob(user: &str, password: &str) -> Tok {
    Tok::encoded(
        b64(format!("{user}:{password}").as_bytes()),
        &core_of(password),
    )
}

/// A URL-style connection string `scheme://user:password@rest`.
fn db_url(g: &mut Gen, scheme: &str, user: &str, rest: &str) -> Tok {
    let pw = g.password(22);
    Tok::with_core(format!("{scheme}://{user}:{pw}@{rest}"), &core_of(&pw))
}

/// A connection string with the password `{pw}` filled in.
fn with_password(g: &mut Gen, template: &str) -> Tok {
    let pw = g.password(22);
    Tok::with_core(template.replace("{pw}", &pw), &core_of(&pw))
}

/// Standard base64 of `n` random bytes, as an account key.
fn b64_key(g: &mut Gen, n: usize) -> String {
    loop {
        let k = g.b64_of_random(n);
        // Keep keys whose first 20 characters are plain, so the core is a clean substring.
        if k[..20].bytes().all(|b| b.is_ascii_alphanumeric()) {
            return k;
        }
    }
}

/// An OpenAI key `prefix` + a + `T3BlbkFJ` + b, a and b of `n` URL-safe characters.
fn openai(g: &mut Gen, prefix: &str, n: usize) -> Tok {
    let a = urlsafe_word(g, n);
    let b = urlsafe_word(g, n);
    Tok::with_core(format!("{prefix}{a}T3BlbkFJ{b}"), &core_of(&a))
}

/// PyPI-style token: `pypi-` + base64url of a macaroon whose location is `domain`.
fn pypi(g: &mut Gen, domain: &str) -> Tok {
    let mut m = vec![0x02, 0x01, domain.len() as u8];
    m.extend_from_slice(domain.as_bytes());
    m.extend_from_slice(&[0x02, 0x25]);
    m.extend_from_slice(format!("{{\"identifier\":\"{}\"}}", g.uuid()).as_bytes());
    m.extend(g.bytes(96));
    let body = b64url(&m);
    let core = body[body.len() - 24..].to_owned();
    Tok::with_core(format!("pypi-{body}"), &core)
}

/// The credential formats (private key blocks, headers, PII and generic secrets live in their
/// own modules).
pub fn credential_formats() -> Vec<Format> {
    let mut all = Vec::new();
    all.extend(llm_formats());
    all.extend(source_hosting_formats());
    all.extend(ci_cd_formats());
    all.extend(cloud_formats());
    all.extend(registry_formats());
    all.extend(chat_formats());
    all.extend(payment_formats());
    all.extend(email_sms_formats());
    all.extend(observability_formats());
    all.extend(secret_manager_formats());
    all.extend(database_formats());
    all
}

fn llm_formats() -> Vec<Format> {
    vec![
        p!("openai-project-key", LlmAi, "OPENAI_API_KEY", |g| openai(
            g, "sk-proj-", 74
        )),
        p!(
            "openai-service-account-key",
            LlmAi,
            "OPENAI_SVCACCT_KEY",
            |g| openai(g, "sk-svcacct-", 74)
        ),
        p!("openai-admin-key", LlmAi, "OPENAI_ADMIN_KEY", |g| openai(
            g,
            "sk-admin-",
            58
        )),
        p!("openai-legacy-key", LlmAi, "OPENAI_LEGACY_KEY", |g| {
            let (a, b) = (g.alnum(20), g.alnum(20));
            Tok::with_core(format!("sk-{a}T3BlbkFJ{b}"), &a)
        }),
        p!("anthropic-api-key", LlmAi, "ANTHROPIC_API_KEY", |g| {
            Tok::pre("sk-ant-api03-", format!("{}AA", urlsafe_word(g, 93)))
        }),
        p!("anthropic-admin-key", LlmAi, "ANTHROPIC_ADMIN_KEY", |g| {
            Tok::pre("sk-ant-admin01-", format!("{}AA", urlsafe_word(g, 93)))
        }),
        p!("huggingface-token", LlmAi, "HF_TOKEN", |g| Tok::pre(
            "hf_",
            g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)
        )),
        p!(
            "huggingface-org-token",
            LlmAi,
            "HF_ORG_TOKEN",
            |g| Tok::pre(
                "api_org_",
                g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)
            )
        ),
        p!("groq-api-key", LlmAi, "GROQ_API_KEY", |g| Tok::pre(
            "gsk_",
            g.alnum(52)
        )),
        p!("perplexity-api-key", LlmAi, "PERPLEXITY_API_KEY", |g| {
            Tok::pre("pplx-", g.alnum(48))
        }),
        p!("replicate-api-token", LlmAi, "REPLICATE_API_TOKEN", |g| {
            Tok::pre("r8_", g.alnum(37))
        }),
        p!("xai-api-key", LlmAi, "XAI_API_KEY", |g| Tok::pre(
            "xai-",
            g.alnum(80)
        )),
        p!("openrouter-api-key", LlmAi, "OPENROUTER_API_KEY", |g| {
            Tok::pre("sk-or-v1-", g.hex(64))
        }),
        p!("langsmith-api-key", LlmAi, "LANGSMITH_API_KEY", |g| {
            Tok::pre("lsv2_pt_", format!("{}_{}", g.hex(32), g.hex(10)))
        }),
        p!("nvidia-api-key", LlmAi, "NVIDIA_API_KEY", |g| Tok::pre(
            "nvapi-",
            urlsafe_word(g, 64)
        )),
        p!("elevenlabs-api-key", LlmAi, "ELEVENLABS_API_KEY", |g| {
            Tok::pre("sk_", g.hex(48))
        }),
        p!("deepseek-api-key", LlmAi, "DEEPSEEK_API_KEY", |g| Tok::pre(
            "sk-",
            g.hex(32)
        )),
        k!("cohere-api-key", LlmAi, "COHERE_API_KEY", |g| Tok::raw(
            g.alnum(40)
        )),
        k!("mistral-api-key", LlmAi, "MISTRAL_API_KEY", |g| Tok::raw(
            g.alnum(32)
        )),
        k!("together-api-key", LlmAi, "TOGETHER_API_KEY", |g| Tok::raw(
            g.hex(64)
        )),
        k!("wandb-api-key", LlmAi, "WANDB_API_KEY", |g| Tok::raw(
            g.hex(40)
        )),
    ]
}

fn source_hosting_formats() -> Vec<Format> {
    vec![
        p!("github-pat-classic", SourceHosting, "GITHUB_TOKEN", |g| {
            checksummed(g, "ghp_")
        }),
        p!("github-oauth-token", SourceHosting, "GH_OAUTH_TOKEN", |g| {
            checksummed(g, "gho_")
        }),
        p!(
            "github-user-to-server-token",
            SourceHosting,
            "GH_USER_TOKEN",
            |g| checksummed(g, "ghu_")
        ),
        p!(
            "github-server-to-server-token",
            SourceHosting,
            "GH_APP_INSTALLATION_TOKEN",
            |g| checksummed(g, "ghs_")
        ),
        p!(
            "github-refresh-token",
            SourceHosting,
            "GH_REFRESH_TOKEN",
            |g| checksummed(g, "ghr_")
        ),
        p!(
            "github-fine-grained-pat",
            SourceHosting,
            "GH_FINE_GRAINED_TOKEN",
            |g| Tok::pre("github_pat_", format!("{}_{}", g.alnum(22), g.alnum(59)))
        ),
        p!("gitlab-pat", SourceHosting, "GITLAB_TOKEN", |g| Tok::pre(
            "glpat-",
            urlsafe_word(g, 20)
        )),
        p!("gitlab-pat-routable", SourceHosting, "GITLAB_PAT", |g| {
            Tok::pre(
                "glpat-",
                format!("{}.01{}", urlsafe_word(g, 38), g.lower_alnum(7)),
            )
        }),
        p!(
            "gitlab-deploy-token",
            SourceHosting,
            "GITLAB_DEPLOY_TOKEN",
            |g| Tok::pre("gldt-", urlsafe_word(g, 20))
        ),
        p!(
            "gitlab-runner-token",
            SourceHosting,
            "CI_RUNNER_TOKEN",
            |g| Tok::pre("glrt-", urlsafe_word(g, 20))
        ),
        p!(
            "gitlab-runner-registration-token",
            SourceHosting,
            "RUNNER_REGISTRATION_TOKEN",
            |g| Tok::pre("GR1348941", urlsafe_word(g, 20))
        ),
        p!(
            "gitlab-pipeline-trigger-token",
            SourceHosting,
            "GITLAB_TRIGGER_TOKEN",
            |g| Tok::pre("glptt-", g.hex(40))
        ),
        p!(
            "gitlab-feed-token",
            SourceHosting,
            "GITLAB_FEED_TOKEN",
            |g| Tok::pre("glft-", urlsafe_word(g, 20))
        ),
        p!(
            "gitlab-oauth-app-secret",
            SourceHosting,
            "GITLAB_OAUTH_SECRET",
            |g| Tok::pre("gloas-", urlsafe_word(g, 64))
        ),
        p!("gitlab-ci-job-token", SourceHosting, "CI_JOB_TOKEN", |g| {
            Tok::pre("glcbt-", format!("{}_{}", g.hex(2), urlsafe_word(g, 20)))
        }),
        p!(
            "gitlab-agent-token",
            SourceHosting,
            "GITLAB_AGENT_TOKEN",
            |g| Tok::pre("glagent-", urlsafe_word(g, 50))
        ),
        p!(
            "gitlab-scim-token",
            SourceHosting,
            "GITLAB_SCIM_TOKEN",
            |g| Tok::pre("glsoat-", urlsafe_word(g, 20))
        ),
        p!(
            "gitlab-incoming-mail-token",
            SourceHosting,
            "GITLAB_INCOMING_EMAIL_TOKEN",
            |g| Tok::pre("glimt-", urlsafe_word(g, 25))
        ),
        p!(
            "atlassian-api-token",
            SourceHosting,
            "JIRA_API_TOKEN",
            |g| Tok::pre(
                "ATATT3xFfGF0",
                format!("{}={}", urlsafe_word(g, 171), g.from(gen::UPPER_HEX, 8))
            )
        ),
        p!(
            "sourcegraph-access-token",
            SourceHosting,
            "SRC_ACCESS_TOKEN",
            |g| Tok::pre("sgp_", format!("{}_{}", g.hex(16), g.hex(40)))
        ),
        k!(
            "bitbucket-app-password",
            SourceHosting,
            "BITBUCKET_APP_PASSWORD",
            |g| Tok::pre("ATBB", g.alnum(32))
        ),
        k!("gitea-access-token", SourceHosting, "GITEA_TOKEN", |g| {
            Tok::raw(g.hex(40))
        }),
        k!(
            "azure-devops-pat",
            SourceHosting,
            "AZURE_DEVOPS_EXT_PAT",
            |g| Tok::raw(g.from("abcdefghijklmnopqrstuvwxyz234567", 52))
        ),
    ]
}

fn ci_cd_formats() -> Vec<Format> {
    vec![
        p!("circleci-personal-token", CiCd, "CIRCLECI_TOKEN", |g| {
            Tok::pre("CCIPAT_", format!("{}_{}", g.alnum(22), g.hex(40)))
        }),
        p!("buildkite-api-token", CiCd, "BUILDKITE_API_TOKEN", |g| {
            Tok::pre("bkua_", g.hex(40))
        }),
        p!("terraform-cloud-token", CiCd, "TFE_TOKEN", |g| {
            let a = g.lower_alnum(14);
            Tok::with_core(format!("{a}.atlasv1.{}", urlsafe_word(g, 67)), &a)
        }),
        p!("pulumi-access-token", CiCd, "PULUMI_ACCESS_TOKEN", |g| {
            Tok::pre("pul-", g.hex(40))
        }),
        p!("heroku-api-key-v2", CiCd, "HEROKU_API_KEY", |g| Tok::pre(
            "HRKU-AA",
            urlsafe_word(g, 58)
        )),
        p!("flyio-access-token", CiCd, "FLY_API_TOKEN", |g| Tok::pre(
            "fo1_",
            urlsafe_word(g, 43)
        )),
        p!("render-api-key", CiCd, "RENDER_API_KEY", |g| Tok::pre(
            "rnd_",
            g.alnum(32)
        )),
        p!("netlify-pat", CiCd, "NETLIFY_AUTH_TOKEN", |g| Tok::pre(
            "nfp_",
            g.alnum(40)
        )),
        p!("octopus-deploy-api-key", CiCd, "OCTOPUS_API_KEY", |g| {
            Tok::pre("API-", g.upper_alnum(26))
        }),
        p!("harness-pat", CiCd, "HARNESS_API_KEY", |g| Tok::pre(
            "pat.",
            format!("{}.{}.{}", urlsafe_word(g, 22), g.alnum(24), g.alnum(20))
        )),
        p!("databricks-token", CiCd, "DATABRICKS_TOKEN", |g| Tok::pre(
            "dapi",
            g.hex(32)
        )),
        p!(
            "infracost-api-key",
            CiCd,
            "INFRACOST_API_KEY",
            |g| Tok::pre("ico-", g.alnum(32))
        ),
        p!("prefect-api-key", CiCd, "PREFECT_API_KEY", |g| Tok::pre(
            "pnu_",
            g.alnum(36)
        )),
        p!("postman-api-key", CiCd, "POSTMAN_API_KEY", |g| Tok::pre(
            "PMAK-",
            format!("{}-{}", g.hex(24), g.hex(34))
        )),
        p!("sonarqube-user-token", CiCd, "SONAR_TOKEN", |g| Tok::pre(
            "squ_",
            g.hex(40)
        )),
        p!(
            "jenkins-api-token",
            CiCd,
            "JENKINS_API_TOKEN",
            |g| Tok::pre("11", g.hex(32))
        ),
        k!("vercel-token", CiCd, "VERCEL_TOKEN", |g| Tok::raw(
            g.alnum(24)
        )),
        k!(
            "heroku-api-key-legacy",
            CiCd,
            "HEROKU_API_KEY_LEGACY",
            |g| Tok::raw(g.uuid())
        ),
        k!("travis-api-token", CiCd, "TRAVIS_API_TOKEN", |g| Tok::raw(
            g.alnum(22)
        )),
        k!("drone-token", CiCd, "DRONE_TOKEN", |g| Tok::raw(
            g.alnum(32)
        )),
        k!("codecov-token", CiCd, "CODECOV_TOKEN", |g| Tok::raw(
            g.uuid()
        )),
        k!("snyk-token", CiCd, "SNYK_TOKEN", |g| Tok::raw(g.uuid())),
    ]
}

fn cloud_formats() -> Vec<Format> {
    vec![
        p!("aws-access-key-id", Cloud, "AWS_ACCESS_KEY_ID", |g| {
            Tok::pre("AKIA", g.from(gen::BASE32, 16))
        }),
        p!(
            "aws-temporary-access-key-id",
            Cloud,
            "AWS_ACCESS_KEY_ID_STS",
            |g| Tok::pre("ASIA", g.from(gen::BASE32, 16))
        ),
        k!(
            "aws-secret-access-key",
            Cloud,
            "AWS_SECRET_ACCESS_KEY",
            |g| Tok::raw(g.b64chars(40))
        ),
        p!("aws-session-token", Cloud, "AWS_SESSION_TOKEN", |g| {
            aws_session_token(g)
        }),
        p!(
            "aws-bedrock-api-key",
            Cloud,
            "AWS_BEARER_TOKEN_BEDROCK",
            |g| Tok::pre("ABSK", b64_key(g, 99))
        ),
        p!("gcp-api-key", Cloud, "GOOGLE_API_KEY", |g| Tok::pre(
            "AIza",
            urlsafe_word(g, 35)
        )),
        k!(
            "gcp-service-account-private-key-id",
            Cloud,
            "GCP_PRIVATE_KEY_ID",
            |g| Tok::raw(g.hex(40))
        ),
        p!(
            "gcp-oauth-client-secret",
            Cloud,
            "GOOGLE_CLIENT_SECRET",
            |g| Tok::pre("GOCSPX-", urlsafe_word(g, 28))
        ),
        p!(
            "gcp-oauth-access-token",
            Cloud,
            "GOOGLE_ACCESS_TOKEN",
            |g| Tok::pre("ya29.a0", urlsafe_word(g, 160))
        ),
        p!(
            "gcp-oauth-refresh-token",
            Cloud,
            "GOOGLE_REFRESH_TOKEN",
            |g| Tok::pre("1//0", urlsafe_word(g, 99))
        ),
        k!(
            "azure-storage-account-key",
            Cloud,
            "AZURE_STORAGE_KEY",
            |g| Tok::raw(b64_key(g, 64))
        ),
        p!(
            "azure-storage-connection-string",
            Cloud,
            "AZURE_STORAGE_CONNECTION_STRING",
            |g| {
                let key = b64_key(g, 64);
                let acct = format!("{}{}", g.word(), g.digits(3));
                Tok::with_core(format!("DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={key};EndpointSuffix=core.windows.net"), &key[..20])
            }
        ),
        p!("azure-sas-url", Cloud, "AZURE_BLOB_SAS_URL", |g| azure_sas(
            g
        )),
        p!(
            "azure-service-bus-connection-string",
            Cloud,
            "SERVICEBUS_CONNECTION_STRING",
            |g| {
                let key = b64_key(g, 32);
                Tok::with_core(format!("Endpoint=sb://acme-{}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={key}", g.word()), &key[..20])
            }
        ),
        p!(
            "azure-cosmos-connection-string",
            Cloud,
            "COSMOS_CONNECTION_STRING",
            |g| {
                let key = b64_key(g, 64);
                Tok::with_core(format!("AccountEndpoint=https://acme-{}.documents.azure.com:443/;AccountKey={key};", g.word()), &key[..20])
            }
        ),
        p!(
            "azure-signalr-connection-string",
            Cloud,
            "AZURE_SIGNALR_CONNECTION_STRING",
            |g| {
                let key = b64_key(g, 32);
                Tok::with_core(
                    format!(
                        "Endpoint=https://acme-{}.service.signalr.net;AccessKey={key};Version=1.0;",
                        g.word()
                    ),
                    &key[..20],
                )
            }
        ),
        p!(
            "azure-ad-client-secret",
            Cloud,
            "AZURE_CLIENT_SECRET",
            |g| {
                let head = g.alnum(3);
                let body = g.from(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-",
                    33,
                );
                let tail = g.alnum(1);
                Tok::with_core(format!("{head}{}Q~{body}{tail}", g.digits(1)), &body[..16])
            }
        ),
        p!("digitalocean-pat", Cloud, "DIGITALOCEAN_TOKEN", |g| {
            Tok::pre("dop_v1_", g.hex(64))
        }),
        p!("digitalocean-oauth-token", Cloud, "DO_OAUTH_TOKEN", |g| {
            Tok::pre("doo_v1_", g.hex(64))
        }),
        p!(
            "digitalocean-refresh-token",
            Cloud,
            "DO_REFRESH_TOKEN",
            |g| Tok::pre("dor_v1_", g.hex(64))
        ),
        p!(
            "alibaba-access-key-id",
            Cloud,
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            |g| Tok::pre("LTAI", g.alnum(20))
        ),
        k!(
            "alibaba-access-key-secret",
            Cloud,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            |g| Tok::raw(g.alnum(30))
        ),
        p!("tencent-secret-id", Cloud, "TENCENTCLOUD_SECRET_ID", |g| {
            Tok::pre("AKID", g.alnum(32))
        }),
        p!("cloudflare-origin-ca-key", Cloud, "CF_ORIGIN_CA_KEY", |g| {
            Tok::pre("v1.0-", format!("{}-{}", g.hex(24), g.hex(146)))
        }),
        k!("cloudflare-api-token", Cloud, "CLOUDFLARE_API_TOKEN", |g| {
            Tok::raw(urlsafe_word(g, 40))
        }),
        k!(
            "cloudflare-global-api-key",
            Cloud,
            "CLOUDFLARE_API_KEY",
            |g| Tok::raw(g.hex(37))
        ),
        p!("openshift-user-token", Cloud, "OPENSHIFT_TOKEN", |g| {
            Tok::pre("sha256~", urlsafe_word(g, 43))
        }),
        p!("yandex-api-key", Cloud, "YC_API_KEY", |g| Tok::pre(
            "AQVN",
            urlsafe_word(g, 36)
        )),
        p!(
            "kubernetes-service-account-token",
            Cloud,
            "KUBE_TOKEN",
            |g| k8s_sa_token(g)
        ),
        k!(
            "scaleway-secret-key",
            Cloud,
            "SCW_SECRET_KEY",
            |g| Tok::raw(g.uuid())
        ),
        k!("linode-token", Cloud, "LINODE_TOKEN", |g| Tok::raw(
            g.hex(64)
        )),
        k!("hetzner-cloud-token", Cloud, "HCLOUD_TOKEN", |g| Tok::raw(
            g.alnum(64)
        )),
        k!(
            "ibm-cloud-api-key",
            Cloud,
            "IBMCLOUD_API_KEY",
            |g| Tok::raw(urlsafe_word(g, 44))
        ),
    ]
}

/// An STS session token: base64 of the `!\n\torigin_ec` framing real tokens start with.
fn aws_session_token(g: &mut Gen) -> Tok {
    let mut raw = vec![0x21, 0x0a, 0x09];
    raw.extend_from_slice(b"origin_ec\x10");
    raw.extend(g.bytes(417));
    let t = b64(&raw);
    let core = t[40..64].to_owned();
    Tok::with_core(t, &core)
}

/// A blob SAS URL; the signature is percent-encoded base64 of 32 bytes.
fn azure_sas(g: &mut Gen) -> Tok {
    let sig = loop {
        let s = g.b64_of_random(32);
        if !s.contains(['+', '/']) {
            break s;
        }
    };
    let acct = format!("{}{}", g.word(), g.digits(3));
    let value = format!(
        "https://{acct}.blob.core.windows.net/backups/db-{}.bak?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-06-30T18:00:00Z&st=2026-06-01T10:00:00Z&spr=https&sig={}",
        g.digits(4),
        sig.replace('=', "%3D")
    );
    Tok::with_core(value, &sig[..20])
}

fn registry_formats() -> Vec<Format> {
    vec![
        p!("npm-access-token", Registry, "NPM_TOKEN", |g| checksummed(
            g, "npm_"
        )),
        p!("pypi-upload-token", Registry, "PYPI_API_TOKEN", |g| pypi(
            g, "pypi.org"
        )),
        p!(
            "testpypi-upload-token",
            Registry,
            "TEST_PYPI_API_TOKEN",
            |g| pypi(g, "test.pypi.org")
        ),
        p!("rubygems-api-key", Registry, "GEM_HOST_API_KEY", |g| {
            Tok::pre("rubygems_", g.hex(48))
        }),
        p!("nuget-api-key", Registry, "NUGET_API_KEY", |g| Tok::pre(
            "oy2",
            g.lower_alnum(43)
        )),
        p!("docker-hub-pat", Registry, "DOCKERHUB_TOKEN", |g| Tok::pre(
            "dckr_pat_",
            urlsafe_word(g, 27)
        )),
        p!("docker-hub-org-token", Registry, "DOCKER_ORG_TOKEN", |g| {
            Tok::pre("dckr_oat_", urlsafe_word(g, 32))
        }),
        p!(
            "artifactory-api-key",
            Registry,
            "ARTIFACTORY_API_KEY",
            |g| Tok::pre("AKCp", g.alnum(69))
        ),
        p!(
            "jfrog-reference-token",
            Registry,
            "JFROG_ACCESS_TOKEN",
            |g| {
                let rnd = g.alnum(27);
                let t = b64(
                    format!("reftkn:01:{}:{rnd}", g.int(1_800_000_000, 1_900_000_000)).as_bytes(),
                );
                let core = t[30..].to_owned();
                Tok::with_core(t, &core)
            }
        ),
        p!("clojars-deploy-token", Registry, "CLOJARS_PASSWORD", |g| {
            Tok::pre("CLOJARS_", g.lower_alnum(60))
        }),
        p!("crates-io-token", Registry, "CARGO_REGISTRY_TOKEN", |g| {
            Tok::pre("cio", g.alnum(32))
        }),
        k!("quay-robot-token", Registry, "QUAY_ROBOT_TOKEN", |g| {
            Tok::raw(g.upper_alnum(64))
        }),
        k!(
            "harbor-robot-secret",
            Registry,
            "HARBOR_ROBOT_SECRET",
            |g| Tok::raw(g.alnum(32))
        ),
        k!(
            "gradle-plugin-portal-secret",
            Registry,
            "GRADLE_PUBLISH_SECRET",
            |g| Tok::raw(g.alnum(32))
        ),
    ]
}

fn chat_formats() -> Vec<Format> {
    vec![
        p!("slack-bot-token", ChatWebhook, "SLACK_BOT_TOKEN", |g| {
            let s = g.alnum(24);
            Tok::with_core(
                format!("xoxb-{}-{}-{s}", g.digits(11), g.digits(13)),
                &s[..20],
            )
        }),
        p!("slack-user-token", ChatWebhook, "SLACK_USER_TOKEN", |g| {
            let s = g.hex(32);
            Tok::with_core(
                format!(
                    "xoxp-{}-{}-{}-{s}",
                    g.digits(11),
                    g.digits(11),
                    g.digits(13)
                ),
                &s[..20],
            )
        }),
        p!("slack-app-token", ChatWebhook, "SLACK_APP_TOKEN", |g| {
            let s = g.hex(64);
            Tok::with_core(
                format!("xapp-1-A{}-{}-{s}", g.upper_alnum(10), g.digits(13)),
                &s[..20],
            )
        }),
        p!(
            "slack-config-access-token",
            ChatWebhook,
            "SLACK_CONFIG_TOKEN",
            |g| Tok::pre("xoxe.xoxp-1-", g.alnum(164))
        ),
        p!(
            "slack-config-refresh-token",
            ChatWebhook,
            "SLACK_CONFIG_REFRESH_TOKEN",
            |g| Tok::pre("xoxe-1-", g.alnum(146))
        ),
        p!(
            "slack-incoming-webhook",
            ChatWebhook,
            "SLACK_WEBHOOK_URL",
            |g| {
                let s = g.alnum(24);
                Tok::with_core(
                    format!(
                        "https://hooks.slack.com/services/T{}/B{}/{s}",
                        g.upper_alnum(10),
                        g.upper_alnum(10)
                    ),
                    &s[..20],
                )
            }
        ),
        p!(
            "slack-workflow-webhook",
            ChatWebhook,
            "SLACK_WORKFLOW_URL",
            |g| {
                let s = g.hex(32);
                Tok::with_core(
                    format!(
                        "https://hooks.slack.com/triggers/T{}/{}/{s}",
                        g.upper_alnum(8),
                        g.digits(13)
                    ),
                    &s[..20],
                )
            }
        ),
        p!("discord-bot-token", ChatWebhook, "DISCORD_BOT_TOKEN", |g| {
            let id = format!("{}{}", g.int(1, 9), g.digits(17));
            let s = urlsafe_word(g, 38);
            Tok::with_core(
                format!("{}.{}.{s}", b64_no_pad(id.as_bytes()), urlsafe_word(g, 6)),
                &s[..20],
            )
        }),
        p!("discord-webhook", ChatWebhook, "DISCORD_WEBHOOK_URL", |g| {
            let s = urlsafe_word(g, 68);
            Tok::with_core(
                format!(
                    "https://discord.com/api/webhooks/{}{}/{s}",
                    g.int(1, 9),
                    g.digits(18)
                ),
                &s[..20],
            )
        }),
        p!(
            "telegram-bot-token",
            ChatWebhook,
            "TELEGRAM_BOT_TOKEN",
            |g| {
                let s = urlsafe_word(g, 33);
                Tok::with_core(format!("{}{}:AA{s}", g.int(1, 9), g.digits(9)), &s[..20])
            }
        ),
        p!(
            "teams-incoming-webhook",
            ChatWebhook,
            "TEAMS_WEBHOOK_URL",
            |g| {
                let s = g.hex(32);
                Tok::with_core(
                    format!(
                        "https://acme.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{s}/{}",
                        g.uuid(),
                        g.uuid(),
                        g.uuid()
                    ),
                    &s[..20],
                )
            }
        ),
        p!(
            "google-chat-webhook",
            ChatWebhook,
            "GCHAT_WEBHOOK_URL",
            |g| {
                let s = urlsafe_word(g, 43);
                Tok::with_core(format!("https://chat.googleapis.com/v1/spaces/AAAA{}/messages?key=AIza{}&token={s}%3D", g.alnum(7), urlsafe_word(g, 35)), &s[..20])
            }
        ),
        p!(
            "mattermost-webhook",
            ChatWebhook,
            "MATTERMOST_WEBHOOK_URL",
            |g| Tok::pre("https://chat.acme-corp.io/hooks/", g.lower_alnum(26))
        ),
        k!(
            "twitch-oauth-token",
            ChatWebhook,
            "TWITCH_OAUTH_TOKEN",
            |g| Tok::pre("oauth:", g.lower_alnum(30))
        ),
    ]
}

fn payment_formats() -> Vec<Format> {
    vec![
        p!(
            "stripe-live-secret-key",
            Payments,
            "STRIPE_SECRET_KEY",
            |g| Tok::pre("sk_live_", g.alnum(24))
        ),
        p!(
            "stripe-live-secret-key-long",
            Payments,
            "STRIPE_API_KEY",
            |g| Tok::pre("sk_live_51", g.alnum(97))
        ),
        p!(
            "stripe-restricted-key",
            Payments,
            "STRIPE_RESTRICTED_KEY",
            |g| Tok::pre("rk_live_", g.alnum(24))
        ),
        p!("stripe-test-secret-key", Payments, "STRIPE_TEST_KEY", |g| {
            Tok::pre("sk_test_", g.alnum(24))
        }),
        p!(
            "stripe-webhook-secret",
            Payments,
            "STRIPE_WEBHOOK_SECRET",
            |g| Tok::pre("whsec_", g.alnum(32))
        ),
        p!(
            "square-access-token",
            Payments,
            "SQUARE_ACCESS_TOKEN",
            |g| Tok::pre("EAAA", urlsafe_word(g, 60))
        ),
        p!(
            "square-oauth-secret",
            Payments,
            "SQUARE_OAUTH_SECRET",
            |g| Tok::pre("sq0csp-", urlsafe_word(g, 43))
        ),
        p!(
            "braintree-access-token",
            Payments,
            "BRAINTREE_ACCESS_TOKEN",
            |g| {
                let s = g.hex(32);
                Tok::with_core(
                    format!("access_token$production${}${s}", g.lower_alnum(16)),
                    &s[..20],
                )
            }
        ),
        p!(
            "paystack-secret-key",
            Payments,
            "PAYSTACK_SECRET_KEY",
            |g| Tok::pre("sk_live_", g.hex(40))
        ),
        p!("flutterwave-secret-key", Payments, "FLW_SECRET_KEY", |g| {
            Tok::pre("FLWSECK-", format!("{}-X", g.hex(32)))
        }),
        p!(
            "gocardless-access-token",
            Payments,
            "GOCARDLESS_ACCESS_TOKEN",
            |g| Tok::pre("live_", urlsafe_word(g, 40))
        ),
        p!("mollie-api-key", Payments, "MOLLIE_API_KEY", |g| Tok::pre(
            "live_",
            g.alnum(30)
        )),
        p!(
            "shopify-access-token",
            Payments,
            "SHOPIFY_ACCESS_TOKEN",
            |g| Tok::pre("shpat_", g.hex(32))
        ),
        p!(
            "shopify-custom-app-token",
            Payments,
            "SHOPIFY_CUSTOM_TOKEN",
            |g| Tok::pre("shpca_", g.hex(32))
        ),
        p!(
            "shopify-private-app-token",
            Payments,
            "SHOPIFY_PRIVATE_TOKEN",
            |g| Tok::pre("shppa_", g.hex(32))
        ),
        p!(
            "shopify-shared-secret",
            Payments,
            "SHOPIFY_SHARED_SECRET",
            |g| Tok::pre("shpss_", g.hex(32))
        ),
        p!("plaid-access-token", Payments, "PLAID_ACCESS_TOKEN", |g| {
            Tok::pre("access-production-", g.uuid())
        }),
        p!("easypost-api-key", Payments, "EASYPOST_API_KEY", |g| {
            Tok::pre("EZAK", g.alnum(54))
        }),
        k!(
            "razorpay-key-secret",
            Payments,
            "RAZORPAY_KEY_SECRET",
            |g| Tok::raw(g.alnum(24))
        ),
    ]
}

fn email_sms_formats() -> Vec<Format> {
    vec![
        p!("sendgrid-api-key", EmailSms, "SENDGRID_API_KEY", |g| {
            let s = urlsafe_word(g, 43);
            Tok::with_core(format!("SG.{}.{s}", urlsafe_word(g, 22)), &s[..20])
        }),
        p!(
            "mailgun-private-key",
            EmailSms,
            "MAILGUN_PRIVATE_KEY",
            |g| Tok::pre("key-", g.hex(32))
        ),
        p!("mailchimp-api-key", EmailSms, "MAILCHIMP_API_KEY", |g| {
            let s = g.hex(32);
            Tok::with_core(format!("{s}-us{}", g.int(1, 21)), &s[..20])
        }),
        p!("mandrill-api-key", EmailSms, "MANDRILL_API_KEY", |g| {
            Tok::pre("md-", urlsafe_word(g, 22))
        }),
        p!("brevo-api-key", EmailSms, "BREVO_API_KEY", |g| Tok::pre(
            "xkeysib-",
            format!("{}-{}", g.hex(64), g.alnum(16))
        )),
        p!("brevo-smtp-key", EmailSms, "BREVO_SMTP_KEY", |g| Tok::pre(
            "xsmtpsib-",
            format!("{}-{}", g.hex(64), g.alnum(16))
        )),
        p!("twilio-api-key", EmailSms, "TWILIO_API_KEY", |g| Tok::pre(
            "SK",
            g.hex(32)
        )),
        p!("resend-api-key", EmailSms, "RESEND_API_KEY", |g| Tok::pre(
            "re_",
            format!("{}_{}", g.alnum(8), g.alnum(24))
        )),
        k!(
            "mailgun-api-key",
            EmailSms,
            "MAILGUN_API_KEY",
            |g| Tok::raw(format!("{}-{}-{}", g.hex(32), g.hex(8), g.hex(8)))
        ),
        k!("twilio-auth-token", EmailSms, "TWILIO_AUTH_TOKEN", |g| {
            Tok::raw(g.hex(32))
        }),
        k!(
            "postmark-server-token",
            EmailSms,
            "POSTMARK_SERVER_TOKEN",
            |g| Tok::raw(g.uuid())
        ),
        k!("vonage-api-secret", EmailSms, "VONAGE_API_SECRET", |g| {
            Tok::raw(g.alnum(16))
        }),
        k!(
            "messagebird-access-key",
            EmailSms,
            "MESSAGEBIRD_ACCESS_KEY",
            |g| Tok::raw(g.alnum(25))
        ),
        k!("sparkpost-api-key", EmailSms, "SPARKPOST_API_KEY", |g| {
            Tok::raw(g.hex(40))
        }),
        k!("mailjet-secret-key", EmailSms, "MJ_APIKEY_PRIVATE", |g| {
            Tok::raw(g.hex(32))
        }),
        k!("ses-smtp-password", EmailSms, "SES_SMTP_PASSWORD", |g| {
            Tok::pre("B", g.b64chars(43))
        }),
    ]
}

fn observability_formats() -> Vec<Format> {
    vec![
        p!(
            "newrelic-user-api-key",
            Observability,
            "NEW_RELIC_API_KEY",
            |g| Tok::pre("NRAK-", g.upper_alnum(27))
        ),
        p!(
            "newrelic-insert-key",
            Observability,
            "NEW_RELIC_INSERT_KEY",
            |g| Tok::pre("NRII-", urlsafe_word(g, 32))
        ),
        p!(
            "newrelic-license-key",
            Observability,
            "NEW_RELIC_LICENSE_KEY",
            |g| Tok::raw(format!("{}NRAL", g.hex(36)))
        ),
        p!(
            "newrelic-browser-key",
            Observability,
            "NEW_RELIC_BROWSER_KEY",
            |g| Tok::pre("NRJS-", g.hex(19))
        ),
        p!("sentry-dsn", Observability, "SENTRY_DSN", |g| {
            let s = g.hex(32);
            Tok::with_core(
                format!(
                    "https://{s}@o{}.ingest.sentry.io/{}",
                    g.digits(6),
                    g.digits(7)
                ),
                &s[..20],
            )
        }),
        p!(
            "sentry-user-token",
            Observability,
            "SENTRY_AUTH_TOKEN",
            |g| Tok::pre("sntryu_", g.hex(64))
        ),
        p!("sentry-org-token", Observability, "SENTRY_ORG_TOKEN", |g| {
            let claims = format!(
                r#"{{"iat":{}.{},"url":"https://sentry.io","region_url":"https://us.sentry.io","org":"acme-{}"}}"#,
                g.int(1_714_000_000, 1_760_000_000),
                g.digits(6),
                g.word()
            );
            let s = g.b64chars(43);
            Tok::with_core(
                format!("sntrys_{}_{s}", b64_no_pad(claims.as_bytes())),
                &s[..20],
            )
        }),
        p!(
            "grafana-cloud-token",
            Observability,
            "GRAFANA_CLOUD_TOKEN",
            |g| {
                let k = g.alnum(40);
                let claims = format!(
                    r#"{{"o":"{}","n":"stack-{}-otlp","k":"{k}","m":{{"r":"prod-eu-west-2"}}}}"#,
                    g.digits(6),
                    g.digits(6)
                );
                Tok::encoded(format!("glc_{}", b64(claims.as_bytes())), &k[..20])
            }
        ),
        p!(
            "grafana-service-account-token",
            Observability,
            "GRAFANA_SA_TOKEN",
            |g| Tok::pre("glsa_", format!("{}_{}", g.alnum(32), g.hex(8)))
        ),
        p!("grafana-api-key", Observability, "GRAFANA_API_KEY", |g| {
            let k = g.alnum(32);
            Tok::encoded(
                b64(format!(
                    r#"{{"k":"{k}","n":"ci-{}","id":{}}}"#,
                    g.word(),
                    g.int(1, 99)
                )
                .as_bytes()),
                &k[..20],
            )
        }),
        p!("dynatrace-api-token", Observability, "DT_API_TOKEN", |g| {
            Tok::pre(
                "dt0c01.",
                format!("{}.{}", g.upper_alnum(24), g.upper_alnum(64)),
            )
        }),
        p!("axiom-api-token", Observability, "AXIOM_TOKEN", |g| {
            Tok::pre("xaat-", g.uuid())
        }),
        p!("launchdarkly-api-key", Observability, "LD_API_KEY", |g| {
            Tok::pre("api-", g.uuid())
        }),
        p!("launchdarkly-sdk-key", Observability, "LD_SDK_KEY", |g| {
            Tok::pre("sdk-", g.uuid())
        }),
        p!(
            "otlp-headers-basic-auth",
            Observability,
            "OTEL_EXPORTER_OTLP_HEADERS",
            |g| {
                let pw = g.password(40);
                let blob = b64(format!("{}:{pw}", g.digits(6)).as_bytes());
                Tok::encoded(format!("Authorization=Basic%20{blob}"), &pw[..20])
            }
        ),
        k!(
            "datadog-api-key",
            Observability,
            "DD_API_KEY",
            |g| Tok::raw(g.hex(32))
        ),
        k!(
            "datadog-app-key",
            Observability,
            "DD_APP_KEY",
            |g| Tok::raw(g.hex(40))
        ),
        k!(
            "honeycomb-api-key",
            Observability,
            "HONEYCOMB_API_KEY",
            |g| Tok::raw(g.alnum(32))
        ),
        k!("splunk-hec-token", Observability, "SPLUNK_HEC_TOKEN", |g| {
            Tok::raw(g.uuid())
        }),
        k!("elastic-api-key", Observability, "ELASTIC_API_KEY", |g| {
            let key = g.url_safe(22);
            Tok::encoded(
                b64(format!("{}:{key}", g.url_safe(20)).as_bytes()),
                &key[..20],
            )
        }),
        k!(
            "pagerduty-api-token",
            Observability,
            "PAGERDUTY_TOKEN",
            |g| Tok::pre("u+", urlsafe_word(g, 18))
        ),
        k!(
            "rollbar-access-token",
            Observability,
            "ROLLBAR_ACCESS_TOKEN",
            |g| Tok::raw(g.hex(32))
        ),
        k!(
            "sumologic-access-key",
            Observability,
            "SUMO_ACCESS_KEY",
            |g| Tok::raw(g.alnum(64))
        ),
        k!("bugsnag-api-key", Observability, "BUGSNAG_API_KEY", |g| {
            Tok::raw(g.hex(32))
        }),
        k!("opsgenie-api-key", Observability, "OPSGENIE_API_KEY", |g| {
            Tok::raw(g.uuid())
        }),
    ]
}

fn secret_manager_formats() -> Vec<Format> {
    vec![
        p!("vault-service-token", SecretManager, "VAULT_TOKEN", |g| {
            Tok::pre("hvs.", urlsafe_word(g, 91))
        }),
        p!(
            "vault-batch-token",
            SecretManager,
            "VAULT_BATCH_TOKEN",
            |g| Tok::pre("hvb.", urlsafe_word(g, 138))
        ),
        p!(
            "vault-legacy-token",
            SecretManager,
            "VAULT_LEGACY_TOKEN",
            |g| Tok::pre("s.", g.alnum(24))
        ),
        p!(
            "onepassword-service-account-token",
            SecretManager,
            "OP_SERVICE_ACCOUNT_TOKEN",
            |g| onepassword_sa(g)
        ),
        p!(
            "onepassword-secret-key",
            SecretManager,
            "OP_SECRET_KEY",
            |g| {
                let parts: Vec<String> = [6, 6, 5, 5, 5, 5]
                    .iter()
                    .map(|&n| g.upper_alnum(n))
                    .collect();
                let v = format!("A3-{}", parts.join("-"));
                let core = v[3..].to_owned();
                Tok::with_core(v, &core)
            }
        ),
        p!(
            "doppler-personal-token",
            SecretManager,
            "DOPPLER_TOKEN",
            |g| Tok::pre("dp.pt.", g.alnum(43))
        ),
        p!(
            "doppler-service-token",
            SecretManager,
            "DOPPLER_SERVICE_TOKEN",
            |g| Tok::pre("dp.st.prd.", g.alnum(43))
        ),
        p!(
            "doppler-service-account-token",
            SecretManager,
            "DOPPLER_SA_TOKEN",
            |g| Tok::pre("dp.sa.", g.alnum(43))
        ),
        p!(
            "infisical-service-token",
            SecretManager,
            "INFISICAL_TOKEN",
            |g| {
                let s = g.hex(32);
                Tok::with_core(format!("st.{}.{}.{s}", g.uuid(), g.hex(32)), &s[..20])
            }
        ),
        p!(
            "bitwarden-access-token",
            SecretManager,
            "BWS_ACCESS_TOKEN",
            |g| {
                let s = g.alnum(30);
                Tok::with_core(
                    format!("0.{}.{s}:{}", g.uuid(), g.b64_of_random(16)),
                    &s[..20],
                )
            }
        ),
        k!(
            "akeyless-access-key",
            SecretManager,
            "AKEYLESS_ACCESS_KEY",
            |g| Tok::raw(b64_key(g, 32))
        ),
        k!(
            "conjur-api-key",
            SecretManager,
            "CONJUR_AUTHN_API_KEY",
            |g| Tok::raw(g.lower_alnum(53))
        ),
    ]
}

/// A 1Password service-account token: `ops_` + base64 of its JSON (ending in `}` → `fQ`).
fn onepassword_sa(g: &mut Gen) -> Tok {
    let k = urlsafe_word(g, 43);
    let mut json = format!(
        r#"{{"signInAddress":"acme.1password.com","userAuth":{{"method":"SRPg-4096","alg":"PBES2g-HS256","iterations":650000,"salt":"{}"}},"email":"{}@1passwordserviceaccounts.com","srpX":"{}","muk":{{"alg":"A256GCM","ext":true,"k":"{k}","key_ops":["encrypt","decrypt"],"kty":"oct","kid":"mp"}},"deviceUuid":"{}"}}"#,
        urlsafe_word(g, 22),
        g.lower_alnum(13),
        g.hex(64),
        g.lower_alnum(26)
    );
    while json.len() % 3 != 1 {
        json.insert(json.len() - 1, ' ');
    }
    Tok::encoded(format!("ops_{}", b64(json.as_bytes())), &k[..20])
}

fn database_formats() -> Vec<Format> {
    vec![
        p!("postgres-url", Database, "DATABASE_URL", |g| {
            let host = format!("db-{}.internal:5432/payments", g.word());
            db_url(g, "postgres", "app", &host)
        }),
        p!("postgresql-url-sslmode", Database, "PG_URL", |g| db_url(
            g,
            "postgresql",
            "svc_ledger",
            "10.20.3.4:5432/ledger?sslmode=require"
        )),
        p!("mysql-url", Database, "MYSQL_URL", |g| db_url(
            g,
            "mysql",
            "root",
            "mysql.acme.internal:3306/shop"
        )),
        p!("mongodb-srv-url", Database, "MONGODB_URI", |g| {
            let host = format!(
                "cluster0.{}.mongodb.net/prod?retryWrites=true&w=majority",
                g.lower_alnum(5)
            );
            db_url(g, "mongodb+srv", "admin", &host)
        }),
        p!("mongodb-replica-url", Database, "MONGO_URL", |g| db_url(
            g,
            "mongodb",
            "reporting",
            "mongo-0.mongo:27017,mongo-1.mongo:27017/analytics?replicaSet=rs0"
        )),
        p!("redis-url", Database, "REDIS_URL", |g| db_url(
            g,
            "redis",
            "default",
            "redis-14210.c1.eu-west-1-2.ec2.cloud.redislabs.com:14210"
        )),
        p!("rediss-url", Database, "CACHE_URL", |g| db_url(
            g,
            "rediss",
            "",
            "cache.acme.internal:6380/0"
        )),
        p!("amqp-url", Database, "AMQP_URL", |g| db_url(
            g,
            "amqps",
            "orders",
            "rabbit.acme.internal:5671/prod"
        )),
        p!("elasticsearch-url", Database, "ELASTICSEARCH_URL", |g| {
            db_url(g, "https", "elastic", "es.acme.internal:9200")
        }),
        p!("neo4j-url", Database, "NEO4J_URI", |g| db_url(
            g,
            "neo4j+s",
            "neo4j",
            "a1b2c3d4.databases.neo4j.io"
        )),
        p!("snowflake-url", Database, "SNOWFLAKE_URL", |g| db_url(
            g,
            "snowflake",
            "etl_user",
            "acme-xy12345/analytics/public?warehouse=ETL_WH"
        )),
        p!("cockroachdb-url", Database, "COCKROACH_URL", |g| db_url(
            g,
            "postgresql",
            "maxroach",
            "free-tier.gcp-us-central1.cockroachlabs.cloud:26257/defaultdb?sslmode=verify-full"
        )),
        p!("jdbc-postgresql", Database, "JDBC_URL", |g| with_password(
            g,
            "jdbc:postgresql://pg.acme.internal:5432/billing?user=billing&password={pw}&ssl=true"
        )),
        p!("jdbc-mysql", Database, "SPRING_DATASOURCE_URL", |g| {
            with_password(
                g,
                "jdbc:mysql://mysql.acme.internal:3306/crm?user=crm&password={pw}&useSSL=true",
            )
        }),
        p!("jdbc-sqlserver", Database, "JDBC_MSSQL_URL", |g| {
            with_password(g, "jdbc:sqlserver://sql.acme.internal:1433;databaseName=erp;user=erp_app;password={pw};encrypt=true")
        }),
        p!("jdbc-oracle-thin", Database, "ORACLE_JDBC_URL", |g| {
            with_password(
                g,
                "jdbc:oracle:thin:scott/{pw}@//ora.acme.internal:1521/ORCLPDB1",
            )
        }),
        p!("odbc-sqlserver", Database, "ODBC_CONNECTION_STRING", |g| {
            with_password(g, "Driver={ODBC Driver 18 for SQL Server};Server=tcp:acme-sql.database.windows.net,1433;Database=ops;Uid=opsadmin;Pwd={pw};Encrypt=yes;")
        }),
        p!("adonet-sqlserver", Database, "SQLCONNSTR_DEFAULT", |g| {
            with_password(g, "Server=tcp:sql-prod.database.windows.net,1433;Initial Catalog=app;User ID=appuser;Password={pw};Encrypt=True;")
        }),
        p!(
            "planetscale-password",
            Database,
            "PLANETSCALE_PASSWORD",
            |g| Tok::pre("pscale_pw_", urlsafe_word(g, 43))
        ),
        p!(
            "planetscale-service-token",
            Database,
            "PLANETSCALE_SERVICE_TOKEN",
            |g| Tok::pre("pscale_tkn_", urlsafe_word(g, 43))
        ),
        p!(
            "clickhouse-cloud-key-secret",
            Database,
            "CLICKHOUSE_KEY_SECRET",
            |g| Tok::pre("4b1d", g.alnum(38))
        ),
        p!(
            "supabase-service-role-key",
            Database,
            "SUPABASE_SERVICE_ROLE_KEY",
            |g| {
                let claims = format!(
                    r#"{{"iss":"supabase","ref":"{}","role":"service_role","iat":{},"exp":2089000000}}"#,
                    g.lower_alnum(20),
                    g.int(1_700_000_000, 1_760_000_000)
                );
                jwt_tok(g, &claims)
            }
        ),
        k!(
            "upstash-redis-rest-token",
            Database,
            "UPSTASH_REDIS_REST_TOKEN",
            |g| Tok::pre("AX", g.b64chars(58))
        ),
    ]
}

/// A generic JWT session token (for cookies and bearer headers).
pub fn session_jwt(g: &mut Gen) -> Tok {
    let claims = format!(
        r#"{{"sub":"{}","sid":"{}","scope":"read write","iat":{}}}"#,
        g.uuid(),
        g.hex(16),
        g.int(1_714_000_000, 1_760_000_000)
    );
    jwt_tok(g, &claims)
}

/// Whether every id is unique (checked by the corpus tests).
pub fn ids_unique(formats: &[Format]) -> bool {
    let mut ids: Vec<&str> = formats.iter().map(|f| f.id).collect();
    ids.sort_unstable();
    ids.windows(2).all(|w| w[0] != w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_carry_the_prefixes_scanners_know() {
        let mut g = Gen::new(7);
        let pypi = pypi(&mut g, "pypi.org");
        assert!(
            pypi.value.starts_with("pypi-AgEIcHlwaS5vcmc"),
            "{}",
            pypi.value
        );
        let test = pypi_test(&mut g);
        assert!(test.starts_with("pypi-AgENdGVzdC5weXBpLm9yZw"), "{test}");
        let sts = aws_session_token(&mut g);
        assert!(sts.value.starts_with("IQoJb3JpZ2luX2Vj"), "{}", sts.value);
        let op = onepassword_sa(&mut g);
        assert!(
            op.value.starts_with("ops_eyJ") && op.value.ends_with("fQ=="),
            "{}",
            op.value
        );
        let f = credential_formats();
        assert!(ids_unique(&f));
        for format in &f {
            let t = (format.make)(&mut g);
            assert!(t.value.contains(&t.core), "{}", format.id);
            assert!(
                t.core.len() >= 12 || t.core == t.value,
                "{}: {}",
                format.id,
                t.core
            );
        }
        let gh = checksummed(&mut g, "ghp_");
        assert_eq!(gh.value.len(), 40);
        assert_eq!(&gh.value[34..], gen::crc32_base62(&gh.value[4..34]));
    }

    fn pypi_test(g: &mut Gen) -> String {
        pypi(g, "test.pypi.org").value
    }
}
