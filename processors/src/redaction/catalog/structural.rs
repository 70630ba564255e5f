//! Provider-neutral detectors: credentials in URLs, connection strings and command lines,
//! private key material, HTTP credentials, secrets after secret-ish keys, and personal data.

use super::super::context;
use super::super::detectors::{Category, Def, PiiKind};
use super::super::pii;
use super::{at_word, code, keyed, Check, Edge, Format, How, On, Start, WordStart};

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

const fn pii_def(
    name: &'static str,
    kind: PiiKind,
    what: &'static str,
    formats: &'static [Format],
) -> Def {
    Def {
        name,
        category: Category::Pii,
        pii: Some(kind),
        what,
        formats,
    }
}

fn is_scheme_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')
}

// ---- databases and URLs -----------------------------------------------------------------------

pub(crate) const URL_PASSWORD: Def = def(
    "url_password",
    Category::Database,
    "Credentials in URLs: the password of `scheme://user:password@host` (database URLs \
     `postgres://`, `mongodb+srv://`, `redis://:pass@`, `amqp://`, git remotes, proxies) and a \
     token used as the whole userinfo (`https://<token>@github.com`, Sentry DSNs).",
    &[
        Format {
            what: "password of `scheme://user:password@host`",
            on: On::Lit {
                lits: &["://"],
                exact: true,
                start: Start::Back(is_scheme_byte, 32),
            },
            how: How::Re(
                r#"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>\\]*:(?P<secret>[^\s/?#"'<>\\]+)@"#,
                Edge::Free,
                Check::None,
            ),
        },
        Format {
            what: "token as the whole userinfo `scheme://<token>@host` (16+ random characters)",
            on: On::Lit {
                lits: &["://"],
                exact: true,
                start: Start::Back(is_scheme_byte, 32),
            },
            how: How::Re(
                r"[A-Za-z][A-Za-z0-9+.-]*://(?P<secret>[A-Za-z0-9_~.%-]{16,})@",
                Edge::Free,
                Check::Token,
            ),
        },
    ],
);

pub(crate) const CONNECTION_STRING: Def = def(
    "connection_string",
    Category::Database,
    "Passwords in JDBC URLs (`jdbc:…?password=…`, `;password=…`, Oracle's \
     `jdbc:oracle:thin:user/password@…`) and ODBC / ADO.NET connection strings (`Pwd=…;`, \
     `Password=…;`).",
    &[
        code(
            "JDBC URL `jdbc:…` with `password=` / `pwd=`, or `user/password@` (Oracle thin)",
            &["jdbc:"],
            jdbc_password,
        ),
        code(
            "ODBC / ADO.NET `Pwd=…;` / `Password=…;`",
            &["pwd=", "password="],
            odbc_password,
        ),
    ],
);

pub(crate) const SQL_PASSWORD: Def = def(
    "sql_password",
    Category::Database,
    "Passwords in SQL: `IDENTIFIED BY '…'` (MySQL, Oracle) and `PASSWORD '…'` (PostgreSQL).",
    &[
        keyed(
            "`IDENTIFIED BY '…'`",
            &["identified by"],
            r"(?i:identified[ \t]+by)[ \t]+(?:(?i:password)[ \t]+)?'(?P<secret>[^'\r\n]+)'",
        ),
        keyed(
            "`[WITH] PASSWORD '…'`",
            &["password '"],
            r"(?i:password)[ \t]+'(?P<secret>[^'\r\n]+)'",
        ),
    ],
);

pub(crate) const DB_CLI_PASSWORD: Def = def(
    "db_cli_password",
    Category::Database,
    "Passwords on database command lines: `mysql -pSECRET`, `redis-cli -a SECRET`, \
     `sqlplus user/SECRET@db`.",
    &[
        code(
            "`mysql` / `mariadb` / `mysqldump` `-p<password>`",
            &["mysql", "mariadb"],
            mysql_password,
        ),
        code("`redis-cli -a <password>`", &["redis-cli"], redis_password),
        keyed(
            "`sqlplus user/password@db`",
            &["sqlplus"],
            r"(?i:sqlplus)[ \t]+(?:-[A-Za-z]+[ \t]+)*[A-Za-z0-9_$#.]+/(?P<secret>[^@\s/]+)@",
        ),
    ],
);

