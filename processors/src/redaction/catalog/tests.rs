//! Every detector, table-driven: positives generated fresh on each run (random bodies from
//! regex strategies, check digits computed for the personal numbers) must be replaced by that
//! detector alone, with its own label; near misses must be left alone by it.

use super::super::checks;
use crate::redaction::{
    Detector, DetectorSelection, RedactionConfig, RedactionProcessor, Selector,
};
use base64::Engine;
use proptest::strategy::{Strategy, ValueTree};
use proptest::string::string_regex;
use proptest::test_runner::{Config, TestRunner};
use std::collections::HashMap;

/// Generated values per positive case.
const ROUNDS: usize = 24;

/// A generator of secrets.
enum Gen {
    /// A regex the secret is drawn from.
    Re(&'static str),
    /// Code.
    Fn(fn(&mut TestRunner) -> String),
}

/// A positive case: `template` with `@@` replaced by a generated secret.
struct Pos {
    det: &'static str,
    template: &'static str,
    secret: Gen,
}

const fn re(det: &'static str, template: &'static str, secret: &'static str) -> Pos {
    Pos {
        det,
        template,
        secret: Gen::Re(secret),
    }
}

const fn gen(det: &'static str, template: &'static str, f: fn(&mut TestRunner) -> String) -> Pos {
    Pos {
        det,
        template,
        secret: Gen::Fn(f),
    }
}

const UUID: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const PASS: &str = "[A-Za-z0-9][A-Za-z0-9!#+/^~-]{6,30}[0-9]";

fn draw(runner: &mut TestRunner, regex: &str) -> String {
    match string_regex(regex) {
        Ok(s) => s.new_tree(runner).map(|t| t.current()).unwrap_or_default(),
        Err(e) => panic!("{regex}: {e}"),
    }
}

/// Appends the digit (or letter from `alphabet`) that makes `valid` true.
fn complete(body: String, alphabet: &str, valid: impl Fn(&[u8]) -> bool) -> String {
    alphabet
        .chars()
        .map(|c| format!("{body}{c}"))
        .find(|s| valid(s.as_bytes()))
        .unwrap_or(body)
}

fn card(r: &mut TestRunner) -> String {
    let body = draw(r, "4[0-9]{14}");
    let full = complete(body, "0123456789", checks::luhn);
    format!(
        "{} {} {} {}",
        &full[..4],
        &full[4..8],
        &full[8..12],
        &full[12..]
    )
}

fn iban(r: &mut TestRunner) -> String {
    let bban = draw(r, "[0-9]{18}");
    (0..100)
        .map(|k| format!("DE{k:02}{bban}"))
        .find(|s| checks::iban_valid(s.as_bytes()))
        .map(|s| {
            let b = s.as_bytes();
            b.chunks(4)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn ssn(r: &mut TestRunner) -> String {
    format!(
        "{}-{}-{}",
        draw(r, "[1-5][0-9]{2}"),
        draw(r, "[1-9][0-9]"),
        draw(r, "[1-9][0-9]{3}")
    )
}

fn sin(r: &mut TestRunner) -> String {
    let full = complete(draw(r, "[1-7][0-9]{7}"), "0123456789", checks::luhn);
    format!("{} {} {}", &full[..3], &full[3..6], &full[6..])
}

fn aadhaar(r: &mut TestRunner) -> String {
    let full = complete(draw(r, "[2-9][0-9]{10}"), "0123456789", checks::verhoeff);
    format!("{} {} {}", &full[..4], &full[4..8], &full[8..])
}

fn cpf(r: &mut TestRunner) -> String {
    let body = draw(r, "[0-9]{9}");
    let full = (0..100)
        .map(|k| format!("{body}{k:02}"))
        .find(|s| checks::cpf_valid(s.as_bytes()))
        .unwrap_or_default();
    format!(
        "{}.{}.{}-{}",
        &full[..3],
        &full[3..6],
        &full[6..9],
        &full[9..]
    )
}

fn dni(r: &mut TestRunner) -> String {
    complete(
        draw(r, "[0-9]{8}"),
        "TRWAGMYFPDXBNJZSQVHLCKE",
        checks::dni_valid,
    )
}

fn nie(r: &mut TestRunner) -> String {
    complete(
        draw(r, "[XYZ][0-9]{7}"),
        "TRWAGMYFPDXBNJZSQVHLCKE",
        checks::dni_valid,
    )
}

fn nino(r: &mut TestRunner) -> String {
    format!(
        "{}{}{}",
        draw(r, "[ABCEHJKLMPRSTWXY][ABCEHJKLMPRSTWXY]"),
        draw(r, "[0-9]{6}"),
        draw(r, "[A-D]")
    )
    .replace("GB", "AB")
    .replace("NK", "AK")
    .replace("KN", "KA")
    .replace("NT", "AT")
    .replace("TN", "TA")
}

fn codice_fiscale(r: &mut TestRunner) -> String {
    let body = draw(r, "[A-Z]{6}[0-9]{2}[A-Z][0-9]{2}[A-Z][0-9]{3}");
    complete(
        body,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        checks::codice_fiscale_valid,
    )
}

fn nir(r: &mut TestRunner) -> String {
    let body = format!(
        "{}{}{}{}",
        draw(r, "[12]"),
        draw(r, "[0-9]{2}"),
        draw(r, "0[1-9]"),
        draw(r, "[0-9]{8}")
    );
    let full = (0..100)
        .map(|k| format!("{body}{k:02}"))
        .find(|s| checks::nir_valid(s.as_bytes()))
        .unwrap_or_default();
    format!(
        "{} {} {} {} {} {} {}",
        &full[..1],
        &full[1..3],
        &full[3..5],
        &full[5..7],
        &full[7..10],
        &full[10..13],
        &full[13..]
    )
}

fn pem_base64(r: &mut TestRunner) -> String {
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        draw(r, "[A-Za-z0-9+/]{64}")
    );
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn docker_auth(r: &mut TestRunner) -> String {
    let pair = format!("{}:{}", draw(r, "[a-z]{4,10}"), draw(r, PASS));
    base64::engine::general_purpose::STANDARD.encode(pair)
}

/// A base64-encoded `.env` file with a password and a token line.
fn env_file_base64(r: &mut TestRunner) -> String {
    let env = format!(
        "DB_PASSWORD={}\nSTRIPE_API_TOKEN={}\nLOG_LEVEL=info\n",
        draw(r, PASS),
        draw(r, "[A-Za-z0-9]{24}")
    );
    base64::engine::general_purpose::STANDARD.encode(env)
}

/// `Basic%20<base64 user:password>`, as in `OTEL_EXPORTER_OTLP_HEADERS`.
fn basic_urlencoded(r: &mut TestRunner) -> String {
    format!("Basic%20{}", docker_auth(r))
}

/// A UK IBAN with a letter bank code, in groups of four.
fn iban_gb(r: &mut TestRunner) -> String {
    let bban = format!("{}{}", draw(r, "[A-Z]{4}"), draw(r, "[0-9]{14}"));
    (0..100)
        .map(|k| format!("GB{k:02}{bban}"))
        .find(|s| checks::iban_valid(s.as_bytes()))
        .map(|s| {
            s.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A Dutch BSN passing the eleven test.
fn bsn(r: &mut TestRunner) -> String {
    loop {
        let body = draw(r, "[1-9][0-9]{7}");
        let full = complete(body, "0123456789", checks::bsn_valid);
        if full.len() == 9 {
            return full;
        }
    }
}

fn email(r: &mut TestRunner) -> String {
    format!(
        "{}.{}@{}.{}",
        draw(r, "[a-z]{2,10}"),
        draw(r, "[a-z0-9]{1,8}"),
        draw(r, "[a-z]{3,12}"),
        draw(r, "(com|io|dev|co\\.uk|fr)")
    )
}

fn phone_intl(r: &mut TestRunner) -> String {
    format!(
        "+{} {} {} {}",
        draw(r, "[1-9][0-9]?"),
        draw(r, "[1-9][0-9]{1,2}"),
        draw(r, "[0-9]{3,4}"),
        draw(r, "[0-9]{4}")
    )
}

fn phone_us(r: &mut TestRunner) -> String {
    format!(
        "({}) {}-{}",
        draw(r, "[2-9][0-9]{2}"),
        draw(r, "[2-9][0-9]{2}"),
        draw(r, "[0-9]{4}")
    )
}

fn phone_fr(r: &mut TestRunner) -> String {
    format!(
        "0{} {} {} {} {}",
        draw(r, "[1-9]"),
        draw(r, "[0-9]{2}"),
        draw(r, "[0-9]{2}"),
        draw(r, "[0-9]{2}"),
        draw(r, "[0-9]{2}")
    )
}

fn putty(r: &mut TestRunner) -> String {
    format!(
        "{}\n{}",
        draw(r, "[A-Za-z0-9+/]{64}"),
        draw(r, "[A-Za-z0-9+/]{40}==")
    )
}

fn aws_secret(r: &mut TestRunner) -> String {
    format!(
        "{}{}{}{}",
        draw(r, "[A-Z]{2}"),
        draw(r, "[a-z]{2}"),
        draw(r, "[0-9]{2}"),
        draw(r, "[A-Za-z0-9/+]{34}")
    )
}

fn userinfo_token(r: &mut TestRunner) -> String {
    format!(
        "{}{}{}",
        draw(r, "[a-z]{6}"),
        draw(r, "[A-Z][0-9]"),
        draw(r, "[A-Za-z0-9]{24}")
    )
}

fn high_entropy(r: &mut TestRunner) -> String {
    format!(
        "{}{}{}",
        draw(r, "[A-Z][a-z][0-9]"),
        draw(r, "[A-Za-z0-9]{13}"),
        draw(r, "[A-Za-z0-9/+]{16}")
    )
}

/// At least one positive per detector.
static POSITIVES: &[Pos] = &[
    re("anthropic", "ANTHROPIC_API_KEY=@@", "sk-ant-api03-[A-Za-z0-9_-]{93}AA"),
    re("anthropic", "key @@ here", "sk-ant-admin01-[A-Za-z0-9_-]{93}AA"),
    re("anthropic", "oauth: @@", "sk-ant-oat01-[A-Za-z0-9_-]{80}"),
    re("openrouter", "@@", "sk-or-v1-[a-f0-9]{64}"),
    re("langfuse", "LANGFUSE_SECRET_KEY=@@", "sk-lf-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re("openai", "OPENAI_API_KEY=@@", "sk-proj-[A-Za-z0-9_-]{40,120}"),
    re("openai", "\"@@\"", "sk-svcacct-[A-Za-z0-9_-]{40,80}"),
    re("openai", "admin @@", "sk-admin-[A-Za-z0-9_-]{40,80}"),
    re("openai", "(@@)", "sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
    re("openai", "deepseek @@", "sk-[a-f0-9]{32}"),
    re("huggingface", "HF_TOKEN=@@", "hf_[A-Za-z]{34}"),
    re("huggingface", "@@", "api_org_[A-Za-z]{34}"),
    re("groq", "@@", "gsk_[A-Za-z0-9]{52}"),
    re("replicate", "@@", "r8_[A-Za-z0-9]{37}"),
    re("perplexity", "@@", "pplx-[A-Za-z0-9]{48}"),
    re("xai", "@@", "xai-[A-Za-z0-9]{80}"),
    re("fireworks", "@@", "fw_[A-Za-z0-9]{24}"),
    re("langsmith", "@@", "lsv2_pt_[a-f0-9]{32}_[a-f0-9]{10}"),
    re("langsmith", "@@", "lsv2_sk_[a-f0-9]{32}_[a-f0-9]{10}"),
    re("pinecone", "@@", "pcsk_[A-Za-z0-9]{5}_[A-Za-z0-9]{60}"),
    re("nvidia", "@@", "nvapi-[A-Za-z0-9_-]{64}"),
    re("elevenlabs", "xi-api-key @@", "sk_[a-f0-9]{48}"),
    re("anyscale", "@@", "esecret_[a-z0-9]{26}"),
    re("github", "token @@", "ghp_[A-Za-z0-9]{36}"),
    re("github", "@@", "gho_[A-Za-z0-9]{36}"),
    re("github", "@@", "ghu_[A-Za-z0-9]{36}"),
    re("github", "@@", "ghs_[A-Za-z0-9]{36}"),
    re("github", "@@", "ghr_[A-Za-z0-9]{36}"),
    re("github", "@@", "github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"),
    re("gitlab", "@@", "glpat-[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "gldt-[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "glft-[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "glsoat-[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "glrt-[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "glcbt-[0-9a-f]{2}_[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "glimt-[A-Za-z0-9_-]{25}"),
    re("gitlab", "@@", "glptt-[0-9a-f]{40}"),
    re("gitlab", "@@", "glagent-[A-Za-z0-9_-]{50}"),
    re("gitlab", "@@", "gloas-[A-Za-z0-9_-]{64}"),
    re("gitlab", "@@", "glffct-[A-Za-z0-9_-]{20}"),
    re("gitlab", "@@", "GR1348941[A-Za-z0-9_-]{20}"),
    re("gitlab", "Cookie _gitlab_session=@@", "[a-f0-9]{32}"),
    re("atlassian", "@@", "ATATT3[A-Za-z0-9_=-]{186}"),
    re("atlassian", "@@", "ATBB[A-Za-z0-9]{32}"),
    re("atlassian", "@@", "ATCTT3[A-Za-z0-9_=-]{80}"),
    re("sourcegraph", "@@", "sgp_[a-f0-9]{16}_[a-f0-9]{40}"),
    re("circleci", "@@", "CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
    re("circleci", "@@", "CCIPRJ_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
    re("buildkite", "@@", "bkua_[a-f0-9]{40}"),
    re("vercel", "@@", "vc[piark]_[A-Za-z0-9]{24}"),
    re("netlify", "@@", "nfp_[A-Za-z0-9]{36}"),
    re("heroku", "@@", "HRKU-AA[A-Za-z0-9_-]{58}"),
    re("flyio", "@@", "fo1_[A-Za-z0-9_-]{43}"),
    re("flyio", "FlyV1 @@", "fm2_[A-Za-z0-9+/]{120}"),
    re("flyio", "@@", "fm1[ar]_[A-Za-z0-9+/]{100}"),
    re("render", "@@", "rnd_[A-Za-z0-9]{32}"),
    re("terraform_cloud", "token = \"@@\"", "[A-Za-z0-9]{14}\\.atlasv1\\.[A-Za-z0-9_-]{67}"),
    re("pulumi", "@@", "pul-[a-f0-9]{40}"),
    re("tailscale", "@@", "tskey-(auth|api|client)-[A-Za-z0-9]{12}-[A-Za-z0-9]{30}"),
    re("sonarqube", "@@", "sq[upa]_[a-f0-9]{40}"),
    re("octopus_deploy", "@@", "API-[A-Z0-9]{26}"),
    re("harness", "@@", "(pat|sat)\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9]{24}\\.[A-Za-z0-9]{20}"),
    re("infracost", "@@", "ico-[A-Za-z0-9]{32}"),
    re("prefect", "@@", "pnu_[A-Za-z0-9]{36}"),
    re("postman", "@@", "PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    re("scalingo", "@@", "tk-us-[A-Za-z0-9_-]{48}"),
    re("aws", "id @@.", "AKIA[A-Z2-7]{16}"),
    re("aws", "@@", "ASIA[A-Z2-7]{16}"),
    gen("aws", "aws_secret_access_key = @@", aws_secret),
    gen("aws", "{\"SecretAccessKey\": \"@@\"}", aws_secret),
    gen("aws", "Access key ID,Secret access key\nAKIAIOSFODNN7EXAMPLE,@@\n", aws_secret),
    re("aws", "aws_session_token=@@", "IQoJb3JpZ2luX2VjE[A-Za-z0-9/+]{300}"),
    re("aws", "@@", "ABSK[A-Za-z0-9+/]{130}"),
    re("aws", "@@", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9]{100}"),
    re("google_api_key", "GEMINI_API_KEY=@@", "AIza[A-Za-z0-9_-]{35}"),
    re("gcp", "@@", "GOCSPX-[A-Za-z0-9_-]{28}"),
    re("gcp", "\"refresh_token\": \"@@\"", "1//0[A-Za-z0-9_-]{60}"),
    re("gcp", "@@", "ya29\\.[A-Za-z0-9_-]{100}"),
    re("gcp", "{\"type\": \"service_account\", \"private_key_id\": \"@@\"}", "[a-f0-9]{40}"),
    re("gcp", "@@", "AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{134}"),
    re("azure", "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=@@;EndpointSuffix=core.windows.net", "[A-Za-z0-9+/]{86}=="),
    re("azure", "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=@@", "[A-Za-z0-9+/]{43}="),
    re("azure", "https://acme.blob.core.windows.net/c/f?sv=2022-11-02&se=2026-01-01&sp=r&sig=@@", "[A-Za-z0-9]{30}%2B[A-Za-z0-9]{10}%3D"),
    re("azure", "AZURE_CLIENT_SECRET=@@", "[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{34}"),
    re("azure", "@@", "[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}"),
    re("digitalocean", "@@", "do[por]_v1_[a-f0-9]{64}"),
    re("alibaba", "@@", "LTAI[A-Za-z0-9]{20}"),
    re("tencent", "@@", "AKID[A-Za-z0-9]{32}"),
    re("cloudflare", "@@", "cf(ut|at|k)_[A-Za-z0-9]{40}[a-f0-9]{8}"),
    re("cloudflare", "@@", "v1\\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    re("scaleway", "@@", "SCW[A-Z0-9]{17}"),
    re("yandex", "@@", "AQVN[A-Za-z0-9_-]{35}"),
    re("yandex", "@@", "YC[A-Za-z0-9_-]{38}"),
    re("yandex", "@@", "t1\\.[A-Za-z0-9_-]{20}\\.[A-Za-z0-9_-]{86}"),
    re("backblaze", "@@", "K00[0-9][A-Za-z0-9]{27}"),
    re("npm", "//registry.npmjs.org/:_authToken=@@", "npm_[A-Za-z0-9]{36}"),
    re("pypi", "password = @@", "pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{70}"),
    re("pypi", "@@", "pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{70}"),
    re("rubygems", "@@", "rubygems_[a-f0-9]{48}"),
    re("nuget", "@@", "oy2[a-z0-9]{43}"),
    re("crates_io", "@@", "cio[A-Za-z0-9]{32}"),
    re("docker_hub", "@@", "dckr_(pat|oat)_[A-Za-z0-9_-]{27}"),
    re("jfrog", "@@", "AKCp[A-Za-z0-9]{69}"),
    re("jfrog", "@@", "cmVmd[A-Za-z0-9]{59}"),
    re("clojars", "@@", "CLOJARS_[a-z0-9]{60}"),
    re("slack", "@@", "xoxb-[0-9]{12}-[0-9]{12}-[A-Za-z0-9]{24}"),
    re("slack", "@@", "xoxp-[0-9]{12}-[0-9]{12}-[0-9]{12}-[a-f0-9]{32}"),
    re("slack", "@@", "xapp-1-[A-Z0-9]{11}-[0-9]{13}-[a-f0-9]{64}"),
    re("slack", "@@", "xox[ar]-[0-9]-[A-Za-z0-9]{40}"),
    re("slack", "@@", "xoxe-1-[A-Z0-9]{146}"),
    re("slack", "@@", "xoxe\\.xoxp-1-[A-Z0-9]{163}"),
    re("slack_webhook", "https://hooks.slack.com/services/@@", "T[A-Z0-9]{8}/B[A-Z0-9]{10}/[A-Za-z0-9]{24}"),
    re("slack_webhook", "https://hooks.slack.com/triggers/@@", "T[A-Z0-9]{8}/[0-9]{13}/[a-f0-9]{32}"),
    re("discord", "https://discord.com/api/webhooks/123456789012345678/@@", "[A-Za-z0-9_-]{68}"),
    re("discord", "DISCORD_BOT @@ ok", "[MN][A-Za-z0-9]{23}\\.[A-Za-z0-9_-]{6}\\.[A-Za-z0-9_-]{27}"),
    re("teams_webhook", "https://acme.webhook.office.com/webhookb2/@@", "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}@[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}/IncomingWebhook/[a-f0-9]{32}/[a-f0-9]{8}"),
    re("telegram", "bot @@ ok", "[0-9]{9,10}:AA[A-Za-z0-9_-]{33}"),
    re("zapier_webhook", "https://hooks.zapier.com/hooks/catch/@@", "[0-9]{7}/[a-z0-9]{6}"),
    re("stripe", "@@", "sk_(live|test)_[A-Za-z0-9]{24,99}"),
    re("stripe", "@@", "rk_(live|test)_[A-Za-z0-9]{24,99}"),
    re("stripe", "@@", "whsec_[A-Za-z0-9]{32}"),
    re("square", "@@", "EAAA[A-Za-z0-9_-]{60}"),
    re("square", "@@", "sq0atp-[A-Za-z0-9_-]{22}"),
    re("square", "@@", "sq0csp-[A-Za-z0-9_-]{43}"),
    re("braintree", "@@", "access_token\\$production\\$[0-9a-z]{16}\\$[0-9a-f]{32}"),
    re("adyen", "@@", "AQE[A-Za-z0-9]{10}\\.[A-Za-z0-9+/]{80}"),
    re("shopify", "@@", "shp(at|ss|ca|pa)_[a-f0-9]{32}"),
    re("flutterwave", "@@", "FLWSECK_TEST-[a-h0-9]{32}-X"),
    re("plaid", "@@", "access-(sandbox|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re("duffel", "@@", "duffel_(live|test)_[A-Za-z0-9_-]{43}"),
    re("easypost", "@@", "EZ[AT]K[A-Za-z0-9]{54}"),
    re("shippo", "@@", "shippo_(live|test)_[a-f0-9]{40}"),
    re("sendgrid", "@@", "SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}"),
    re("mailgun", "@@", "key-[a-f0-9]{32}"),
    re("mailchimp", "@@", "[a-f0-9]{32}-us[0-9]{1,2}"),
    re("brevo", "@@", "x(keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    re("twilio", "sid @@ ok", "SK[a-f0-9]{32}"),
    re("twilio", "sid @@ ok", "AC[a-f0-9]{32}"),
    re("new_relic", "@@", "NRAK-[A-Z0-9]{27}"),
    re("new_relic", "@@", "NRII-[A-Za-z0-9_-]{32}"),
    re("new_relic", "@@", "NRJS-[a-f0-9]{19}"),
    re("new_relic", "@@", "[a-f0-9]{36}NRAL"),
    re("grafana", "@@", "glc_[A-Za-z0-9+/]{80}"),
    re("grafana", "@@", "glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}"),
    re("grafana", "@@", "eyJrIjoi[A-Za-z0-9]{70}"),
    re("sentry", "@@", "sntrys_eyJpYXQiO[A-Za-z0-9+/]{100}_[A-Za-z0-9+/]{43}"),
    re("sentry", "@@", "sntryu_[a-f0-9]{64}"),
    re("honeycomb", "@@", "hcaik_[a-z0-9]{58}"),
    re("dynatrace", "@@", "dt0c01\\.[A-Z0-9]{24}\\.[A-Za-z0-9]{64}"),
    re("axiom", "@@", "xa[ap]t-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re("pagerduty", "@@", "u\\+[A-Za-z0-9_-]{18}"),
    re("coralogix", "@@", "cxtp_[A-Za-z0-9]{30}"),
    re("posthog", "@@", "phx_[A-Za-z0-9]{43}"),
    re("onepassword", "OP_SERVICE_ACCOUNT_TOKEN=@@", "ops_eyJ[A-Za-z0-9+/]{250}"),
    re("onepassword", "@@", "A3-[A-Z0-9]{6}-[A-Z0-9]{11}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"),
    re("doppler", "@@", "dp\\.(pt|st|sa|ct|scim|audit)\\.[A-Za-z0-9]{43}"),
    re("vault", "VAULT_TOKEN=@@", "hvs\\.[A-Za-z0-9_-]{90}"),
    re("vault", "@@", "hvb\\.[A-Za-z0-9_-]{138}"),
    re("vault", "@@", "hvr\\.[A-Za-z0-9_-]{90}"),
    re("vault", "vault_legacy_token = @@", "s\\.[A-Za-z0-9]{24}"),
    re("vault", "rotated @@ -> slot 14", "s\\.[A-Za-z0-9]{24}"),
    re("infisical", "@@", "st\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\.[0-9a-f]{32}\\.[0-9a-f]{32}"),
    re("bitwarden", "BWS_ACCESS_TOKEN=@@", "0\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\.[A-Za-z0-9]{30}:[A-Za-z0-9+/]{22}=="),
    re("mandrill", "| 3 | @@ | active |", "md-[A-Za-z0-9_-]{22}"),
    re("resend", "@@", "re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}"),
    re("mollie", "  - @@", "(live|test)_[A-Za-z0-9]{30}"),
    re("gocardless", "picked up @@ from", "(live|sandbox)_[A-Za-z0-9_-]{40}"),
    re("launchdarkly", "rotated @@ -> slot 3", "(api|sdk|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re("jenkins", "token @@", "11[0-9a-f]{32}"),
    re("openshift", "oc login --token=@@", "sha256~[A-Za-z0-9_-]{43}"),
    re("chat_webhook", "MATTERMOST_WEBHOOK_URL='https://chat.example.test/hooks/@@'", "[a-z0-9]{26}"),
    re("chat_webhook", "https://rocket.example.test/hooks/@@", "[A-Za-z0-9]{24}/[A-Za-z0-9]{48}"),
    re("linear", "@@", "lin_api_[A-Za-z0-9]{40}"),
    re("notion", "@@", "ntn_[0-9]{11}[A-Za-z0-9]{35}"),
    re("notion", "@@", "secret_[A-Za-z0-9]{43}"),
    re("figma", "@@", "figd_[A-Za-z0-9_-]{40}"),
    re("airtable", "@@", "pat[A-Za-z0-9]{14}\\.[a-f0-9]{64}"),
    re("hubspot", "@@", "pat-na1-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re("mapbox", "@@", "sk\\.eyJ[A-Za-z0-9_-]{60}\\.[A-Za-z0-9_-]{22}"),
    re("dropbox", "@@", "sl\\.[A-Za-z0-9_-]{135}"),
    re("typeform", "@@", "tfp_[A-Za-z0-9_-]{59}"),
    re("contentful", "@@", "CFPAT-[A-Za-z0-9_-]{43}"),
    re("readme", "@@", "rdme_[a-z0-9]{70}"),
    re("frameio", "@@", "fio-u-[A-Za-z0-9_-]{64}"),
    re("facebook", "@@", "EAAG[A-Za-z0-9]{150}"),
    re("planetscale", "@@", "pscale_(tkn|pw|oauth)_[A-Za-z0-9_]{43}"),
    re("supabase", "@@", "sbp_[a-f0-9]{40}"),
    re("supabase", "@@", "sb_secret_[A-Za-z0-9_-]{32}"),
    re("databricks", "@@", "dapi[a-f0-9]{32}"),
    re("clickhouse", "@@", "4b1d[A-Za-z0-9]{38}"),
    re("url_password", "DATABASE_URL=postgres://app:@@@db.acme.test:5432/app", "[A-Za-z0-9!$%^*_~-]{8,24}"),
    re("url_password", "mongodb+srv://admin:@@@cluster0.x.mongodb.net/db", "[A-Za-z0-9_~-]{8,24}"),
    re("url_password", "redis://:@@@cache:6379/0", "[A-Za-z0-9]{8,24}"),
    gen("url_password", "origin\thttps://@@@github.com/acme/x.git (fetch)", userinfo_token),
    re("connection_string", "jdbc:postgresql://db:5432/app?user=app&password=@@&ssl=true", "[A-Za-z0-9!$%^*_~-]{8,20}"),
    re("connection_string", "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=@@;Encrypt=yes", "[A-Za-z0-9!$%^*_~-]{8,20}"),
    re("connection_string", "url: jdbc:oracle:thin:scott/@@@//ora.example.test:1521/ORCLPDB1", "[A-Za-z0-9_-]{8,24}"),
    re("connection_string", "\"jdbc:oracle:thin:app_user/@@@db1:1521:ORCL\"", "[A-Za-z0-9_-]{8,24}"),
    re("sql_password", "CREATE USER app IDENTIFIED BY '@@';", "[A-Za-z0-9!$%^*_~-]{8,20}"),
    re("sql_password", "ALTER ROLE app WITH PASSWORD '@@';", "[A-Za-z0-9!$%^*_~-]{8,20}"),
    re("db_cli_password", "mysql -u root -p@@ app", "[A-Za-z0-9]{8,16}"),
    re("db_cli_password", "redis-cli -h cache -a @@ ping", "[A-Za-z0-9]{8,16}"),
    re("db_cli_password", "sqlplus scott/@@@orcl", "[A-Za-z0-9]{8,16}"),
    re("private_key", "-----BEGIN RSA PRIVATE KEY-----\n@@\n-----END RSA PRIVATE KEY-----", "[A-Za-z0-9+/]{64}"),
    re("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\\n@@", "[A-Za-z0-9+/]{64}"),
    re("private_key", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n@@\n-----END PGP PRIVATE KEY BLOCK-----", "[A-Za-z0-9+/]{64}"),
    re("private_key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\n@@", "[A-Za-z0-9+/]{64}"),
    re("private_key", "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n@@\n---- END SSH2 ENCRYPTED PRIVATE KEY ----", "[A-Za-z0-9+/]{64}"),
    gen("private_key_base64", "    client-key-data: @@\n", pem_base64),
    re("private_key_base64", "client-key-data: @@", "[A-Za-z0-9+/]{60}=="),
    gen("putty_private_key", "PuTTY-User-Key-File-2: ssh-rsa\nPublic-Lines: 1\nAAAAB3NzaC1yc2E\nPrivate-Lines: 2\n@@\nPrivate-MAC: 0a1b", putty),
    re("age_secret_key", "@@", "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    re("wireguard", "[Interface]\nPrivateKey = @@\nAddress = 10.0.0.1/24", "[A-Za-z0-9+/]{43}="),
    re("auth_header", "curl -H 'Authorization: Bearer @@' https://api.example.test", "[A-Za-z0-9._~+/-]{20,60}"),
    re("auth_header", "Authorization: Splunk @@", UUID),
    gen("auth_header", "OTEL_EXPORTER_OTLP_HEADERS=Authorization=@@", basic_urlencoded),
    re("auth_header", "headers = \"Authorization=Bearer%20@@\"", "[A-Za-z0-9]{30}"),
    re("auth_header", "401 for Bearer @@", "[A-Za-z0-9]{12}[0-9]"),
    re("auth_header", "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=@@", "[a-f0-9]{64}"),
    re("cookie", "Cookie: session=@@; theme=dark", "[A-Za-z0-9%]{20,40}"),
    re("cookie", "Set-Cookie: sid=@@; Path=/; HttpOnly", "[A-Za-z0-9]{20,40}"),
    re("cookie", "curl -b 'sid=@@' https://x.example.test", "[A-Za-z0-9]{20,40}"),
    re("api_key_header", "curl -H 'X-Api-Key: @@' https://api.example.test", "[a-z]{6,12}"),
    re("api_key_header", "-H \"PRIVATE-TOKEN: @@\"", "[a-z]{6,12}"),
    re("curl_user", "curl -u deploy:@@ https://x.example.test", "[A-Za-z0-9!%^*_~-]{6,20}"),
    re("jwt", "t=@@", "eyJ[A-Za-z0-9_-]{20}\\.eyJ[A-Za-z0-9_-]{40}\\.[A-Za-z0-9_-]{43}"),
    re("netrc", "machine api.heroku.com\n  login me@example.test\n  password @@\n", "[A-Za-z0-9!%^*_~-]{8,20}"),
    gen("base64_credentials", "{\"auths\":{\"registry.example.test\":{\"auth\":\"@@\"}}}", docker_auth),
    gen("base64_credentials", "//registry.example.test/:_auth=@@", docker_auth),
    gen("base64_credentials", "echo \"@@\" | base64 -d > .env", env_file_base64),
    gen("base64_credentials", "restored @@ from the backup", env_file_base64),
    re("assignment", "DB_PASSWORD=@@", PASS),
    re("assignment", "export API_TOKEN=@@", PASS),
    re("assignment", "{\"client_secret\": \"@@\"}", PASS),
    re("assignment", "password: @@\nuser: app", PASS),
    re("assignment", "--password @@ --user app", PASS),
    re("assignment", "[default]\npassword = @@\n", PASS),
    re("assignment", "https://x.example.test/cb?access_token=@@&a=1", PASS),
    re("assignment", "spring.datasource.password=@@", PASS),
    re("assignment", "<settings><server><password>@@</password></server></settings>", PASS),
    re("assignment", "<config>\n  <auth_token>@@</auth_token>\n</config>", PASS),
    re("assignment", "<add key=\"ClearTextPassword\" value=\"@@\" />", PASS),
    re("assignment", "<param name=\"api_token\" value=\"@@\"/>", PASS),
    re("assignment", "HEROKU_API_KEY_LEGACY=@@", UUID),
    re("assignment", "+CODECOV_TOKEN = os.environ.get(\"CODECOV_TOKEN\", \"@@\")", UUID),
    re("assignment", "LINODE_TOKEN = ENV.fetch('LINODE_TOKEN', '@@')", "[a-f0-9]{64}"),
    re("generic_secret", "{\"patch\":\"DD_APP_KEY = os.getenv(\\\"DD_APP_KEY\\\", \\\"@@\\\")\"}", "[a-f0-9]{40}"),
    re("assignment", "MJ_APIKEY_PRIVATE=\"@@\"", "[a-f0-9]{32}"),
    re("assignment", "together_api_key_prod: @@", "[a-f0-9]{64}"),
    gen("generic_secret", "STRIPE_SIGNING_KEY=@@", high_entropy),
    re("generic_secret", "https://s3.example.test/o?X-Amz-Signature=@@&X-Amz-Date=1", "[a-f0-9]{64}"),
    gen("generic_secret", "\"credentials\": \"@@\"", high_entropy),
    gen("email", "mail @@ now", email),
    gen("phone", "call @@ now", phone_intl),
    gen("phone", "call @@ now", phone_us),
    gen("phone", "tél @@", phone_fr),
    re("phone", "phone: @@", "[0-9]{10}"),
    gen("iban", "IBAN @@.", iban),
    gen("iban", "their iban on file is @@ (verified)", iban_gb),
    gen("nl_bsn", "1028,bsn customer,XX,\"@@\",,", bsn),
    gen("nl_bsn", "BSN: @@", bsn),
    gen("nl_bsn", "burgerservicenummer @@.", bsn),
    gen("credit_card", "card @@.", card),
    gen("us_ssn", "SSN @@", ssn),
    re("us_ssn", "ssn=@@", "[1-5][0-9]{2}[1-9][0-9][1-9][0-9]{3}"),
    gen("uk_nino", "NI @@", nino),
    gen("ca_sin", "SIN @@", sin),
    gen("in_aadhaar", "Aadhaar @@", aadhaar),
    gen("br_cpf", "CPF @@", cpf),
    gen("es_dni", "DNI @@", dni),
    gen("es_dni", "NIE @@", nie),
    gen("it_codice_fiscale", "CF @@", codice_fiscale),
    gen("fr_nir", "NIR @@", nir),
];

/// Near misses: each must be left alone by the named detector on its own.
static NEGATIVES: &[(&str, &[&str])] = &[
    (
        "openai",
        &[
            "sk-short",
            "task-1234567890abcdef",
            "sk-ant-api03-abcdefghijklmnopqrst",
            "ask-questions-in-the-channel",
        ],
    ),
    (
        "anthropic",
        &["sk-ant-", "risk-ant-api03-abcdefghijklmnopqrstuvwxyz"],
    ),
    (
        "github",
        &[
            "ghp_short",
            "ghx_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_",
        ],
    ),
    ("gitlab", &["glpat-short", "glrt-x"]),
    (
        "aws",
        &[
            "AKIA123",
            "akiaiosfodnn7example",
            "key AKIA1234567890 wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ],
    ),
    ("gcp", &["ya29.", "1//", "private_key_id: \"\""]),
    (
        "azure",
        &[
            "AccountKey=short",
            "#sig=abcdefghijklmnopqrstuvwxyz",
            "Q~abc",
        ],
    ),
    ("slack", &["xoxb-1", "xoxz-1234567890-abcdefghij"]),
    ("stripe", &["sk_live_", "pk_live_4eC39HqLyjWDarjtT1zdp7dc"]),
    ("jwt", &["eyJhbGciOiJIUzI1NiJ9", "eyJ.x.y"]),
    (
        "private_key",
        &[
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
        ],
    ),
    (
        "private_key_base64",
        &[
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
            "client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        ],
    ),
    (
        "email",
        &[
            "git@github.com:acme/x.git",
            "icon@2x.png",
            "chacha20-poly1305@openssh.com",
            "@openai/codex@0.169.0",
            "user@localhost",
        ],
    ),
    (
        "url_password",
        &[
            "https://github.com/acme/x.git",
            "http://localhost:8080/path@v2",
            "https://git@github.com/acme/x",
        ],
    ),
    (
        "credit_card",
        &[
            "4111111111111112",
            "1763700487441123456",
            "4111-1111-1111-111",
        ],
    ),
    (
        "phone",
        &[
            "2026-11-21 04:48:07",
            "v1.88.0",
            "10.0.0.12:8080",
            "+00:00",
            "123-456-7890",
            "1763700487",
            "port 8080",
            "+1.5%",
        ],
    ),
    (
        "iban",
        &[
            "DE89370400440532013001",
            "GB82WEST1234569876543",
            "QQ89370400440532013000",
        ],
    ),
    (
        "us_ssn",
        &[
            "000-12-3456",
            "666-12-3456",
            "123-00-4567",
            "123-45-0000",
            "900-12-3456",
            "2026-11-21",
        ],
    ),
    (
        "uk_nino",
        &["GB123456A", "DA123456A", "AB123456E", "AB12345C"],
    ),
    ("ca_sin", &["130-692-545", "046-454-286"]),
    ("in_aadhaar", &["2341 2341 2347", "1234 5678 9012"]),
    ("br_cpf", &["529.982.247-26", "111.111.111-11"]),
    ("es_dni", &["12345678A", "X1234567A"]),
    ("it_codice_fiscale", &["RSSMRA85T10A562T"]),
    ("fr_nir", &["1 84 12 76 451 089 47"]),
    ("twilio", &["SK123", "ACCOUNT_SID_PLACEHOLDER_VALUE_12345"]),
    (
        "discord",
        &["Mabc.def.ghi", "https://discord.com/api/webhooks/123/short"],
    ),
    ("telegram", &["123:AAshort", "10:30:AA"]),
    ("mailchimp", &["en-us", "0123456789abcdef-us1"]),
    (
        "vault",
        &[
            "os.environ",
            "s.AAAAAAAAAAAAAAAAAAAAAAAA",
            "requests.Session",
        ],
    ),
    ("mandrill", &["md-file", "cmd-aaaaaaaaaaaaaaaaaaaaaa"]),
    (
        "resend",
        &["re_match(", "re_compile_pattern_all_of_the_things"],
    ),
    (
        "mollie",
        &["live_reload", "test_parses_every_syntax_of_the_kv_file"],
    ),
    (
        "gocardless",
        &["live_update_of_the_dashboard_when_a_new_event_arrives"],
    ),
    (
        "launchdarkly",
        &["api-gateway", "sdk-0.1.0", "request api-12345678"],
    ),
    (
        "jenkins",
        &["1100000000", "11aabbccddeeff00112233445566778899aa"],
    ),
    ("openshift", &["sha256:3f2a9c1b", "sha256~short"]),
    (
        "chat_webhook",
        &[
            "https://git.example.test/hooks/pre-commit",
            "/hooks/useAuthentication",
        ],
    ),
    (
        "nl_bsn",
        &["bsn 123456789", "customer 111222333", "bsn 1112223334"],
    ),
    (
        "assignment",
        &[
            "let token = self.token.clone();",
            "token: Option<String>",
            "password: ${DB_PASSWORD}",
            "existingSecret: redis-auth",
            "secretName: db-credentials",
            "max_tokens: 4096",
            "PWD=/home/dev/src/payments-service",
            "password_file=/run/secrets/db",
            "{\"token\": \"Hello\"}",
            "if token == expected { return Ok(()); }",
            "<token>",
            "Authorization: Bearer <token> and then",
            "password_file: /run/secrets/db",
            "<add key=\"Username\" value=\"deploy\" />",
            "prompt(\"password\", \"Enter your password\")",
            "\"required\": [\"api_token\", \"client_secret\"]",
        ],
    ),
    (
        "generic_secret",
        &[
            "cache_key: node-modules-Linux-3f2a9c1b",
            "session: 01a1fc6e-e10a-7442-9281-3109f6a357e9",
            "key: 4532def0a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "auth: 2026-11-21T04:48:07.441Z",
            "public_key: AAAAC3NzaC1lZDI1NTE5AAAAIG",
            "signing_key: short",
            "HEROKU_API_KEY_FILE=/run/secrets/heroku",
        ],
    ),
    ("api_key_header", &["api_key: x", "X-Api-Key: ${KEY}"]),
    ("curl_user", &["git add -u src", "mysql -u root"]),
    ("cookie", &["document.cookie = x"]),
    ("netrc", &["machine learning models"]),
];

fn only(name: &str) -> RedactionProcessor {
    let Some(d) = Detector::named(name) else {
        panic!("no detector {name}");
    };
    match (RedactionConfig {
        detectors: Some(DetectorSelection::List(vec![Selector::Detector(d)])),
        ..Default::default()
    })
    .build()
    {
        Ok(p) => p,
        Err(e) => panic!("{name}: {e:?}"),
    }
}

#[test]
fn every_detector_catches_fresh_random_values_of_each_of_its_formats() {
    let mut runner = TestRunner::new(Config::default());
    let mut processors: HashMap<&str, RedactionProcessor> = HashMap::new();
    for case in POSITIVES {
        let p = processors.entry(case.det).or_insert_with(|| only(case.det));
        let label = format!("[REDACTED:{}]", case.det);
        for _ in 0..ROUNDS {
            let secret = match case.secret {
                Gen::Re(r) => draw(&mut runner, r),
                Gen::Fn(f) => f(&mut runner),
            };
            let text = case.template.replace("@@", &secret);
            let out = p.redact_str(&text).unwrap_or_else(|| text.clone());
            assert!(
                !out.contains(&secret) && out.contains(&label),
                "{}: {text:?} -> {out:?}",
                case.det
            );
        }
    }
}

#[test]
fn every_detector_has_positive_cases() {
    for d in Detector::all() {
        assert!(
            POSITIVES.iter().any(|c| c.det == d.name()),
            "{} has no positive case",
            d.name()
        );
    }
}

#[test]
fn near_misses_are_left_alone() {
    for (name, cases) in NEGATIVES {
        let p = only(name);
        for text in *cases {
            assert_eq!(p.redact_str(text), None, "{name} fired on {text:?}");
        }
    }
}

#[test]
fn at_least_120_credential_formats() {
    let formats: usize = Detector::all()
        .filter(|d| d.category() != crate::redaction::Category::Pii)
        .map(|d| d.formats().count())
        .sum();
    assert!(formats >= 120, "{formats} credential formats");
}
