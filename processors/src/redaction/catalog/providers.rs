//! Provider credentials: tokens with a recognisable prefix or shape, grouped by provider.

use super::super::checks;
use super::super::detectors::{Category, Def};
use super::super::pii::Word;
use super::{
    at_word, is_alnum, keyed, random, token, word, Check, Edge, Format, How, On, Start, WordStart,
};

const fn def(
    name: &'static str,
    category: Category,
    what: &'static str,
    formats: &'static [Format],
) -> Def {
    Def {
        name,
        category,
        pii: None,
        what,
        formats,
    }
}

// ---- AI ------------------------------------------------------------------------------------

pub(crate) const ANTHROPIC: Def = def(
    "anthropic",
    Category::Ai,
    "Anthropic API, admin and OAuth keys (`sk-ant-…`).",
    &[
        token(
            "API key `sk-ant-api03-…`",
            &["sk-ant-api"],
            r"sk-ant-api[0-9]{2}-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "admin key `sk-ant-admin01-…`",
            &["sk-ant-admin"],
            r"sk-ant-admin[0-9]{2}-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "OAuth access token `sk-ant-oat01-…` (Claude Code)",
            &["sk-ant-oat"],
            r"sk-ant-oat[0-9]{2}-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "OAuth refresh token `sk-ant-ort01-…`",
            &["sk-ant-ort"],
            r"sk-ant-ort[0-9]{2}-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "any other `sk-ant-` key of 10+ characters",
            &["sk-ant-"],
            r"sk-ant-[A-Za-z0-9_-]{10,}",
        ),
    ],
);

pub(crate) const OPENROUTER: Def = def(
    "openrouter",
    Category::Ai,
    "OpenRouter API keys (`sk-or-v1-…`).",
    &[token(
        "API key `sk-or-v1-` + 64 hex",
        &["sk-or-"],
        r"sk-or-(?:v[0-9]-)?[A-Za-z0-9_-]{20,}",
    )],
);

pub(crate) const LANGFUSE: Def = def(
    "langfuse",
    Category::Ai,
    "Langfuse secret keys (`sk-lf-…`).",
    &[token(
        "secret key `sk-lf-…`",
        &["sk-lf-"],
        r"sk-lf-[A-Za-z0-9-]{20,}",
    )],
);

/// `sk-` keys that belong to other detectors.
const NOT_OPENAI: &[&str] = &["sk-ant-", "sk-or-", "sk-lf-"];

pub(crate) const OPENAI: Def = def(
    "openai",
    Category::Ai,
    "OpenAI keys (`sk-proj-…`, `sk-svcacct-…`, `sk-admin-…`, legacy `sk-…T3BlbkFJ…`) and other \
     `sk-` keys of OpenAI-compatible providers (DeepSeek, Stability, ...).",
    &[
        token(
            "project key `sk-proj-…`",
            &["sk-proj-"],
            r"sk-proj-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "service-account key `sk-svcacct-…`",
            &["sk-svcacct-"],
            r"sk-svcacct-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "admin key `sk-admin-…`",
            &["sk-admin-"],
            r"sk-admin-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "legacy user key `sk-` + 20 + `T3BlbkFJ` + 20",
            &["sk-"],
            r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}",
        ),
        Format {
            what:
                "any other `sk-` key of 10+ characters (`sk-live-…`, DeepSeek `sk-` + 32 hex, ...)",
            on: On::Lit {
                lits: &["sk-"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"sk-[A-Za-z0-9_-]{10,}",
                Edge::Before,
                Check::NotPrefixed(NOT_OPENAI),
            ),
        },
    ],
);

pub(crate) const HUGGINGFACE: Def = def(
    "huggingface",
    Category::Ai,
    "Hugging Face user and organization tokens.",
    &[
        token("user access token `hf_…`", &["hf_"], r"hf_[A-Za-z0-9]{30,}"),
        token(
            "organization API token `api_org_…`",
            &["api_org_"],
            r"api_org_[A-Za-z0-9]{30,}",
        ),
    ],
);

pub(crate) const GROQ: Def = def(
    "groq",
    Category::Ai,
    "Groq API keys.",
    &[token("API key `gsk_…`", &["gsk_"], r"gsk_[A-Za-z0-9]{40,}")],
);
pub(crate) const REPLICATE: Def = def(
    "replicate",
    Category::Ai,
    "Replicate API tokens.",
    &[token("API token `r8_…`", &["r8_"], r"r8_[A-Za-z0-9]{30,}")],
);
pub(crate) const PERPLEXITY: Def = def(
    "perplexity",
    Category::Ai,
    "Perplexity API keys.",
    &[token(
        "API key `pplx-…`",
        &["pplx-"],
        r"pplx-[A-Za-z0-9]{32,}",
    )],
);
pub(crate) const XAI: Def = def(
    "xai",
    Category::Ai,
    "xAI (Grok) API keys.",
    &[token("API key `xai-…`", &["xai-"], r"xai-[A-Za-z0-9]{60,}")],
);
pub(crate) const FIREWORKS: Def = def(
    "fireworks",
    Category::Ai,
    "Fireworks AI API keys.",
    &[token("API key `fw_…`", &["fw_"], r"fw_[A-Za-z0-9]{20,}")],
);
pub(crate) const LANGSMITH: Def = def(
    "langsmith",
    Category::Ai,
    "LangSmith personal and service keys.",
    &[
        token(
            "personal access token `lsv2_pt_…`",
            &["lsv2_pt_"],
            r"lsv2_pt_[A-Za-z0-9_]{30,}",
        ),
        token(
            "service key `lsv2_sk_…`",
            &["lsv2_sk_"],
            r"lsv2_sk_[A-Za-z0-9_]{30,}",
        ),
    ],
);
pub(crate) const PINECONE: Def = def(
    "pinecone",
    Category::Ai,
    "Pinecone API keys.",
    &[token(
        "API key `pcsk_…`",
        &["pcsk_"],
        r"pcsk_[A-Za-z0-9_]{40,}",
    )],
);
pub(crate) const NVIDIA: Def = def(
    "nvidia",
    Category::Ai,
    "NVIDIA NGC / NIM API keys.",
    &[token(
        "API key `nvapi-…`",
        &["nvapi-"],
        r"nvapi-[A-Za-z0-9_-]{40,}",
    )],
);
pub(crate) const ELEVENLABS: Def = def(
    "elevenlabs",
    Category::Ai,
    "ElevenLabs API keys.",
    &[word("API key `sk_` + 48 hex", &["sk_"], r"sk_[a-f0-9]{48}")],
);
pub(crate) const ANYSCALE: Def = def(
    "anyscale",
    Category::Ai,
    "Anyscale API keys.",
    &[token(
        "API key `esecret_…`",
        &["esecret_"],
        r"esecret_[A-Za-z0-9]{20,}",
    )],
);

// ---- source hosting --------------------------------------------------------------------------

