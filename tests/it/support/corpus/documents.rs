//! Where planted values live in a session: the files a tool prints (env dumps, `.env`, shell
//! exports, JSON/YAML/INI/TOML configs, neutral log lines, and the structured credential files
//! of developers' machines — `~/.aws/credentials`, kubeconfigs, docker `config.json`, `.npmrc`,
//! `.pypirc`, `.netrc`, `.git-credentials`, service-account JSON, Kubernetes Secrets, Azure
//! `appsettings.json`, Maven/NuGet/Cargo credentials, HTTP transcripts), generic secrets after
//! secret-ish keys in every syntax, header tokens in `curl` command lines, the prompt, the
//! patches the model applies and the error messages of failing commands.

use serde_json::json;

use super::formats::{self, basic_blob, core_of, Format, Tok};
use super::gen::{b64, Gen};
use super::keys;
use super::pii;
use super::{Category, Channel, Planted, WorkFile};

/// Largest file a single `cat` prints: Codex cuts a tool output to 2,048 characters in its
/// telemetry (header included), so every value must sit wholly in the first 1,800.
pub const OUTPUT_BUDGET: usize = 1800;

/// One step of a session and what it carries: a file the model prints, a command it runs, or a
/// prompt. Values planted (and ordinary substrings kept, and scripts written) since the previous
/// unit belong to the unit that closes them.
#[derive(Clone, Debug)]
pub struct Unit {
    pub kind: UnitKind,
    /// Files written for this unit (the printed file, scripts a command runs).
    pub files: Vec<WorkFile>,
    pub planted: Vec<Planted>,
    /// Ordinary substrings (for units of the secret-free corpus).
    pub ordinary: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// A file printed with `cat`; `true` for the secret-free corpus.
    Output {
        path: String,
        ordinary: bool,
    },
    Command(String),
    Prompt(String),
}

/// Collects the units of a corpus.
pub struct Builder<'a> {
    pub g: &'a mut Gen,
    /// A per-corpus rotation (homes, prompt formats, generic keys).
    pub rot: usize,
    pub units: Vec<Unit>,
    pending: Unit,
}

impl<'a> Builder<'a> {
    pub fn new(g: &'a mut Gen, rot: usize) -> Self {
        Self {
            g,
            rot,
            units: Vec::new(),
            pending: Unit {
                kind: UnitKind::Command(String::new()),
                files: Vec::new(),
                planted: Vec::new(),
                ordinary: Vec::new(),
            },
        }
    }

    pub fn plant(
        &mut self,
        format: &str,
        category: Category,
        tok: &Tok,
        channel: Channel,
        carrier: &str,
    ) {
        self.pending.planted.push(Planted {
            format: format.to_owned(),
            category,
            value: tok.value.clone(),
            core: tok.core.clone(),
            decoded_core: tok.decoded_core.clone(),
            channel,
            carrier: carrier.to_owned(),
        });
    }

    /// Records an ordinary substring (of the next file or command).
    pub fn keep(&mut self, s: String) {
        self.pending.ordinary.push(s);
    }

    fn close(&mut self, kind: UnitKind) {
        let mut unit = std::mem::replace(
            &mut self.pending,
            Unit {
                kind: UnitKind::Command(String::new()),
                files: Vec::new(),
                planted: Vec::new(),
                ordinary: Vec::new(),
            },
        );
        unit.kind = kind;
        self.units.push(unit);
    }

    /// A file the model prints with `cat` (at most [`OUTPUT_BUDGET`] bytes).
    pub fn output_file(&mut self, path: &str, content: String) {
        self.output(path, content, false);
    }

    /// A file of the secret-free corpus, printed with `cat`.
    pub fn ordinary_file(&mut self, path: &str, content: String) {
        self.output(path, content, true);
    }

    fn output(&mut self, path: &str, content: String, ordinary: bool) {
        assert!(
            content.len() <= OUTPUT_BUDGET,
            "{path} is {} bytes, over the output budget",
            content.len()
        );
        self.pending.files.push(WorkFile {
            path: path.to_owned(),
            content,
            executable: false,
        });
        self.close(UnitKind::Output {
            path: path.to_owned(),
            ordinary,
        });
    }

    /// A script the next command runs (not printed).
    pub fn script(&mut self, path: &str, content: String) {
        self.pending.files.push(WorkFile {
            path: path.to_owned(),
            content,
            executable: true,
        });
    }

    /// A shell command of the scripted model.
    pub fn command(&mut self, cmd: String) {
        self.close(UnitKind::Command(cmd));
    }

    /// A prompt.
    pub fn prompt(&mut self, text: String) {
        self.close(UnitKind::Prompt(text));
    }
}

/// How a keyed file renders one `(variable name, value)` entry, and its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    EnvDump,
    DotEnv,
    ExportSh,
    Json,
    Yaml,
    Ini,
    Toml,
    /// Neutral text without the variable name (self-identifying formats only).
    Neutral,
}

const HOMES: [Home; 8] = [
    Home::EnvDump,
    Home::DotEnv,
    Home::ExportSh,
    Home::Json,
    Home::Yaml,
    Home::Ini,
    Home::Toml,
    Home::Neutral,
];