// ---- private keys -----------------------------------------------------------------------------------

/// Any PEM private key block, to its END line or the end of the text (cut off).
const PEM: &str = r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\z)";

const fn pem(what: &'static str, lits: &'static [&'static str]) -> Format {
    super::exact(what, lits, PEM, Edge::Free, Check::None)
}

pub(crate) const PRIVATE_KEY: Def = def(
    "private_key",
    Category::PrivateKeys,
    "PEM private key blocks of every armour, from `-----BEGIN … PRIVATE KEY-----` to the END \
     line, or to the end of the text when it was cut off.",
    &[
        pem(
            "PKCS#1 RSA `-----BEGIN RSA PRIVATE KEY-----`",
            &["-----BEGIN RSA PRIVATE KEY"],
        ),
        pem(
            "PKCS#8 `-----BEGIN PRIVATE KEY-----`",
            &["-----BEGIN PRIVATE KEY"],
        ),
        pem(
            "encrypted PKCS#8 `-----BEGIN ENCRYPTED PRIVATE KEY-----`",
            &["-----BEGIN ENCRYPTED PRIVATE KEY"],
        ),
        pem(
            "EC `-----BEGIN EC PRIVATE KEY-----`",
            &["-----BEGIN EC PRIVATE KEY"],
        ),
        pem(
            "DSA `-----BEGIN DSA PRIVATE KEY-----`",
            &["-----BEGIN DSA PRIVATE KEY"],
        ),
        pem(
            "OpenSSH `-----BEGIN OPENSSH PRIVATE KEY-----`",
            &["-----BEGIN OPENSSH PRIVATE KEY"],
        ),
        pem(
            "PGP `-----BEGIN PGP PRIVATE KEY BLOCK-----`",
            &["-----BEGIN PGP PRIVATE KEY"],
        ),
        pem("any other `-----BEGIN … PRIVATE KEY-----`", &["-----BEGIN"]),
        Format {
            what: "SSH.com / SECSH `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`",
            on: On::Lit {
                lits: &["---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----(?s:.*?)(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|\z)",
                Edge::Free,
                Check::None,
            ),
        },
    ],
);

pub(crate) const PRIVATE_KEY_BASE64: Def = def(
    "private_key_base64",
    Category::PrivateKeys,
    "Base64 of a PEM private key (kubeconfig `client-key-data`, Kubernetes secrets, Helm values): \
     `LS0tLS1CRUdJTi…` that decodes to `-----BEGIN … PRIVATE KEY`, and any kubeconfig \
     `client-key-data` value (`client-certificate-data` is a certificate and is kept).",
    &[
        Format {
            what: "base64 PEM private key `LS0tLS1CRUdJTi…` (checked by decoding)",
            on: On::Lit {
                lits: &["LS0tLS1CRUdJTi"],
                exact: true,
                start: Start::At,
            },
            how: How::Re(
                r"LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}",
                Edge::Free,
                Check::Base64PrivateKey,
            ),
        },
        keyed(
            "kubeconfig `client-key-data:`",
            &["client-key-data"],
            r#"client-key-data\\?["']?[ \t]*:[ \t]*\\?["']?(?P<secret>[A-Za-z0-9+/]{16,}={0,2})"#,
        ),
    ],
);

pub(crate) const PUTTY_PRIVATE_KEY: Def = def(
    "putty_private_key",
    Category::PrivateKeys,
    "PuTTY `.ppk` private lines (`PuTTY-User-Key-File-2/3`): the base64 lines after \
     `Private-Lines:` (the public lines are kept).",
    &[keyed(
        "PuTTY `Private-Lines:` block",
        &["private-lines:"],
        r"Private-Lines:[ \t]*[0-9]+(?P<secret>(?:(?:\r?\n|\\r?\\n)[A-Za-z0-9+/=]+)+)",
    )],
);

pub(crate) const AGE_SECRET_KEY: Def = def(
    "age_secret_key",
    Category::PrivateKeys,
    "age identities `AGE-SECRET-KEY-1…`.",
    &[super::token(
        "age secret key `AGE-SECRET-KEY-1…`",
        &["AGE-SECRET-KEY-1"],
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    )],
);

pub(crate) const WIREGUARD: Def = def(
    "wireguard",
    Category::PrivateKeys,
    "WireGuard private and preshared keys in `wg0.conf`.",
    &[
        keyed(
            "`PrivateKey = …`",
            &["privatekey"],
            r"(?i:PrivateKey)[ \t]*=[ \t]*(?P<secret>[A-Za-z0-9+/]{42,43}=)",
        ),
        keyed(
            "`PresharedKey = …`",
            &["presharedkey"],
            r"(?i:PresharedKey)[ \t]*=[ \t]*(?P<secret>[A-Za-z0-9+/]{42,43}=)",
        ),
    ],
);

// ---- HTTP --------------------------------------------------------------------------------------------

pub(crate) const AUTH_HEADER: Def = def(
    "auth_header",
    Category::HttpHeader,
    "The credential of `Authorization:` / `Proxy-Authorization:` (any scheme: Bearer, Basic, \
     Token, Bot, SSWS, ApiKey, Splunk, GenieKey, ... or none; also JSON and `Authorization=`), \
     AWS Signature V4 `Signature=`, and a bare `Bearer <token>`. Only the credential is replaced.",
    &[
        Format {
            what: "`Authorization: <scheme> <credential>`",
            on: On::Lit {
                lits: &["authorization"],
                exact: false,
                start: Start::At,
            },
            how: How::Re(AUTH_SCHEME, Edge::Free, Check::None),
        },
        Format {
            what: "`Authorization: <credential>` without a scheme",
            on: On::Lit {
                lits: &["authorization"],
                exact: false,
                start: Start::At,
            },
            how: How::Re(
                r#"(?i:authorization)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)"#,
                Edge::Free,
                Check::NotSchemeWord,
            ),
        },
        Format {
            what: "bare `Bearer <token>` (8+ characters with a digit, or 20+)",
            on: On::Lit {
                lits: &["bearer"],
                exact: false,
                start: Start::At,
            },
            how: How::Re(
                r"(?-u:\b)(?i:bearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]+=*)",
                Edge::Free,
                Check::BareBearer,
            ),
        },
        keyed(
            "AWS Signature V4 `AWS4-HMAC-SHA256 Credential=…, Signature=<hex>`",
            &["aws4-hmac-sha256"],
            r"AWS4-HMAC-SHA256[ \t]+Credential=[^,\s]+,[ \t]*SignedHeaders=[^,\s]+,[ \t]*Signature=(?P<secret>[a-f0-9]{64})",
        ),
    ],
);

/// `Authorization: <scheme> <credential>`, for the schemes whose credential follows a space
/// (also URL-encoded, as in `OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20…`).
const AUTH_SCHEME: &str = r#"(?i:authorization)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?i:bearer|basic|token|digest|negotiate|bot|ssws|apikey|api-key|key|splunk|geniekey|oauth|dsn|hmac)(?:[ \t]+|%20|\+)(?P<secret>[A-Za-z0-9._~+/:=%-]+)"#;

pub(crate) const COOKIE: Def = def(
    "cookie",
    Category::HttpHeader,
    "Cookie values: the whole value of `Cookie:` and `Set-Cookie:` headers and of `curl -b` / \
     `--cookie`.",
    &[
        keyed(
            "`Cookie:` header",
            &["cookie"],
            r#"(?i:cookie)\\?["']?[ \t]*:[ \t]*\\?["']?(?P<secret>[^\r\n"'\\]+)"#,
        ),
        keyed(
            "`Set-Cookie:` header",
            &["set-cookie"],
            r#"(?i:set-cookie)\\?["']?[ \t]*:[ \t]*\\?["']?(?P<secret>[^\r\n"'\\]+)"#,
        ),
        keyed(
            "`curl -b` / `--cookie <value>`",
            &["--cookie", " -b "],
            r#"(?:--cookie|[ \t]-b)[ \t=]+\\?["']?(?P<secret>[^\s"'\\]+)"#,
        ),
    ],
);

pub(crate) const API_KEY_HEADER: Def = def(
    "api_key_header",
    Category::HttpHeader,
    "API-key headers, whatever the value looks like: `X-Api-Key:`, `X-Auth-Token:`, `Api-Key:`, \
     `PRIVATE-TOKEN:`, `X-Vault-Token:`, `DD-API-KEY:`, `X-Honeycomb-Team:`, `X-Auth-Key:`, ... \
     (a dashed header name ending in key, token, secret, auth, signature, session or team).",
    &[code(
        "`<Dashed-Name>-(Key|Token|Secret|Auth|Signature|Session): value`",
        &[
            "key",
            "token",
            "secret",
            "auth",
            "signature",
            "session",
            "honeycomb-team",
        ],
        context::header_value,
    )],
);

pub(crate) const CURL_USER: Def = def(
    "curl_user",
    Category::HttpHeader,
    "The password of `curl -u user:password` / `--user`, `wget --password`, and httpie \
     `-a user:password` / `--auth`.",
    &[code(
        "`curl -u user:password`, `http -a user:password`",
        &[" -u", "--user", " -a", "--auth"],
        curl_user,
    )],
);

// ---- generic -----------------------------------------------------------------------------------------

pub(crate) const JWT: Def = def(
    "jwt",
    Category::Generic,
    "JSON Web Tokens: three base64url segments, the first starting `eyJ`.",
    &[Format {
        what: "JWT `eyJ….….…`",
        on: On::Lit {
            lits: &["eyJ"],
            exact: true,
            start: Start::At,
        },
        how: How::Re(
            r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            Edge::Free,
            Check::None,
        ),
    }],
);

pub(crate) const NETRC: Def = def(
    "netrc",
    Category::Generic,
    "`.netrc` / `_netrc` passwords: `machine <host> login <user> password <secret>`.",
    &[keyed(
        "`machine … password …`",
        &["machine"],
        r"machine(?:[ \t\r\n]|\\n|\\t)+[^\s\\]+(?:(?:[ \t\r\n]|\\n|\\t)+(?:login|account|port)(?:[ \t\r\n]|\\n|\\t)+[^\s\\]+)*(?:[ \t\r\n]|\\n|\\t)+password(?:[ \t]|\\t)+(?P<secret>[^\s\\]+)",
    )],
);

pub(crate) const BASE64_CREDENTIALS: Def = def(
    "base64_credentials",
    Category::Generic,
    "Base64 `user:password` pairs under an `auth` key: docker `config.json` `\"auth\"`, `.npmrc` \
     `_auth=` (checked by decoding); and base64 blobs that decode to `KEY=secret` lines (an \
     encoded `.env` file: `echo REJfUEFTU1dPUkQ9… | base64 -d`). `Basic` headers are \
     `auth_header`'s.",
    &[
        code(
            "`\"auth\": \"<base64 user:password>\"`, `_auth=…`",
            &["auth"],
            context::base64_auth,
        ),
        at_word(
            "base64 of `KEY=secret` lines, at an upper-case word start (checked by decoding)",
            WordStart::Upper,
            context::base64_env_word,
        ),
        code(
            "base64 of `KEY=secret` lines on a line that runs `base64` (checked by decoding)",
            &["base64"],
            context::base64_env_line,
        ),
    ],
);

pub(crate) const ASSIGNMENT: Def = def(
    "assignment",
    Category::Generic,
    "The value after a password, secret, token or API-key key in any syntax (`KEY=value`, \
     `export`, JSON, YAML, INI, `.env`, `--flag value`, URL query, connection strings). Code, \
     placeholders, paths and secret *names* are left alone.",
    &[
        code(
            "after `password`, `passwd`, `pwd`, `passphrase`: any value",
            &["password", "passwd", "pwd", "passphrase"],
            context::password_value,
        ),
        code(
            "after `secret`, `token`, `api_key`/`apikey`/`api-key`, `private_key`, `private_key_id`, \
             `secret_key`, `access_key`, `client_secret`, `auth_token`, ...: a machine-looking value",
            &["secret", "token", "apikey", "api_key", "api-key", "private_key", "private_key_id", "secretkey", "secret_key", "access_key", "accesskey"],
            context::secret_value,
        ),
    ],
);

pub(crate) const GENERIC_SECRET: Def = def(
    "generic_secret",
    Category::Generic,
    "Context + entropy: a value of 12+ characters with 3+ bits of entropy per character after a \
     weakly secret-ish key (`…_key`, `…Key`, `auth`, `credential(s)`, `signature`, `sig`, \
     `session`, `cookie`, `salt`, `pass`, `pat`, `X-Amz-Signature`, `X-Amz-Credential`, ...). \
     UUIDs, hashes under cache/hash keys, timestamps and versions are left alone.",
    &[code(
        "random-looking value after a weak key",
        &[
            "key",
            "auth",
            "credential",
            "credentials",
            "signature",
            "sig",
            "session",
            "cookie",
            "salt",
            "pass",
            "pat",
            "security-token",
            "security_token",
        ],
        context::weak_value,
    )],
);

// ---- personal data --------------------------------------------------------------------------------------

pub(crate) const EMAIL: Def = pii_def(
    "email",
    PiiKind::Email,
    "E-mail addresses. Left alone: SSH remotes (`git@host`), SSH algorithm names \
     (`…@openssh.com`), file names such as `icon@2x.png`, and the `password@host` of a URL \
     (that is `url_password`'s).",
    &[at_word("`local@domain.tld`", WordStart::At, pii::email)],
);

pub(crate) const PHONE: Def = pii_def(
    "phone",
    PiiKind::Phone,
    "Phone numbers: international (`+` and 8–15 digits), North American with separators or \
     parentheses, national numbers with a trunk `0` in groups, and any 7–15 digit number after \
     `phone`, `tel`, `mobile`, `cell`, `fax`, `msisdn`, `whatsapp` keys. Dates, times, versions, \
     IPs, ports and bare digit runs are not phone numbers.",
    &[
        at_word(
            "international `+44 20 7946 0958`, `+14155552671`",
            WordStart::Plus,
            pii::phone_intl,
        ),
        at_word(
            "North American `(415) 555-2671`",
            WordStart::Paren,
            pii::phone_paren,
        ),
        at_word(
            "North American `415-555-2671` / national `06 12 34 56 78`, `020 7946 0958`",
            WordStart::Digit,
            pii::phone_national,
        ),
        code(
            "after `phone:`, `tel=`, `mobile:`, ...",
            &[
                "phone", "tel", "mobile", "cell", "fax", "msisdn", "whatsapp",
            ],
            pii::phone_keyed,
        ),
    ],
);

pub(crate) const IBAN: Def = pii_def(
    "iban",
    PiiKind::Iban,
    "IBANs of the 78 countries of the ISO 13616 registry, compact or in groups of four, with the \
     country's length and a valid mod-97 check.",
    &[at_word(
        "IBAN `DE89 3704 0044 0532 0130 00`",
        WordStart::Upper,
        pii::iban,
    )],
);

pub(crate) const CREDIT_CARD: Def = pii_def(
    "credit_card",
    PiiKind::PaymentCard,
    "Payment card numbers: 13–19 digits starting with 2–6 (Visa, Mastercard, Amex, Discover, \
     JCB, Diners, UnionPay), contiguous or grouped by spaces or dashes, Luhn-valid.",
    &[at_word(
        "card number `4111 1111 1111 1111`",
        WordStart::Digit,
        pii::card,
    )],
);

pub(crate) const US_SSN: Def = pii_def(
    "us_ssn",
    PiiKind::NationalId,
    "US Social Security numbers: `123-45-6789` / `123 45 6789`, or 9 digits after an `ssn` key; \
     area not 000, 666 or 900–999, group not 00, serial not 0000.",
    &[
        at_word("`123-45-6789`", WordStart::Digit, pii::us_ssn),
        code(
            "9 digits after `ssn` / `social_security_number`",
            &["ssn", "social_security_number", "socialsecuritynumber"],
            pii::us_ssn_keyed,
        ),
    ],
);

pub(crate) const UK_NINO: Def = pii_def(
    "uk_nino",
    PiiKind::NationalId,
    "UK National Insurance numbers `AB123456C` / `AB 12 34 56 C` with the allocation rules on \
     the prefix.",
    &[at_word("`AB123456C`", WordStart::Upper, pii::uk_nino)],
);

pub(crate) const CA_SIN: Def = pii_def(
    "ca_sin",
    PiiKind::NationalId,
    "Canadian Social Insurance numbers `130 692 544` / `130-692-544`, Luhn-valid, not starting with 0 or 8.",
    &[at_word("`130-692-544`", WordStart::Digit, pii::ca_sin)],
);

pub(crate) const IN_AADHAAR: Def = pii_def(
    "in_aadhaar",
    PiiKind::NationalId,
    "Indian Aadhaar numbers `2341 2341 2346`, Verhoeff-valid.",
    &[at_word(
        "`2341 2341 2346`",
        WordStart::Digit,
        pii::in_aadhaar,
    )],
);

pub(crate) const BR_CPF: Def = pii_def(
    "br_cpf",
    PiiKind::NationalId,
    "Brazilian CPF numbers `529.982.247-25` with both check digits.",
    &[at_word("`529.982.247-25`", WordStart::Digit, pii::br_cpf)],
);

pub(crate) const ES_DNI: Def = pii_def(
    "es_dni",
    PiiKind::NationalId,
    "Spanish DNI `12345678Z` and NIE `X1234567L` with the check letter.",
    &[
        at_word("DNI `12345678Z`", WordStart::Digit, pii::es_dni),
        at_word("NIE `X1234567L`", WordStart::Upper, pii::es_nie),
    ],
);

pub(crate) const IT_CODICE_FISCALE: Def = pii_def(
    "it_codice_fiscale",
    PiiKind::NationalId,
    "Italian codice fiscale `RSSMRA85T10A562S` with its check character.",
    &[at_word(
        "`RSSMRA85T10A562S`",
        WordStart::Upper,
        pii::it_codice_fiscale,
    )],
);

pub(crate) const FR_NIR: Def = pii_def(
    "fr_nir",
    PiiKind::NationalId,
    "French social security numbers (NIR) `1 84 12 76 451 089 46` with the key.",
    &[at_word(
        "`1 84 12 76 451 089 46`",
        WordStart::Digit,
        pii::fr_nir,
    )],
);

pub(crate) const NL_BSN: Def = pii_def(
    "nl_bsn",
    PiiKind::NationalId,
    "Dutch citizen service numbers (BSN) `111222333`: 9 digits passing the eleven test, on the \
     same line after a `bsn` / `burgerservicenummer` / `sofinummer` label.",
    &[code(
        "9 digits after `bsn`",
        &["bsn", "burgerservicenummer", "sofinummer"],
        pii::nl_bsn,
    )],
);

// ---- code matchers ------------------------------------------------------------------------------------------

/// Whether `before` ends with `scheme://user:` (so what follows is a URL password).
pub(crate) fn ends_with_url_userinfo(before: &[u8]) -> bool {
    let Some(rest) = before.strip_suffix(b":") else {
        return false;
    };
    let token = rest
        .rsplit(|c| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>'))
        .next()
        .unwrap_or(rest);
    match token.windows(3).position(|w| w == b"://") {
        Some(i) => !token[i + 3..].iter().any(|c| matches!(c, b'/' | b'@')),
        None => false,
    }
}

/// The end of the token starting at `i` (to a blank or a quote).
fn token_end(b: &[u8], i: usize) -> usize {
    i + b[i..]
        .iter()
        .take_while(|c| !c.is_ascii_whitespace() && !matches!(c, b'"' | b'\'' | b'`' | b'\\'))
        .count()
}

/// Finds `password=`/`pwd=` (any case) in `b[from..to]`; returns the value span up to `&`, `;`.
fn param_value(b: &[u8], from: usize, to: usize) -> Option<(usize, usize)> {
    let hay = &b[from..to];
    let lower = hay.to_ascii_lowercase();
    for key in [&b"password="[..], b"pwd="] {
        let mut at = 0;
        while let Some(p) = lower[at..].windows(key.len()).position(|w| w == key) {
            let k = at + p;
            let prev = k.checked_sub(1).map(|q| lower[q]);
            if matches!(prev, None | Some(b'?' | b'&' | b';' | b':' | b' ')) {
                let vs = k + key.len();
                let ve = vs
                    + hay[vs..]
                        .iter()
                        .take_while(|c| !matches!(c, b'&' | b';'))
                        .count();
                if ve > vs {
                    return Some((from + vs, from + ve));
                }
            }
            at = k + 1;
        }
    }
    None
}

fn jdbc_password(s: &str, at: usize, _lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let end = token_end(b, at);
    if let Some(v) = param_value(b, at, end) {
        out.push(v);
    } else if let Some(v) = jdbc_user_slash_password(b, at, end) {
        out.push(v);
    }
}

/// Oracle's `jdbc:oracle:thin:user/password@//host:port/service` (also `@host:port:sid`): the
/// password between the first `/` after the last `:` before `@`, and the `@`.
fn jdbc_user_slash_password(b: &[u8], from: usize, to: usize) -> Option<(usize, usize)> {
    let at = from + b[from..to].iter().position(|&c| c == b'@')?;
    let userinfo_start = from + b[from..at].iter().rposition(|&c| c == b':')? + 1;
    let slash = userinfo_start + b[userinfo_start..at].iter().position(|&c| c == b'/')?;
    let user = &b[userinfo_start..slash];
    let ok_user = !user.is_empty()
        && user
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'#' | b'.'));
    (ok_user && at > slash + 1 && !context::is_placeholder(&b[slash + 1..at]))
        .then_some((slash + 1, at))
}

/// `Pwd=…;` / `Password=…;` inside a `key=value;` connection string.
fn odbc_password(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let prev = at.checked_sub(1).map(|p| b[p]);
    if !matches!(prev, None | Some(b';' | b' ' | b'"' | b'\'' | b'{')) {
        return;
    }
    let end = lit_end
        + b[lit_end..]
            .iter()
            .take_while(|c| !matches!(c, b';' | b'"' | b'\'' | b'\n'))
            .count();
    let in_connection_string = b.get(end) == Some(&b';') || prev == Some(b';');
    let v = &b[lit_end..end];
    if in_connection_string && !v.is_empty() && !context::is_placeholder(v) {
        out.push((lit_end, end));
    }
}

/// The line containing `at`: its start and end.
fn line_around(b: &[u8], at: usize) -> (usize, usize) {
    let start = b[..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let end = at
        + b[at..]
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(b.len() - at);
    (start, end)
}

/// `mysql … -p<password>` (attached) on the same line as the command.
fn mysql_password(s: &str, at: usize, _lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let (_, end) = line_around(b, at);
    let mut i = at;
    while let Some(p) = b[i..end].windows(3).position(|w| w == b" -p") {
        let vs = i + p + 3;
        let ve = token_end(b, vs).min(end);
        if ve > vs && !context::is_placeholder(&b[vs..ve]) {
            out.push((vs, ve));
        }
        i = vs;
    }
}

/// `redis-cli … -a <password>` on the same line.
fn redis_password(s: &str, at: usize, _lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let (_, end) = line_around(b, at);
    if let Some(p) = b[at..end].windows(4).position(|w| w == b" -a ") {
        let vs = at + p + 4;
        let ve = token_end(b, vs).min(end);
        if ve > vs && !context::is_placeholder(&b[vs..ve]) {
            out.push((vs, ve));
        }
    }
}

/// `curl -u user:password` / `--user`, httpie `-a` / `--auth`: the password after the first
/// colon, when the line runs curl, wget or httpie.
fn curl_user(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let (line_start, line_end) = line_around(b, at);
    let cmd = &b[line_start..at];
    let runs_client = [&b"curl"[..], b"wget", b"http ", b"https ", b"xh "]
        .iter()
        .any(|c| cmd.windows(c.len()).any(|w| w == *c));
    if !runs_client {
        return;
    }
    let mut i = lit_end;
    if matches!(b.get(i), Some(b'=' | b' ')) {
        i += 1;
    } else {
        return;
    }
    while matches!(b.get(i), Some(b' ')) {
        i += 1;
    }
    let quoted = matches!(b.get(i), Some(b'"' | b'\''));
    let vs = i + usize::from(quoted);
    let ve = if quoted {
        let q = b[i];
        vs + b[vs..line_end].iter().take_while(|&&c| c != q).count()
    } else {
        token_end(b, vs).min(line_end)
    };
    let Some(colon) = b[vs..ve].iter().position(|&c| c == b':') else {
        return;
    };
    let ps = vs + colon + 1;
    if ps < ve && !context::is_placeholder(&b[ps..ve]) {
        out.push((ps, ve));
    }
}