pub(crate) const GITHUB: Def = def(
    "github",
    Category::SourceHosting,
    "GitHub tokens of every kind (also used for GHCR and GitHub Packages).",
    &[
        token(
            "classic personal access token `ghp_…`",
            &["ghp_"],
            r"ghp_[A-Za-z0-9]{20,}",
        ),
        token(
            "fine-grained personal access token `github_pat_…`",
            &["github_pat_"],
            r"github_pat_[A-Za-z0-9_]{20,}",
        ),
        token(
            "OAuth access token `gho_…`",
            &["gho_"],
            r"gho_[A-Za-z0-9]{20,}",
        ),
        token(
            "GitHub App user-to-server token `ghu_…`",
            &["ghu_"],
            r"ghu_[A-Za-z0-9]{20,}",
        ),
        token(
            "GitHub App installation (server-to-server) token `ghs_…`",
            &["ghs_"],
            r"ghs_[A-Za-z0-9_.-]{20,}",
        ),
        token(
            "GitHub App refresh token `ghr_…`",
            &["ghr_"],
            r"ghr_[A-Za-z0-9]{20,}",
        ),
    ],
);

pub(crate) const GITLAB: Def = def(
    "gitlab",
    Category::SourceHosting,
    "GitLab tokens of every kind (`gl…-` prefixes, runner registration, session cookie).",
    &[
        token(
            "personal/project/group access token `glpat-…` (also routable)",
            &["glpat-"],
            r"glpat-[A-Za-z0-9_.-]{20,}",
        ),
        token(
            "deploy token `gldt-…`",
            &["gldt-"],
            r"gldt-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "feed token `glft-…`",
            &["glft-"],
            r"glft-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "SCIM token `glsoat-…`",
            &["glsoat-"],
            r"glsoat-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "runner authentication token `glrt-…`",
            &["glrt-"],
            r"glrt-[A-Za-z0-9_.-]{20,}",
        ),
        token(
            "CI/CD job token `glcbt-…`",
            &["glcbt-"],
            r"glcbt-[A-Za-z0-9_.-]{20,}",
        ),
        token(
            "incoming mail token `glimt-…`",
            &["glimt-"],
            r"glimt-[A-Za-z0-9_-]{25,}",
        ),
        token(
            "pipeline trigger token `glptt-…`",
            &["glptt-"],
            r"glptt-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "agent for Kubernetes token `glagent-…`",
            &["glagent-"],
            r"glagent-[A-Za-z0-9_-]{50,}",
        ),
        token(
            "OAuth application secret `gloas-…`",
            &["gloas-"],
            r"gloas-[A-Za-z0-9_-]{64,}",
        ),
        token(
            "feature flags client token `glffct-…`",
            &["glffct-"],
            r"glffct-[A-Za-z0-9_-]{20,}",
        ),
        token(
            "runner registration token `GR1348941…`",
            &["GR1348941"],
            r"GR1348941[A-Za-z0-9_-]{20,}",
        ),
        keyed(
            "session cookie `_gitlab_session=`",
            &["_gitlab_session="],
            r"_gitlab_session=(?P<secret>[A-Za-z0-9]{20,})",
        ),
    ],
);

pub(crate) const ATLASSIAN: Def = def(
    "atlassian",
    Category::SourceHosting,
    "Atlassian API tokens and Bitbucket app passwords and access tokens.",
    &[
        token(
            "Atlassian API token `ATATT3…`",
            &["ATATT3"],
            r"ATATT3[A-Za-z0-9_=-]{60,}",
        ),
        token(
            "Bitbucket app password `ATBB…`",
            &["ATBB"],
            r"ATBB[A-Za-z0-9_=.-]{28,}",
        ),
        token(
            "Bitbucket/Atlassian access token `ATCTT3…`",
            &["ATCTT3"],
            r"ATCTT3[A-Za-z0-9_=-]{40,}",
        ),
    ],
);

pub(crate) const SOURCEGRAPH: Def = def(
    "sourcegraph",
    Category::SourceHosting,
    "Sourcegraph access tokens.",
    &[token(
        "access token `sgp_…`",
        &["sgp_"],
        r"sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}",
    )],
);

// ---- CI/CD ------------------------------------------------------------------------------------

pub(crate) const CIRCLECI: Def = def(
    "circleci",
    Category::CiCd,
    "CircleCI personal and project API tokens.",
    &[
        token(
            "personal API token `CCIPAT_…`",
            &["CCIPAT_"],
            r"CCIPAT_[A-Za-z0-9]{20,}_[a-f0-9]{40}",
        ),
        token(
            "project API token `CCIPRJ_…`",
            &["CCIPRJ_"],
            r"CCIPRJ_[A-Za-z0-9]{20,}_[a-f0-9]{40}",
        ),
    ],
);
pub(crate) const BUILDKITE: Def = def(
    "buildkite",
    Category::CiCd,
    "Buildkite API access tokens.",
    &[token(
        "user access token `bkua_` + 40 hex",
        &["bkua_"],
        r"bkua_[a-f0-9]{40}",
    )],
);
pub(crate) const VERCEL: Def = def(
    "vercel",
    Category::CiCd,
    "Vercel tokens.",
    &[
        token("personal token `vcp_…`", &["vcp_"], r"vcp_[A-Za-z0-9]{20,}"),
        token(
            "integration token `vci_…`",
            &["vci_"],
            r"vci_[A-Za-z0-9]{20,}",
        ),
        token(
            "app access token `vca_…`",
            &["vca_"],
            r"vca_[A-Za-z0-9]{20,}",
        ),
        token(
            "app refresh token `vcr_…`",
            &["vcr_"],
            r"vcr_[A-Za-z0-9]{20,}",
        ),
        token("API key `vck_…`", &["vck_"], r"vck_[A-Za-z0-9]{20,}"),
    ],
);
pub(crate) const NETLIFY: Def = def(
    "netlify",
    Category::CiCd,
    "Netlify personal access tokens.",
    &[token(
        "personal access token `nfp_…`",
        &["nfp_"],
        r"nfp_[A-Za-z0-9]{36,}",
    )],
);
pub(crate) const HEROKU: Def = def(
    "heroku",
    Category::CiCd,
    "Heroku API keys (new format; older UUID keys are caught by `HEROKU_API_KEY=` context).",
    &[token(
        "API key `HRKU-AA…`",
        &["HRKU-"],
        r"HRKU-[A-Za-z0-9_-]{58,}",
    )],
);
pub(crate) const FLYIO: Def = def(
    "flyio",
    Category::CiCd,
    "Fly.io access and macaroon tokens.",
    &[
        token("access token `fo1_…`", &["fo1_"], r"fo1_[A-Za-z0-9_-]{40,}"),
        token(
            "macaroon token `fm1a_…`/`fm1r_…`",
            &["fm1a_", "fm1r_"],
            r"fm1[ar]_[A-Za-z0-9+/_-]{60,}={0,3}",
        ),
        token(
            "macaroon token `fm2_…` (also after `FlyV1 `)",
            &["fm2_"],
            r"fm2_[A-Za-z0-9+/_-]{60,}={0,3}",
        ),
    ],
);
pub(crate) const RENDER: Def = def(
    "render",
    Category::CiCd,
    "Render API keys.",
    &[token("API key `rnd_…`", &["rnd_"], r"rnd_[A-Za-z0-9]{32,}")],
);
pub(crate) const TERRAFORM_CLOUD: Def = def(
    "terraform_cloud",
    Category::CiCd,
    "Terraform Cloud / HCP Terraform user and team tokens.",
    &[Format {
        what: "API token `<14>.atlasv1.<60+>`",
        on: On::Lit {
            lits: &[".atlasv1."],
            exact: true,
            start: Start::Back(is_alnum, 14),
        },
        how: How::Re(
            r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}",
            Edge::Free,
            Check::None,
        ),
    }],
);
pub(crate) const PULUMI: Def = def(
    "pulumi",
    Category::CiCd,
    "Pulumi access tokens (also Pulumi ESC).",
    &[token(
        "access token `pul-` + 40 hex",
        &["pul-"],
        r"pul-[a-f0-9]{40}",
    )],
);
pub(crate) const TAILSCALE: Def = def(
    "tailscale",
    Category::CiCd,
    "Tailscale auth, API and OAuth client keys.",
    &[token(
        "key `tskey-<kind>-…`",
        &["tskey-"],
        r"tskey-[a-z]+-[A-Za-z0-9_-]{10,}",
    )],
);
pub(crate) const SONARQUBE: Def = def(
    "sonarqube",
    Category::CiCd,
    "SonarQube / SonarCloud tokens.",
    &[
        token("user token `squ_…`", &["squ_"], r"squ_[a-f0-9]{40}"),
        token(
            "project analysis token `sqp_…`",
            &["sqp_"],
            r"sqp_[a-f0-9]{40}",
        ),
        token(
            "global analysis token `sqa_…`",
            &["sqa_"],
            r"sqa_[a-f0-9]{40}",
        ),
    ],
);
pub(crate) const OCTOPUS_DEPLOY: Def = def(
    "octopus_deploy",
    Category::CiCd,
    "Octopus Deploy API keys.",
    &[word("API key `API-` + 26", &["API-"], r"API-[A-Z0-9]{26}")],
);
pub(crate) const HARNESS: Def = def(
    "harness",
    Category::CiCd,
    "Harness personal and service-account tokens.",
    &[
        token(
            "personal access token `pat.…`",
            &["pat."],
            r"pat\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}",
        ),
        token(
            "service account token `sat.…`",
            &["sat."],
            r"sat\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}",
        ),
    ],
);
pub(crate) const INFRACOST: Def = def(
    "infracost",
    Category::CiCd,
    "Infracost API tokens.",
    &[token(
        "API token `ico-…`",
        &["ico-"],
        r"ico-[A-Za-z0-9]{32}",
    )],
);
pub(crate) const PREFECT: Def = def(
    "prefect",
    Category::CiCd,
    "Prefect API keys.",
    &[token("API key `pnu_…`", &["pnu_"], r"pnu_[A-Za-z0-9]{36}")],
);
pub(crate) const POSTMAN: Def = def(
    "postman",
    Category::CiCd,
    "Postman API keys.",
    &[token(
        "API key `PMAK-…`",
        &["PMAK-"],
        r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
    )],
);
pub(crate) const SCALINGO: Def = def(
    "scalingo",
    Category::CiCd,
    "Scalingo API tokens.",
    &[token(
        "API token `tk-us-…`",
        &["tk-us-"],
        r"tk-us-[A-Za-z0-9_-]{48}",
    )],
);
pub(crate) const JENKINS: Def = def(
    "jenkins",
    Category::CiCd,
    "Jenkins API tokens (`11` and 32 hex digits, 34 in all).",
    &[super::word(
        "API token `11<32 hex>`",
        &["11"],
        r"11[0-9a-f]{32}",
    )],
);
pub(crate) const OPENSHIFT: Def = def(
    "openshift",
    Category::CiCd,
    "OpenShift OAuth access tokens (`sha256~…`, what `oc whoami -t` prints).",
    &[token(
        "OAuth access token `sha256~<43 base64url>`",
        &["sha256~"],
        r"sha256~[A-Za-z0-9_-]{43}",
    )],
);