impl Home {
    fn path(self, n: usize) -> String {
        let (stem, ext) = match self {
            Home::EnvDump => ("logs/printenv", ".txt"),
            Home::DotEnv => (".env", ""),
            Home::ExportSh => ("scripts/ci-env", ".sh"),
            Home::Json => ("config/credentials", ".json"),
            Home::Yaml => ("config/values", ".yaml"),
            Home::Ini => ("config/app", ".ini"),
            Home::Toml => ("config/secrets", ".toml"),
            Home::Neutral => ("logs/worker", ".log"),
        };
        if n == 0 {
            format!("{stem}{ext}")
        } else {
            format!("{stem}-{}{ext}", n + 1)
        }
    }

    fn render(self, entries: &[(String, String)], g: &mut Gen) -> String {
        let lower = |k: &str| k.to_ascii_lowercase();
        match self {
            Home::EnvDump => {
                let mut s = String::from(
                    "HOSTNAME=runner-7f9c\nHOME=/home/runner\nLANG=C.UTF-8\nSHELL=/bin/bash\n",
                );
                for (k, v) in entries {
                    s += &format!("{k}={v}\n");
                }
                s + "PATH=/usr/local/bin:/usr/bin:/bin\n"
            }
            Home::DotEnv => {
                let mut s = String::from("# local overrides, do not commit\nNODE_ENV=production\n");
                for (k, v) in entries {
                    s += &format!("{k}=\"{v}\"\n");
                }
                s
            }
            Home::ExportSh => {
                let mut s = String::from("#!/usr/bin/env bash\nset -euo pipefail\n");
                for (k, v) in entries {
                    s += &format!("export {k}='{v}'\n");
                }
                s
            }
            Home::Json => {
                let map: serde_json::Map<String, serde_json::Value> =
                    entries.iter().map(|(k, v)| (lower(k), json!(v))).collect();
                let doc = json!({"environment": "production", "integrations": map});
                serde_json::to_string_pretty(&doc).expect("json") + "\n"
            }
            Home::Yaml => {
                let mut s = String::from("environment: production\nintegrations:\n");
                for (k, v) in entries {
                    s += &format!("  {}: \"{v}\"\n", lower(k));
                }
                s
            }
            Home::Ini => {
                let mut s = String::from("[server]\nport = 8080\n\n[integrations]\n");
                for (k, v) in entries {
                    s += &format!("{} = {v}\n", lower(k));
                }
                s
            }
            Home::Toml => {
                let mut s = String::from("[server]\nport = 8080\n\n[integrations]\n");
                for (k, v) in entries {
                    s += &format!("{} = \"{v}\"\n", lower(k));
                }
                s
            }
            Home::Neutral => {
                let mut s = String::new();
                for (i, (_, v)) in entries.iter().enumerate() {
                    let ts = format!(
                        "2025-06-0{}T10:{:02}:{:02}.{:03}Z",
                        1 + i % 9,
                        g.int(0, 59),
                        g.int(0, 59),
                        g.int(0, 999)
                    );
                    s += &match i % 5 {
                        0 => format!(
                            "{ts} INFO  worker-{} picked up {v} from the queue\n",
                            g.int(1, 9)
                        ),
                        1 => format!("| {} | {v} | active |\n", i + 1),
                        2 => format!("{ts} DEBUG rotated {v} -> slot {}\n", g.int(1, 64)),
                        3 => format!("  - {v}\n"),
                        _ => format!("{v}\n"),
                    };
                }
                s
            }
        }
    }
}

/// A planted entry of a keyed file: variable name, value, format, token.
type Entry<'f> = (String, String, &'f Format, Tok);

/// Plants one fresh value of every credential format in a keyed file (or neutral text),
/// rotating the homes by session so each format is seen in several syntaxes across a run.
pub fn plant_formats(b: &mut Builder<'_>, formats: &[Format]) {
    let mut by_home: Vec<(Home, Vec<Entry<'_>>)> = HOMES.iter().map(|h| (*h, Vec::new())).collect();
    for (i, f) in formats.iter().enumerate() {
        let homes = if f.keyed_only {
            &HOMES[..7]
        } else {
            &HOMES[..]
        };
        let home = homes[(i + b.rot * 3) % homes.len()];
        let tok = (f.make)(b.g);
        let slot = by_home.iter_mut().find(|(h, _)| *h == home).expect("home");
        slot.1.push((f.env.to_owned(), tok.value.clone(), f, tok));
    }
    for (home, items) in by_home {
        let mut chunk: Vec<(String, String)> = Vec::new();
        let mut chunk_items: Vec<(&Format, Tok)> = Vec::new();
        let mut n = 0;
        for (env, value, f, tok) in items {
            chunk.push((env, value));
            if home.render(&chunk, b.g).len() > OUTPUT_BUDGET - 120 && chunk.len() > 1 {
                let last = chunk.pop().expect("pushed");
                flush_home(b, home, n, &chunk, &chunk_items);
                n += 1;
                chunk = vec![last];
                chunk_items.clear();
            }
            chunk_items.push((f, tok));
        }
        if !chunk.is_empty() {
            flush_home(b, home, n, &chunk, &chunk_items);
        }
    }
}

fn flush_home(
    b: &mut Builder<'_>,
    home: Home,
    n: usize,
    chunk: &[(String, String)],
    items: &[(&Format, Tok)],
) {
    let path = home.path(n);
    let text = home.render(chunk, b.g);
    for (f, tok) in items {
        b.plant(f.id, f.category, tok, Channel::ToolOutput, &path);
    }
    b.output_file(&path, text);
}

/// Every private key file, printed with `cat`.
pub fn plant_key_files(b: &mut Builder<'_>) {
    for k in keys::key_files(b.g) {
        b.plant(
            k.id,
            Category::PrivateKey,
            &k.tok,
            Channel::ToolOutput,
            k.path,
        );
        b.output_file(k.path, k.text);
    }
}

/// A fresh value of the format `id`.
fn make(b: &mut Builder<'_>, formats: &[Format], id: &str) -> (Tok, Category) {
    let f = formats
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no format {id}"));
    ((f.make)(b.g), f.category)
}

/// Makes a value of `id`, plants it in `carrier` and returns its text.
fn put(
    b: &mut Builder<'_>,
    formats: &[Format],
    id: &str,
    channel: Channel,
    carrier: &str,
) -> String {
    let (tok, cat) = make(b, formats, id);
    b.plant(id, cat, &tok, channel, carrier);
    tok.value
}

/// The structured credential files of item 4, each with fresh values.
pub fn plant_structured_files(b: &mut Builder<'_>, formats: &[Format]) {
    let out = Channel::ToolOutput;
    // ~/.aws/credentials
    let p = ".aws/credentials";
    let (a1, s1) = (
        put(b, formats, "aws-access-key-id", out, p),
        put(b, formats, "aws-secret-access-key", out, p),
    );
    let (a2, s2, t2) = (
        put(b, formats, "aws-temporary-access-key-id", out, p),
        put(b, formats, "aws-secret-access-key", out, p),
        put(b, formats, "aws-session-token", out, p),
    );
    b.output_file(p, format!("[default]\naws_access_key_id = {a1}\naws_secret_access_key = {s1}\nregion = eu-west-1\n\n[ci-deployer]\naws_access_key_id = {a2}\naws_secret_access_key = {s2}\naws_session_token = {t2}\n"));

    // kubeconfig with a service-account token; an admin kubeconfig with a client key.
    let p = ".kube/config";
    let token = put(b, formats, "kubernetes-service-account-token", out, p);
    let ca = b64(&b.g.bytes(180));
    b.output_file(p, format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://10.0.12.4:6443\n  name: prod-eu\ncontexts:\n- context:\n    cluster: prod-eu\n    namespace: payments\n    user: deployer\n  name: prod-eu\ncurrent-context: prod-eu\nusers:\n- name: deployer\n  user:\n    token: {token}\n"));
    let p = ".kube/admin.conf";
    let (pem, pem_core) = keys::ec_pem(b.g);
    let key_data = b64(pem.as_bytes());
    let tok = Tok::encoded(key_data.clone(), &pem_core);
    b.plant(
        "kubeconfig-client-key-data",
        Category::PrivateKey,
        &tok,
        out,
        p,
    );
    let user_pw = b.g.password(24);
    b.plant(
        "kubeconfig-basic-auth-password",
        Category::Generic,
        &Tok::raw(user_pw.clone()),
        out,
        p,
    );
    let cert = b64(&b.g.bytes(240));
    b.output_file(p, format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.12.4:6443\n    insecure-skip-tls-verify: true\n  name: lab\ncurrent-context: lab-admin\nusers:\n- name: lab-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key_data}\n- name: lab-basic\n  user:\n    username: admin\n    password: {user_pw}\n"));

    docker_config(b, formats);
    package_manager_files(b, formats);
    netrc_and_git_credentials(b, formats);
    service_account_json(b);
    k8s_secret_and_appsettings(b, formats);
    build_tool_credentials(b, formats);
}

fn docker_config(b: &mut Builder<'_>, formats: &[Format]) {
    let p = ".docker/config.json";
    let mut auths = serde_json::Map::new();
    for (registry, user, id) in [
        ("https://index.docker.io/v1/", "acmebuild", "docker-hub-pat"),
        ("ghcr.io", "acme-ci", "github-pat-classic"),
    ] {
        let (inner, _) = make(b, formats, id);
        let blob = basic_blob(user, &inner.value);
        let tok = Tok::encoded(blob.value.clone(), &inner.core);
        b.plant(
            "docker-config-auth",
            Category::Registry,
            &tok,
            Channel::ToolOutput,
            p,
        );
        auths.insert(registry.to_owned(), json!({"auth": blob.value}));
    }
    let pw = b.g.password(24);
    let blob = basic_blob("deploy", &pw);
    b.plant(
        "docker-config-auth",
        Category::Registry,
        &blob,
        Channel::ToolOutput,
        p,
    );
    auths.insert(
        "registry.acme.internal:5000".to_owned(),
        json!({"auth": blob.value}),
    );
    let idt = formats::session_jwt(b.g);
    b.plant(
        "docker-config-identitytoken",
        Category::Registry,
        &idt,
        Channel::ToolOutput,
        p,
    );
    auths.insert(
        "acmeprod.azurecr.io".to_owned(),
        json!({"auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==", "identitytoken": idt.value}),
    );
    let doc =
        json!({"auths": auths, "HttpHeaders": {"User-Agent": "Docker-Client/24.0.7 (linux)"}});
    b.output_file(p, serde_json::to_string_pretty(&doc).expect("json") + "\n");
}

fn package_manager_files(b: &mut Builder<'_>, formats: &[Format]) {
    let out = Channel::ToolOutput;
    let p = ".npmrc";
    let npm = put(b, formats, "npm-access-token", out, p);
    let gh = put(b, formats, "github-pat-classic", out, p);
    let pw = b.g.password(20);
    let blob = basic_blob("deploy", &pw);
    b.plant("npmrc-auth", Category::Registry, &blob, out, p);
    b.output_file(p, format!("registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={npm}\n@acme:registry=https://npm.pkg.github.com/\n//npm.pkg.github.com/:_authToken={gh}\n//nexus.acme.internal/repository/npm-private/:_auth={}\nalways-auth=true\n", blob.value));

    let p = ".yarnrc.yml";
    let npm = put(b, formats, "npm-access-token", out, p);
    b.output_file(p, format!("nodeLinker: node-modules\nnpmRegistryServer: \"https://registry.npmjs.org\"\nnpmAuthToken: {npm}\n"));

    let p = ".pypirc";
    let pypi = put(b, formats, "pypi-upload-token", out, p);
    let test = put(b, formats, "testpypi-upload-token", out, p);
    let pw = b.g.password(22);
    b.plant(
        "pypirc-password",
        Category::Generic,
        &Tok::raw(pw.clone()),
        out,
        p,
    );
    b.output_file(p, format!("[distutils]\nindex-servers =\n    pypi\n    testpypi\n    private\n\n[pypi]\nusername = __token__\npassword = {pypi}\n\n[testpypi]\nrepository = https://test.pypi.org/legacy/\nusername = __token__\npassword = {test}\n\n[private]\nrepository = https://pypi.acme.internal/simple/\nusername = deploy\npassword = {pw}\n"));

    let p = ".cargo/credentials.toml";
    let cio = put(b, formats, "crates-io-token", out, p);
    b.output_file(p, format!("[registry]\ntoken = \"{cio}\"\n"));
}

fn netrc_and_git_credentials(b: &mut Builder<'_>, formats: &[Format]) {
    let out = Channel::ToolOutput;
    let p = ".netrc";
    let heroku = put(b, formats, "heroku-api-key-v2", out, p);
    let gh = put(b, formats, "github-oauth-token", out, p);
    let pw = b.g.password(22);
    b.plant(
        "netrc-password",
        Category::Generic,
        &Tok::raw(pw.clone()),
        out,
        p,
    );
    b.output_file(p, format!("machine api.heroku.com\n  login deploy\n  password {heroku}\nmachine github.com login acme-ci password {gh}\nmachine artifacts.acme.internal\n  login deploy\n  password {pw}\n"));

    let p = ".git-credentials";
    let gh = put(b, formats, "github-pat-classic", out, p);
    let gl = put(b, formats, "gitlab-pat", out, p);
    b.output_file(
        p,
        format!("https://acme-ci:{gh}@github.com\nhttps://oauth2:{gl}@gitlab.com\n"),
    );

    // `git remote -v` prints what `git remote add` stored: the values are in the command and
    // in its output.
    let carrier = "git remote -v";
    let ghs = put(b, formats, "github-server-to-server-token", out, carrier);
    let glpat = put(b, formats, "gitlab-deploy-token", out, carrier);
    let atbb = put(b, formats, "bitbucket-app-password", out, carrier);
    let deploy_token_id = b.g.digits(6);
    b.command(format!(
        "git remote add upstream https://x-access-token:{ghs}@github.com/acme/payments-service.git && git remote add gitlab https://gitlab+deploy-token-{deploy_token_id}:{glpat}@gitlab.com/acme/payments.git && git remote add bitbucket https://acme-ci:{atbb}@bitbucket.org/acme/payments.git && git remote -v"
    ));
}

fn service_account_json(b: &mut Builder<'_>) {
    let p = "secrets/gcp-deployer.json";
    let key_id = b.g.hex(40);
    let (pem, core) = keys::pkcs8_pem(b.g);
    let project = format!("acme-{}-{}", b.g.word(), b.g.digits(4));
    let doc = json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": format!("deployer@{project}.iam.gserviceaccount.com"),
        "client_id": b.g.digits(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com"
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    let escaped = serde_json::to_string(&pem).expect("json");
    let escaped = escaped.trim_matches('"').to_owned();
    b.plant(
        "gcp-service-account-private-key-id",
        Category::Cloud,
        &Tok::raw(key_id),
        Channel::ToolOutput,
        p,
    );
    b.plant(
        "gcp-service-account-private-key",
        Category::Cloud,
        &Tok::with_core(escaped, &core),
        Channel::ToolOutput,
        p,
    );
    b.output_file(p, text);
}

fn k8s_secret_and_appsettings(b: &mut Builder<'_>, formats: &[Format]) {
    let out = Channel::ToolOutput;
    let p = "deploy/payments-secret.yaml";
    let db_pw = b.g.password(24);
    let db = Tok::encoded(b64(db_pw.as_bytes()), &core_of(&db_pw));
    b.plant("kubernetes-secret-data", Category::Generic, &db, out, p);
    let (stripe, _) = make(b, formats, "stripe-live-secret-key");
    let st = Tok::encoded(b64(stripe.value.as_bytes()), &stripe.core);
    b.plant("kubernetes-secret-data", Category::Payments, &st, out, p);
    let redis_pw = b.g.password(24);
    b.plant(
        "kubernetes-secret-string-data",
        Category::Generic,
        &Tok::raw(redis_pw.clone()),
        out,
        p,
    );
    b.output_file(p, format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\n  namespace: payments\ntype: Opaque\ndata:\n  DB_PASSWORD: {}\n  STRIPE_SECRET_KEY: {}\nstringData:\n  REDIS_PASSWORD: {redis_pw}\n", db.value, st.value));

    let p = "src/Payments.Api/appsettings.Production.json";
    let sql = put(b, formats, "adonet-sqlserver", out, p);
    let storage = put(b, formats, "azure-storage-connection-string", out, p);
    let bus = put(b, formats, "azure-service-bus-connection-string", out, p);
    let aad = put(b, formats, "azure-ad-client-secret", out, p);
    let doc = json!({
        "ConnectionStrings": {"Default": sql, "Storage": storage, "ServiceBus": bus},
        "AzureAd": {"Instance": "https://login.microsoftonline.com/", "TenantId": b.g.uuid(), "ClientId": b.g.uuid(), "ClientSecret": aad},
        "Logging": {"LogLevel": {"Default": "Information"}}
    });
    b.output_file(p, serde_json::to_string_pretty(&doc).expect("json") + "\n");
}

fn build_tool_credentials(b: &mut Builder<'_>, formats: &[Format]) {
    let out = Channel::ToolOutput;
    let p = ".m2/settings.xml";
    let pw = b.g.password(24);
    b.plant(
        "maven-settings-password",
        Category::Generic,
        &Tok::raw(pw.clone()),
        out,
        p,
    );
    b.output_file(p, format!("<settings>\n  <servers>\n    <server>\n      <id>acme-releases</id>\n      <username>deploy</username>\n      <password>{pw}</password>\n    </server>\n  </servers>\n</settings>\n"));

    let p = "NuGet.Config";
    let pw = b.g.password(24);
    b.plant(
        "nuget-config-password",
        Category::Generic,
        &Tok::raw(pw.clone()),
        out,
        p,
    );
    let key = put(b, formats, "nuget-api-key", out, p);
    b.output_file(p, format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSourceCredentials>\n    <acme>\n      <add key=\"Username\" value=\"deploy\" />\n      <add key=\"ClearTextPassword\" value=\"{pw}\" />\n    </acme>\n  </packageSourceCredentials>\n  <apikeys>\n    <add key=\"https://api.nuget.org/v3/index.json\" value=\"{key}\" />\n  </apikeys>\n</configuration>\n"));

    let p = "src/main/resources/application-prod.properties";
    let jdbc = put(b, formats, "jdbc-mysql", out, p);
    let pw = b.g.password(22);
    b.plant(
        "spring-datasource-password",
        Category::Generic,
        &Tok::raw(pw.clone()),
        out,
        p,
    );
    b.output_file(p, format!("server.port=8080\nspring.datasource.url={jdbc}\nspring.datasource.username=crm\nspring.datasource.password={pw}\nmanagement.endpoints.web.exposure.include=health\n"));

    // A CI log that decodes a base64 env file: the credentials are only in base64.
    let p = "logs/ci-decode-env.log";
    let secret = b.g.password(26);
    let (aws, _) = make(b, formats, "aws-secret-access-key");
    let env = format!(
        "DB_PASSWORD={secret}\nAWS_SECRET_ACCESS_KEY={}\n",
        aws.value
    );
    let blob = b64(env.as_bytes());
    b.plant(
        "base64-env-file",
        Category::Generic,
        &Tok::encoded(blob.clone(), &core_of(&secret)),
        out,
        p,
    );
    b.plant(
        "base64-env-file",
        Category::Cloud,
        &Tok::encoded(blob.clone(), &aws.core),
        out,
        p,
    );
    b.output_file(p, format!("Run echo \"$ENV_FILE_B64\" | base64 -d > .env\n  echo \"{blob}\" | base64 -d > .env\n  shell: /usr/bin/bash -e {{0}}\n"));
}

/// Generic secrets: a high-entropy value after a secret-ish key, in every syntax.
pub fn plant_generic(b: &mut Builder<'_>) {
    const KEYS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_key",
        "private_key",
        "client_secret",
        "credential",
        "auth",
        "session",
        "signature",
        "auth_token",
        "refresh_token",
        "secret_key",
        "encryption_key",
        "master_key",
        "db_pass",
    ];
    let out = Channel::ToolOutput;
    let mut k = b.rot * 5;
    type Render = fn(&str, &str) -> String;
    let files: [(&str, &str, Render); 9] = [
        ("config/generic.env", "generic-dotenv", |k, v| {
            format!("{}={v}\n", k.to_ascii_uppercase())
        }),
        ("scripts/generic-export.sh", "generic-export", |k, v| {
            format!("export APP_{}=\"{v}\"\n", k.to_ascii_uppercase())
        }),
        ("config/generic.json", "generic-json", |k, v| {
            format!("  \"{k}\": \"{v}\",\n")
        }),
        ("config/generic.yaml", "generic-yaml", |k, v| {
            format!("  {k}: {v}\n")
        }),
        ("config/generic.ini", "generic-ini", |k, v| {
            format!("{k} = {v}\n")
        }),
        ("config/generic.toml", "generic-toml", |k, v| {
            format!("{k} = \"{v}\"\n")
        }),
        ("config/generic.xml", "generic-xml", |k, v| {
            format!("  <{k}>{v}</{k}>\n")
        }),
        ("config/generic.php", "generic-php", |k, v| {
            format!("    '{k}' => '{v}',\n")
        }),
        ("logs/access.log", "generic-url-query", |k, v| {
            format!("10.42.7.19 - - [01/Jun/2025:10:00:03 +0000] \"GET /v1/export?{k}={v}&format=csv HTTP/1.1\" 200 5123\n")
        }),
    ];
    for (path, id, render) in files {
        let mut body = String::new();
        for _ in 0..3 {
            k += 1;
            let name = KEYS[k % KEYS.len()];
            let v = b.g.password(28);
            body += &render(name, &v);
            b.plant(id, Category::Generic, &Tok::raw(v), out, path);
        }
        let text = match id {
            "generic-json" => format!("{{\n{}  \"region\": \"eu-west-1\"\n}}\n", body),
            "generic-yaml" => format!("service:\n{body}"),
            "generic-ini" | "generic-toml" => format!("[service]\n{body}"),
            "generic-xml" => format!("<config>\n{body}</config>\n"),
            "generic-php" => format!("<?php\nreturn [\n{body}];\n"),
            _ => body,
        };
        b.output_file(path, text);
    }
    // Hex values after secret-ish keys (a key id, an HMAC signing secret).
    let p = "config/webhooks.yaml";
    let (id, sig) = (b.g.hex(40), b.g.hex(64));
    b.plant(
        "generic-hex-after-key",
        Category::Generic,
        &Tok::raw(id.clone()),
        out,
        p,
    );
    b.plant(
        "generic-hex-after-key",
        Category::Generic,
        &Tok::raw(sig.clone()),
        out,
        p,
    );
    b.output_file(
        p,
        format!("webhooks:\n  private_key_id: {id}\n  signing_secret: {sig}\n"),
    );

    // Command-line syntaxes: flags, env prefixes, client options, header, query string.
    let arg = Channel::ToolArguments;
    let v = |b: &mut Builder<'_>, id: &str, carrier: &str| {
        let v = b.g.password(28);
        b.plant(id, Category::Generic, &Tok::raw(v.clone()), arg, carrier);
        v
    };
    let (f1, f2, f3) = (
        v(b, "generic-flag-space", "./bin/release"),
        v(b, "generic-flag-equals", "./bin/release"),
        v(b, "generic-flag-space", "./bin/release"),
    );
    b.script(
        "bin/release",
        "#!/bin/sh\necho \"release: environment prod is frozen until 18:00 UTC\" >&2\nexit 3\n"
            .to_owned(),
    );
    b.command(format!(
        "./bin/release --env prod --password {f1} --api-token={f2} --client-secret {f3}"
    ));
    let pg = v(b, "generic-env-prefix", "psql");
    b.command(format!(
        "PGPASSWORD={pg} psql -h 127.0.0.1 -p 1 -U app -c 'select 1' || true"
    ));
    let my = v(b, "generic-mysql-p", "mysql");
    b.command(format!(
        "mysql -h 127.0.0.1 -P 1 -uroot -p{my} -e 'select 1' || true"
    ));
    let (h, q1, q2) = (
        v(b, "generic-header", "curl"),
        v(b, "generic-url-query", "curl"),
        v(b, "generic-url-query", "curl"),
    );
    b.command(format!("curl -sS --max-time 2 -H 'X-Internal-Auth: {h}' 'http://127.0.0.1:1/v1/export?access_token={q1}&sig={q2}' || true"));
    let lit = v(b, "generic-from-literal", "kubectl");
    b.command(format!("kubectl create secret generic app-secrets --from-literal=password={lit} --dry-run=client -o yaml 2>&1 | head -5 || true"));
}

/// Header formats: tokens in `Authorization`, `Cookie` and `X-*-Key` headers, once in real
/// `curl` command lines (arguments, aimed at a closed loopback port) and once in a printed
/// `curl -v` transcript (tool output).
pub fn plant_headers(b: &mut Builder<'_>, formats: &[Format]) {
    let mut lines: Vec<(String, &'static str, Tok)> = Vec::new();
    for id in HEADER_IDS {
        let (flag, _, tok) = header_value(b, formats, id);
        lines.push((flag, id, tok));
    }
    // Arguments: three headers per curl command.
    for group in lines.chunks(3) {
        let mut cmd = String::from("curl -sS --max-time 2");
        for (flag, id, tok) in group {
            cmd += &format!(" {flag}");
            b.plant(id, Category::Header, tok, Channel::ToolArguments, "curl");
        }
        cmd += " http://127.0.0.1:1/api/v2/reports || true";
        b.command(cmd);
    }
    // Output: a verbose transcript with fresh values.
    let mut path = "logs/curl-verbose.txt".to_owned();
    let mut text = String::from("*   Trying 10.42.7.19:443...\n* Connected to reports.acme.internal (10.42.7.19) port 443\n> GET /api/v2/reports HTTP/1.1\n> Host: reports.acme.internal\n");
    let mut n = 1;
    for id in HEADER_IDS {
        let (_, line, tok) = header_value(b, formats, id);
        if line.is_empty() {
            continue;
        }
        if text.len() + line.len() > OUTPUT_BUDGET - 80 {
            b.output_file(&path, text + "> Accept: */*\n");
            n += 1;
            path = format!("logs/curl-verbose-{n}.txt");
            text = String::from("> GET /api/v2/reports HTTP/1.1\n");
        }
        text += &format!("> {line}\n");
        b.plant(id, Category::Header, &tok, Channel::ToolOutput, &path);
    }
    b.output_file(
        &path,
        text + "> Accept: */*\n>\n< HTTP/1.1 401 Unauthorized\n",
    );
}

const HEADER_IDS: [&str; 16] = [
    "header-authorization-bearer",
    "header-authorization-basic",
    "header-cookie-session",
    "header-cookie-jwt",
    "header-x-api-key",
    "header-x-auth-token",
    "header-azure-openai-api-key",
    "header-x-goog-api-key",
    "header-gitlab-private-token",
    "header-x-vault-token",
    "header-proxy-authorization",
    "header-authorization-token-github",
    "header-x-shopify-access-token",
    "header-dd-api-key",
    "curl-user-password",
    "curl-oauth2-bearer",
];

/// The curl flag, the header line of a transcript (empty for flags that are no header) and the
/// planted value of header format `id`.
fn header_value(b: &mut Builder<'_>, formats: &[Format], id: &str) -> (String, String, Tok) {
    let g = &mut *b.g;
    let (name, tok): (&str, Tok) = match id {
        "header-authorization-bearer" => (
            "Authorization: Bearer",
            Tok::raw(g.url_safe(40).replace('-', "x")),
        ),
        "header-authorization-basic" => {
            let pw = g.password(24);
            ("Authorization: Basic", basic_blob("svc-reports", &pw))
        }
        "header-cookie-session" => {
            let s = g.hex(48);
            let t = Tok::raw(s.clone());
            return (
                format!("-H 'Cookie: theme=dark; session={s}'"),
                format!("Cookie: theme=dark; session={s}"),
                t,
            );
        }
        "header-cookie-jwt" => {
            let t = formats::session_jwt(g);
            return (
                format!("-b 'auth_token={}'", t.value),
                format!("Cookie: auth_token={}", t.value),
                t,
            );
        }
        "header-x-api-key" => ("X-API-Key:", Tok::raw(g.alnum(32))),
        "header-x-auth-token" => ("X-Auth-Token:", Tok::raw(g.url_safe(40).replace('-', "z"))),
        "header-azure-openai-api-key" => ("api-key:", Tok::raw(g.hex(32))),
        "header-dd-api-key" => ("DD-API-KEY:", Tok::raw(g.hex(32))),
        "header-proxy-authorization" => {
            let pw = g.password(24);
            ("Proxy-Authorization: Basic", basic_blob("proxyuser", &pw))
        }
        "curl-user-password" => {
            let pw = g.password(24);
            return (format!("-u 'deploy:{pw}'"), String::new(), Tok::raw(pw));
        }
        "curl-oauth2-bearer" => {
            let t = g.url_safe(44).replace('-', "q");
            return (format!("--oauth2-bearer {t}"), String::new(), Tok::raw(t));
        }
        "header-x-goog-api-key" => ("X-Goog-Api-Key:", make_tok(formats, "gcp-api-key", g)),
        "header-gitlab-private-token" => ("PRIVATE-TOKEN:", make_tok(formats, "gitlab-pat", g)),
        "header-x-vault-token" => (
            "X-Vault-Token:",
            make_tok(formats, "vault-service-token", g),
        ),
        "header-authorization-token-github" => (
            "Authorization: token",
            make_tok(formats, "github-oauth-token", g),
        ),
        "header-x-shopify-access-token" => (
            "X-Shopify-Access-Token:",
            make_tok(formats, "shopify-access-token", g),
        ),
        other => panic!("no header format {other}"),
    };
    let line = format!("{name} {}", tok.value);
    (format!("-H '{line}'"), line, tok)
}

fn make_tok(formats: &[Format], id: &str, g: &mut Gen) -> Tok {
    let f = formats.iter().find(|f| f.id == id).expect("format");
    (f.make)(g)
}

/// PII in tool output: a customer export (CSV) and a support ticket.
pub fn plant_pii(b: &mut Builder<'_>) {
    let formats = pii::pii_formats();
    let p = "exports/customers.csv";
    let mut csv = String::from("id,name,country,contact,bank_or_card,national_id\n");
    for (i, f) in formats.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let tok = (f.make)(b.g);
        csv += &format!("{},{} customer,XX,\"{}\",,\n", 1000 + i, f.label, tok.value);
        b.plant(f.id, Category::Pii, &tok, Channel::ToolOutput, p);
    }
    b.output_file(p, csv);
    let p = "tickets/OPS-2231.md";
    let mut ticket = String::from("Ticket OPS-2231: customer called about a failed refund.\n");
    for (i, f) in formats.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        let tok = (f.make)(b.g);
        ticket += &format!(
            "- their {} on file is {} (verified by agent {})\n",
            f.label, tok.value, i
        );
        b.plant(f.id, Category::Pii, &tok, Channel::ToolOutput, p);
    }
    b.output_file(p, ticket);
}