// ---- cloud -------------------------------------------------------------------------------------

pub(crate) const AWS: Def = def(
    "aws",
    Category::Cloud,
    "AWS access key ids, secret access keys (after their name, or near a key id), session \
     tokens and Bedrock API keys.",
    &[
        Format {
            what: "long-term access key id `AKIA` + 16",
            on: On::Lit {
                lits: &["AKIA"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(r"AKIA[A-Z0-9]{16}", Edge::Free, Check::None),
        },
        Format {
            what: "temporary access key id `ASIA` + 16",
            on: On::Lit {
                lits: &["ASIA"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(r"ASIA[A-Z0-9]{16}", Edge::Free, Check::None),
        },
        Format {
            what: "other access key ids (`ABIA`, `ACCA`, `A3T…`)",
            on: On::Lit {
                lits: &["ABIA", "ACCA", "A3T"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"(?:ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
                Edge::Free,
                Check::None,
            ),
        },
        keyed(
            "secret access key after `aws_secret_access_key`, `SecretAccessKey`, `secret_key`, ...",
            &[
                "aws_secret_access_key",
                "secretaccesskey",
                "secret_access_key",
                "aws_secret_key",
            ],
            r#"(?i:aws_secret_access_key|secretaccesskey|secret_access_key|aws_secret_key)\\?["']?[ \t]*(?::=|=>|[:=,])[ \t]*\\?["']?(?P<secret>[A-Za-z0-9/+=]{16,})"#,
        ),
        Format {
            what:
                "secret access key (40 characters) within 300 bytes of an access key id, without \
                   its name (CSV exports, `aws configure` echoes)",
            on: On::Lit {
                lits: &["AKIA", "ASIA"],
                exact: true,
                start: Start::At,
            },
            how: How::Fn(aws_secret_nearby),
        },
        token(
            "session token (`IQoJb3JpZ2lu…`, `FwoGZXIvYXdz…`)",
            &["IQoJb3JpZ2lu", "FwoGZXIvYXdz", "FQoGZXIvYXdz"],
            r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{40,}",
        ),
        token(
            "Bedrock long-term API key `ABSK…`",
            &["ABSK"],
            r"ABSK[A-Za-z0-9+/]{100,}={0,2}",
        ),
        token(
            "Bedrock short-term API key `bedrock-api-key-…`",
            &["bedrock-api-key-"],
            r"bedrock-api-key-[A-Za-z0-9+/=%&?._-]{20,}",
        ),
    ],
);

pub(crate) const GOOGLE_API_KEY: Def = def(
    "google_api_key",
    Category::Cloud,
    "Google API keys (`AIza…`): Google Cloud, Gemini / AI Studio, Firebase, Maps.",
    &[Format {
        what: "API key `AIza` + 35",
        on: On::Lit {
            lits: &["AIza"],
            exact: true,
            start: Start::At,
        },
        how: How::Re(r"AIza[A-Za-z0-9_-]{30,}", Edge::Free, Check::None),
    }],
);

pub(crate) const GCP: Def = def(
    "gcp",
    Category::Cloud,
    "Google Cloud OAuth secrets and tokens, service-account key ids, FCM server keys.",
    &[
        token(
            "OAuth client secret `GOCSPX-…`",
            &["GOCSPX-"],
            r"GOCSPX-[A-Za-z0-9_-]{24,}",
        ),
        token(
            "OAuth refresh token `1//0…`",
            &["1//"],
            r"1//0[A-Za-z0-9_-]{30,}",
        ),
        token(
            "OAuth access token `ya29.…`",
            &["ya29."],
            r"ya29\.[A-Za-z0-9_-]{30,}",
        ),
        keyed(
            "service-account key `private_key_id` (the PEM `private_key` is `private_key`'s; \
             `client_email` is an address and `email`'s; `client_id` is a public id, kept)",
            &["private_key_id"],
            r#"private_key_id\\?["']?[ \t]*[:=][ \t]*\\?["']?(?P<secret>[A-Za-z0-9]{16,})"#,
        ),
        Format {
            what: "Firebase Cloud Messaging server key `AAAA…:APA91b…`",
            on: On::Lit {
                lits: &[":APA91b"],
                exact: true,
                start: Start::Fixed(11),
            },
            how: How::Re(
                r"AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{100,}",
                Edge::Before,
                Check::None,
            ),
        },
    ],
);

pub(crate) const AZURE: Def = def(
    "azure",
    Category::Cloud,
    "Azure storage and Cosmos DB account keys, Service Bus / Event Hubs / IoT shared access \
     keys, SAS signatures, Entra ID (AD) client secrets, Azure DevOps personal access tokens.",
    &[
        keyed(
            "`AccountKey=` in storage / Cosmos DB connection strings",
            &["accountkey="],
            r"(?i:AccountKey)=(?P<secret>[A-Za-z0-9+/]{40,}={0,2})",
        ),
        keyed(
            "`SharedAccessKey=` in Service Bus / Event Hubs / IoT Hub connection strings",
            &["sharedaccesskey="],
            r"(?i:SharedAccessKey)=(?P<secret>[A-Za-z0-9+/]{30,}={0,2})",
        ),
        Format {
            what: "SAS signature `sig=` in a URL query or SAS token",
            on: On::Lit {
                lits: &["sig="],
                exact: false,
                start: Start::At,
            },
            how: How::Re(
                r"(?i:sig)=(?P<secret>[A-Za-z0-9%+/=_-]{20,})",
                Edge::Free,
                Check::Param,
            ),
        },
        Format {
            what: "Entra ID (Azure AD) client secret `xxx8Q~…`",
            on: On::Lit {
                lits: &["Q~"],
                exact: true,
                start: Start::Fixed(4),
            },
            how: How::Re(
                r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
                Edge::Before,
                Check::None,
            ),
        },
        Format {
            what: "Azure DevOps personal access token (84 characters with `AZDO` signature)",
            on: On::Lit {
                lits: &["AZDO"],
                exact: true,
                start: Start::Fixed(76),
            },
            how: How::Re(
                r"[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}",
                Edge::Both,
                Check::None,
            ),
        },
    ],
);

pub(crate) const DIGITALOCEAN: Def = def(
    "digitalocean",
    Category::Cloud,
    "DigitalOcean tokens.",
    &[
        token(
            "personal access token `dop_v1_…`",
            &["dop_v1_"],
            r"dop_v1_[a-f0-9]{64}",
        ),
        token(
            "OAuth access token `doo_v1_…`",
            &["doo_v1_"],
            r"doo_v1_[a-f0-9]{64}",
        ),
        token(
            "OAuth refresh token `dor_v1_…`",
            &["dor_v1_"],
            r"dor_v1_[a-f0-9]{64}",
        ),
    ],
);
pub(crate) const ALIBABA: Def = def(
    "alibaba",
    Category::Cloud,
    "Alibaba Cloud AccessKey ids (the secret is caught by its key name).",
    &[word(
        "AccessKey id `LTAI…`",
        &["LTAI"],
        r"LTAI[A-Za-z0-9]{12,20}",
    )],
);
pub(crate) const TENCENT: Def = def(
    "tencent",
    Category::Cloud,
    "Tencent Cloud SecretIds.",
    &[word("SecretId `AKID…`", &["AKID"], r"AKID[A-Za-z0-9]{32}")],
);
pub(crate) const CLOUDFLARE: Def = def(
    "cloudflare",
    Category::Cloud,
    "Cloudflare API tokens and Origin CA keys (the global API key is caught by its `X-Auth-Key` header).",
    &[
        token("user API token `cfut_…`", &["cfut_"], r"cfut_[A-Za-z0-9]{40}[a-f0-9]{8}"),
        token("account API token `cfat_…`", &["cfat_"], r"cfat_[A-Za-z0-9]{40}[a-f0-9]{8}"),
        token("API key `cfk_…`", &["cfk_"], r"cfk_[A-Za-z0-9]{40}[a-f0-9]{8}"),
        token("Origin CA key `v1.0-…`", &["v1.0-"], r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    ],
);
pub(crate) const SCALEWAY: Def = def(
    "scaleway",
    Category::Cloud,
    "Scaleway access key ids.",
    &[word("access key id `SCW…`", &["SCW"], r"SCW[A-Z0-9]{17}")],
);
pub(crate) const YANDEX: Def = def(
    "yandex",
    Category::Cloud,
    "Yandex Cloud API keys, IAM tokens and static access keys.",
    &[
        word("API key `AQVN…`", &["AQVN"], r"AQVN[A-Za-z0-9_-]{35,38}"),
        word(
            "static access key id `YC…`",
            &["YC"],
            r"YC[A-Za-z0-9_-]{38}",
        ),
        token(
            "IAM token `t1.…`",
            &["t1."],
            r"t1\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]{86}={0,2}",
        ),
    ],
);
pub(crate) const BACKBLAZE: Def = def(
    "backblaze",
    Category::Cloud,
    "Backblaze B2 application keys.",
    &[word(
        "application key `K00…`",
        &["K00"],
        r"K00[A-Za-z0-9+/]{28,}",
    )],
);

// ---- registries ----------------------------------------------------------------------------------

pub(crate) const NPM: Def = def(
    "npm",
    Category::Registry,
    "npm access tokens (`_authToken=` values of any shape are caught by `assignment`).",
    &[token(
        "access token `npm_…`",
        &["npm_"],
        r"npm_[A-Za-z0-9]{36,}",
    )],
);
pub(crate) const PYPI: Def = def(
    "pypi",
    Category::Registry,
    "PyPI and TestPyPI upload tokens.",
    &[
        token(
            "pypi.org token `pypi-AgEIcHlwaS5vcmc…`",
            &["pypi-AgEIcHlwaS5vcmc"],
            r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}",
        ),
        token(
            "test.pypi.org token `pypi-AgENdGVzdC5weXBpLm9yZw…`",
            &["pypi-AgENdGVzdC5weXBpLm9yZw"],
            r"pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{40,}",
        ),
    ],
);
pub(crate) const RUBYGEMS: Def = def(
    "rubygems",
    Category::Registry,
    "RubyGems API keys.",
    &[token(
        "API key `rubygems_` + 48 hex",
        &["rubygems_"],
        r"rubygems_[a-f0-9]{48}",
    )],
);
pub(crate) const NUGET: Def = def(
    "nuget",
    Category::Registry,
    "NuGet.org API keys.",
    &[word("API key `oy2` + 43", &["oy2"], r"oy2[a-z0-9]{43}")],
);
pub(crate) const CRATES_IO: Def = def(
    "crates_io",
    Category::Registry,
    "crates.io API tokens.",
    &[word(
        "API token `cio` + 32",
        &["cio"],
        r"cio[A-Za-z0-9]{32}",
    )],
);
pub(crate) const DOCKER_HUB: Def = def(
    "docker_hub",
    Category::Registry,
    "Docker Hub access tokens (docker `config.json` `auth` values are `base64_credentials`').",
    &[
        token(
            "personal access token `dckr_pat_…`",
            &["dckr_pat_"],
            r"dckr_pat_[A-Za-z0-9_-]{27,}",
        ),
        token(
            "organization access token `dckr_oat_…`",
            &["dckr_oat_"],
            r"dckr_oat_[A-Za-z0-9_-]{27,}",
        ),
    ],
);
pub(crate) const JFROG: Def = def(
    "jfrog",
    Category::Registry,
    "JFrog Artifactory API keys and reference tokens.",
    &[
        word("API key `AKCp…`", &["AKCp"], r"AKCp[A-Za-z0-9]{60,}"),
        word(
            "reference token `cmVmd…`",
            &["cmVmd"],
            r"cmVmd[A-Za-z0-9]{59}",
        ),
    ],
);
pub(crate) const CLOJARS: Def = def(
    "clojars",
    Category::Registry,
    "Clojars deploy tokens.",
    &[keyed(
        "deploy token `CLOJARS_…`",
        &["clojars_"],
        r"(?i:CLOJARS_)[a-z0-9]{60}",
    )],
);

// ---- chat and webhooks ----------------------------------------------------------------------------

pub(crate) const SLACK: Def = def(
    "slack",
    Category::Chat,
    "Slack bot, user, app-level, workspace and configuration tokens.",
    &[
        token("bot token `xoxb-…`", &["xoxb-"], r"xoxb-[A-Za-z0-9-]{10,}"),
        token("user token `xoxp-…`", &["xoxp-"], r"xoxp-[A-Za-z0-9-]{10,}"),
        token(
            "app-level token `xapp-…`",
            &["xapp-"],
            r"xapp-[A-Za-z0-9-]{10,}",
        ),
        token(
            "workspace and legacy tokens `xoxa-`, `xoxr-`, `xoxo-`, `xoxs-`",
            &["xoxa-", "xoxr-", "xoxo-", "xoxs-"],
            r"xox[aors]-[A-Za-z0-9-]{10,}",
        ),
        token(
            "configuration refresh token `xoxe-…`",
            &["xoxe-"],
            r"xoxe-[A-Za-z0-9-]{10,}",
        ),
        token(
            "configuration access token `xoxe.xoxp-…`",
            &["xoxe."],
            r"xoxe\.xox[bp]-[A-Za-z0-9-]{10,}",
        ),
    ],
);
pub(crate) const SLACK_WEBHOOK: Def = def(
    "slack_webhook",
    Category::Chat,
    "Slack incoming-webhook and workflow URLs (the path after the host is replaced).",
    &[
        keyed(
            "incoming webhook `hooks.slack.com/services/T…/B…/…`",
            &["hooks.slack.com/services/"],
            r"hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9_/]{20,})",
        ),
        keyed(
            "workflow / trigger URL `hooks.slack.com/workflows|triggers/…`",
            &["hooks.slack.com/workflows/", "hooks.slack.com/triggers/"],
            r"hooks\.slack\.com/(?:workflows|triggers)/(?P<secret>[A-Za-z0-9_/]{20,})",
        ),
    ],
);
pub(crate) const DISCORD: Def = def(
    "discord",
    Category::Chat,
    "Discord webhook URLs and bot tokens.",
    &[
        keyed(
            "webhook URL `discord.com/api/webhooks/<id>/<token>`",
            &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
            r"discord(?:app)?\.com/api/webhooks/[0-9]{15,20}/(?P<secret>[A-Za-z0-9_-]{40,})",
        ),
        at_word(
            "bot token `M…/N…/O….<6>.<27+>`",
            WordStart::Upper,
            discord_bot_token,
        ),
    ],
);
pub(crate) const TEAMS_WEBHOOK: Def = def(
    "teams_webhook",
    Category::Chat,
    "Microsoft Teams incoming-webhook URLs (Power Automate workflow URLs are caught by their `sig=`).",
    &[keyed("incoming webhook `….webhook.office.com/webhookb2/…`", &["webhook.office.com/webhookb2/"], r"webhook\.office\.com/webhookb2/(?P<secret>[A-Za-z0-9@/_-]{40,})")],
);
pub(crate) const TELEGRAM: Def = def(
    "telegram",
    Category::Chat,
    "Telegram bot tokens.",
    &[Format {
        what: "bot token `<bot id>:AA…`",
        on: On::Lit {
            lits: &[":AA"],
            exact: true,
            start: Start::Back(super::is_digit, 12),
        },
        how: How::Re(r"[0-9]{5,12}:AA[A-Za-z0-9_-]{33}", Edge::Both, Check::None),
    }],
);
pub(crate) const ZAPIER_WEBHOOK: Def = def(
    "zapier_webhook",
    Category::Chat,
    "Zapier catch-hook URLs.",
    &[keyed(
        "catch hook `hooks.zapier.com/hooks/catch/…`",
        &["hooks.zapier.com/hooks/catch/"],
        r"hooks\.zapier\.com/hooks/catch/(?P<secret>[0-9]+/[A-Za-z0-9]+)",
    )],
);
pub(crate) const CHAT_WEBHOOK: Def = def(
    "chat_webhook",
    Category::Chat,
    "Self-hosted chat webhooks: Mattermost / Rocket.Chat / Gitea-style `https://<host>/hooks/<id>` \
     (the id is the credential; a random id of 20+ characters is replaced).",
    &[
        Format {
            what: "incoming webhook `https://<host>/hooks/<random id>[/<token>]`",
            on: On::Lit {
                lits: &["/hooks/"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"/hooks/(?P<secret>[A-Za-z0-9_-]{20,}(?:/[A-Za-z0-9_-]{20,})?)",
                Edge::Free,
                Check::Random,
            ),
        },
    ],
);

// ---- payments ----------------------------------------------------------------------------------------

pub(crate) const STRIPE: Def = def(
    "stripe",
    Category::Payments,
    "Stripe secret and restricted keys and webhook signing secrets (same shape: Paystack).",
    &[
        Format {
            what: "secret key `sk_live_…` / `sk_test_…`",
            on: On::Lit {
                lits: &["sk_live_", "sk_test_", "sk_prod_"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"sk_(?:live|test|prod)_[A-Za-z0-9]{10,}",
                Edge::Free,
                Check::None,
            ),
        },
        Format {
            what: "restricted key `rk_live_…` / `rk_test_…`",
            on: On::Lit {
                lits: &["rk_live_", "rk_test_", "rk_prod_"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"rk_(?:live|test|prod)_[A-Za-z0-9]{10,}",
                Edge::Free,
                Check::None,
            ),
        },
        token(
            "webhook signing secret `whsec_…`",
            &["whsec_"],
            r"whsec_[A-Za-z0-9+/=]{24,}",
        ),
    ],
);
pub(crate) const SQUARE: Def = def(
    "square",
    Category::Payments,
    "Square access tokens and OAuth secrets.",
    &[
        token("access token `EAAA…`", &["EAAA"], r"EAAA[A-Za-z0-9_-]{60,}"),
        token(
            "legacy access token `sq0atp-…`",
            &["sq0atp-"],
            r"sq0atp-[A-Za-z0-9_-]{22,}",
        ),
        token(
            "OAuth secret `sq0csp-…`",
            &["sq0csp-"],
            r"sq0csp-[A-Za-z0-9_-]{40,}",
        ),
    ],
);
pub(crate) const BRAINTREE: Def = def(
    "braintree",
    Category::Payments,
    "Braintree / PayPal access tokens.",
    &[token(
        "access token `access_token$production$…`",
        &["access_token$"],
        r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}",
    )],
);
pub(crate) const ADYEN: Def = def(
    "adyen",
    Category::Payments,
    "Adyen API keys.",
    &[token(
        "API key `AQE…`",
        &["AQE"],
        r"AQE[A-Za-z0-9+/=._-]{60,}",
    )],
);
pub(crate) const SHOPIFY: Def = def(
    "shopify",
    Category::Payments,
    "Shopify access tokens and shared secrets.",
    &[
        token(
            "Admin API access token `shpat_…`",
            &["shpat_"],
            r"shpat_[A-Fa-f0-9]{32,}",
        ),
        token(
            "app shared secret `shpss_…`",
            &["shpss_"],
            r"shpss_[A-Fa-f0-9]{32,}",
        ),
        token(
            "custom app access token `shpca_…`",
            &["shpca_"],
            r"shpca_[A-Fa-f0-9]{32,}",
        ),
        token(
            "private app access token `shppa_…`",
            &["shppa_"],
            r"shppa_[A-Fa-f0-9]{32,}",
        ),
    ],
);
pub(crate) const FLUTTERWAVE: Def = def(
    "flutterwave",
    Category::Payments,
    "Flutterwave secret keys.",
    &[token(
        "secret key `FLWSECK-…-X`",
        &["FLWSECK"],
        r"FLWSECK(?:_TEST)?-[A-Za-z0-9]{32}-X",
    )],
);
pub(crate) const MOLLIE: Def = def(
    "mollie",
    Category::Payments,
    "Mollie API keys (`live_` / `test_` and 30 letters and digits).",
    &[random(
        "API key `live_…` / `test_…` (30 alphanumerics)",
        &["live_", "test_"],
        r"(?P<secret>(?:live|test)_[A-Za-z0-9]{30})(?:[^A-Za-z0-9_.-]|\.[^A-Za-z0-9]|\.\z|\z)",
    )],
);
pub(crate) const GOCARDLESS: Def = def(
    "gocardless",
    Category::Payments,
    "GoCardless access tokens (`live_` / `sandbox_` and 40 base64url characters).",
    &[random(
        "access token `live_…` / `sandbox_…` (40 base64url)",
        &["live_", "sandbox_"],
        r"(?P<secret>(?:live|sandbox)_[A-Za-z0-9_-]{40})(?:[^A-Za-z0-9_.-]|\.[^A-Za-z0-9]|\.\z|\z)",
    )],
);
pub(crate) const PLAID: Def = def(
    "plaid",
    Category::Payments,
    "Plaid access tokens.",
    &[token(
        "access token `access-<env>-<uuid>`",
        &[
            "access-sandbox-",
            "access-development-",
            "access-production-",
        ],
        r"access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    )],
);
pub(crate) const DUFFEL: Def = def(
    "duffel",
    Category::Payments,
    "Duffel API tokens.",
    &[token(
        "API token `duffel_live_…`",
        &["duffel_live_", "duffel_test_"],
        r"duffel_(?:live|test)_[A-Za-z0-9_=-]{40,}",
    )],
);
pub(crate) const EASYPOST: Def = def(
    "easypost",
    Category::Payments,
    "EasyPost API keys.",
    &[
        word(
            "production API key `EZAK…`",
            &["EZAK"],
            r"EZAK[A-Za-z0-9]{54}",
        ),
        word("test API key `EZTK…`", &["EZTK"], r"EZTK[A-Za-z0-9]{54}"),
    ],
);
pub(crate) const SHIPPO: Def = def(
    "shippo",
    Category::Payments,
    "Shippo API tokens.",
    &[token(
        "API token `shippo_live_…`",
        &["shippo_live_", "shippo_test_"],
        r"shippo_(?:live|test)_[a-fA-F0-9]{40}",
    )],
);

// ---- e-mail and SMS ------------------------------------------------------------------------------------

pub(crate) const SENDGRID: Def = def(
    "sendgrid",
    Category::Messaging,
    "SendGrid API keys.",
    &[token(
        "API key `SG.<22>.<43>`",
        &["SG."],
        r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}",
    )],
);
pub(crate) const MAILGUN: Def = def(
    "mailgun",
    Category::Messaging,
    "Mailgun private API keys (signing keys are caught by their key name).",
    &[word(
        "private API key `key-` + 32 hex",
        &["key-"],
        r"key-[a-f0-9]{32}",
    )],
);
pub(crate) const MAILCHIMP: Def = def(
    "mailchimp",
    Category::Messaging,
    "Mailchimp API keys.",
    &[Format {
        what: "API key `<32 hex>-us<N>`",
        on: On::Lit {
            lits: &["-us"],
            exact: true,
            start: Start::Fixed(32),
        },
        how: How::Re(r"[a-f0-9]{32}-us[0-9]{1,2}", Edge::Both, Check::None),
    }],
);
pub(crate) const BREVO: Def = def(
    "brevo",
    Category::Messaging,
    "Brevo (Sendinblue) API and SMTP keys.",
    &[
        token(
            "API key `xkeysib-…`",
            &["xkeysib-"],
            r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}",
        ),
        token(
            "SMTP key `xsmtpsib-…`",
            &["xsmtpsib-"],
            r"xsmtpsib-[a-f0-9]{64}-[A-Za-z0-9]{16}",
        ),
    ],
);
pub(crate) const MANDRILL: Def = def(
    "mandrill",
    Category::Messaging,
    "Mailchimp Transactional (Mandrill) API keys `md-…`.",
    &[random(
        "API key `md-<22 base64url>`",
        &["md-"],
        r"(?P<secret>md-[A-Za-z0-9_-]{22})(?:[^A-Za-z0-9_.-]|\.[^A-Za-z0-9]|\.\z|\z)",
    )],
);
pub(crate) const RESEND: Def = def(
    "resend",
    Category::Messaging,
    "Resend API keys `re_<8>_<24>`.",
    &[random(
        "API key `re_…_…`",
        &["re_"],
        r"(?P<secret>re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24})(?:[^A-Za-z0-9_.-]|\.[^A-Za-z0-9]|\.\z|\z)",
    )],
);
pub(crate) const TWILIO: Def = def(
    "twilio",
    Category::Messaging,
    "Twilio API key SIDs and account SIDs (auth tokens are caught by their key name).",
    &[
        at_word(
            "API key SID `SK` + 32 hex",
            WordStart::Upper,
            twilio_api_key,
        ),
        at_word(
            "account SID `AC` + 32 hex (an id, masked because it pairs with the auth token)",
            WordStart::Upper,
            twilio_account_sid,
        ),
    ],
);

// ---- observability --------------------------------------------------------------------------------------

pub(crate) const NEW_RELIC: Def = def(
    "new_relic",
    Category::Observability,
    "New Relic user, ingest, browser and license keys.",
    &[
        token("user API key `NRAK-…`", &["NRAK-"], r"NRAK-[A-Z0-9]{27}"),
        token(
            "insert (ingest) key `NRII-…`",
            &["NRII-"],
            r"NRII-[A-Za-z0-9_-]{32}",
        ),
        token("browser key `NRJS-…`", &["NRJS-"], r"NRJS-[a-f0-9]{19}"),
        Format {
            what: "license key `<36 hex>NRAL`",
            on: On::Lit {
                lits: &["NRAL"],
                exact: true,
                start: Start::Fixed(36),
            },
            how: How::Re(r"[a-f0-9]{36}NRAL", Edge::Both, Check::None),
        },
    ],
);
pub(crate) const GRAFANA: Def = def(
    "grafana",
    Category::Observability,
    "Grafana Cloud access-policy tokens, service-account tokens and legacy API keys.",
    &[
        token(
            "Grafana Cloud token `glc_…`",
            &["glc_"],
            r"glc_[A-Za-z0-9+/]{32,}={0,2}",
        ),
        token(
            "service-account token `glsa_…`",
            &["glsa_"],
            r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
        ),
        token(
            "legacy API key `eyJrIjoi…`",
            &["eyJrIjoi"],
            r"eyJrIjoi[A-Za-z0-9]{50,}={0,2}",
        ),
    ],
);
pub(crate) const SENTRY: Def = def(
    "sentry",
    Category::Observability,
    "Sentry auth tokens (DSN keys are caught as URL userinfo by `url_password`).",
    &[
        token(
            "organization auth token `sntrys_…`",
            &["sntrys_"],
            r"sntrys_[A-Za-z0-9+/=_]{50,}",
        ),
        token(
            "user auth token `sntryu_…`",
            &["sntryu_"],
            r"sntryu_[a-f0-9]{64}",
        ),
    ],
);
pub(crate) const HONEYCOMB: Def = def("honeycomb", Category::Observability, "Honeycomb ingest and management keys (classic keys are caught by the `X-Honeycomb-Team` header).", &[token("key `hcaik_…`, `hcxik_…`, `hcamk_…`, `hcxmk_…`", &["hcaik_", "hcxik_", "hcamk_", "hcxmk_"], r"hc[ax][im]k_[A-Za-z0-9_]{20,}")]);
pub(crate) const DYNATRACE: Def = def(
    "dynatrace",
    Category::Observability,
    "Dynatrace API and platform tokens.",
    &[token(
        "token `dt0c01.<24>.<64>`",
        &["dt0"],
        r"dt0[a-z][0-9]{2}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}",
    )],
);
pub(crate) const AXIOM: Def = def(
    "axiom",
    Category::Observability,
    "Axiom API and personal tokens.",
    &[
        token(
            "API token `xaat-<uuid>`",
            &["xaat-"],
            r"xaat-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ),
        token(
            "personal token `xapt-<uuid>`",
            &["xapt-"],
            r"xapt-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ),
    ],
);
pub(crate) const PAGERDUTY: Def = def(
    "pagerduty",
    Category::Observability,
    "PagerDuty user API tokens (integration / routing keys are caught by their key name).",
    &[word(
        "user API token `u+…`",
        &["u+"],
        r"u\+[A-Za-z0-9_-]{18}",
    )],
);
pub(crate) const CORALOGIX: Def = def(
    "coralogix",
    Category::Observability,
    "Coralogix send-your-data API keys.",
    &[token(
        "API key `cxtp_…`",
        &["cxtp_"],
        r"cxtp_[A-Za-z0-9]{30,}",
    )],
);
pub(crate) const POSTHOG: Def = def(
    "posthog",
    Category::Observability,
    "PostHog personal API keys (project keys `phc_` are public and kept).",
    &[token(
        "personal API key `phx_…`",
        &["phx_"],
        r"phx_[A-Za-z0-9]{40,}",
    )],
);
pub(crate) const LAUNCHDARKLY: Def = def(
    "launchdarkly",
    Category::Observability,
    "LaunchDarkly API access tokens, server-side SDK keys and mobile keys (`api-` / `sdk-` / \
     `mob-` and a UUID).",
    &[token(
        "`api-<uuid>`, `sdk-<uuid>`, `mob-<uuid>`",
        &["api-", "sdk-", "mob-"],
        r"(?:api|sdk|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    )],
);

// ---- secret managers -----------------------------------------------------------------------------------------

pub(crate) const ONEPASSWORD: Def = def(
    "onepassword",
    Category::SecretManager,
    "1Password service-account tokens and account secret keys.",
    &[
        token(
            "service-account token `ops_eyJ…`",
            &["ops_eyJ"],
            r"ops_eyJ[A-Za-z0-9+/_=-]{100,}",
        ),
        token(
            "account secret key `A3-…`",
            &["A3-"],
            r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
        ),
    ],
);
pub(crate) const DOPPLER: Def = def(
    "doppler",
    Category::SecretManager,
    "Doppler tokens of every kind.",
    &[
        token(
            "personal token `dp.pt.…`",
            &["dp.pt."],
            r"dp\.pt\.[A-Za-z0-9]{40,}",
        ),
        token(
            "service token `dp.st.…`",
            &["dp.st."],
            r"dp\.st\.(?:[a-z0-9_-]+\.)?[A-Za-z0-9]{40,}",
        ),
        token(
            "service-account token `dp.sa.…`",
            &["dp.sa."],
            r"dp\.sa\.[A-Za-z0-9]{40,}",
        ),
        token(
            "CLI token `dp.ct.…`",
            &["dp.ct."],
            r"dp\.ct\.[A-Za-z0-9]{40,}",
        ),
        token(
            "SCIM token `dp.scim.…`",
            &["dp.scim."],
            r"dp\.scim\.[A-Za-z0-9]{40,}",
        ),
        token(
            "audit token `dp.audit.…`",
            &["dp.audit."],
            r"dp\.audit\.[A-Za-z0-9]{40,}",
        ),
    ],
);
pub(crate) const VAULT: Def = def(
    "vault",
    Category::SecretManager,
    "HashiCorp Vault service, batch and recovery tokens, and the legacy `s.` / `b.` tokens.",
    &[
        token(
            "service token `hvs.…`",
            &["hvs."],
            r"hvs\.[A-Za-z0-9_-]{24,}",
        ),
        token("batch token `hvb.…`", &["hvb."], r"hvb\.[A-Za-z0-9_-]{24,}"),
        token(
            "recovery token `hvr.…`",
            &["hvr."],
            r"hvr\.[A-Za-z0-9_-]{24,}",
        ),
        random(
            "legacy service token `s.<24 alphanumerics>` (before Vault 1.10)",
            &["s."],
            r"(?P<secret>s\.[A-Za-z0-9]{24})(?:[^A-Za-z0-9_.-]|\.[^A-Za-z0-9]|\.\z|\z)",
        ),
        random(
            "legacy batch token `b.AAAAAQ…`",
            &["b.AAAAAQ"],
            r"b\.AAAAAQ[A-Za-z0-9_-]{80,}",
        ),
    ],
);
pub(crate) const INFISICAL: Def = def(
    "infisical",
    Category::SecretManager,
    "Infisical service tokens `st.<uuid>.<32 hex>.<32 hex>`.",
    &[token(
        "service token `st.<uuid>.<hex>.<hex>`",
        &["st."],
        r"st\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[0-9a-f]{32}\.[0-9a-f]{32}",
    )],
);
pub(crate) const BITWARDEN: Def = def(
    "bitwarden",
    Category::SecretManager,
    "Bitwarden Secrets Manager machine-account access tokens `0.<uuid>.<secret>:<key>`.",
    &[token(
        "access token `0.<uuid>.<30>:<base64 key>`",
        &["0."],
        r"0\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9]{30}:[A-Za-z0-9+/]{22}==",
    )],
);

// ---- SaaS ----------------------------------------------------------------------------------------------------------

pub(crate) const LINEAR: Def = def(
    "linear",
    Category::Saas,
    "Linear API keys.",
    &[token(
        "API key `lin_api_…`",
        &["lin_api_"],
        r"lin_api_[A-Za-z0-9]{32,}",
    )],
);
pub(crate) const NOTION: Def = def(
    "notion",
    Category::Saas,
    "Notion integration tokens.",
    &[
        token(
            "integration token `ntn_…`",
            &["ntn_"],
            r"ntn_[0-9]{11}[A-Za-z0-9]{32,}",
        ),
        word(
            "legacy integration token `secret_` + 43",
            &["secret_"],
            r"secret_[A-Za-z0-9]{43}",
        ),
    ],
);
pub(crate) const FIGMA: Def = def(
    "figma",
    Category::Saas,
    "Figma personal access tokens.",
    &[token(
        "personal access token `figd_…`",
        &["figd_"],
        r"figd_[A-Za-z0-9_-]{40,}",
    )],
);
pub(crate) const AIRTABLE: Def = def(
    "airtable",
    Category::Saas,
    "Airtable personal access tokens.",
    &[token(
        "personal access token `pat<14>.<64 hex>`",
        &["pat"],
        r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}",
    )],
);
pub(crate) const HUBSPOT: Def = def(
    "hubspot",
    Category::Saas,
    "HubSpot private-app access tokens.",
    &[token(
        "access token `pat-na1-<uuid>`",
        &["pat-"],
        r"pat-(?:na|eu|ap)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    )],
);
pub(crate) const MAPBOX: Def = def(
    "mapbox",
    Category::Saas,
    "Mapbox secret tokens (public `pk.` tokens are kept).",
    &[token(
        "secret token `sk.eyJ…`",
        &["sk.eyJ"],
        r"sk\.eyJ[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{20,}",
    )],
);
pub(crate) const DROPBOX: Def = def(
    "dropbox",
    Category::Saas,
    "Dropbox short-lived access tokens.",
    &[token(
        "access token `sl.…`",
        &["sl."],
        r"sl\.[A-Za-z0-9_-]{130,}",
    )],
);
pub(crate) const TYPEFORM: Def = def(
    "typeform",
    Category::Saas,
    "Typeform personal tokens.",
    &[token(
        "personal token `tfp_…`",
        &["tfp_"],
        r"tfp_[A-Za-z0-9_.=-]{50,}",
    )],
);
pub(crate) const CONTENTFUL: Def = def(
    "contentful",
    Category::Saas,
    "Contentful personal access tokens.",
    &[token(
        "personal access token `CFPAT-…`",
        &["CFPAT-"],
        r"CFPAT-[A-Za-z0-9_-]{40,}",
    )],
);
pub(crate) const README: Def = def(
    "readme",
    Category::Saas,
    "ReadMe API keys.",
    &[token("API key `rdme_…`", &["rdme_"], r"rdme_[a-z0-9]{70}")],
);
pub(crate) const FRAMEIO: Def = def(
    "frameio",
    Category::Saas,
    "Frame.io API tokens.",
    &[token(
        "API token `fio-u-…`",
        &["fio-u-"],
        r"fio-u-[A-Za-z0-9_=-]{64}",
    )],
);
pub(crate) const FACEBOOK: Def = def(
    "facebook",
    Category::Saas,
    "Facebook / Meta access tokens.",
    &[token(
        "access token `EAAC…`, `EAAG…`, `EAAM…`",
        &["EAAC", "EAAG", "EAAM"],
        r"EAA[CGM][A-Za-z0-9]{90,}",
    )],
);

// ---- data platforms (database category) -----------------------------------------------------------------------------

pub(crate) const PLANETSCALE: Def = def(
    "planetscale",
    Category::Database,
    "PlanetScale service tokens, passwords and OAuth tokens.",
    &[
        token(
            "service token `pscale_tkn_…`",
            &["pscale_tkn_"],
            r"pscale_tkn_[A-Za-z0-9_=.-]{32,}",
        ),
        token(
            "database password `pscale_pw_…`",
            &["pscale_pw_"],
            r"pscale_pw_[A-Za-z0-9_=.-]{32,}",
        ),
        token(
            "OAuth token `pscale_oauth_…`",
            &["pscale_oauth_"],
            r"pscale_oauth_[A-Za-z0-9_=.-]{32,}",
        ),
    ],
);
pub(crate) const SUPABASE: Def = def(
    "supabase",
    Category::Database,
    "Supabase personal access tokens and secret API keys (service-role JWTs are `jwt`'s).",
    &[
        token(
            "personal access token `sbp_` + 40 hex",
            &["sbp_"],
            r"sbp_[a-f0-9]{40,}",
        ),
        token(
            "secret API key `sb_secret_…`",
            &["sb_secret_"],
            r"sb_secret_[A-Za-z0-9_-]{20,}",
        ),
    ],
);
pub(crate) const DATABRICKS: Def = def(
    "databricks",
    Category::Database,
    "Databricks personal access tokens.",
    &[word(
        "token `dapi` + 32 hex",
        &["dapi"],
        r"dapi[a-f0-9]{32}(?:-[0-9])?",
    )],
);
pub(crate) const CLICKHOUSE: Def = def(
    "clickhouse",
    Category::Database,
    "ClickHouse Cloud API secret keys.",
    &[word(
        "API secret `4b1d…`",
        &["4b1d"],
        r"4b1d[A-Za-z0-9]{38}",
    )],
);

// ---- code matchers ------------------------------------------------------------------------------------------------------

/// A 40-character AWS secret access key near an access key id (`AKIA…`/`ASIA…` at `at`): the
/// first standalone `[A-Za-z0-9/+]{40}` token with upper, lower and digit within 300 bytes after
/// the id, or before it.
fn aws_secret_nearby(s: &str, at: usize, _lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let id_ok = b.get(at..at + 20).is_some_and(|id| {
        id.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    });
    if !id_ok {
        return;
    }
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let lo = at.saturating_sub(300);
    let hi = (at + 320).min(b.len());
    let mut i = lo;
    while i < hi {
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        let tok = &b[start..i];
        let standalone = b.get(i).is_none_or(|&c| c != b'=');
        if tok.len() == 40
            && standalone
            && tok.iter().any(u8::is_ascii_uppercase)
            && tok.iter().any(u8::is_ascii_lowercase)
            && tok.iter().any(u8::is_ascii_digit)
            && checks::entropy(tok) > 3.5
        {
            out.push((start, i));
            return;
        }
    }
}

/// `SK`/`AC` + 32 hex standing alone.
fn twilio_sid(s: &str, w: &Word, prefix: &[u8; 2], out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let end = w.start + 34;
    if b.get(w.start..w.start + 2) == Some(prefix.as_slice())
        && w.end == end
        && b[w.start + 2..end].iter().all(u8::is_ascii_hexdigit)
    {
        out.push((w.start, end));
    }
}

fn twilio_api_key(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    twilio_sid(s, w, b"SK", out);
}

fn twilio_account_sid(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    twilio_sid(s, w, b"AC", out);
}

/// `[MNO]` + 23–26 base64url, `.`, 6–7, `.`, 27–40: a Discord bot token.
fn discord_bot_token(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    if !matches!(b.get(w.start), Some(b'M' | b'N' | b'O')) {
        return;
    }
    let is_tok = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let run = |from: usize| {
        from + b[from.min(b.len())..]
            .iter()
            .take_while(|&&c| is_tok(c))
            .count()
    };
    let first = run(w.start);
    if !(24..=27).contains(&(first - w.start)) || b.get(first) != Some(&b'.') {
        return;
    }
    let second = run(first + 1);
    if !(6..=7).contains(&(second - first - 1)) || b.get(second) != Some(&b'.') {
        return;
    }
    let third = run(second + 1);
    if (27..=40).contains(&(third - second - 1)) {
        out.push((w.start, third));
    }
}