/// Prompt `n`, carrying fresh values of a rotating set of formats and PII.
pub fn prompt(b: &mut Builder<'_>, formats: &[Format], n: usize) {
    let mut parts = Vec::new();
    let r = b.rot + n * 7;
    for j in 0..6 {
        let f = &formats[(r * 13 + j * 37) % formats.len()];
        let tok = (f.make)(b.g);
        b.plant(f.id, f.category, &tok, Channel::Prompt, "prompt");
        parts.push(format!("{} is {}", f.env, tok.value));
    }
    let pii = pii::pii_formats();
    for j in 0..3 {
        let f = &pii[(r * 5 + j * 7) % pii.len()];
        let tok = (f.make)(b.g);
        b.plant(f.id, Category::Pii, &tok, Channel::Prompt, "prompt");
        parts.push(format!("the customer's {} is {}", f.label, tok.value));
    }
    b.prompt(format!(
        "Deploy the payments service to prod and check the integrations. For reference: {}. Print the config files and fix whatever is broken.",
        parts.join("; ")
    ));
}

/// Two patches the model applies (`apply_patch` through the shell): an env file and a Python
/// settings module with an SSH key, all fresh values.
pub fn patches(b: &mut Builder<'_>, formats: &[Format]) {
    let ch = Channel::ApplyPatch;
    let mut env = String::new();
    for j in 0..6 {
        let f = &formats[(b.rot * 11 + j * 29 + 5) % formats.len()];
        let tok = (f.make)(b.g);
        b.plant(
            f.id,
            f.category,
            &tok,
            ch,
            "apply_patch config/production.env",
        );
        env += &format!("+{}={}\n", f.env, tok.value);
    }
    b.command(format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: config/production.env\n{env}*** End Patch\nEOF"
    ));
    let mut py = String::from("+import os\n+\n");
    for j in 0..4 {
        let f = &formats[(b.rot * 17 + j * 41 + 3) % formats.len()];
        let tok = (f.make)(b.g);
        b.plant(f.id, f.category, &tok, ch, "apply_patch src/settings.py");
        py += &format!(
            "+{} = os.environ.get(\"{}\", \"{}\")\n",
            f.env, f.env, tok.value
        );
    }
    let key = keys::key_files(b.g)
        .into_iter()
        .find(|k| k.id == "private-key-openssh")
        .expect("openssh key");
    // In a patch every line carries a `+`: the planted value is the key's body line.
    let line = key
        .tok
        .value
        .lines()
        .find(|l| l.contains(&key.tok.core))
        .expect("core line");
    let tok = Tok::with_core(line.to_owned(), &key.tok.core);
    b.plant(
        key.id,
        Category::PrivateKey,
        &tok,
        ch,
        "apply_patch src/settings.py",
    );
    for line in format!("DEPLOY_KEY = \"\"\"{}\"\"\"", key.tok.value).lines() {
        py += &format!("+{line}\n");
    }
    b.command(format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: src/settings.py\n{py}*** End Patch\nEOF"
    ));
}

/// Commands that fail with values in their error messages (scripts in the work tree).
pub fn failing_commands(b: &mut Builder<'_>, formats: &[Format]) {
    let ch = Channel::ErrorMessage;
    let jdbc = put(b, formats, "jdbc-postgresql", ch, "./bin/migrate");
    let pg = put(b, formats, "postgres-url", ch, "./bin/migrate");
    let mongo = put(b, formats, "mongodb-srv-url", ch, "./bin/migrate");
    b.script("bin/migrate", format!("#!/bin/sh\necho \"migrate: connecting to {jdbc}\" >&2\necho \"ERROR: FATAL: password authentication failed for user app (dsn={pg})\" >&2\necho \"hint: check MONGODB_URI={mongo}\" >&2\nexit 2\n"));
    b.command("./bin/migrate".to_owned());
    let t1 = put(b, formats, "stripe-restricted-key", ch, "./bin/deploy");
    let t2 = put(b, formats, "slack-bot-token", ch, "./bin/deploy");
    b.script("bin/deploy", format!("#!/bin/sh\necho \"deploy: authentication failed (HTTP 401) for key {t1}\" >&2\necho \"deploy: notify failed: slack said invalid_auth for {t2}\" >&2\nexit 1\n"));
    b.command("./bin/deploy --dry-run".to_owned());
    let key = put(b, formats, "sendgrid-api-key", ch, "./bin/sync");
    let v = b.g.password(28);
    b.plant(
        "generic-url-query",
        Category::Generic,
        &Tok::raw(v.clone()),
        ch,
        "./bin/sync",
    );
    b.script("bin/sync", format!("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho '  File \"sync.py\", line 42, in <module>' >&2\necho \"requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: https://api.acme-crm.io/v2/sync?api_key={v}\" >&2\necho \"sendgrid: rejected {key}\" >&2\nexit 1\n"));
    b.command("./bin/sync".to_owned());
}
