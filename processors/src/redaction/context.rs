//! Secrets found by their context: the value after a secret-ish key, in every syntax Codex
//! telemetry carries — `KEY=value`, `export KEY=value`, `"key": "value"`, `key: value` (YAML),
//! INI `key = value`, `--flag value` / `--flag=value`, `-H 'Header: value'`, URL query
//! parameters (`?token=…&sig=…`), connection strings (`Password=…;`), `'key' => 'value'`.
//!
//! The prefilter finds the keyword (`password`, `token`, `key`, ...); [`parse`] then reads the
//! whole key around it (the keyword must end it: `DB_PASSWORD` yes, `password_file` no), the
//! separator and the value. What counts as a secret depends on the key:
//! - *password* keys (`password`, `passwd`, `pwd`, `passphrase`): any value;
//! - *secret* keys (`secret`, `token`, `api_key`, `private_key`, ...): a value that looks made
//!   by a machine (a digit or symbol, or 8+ characters);
//! - *weak* keys (`…_key`, `auth`, `credential`, `signature`, `sig`, `session`, ...): a value of
//!   12+ characters, two classes of characters and 3+ bits of entropy per character.
//!
//! Never secrets, whatever the key: placeholders (`${VAR}`, `<token>`, `xxx`, `changeme`,
//! `[REDACTED]`), code (`self.token`, `Option<String>`, `get_token()`, identifiers in code
//! context), file paths, URLs without credentials, UUIDs, timestamps, versions, and the *names*
//! of secrets (`existingSecret: redis-auth`, `tlsSecret: web-cert`; `secretName:` and
//! `secretKeyRef:` never match because the keyword does not end the key).

use super::checks;

/// A key, its separator and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyValue {
    /// The whole key (without leading dashes or quotes).
    pub key: (usize, usize),
    /// The value (without quotes).
    pub value: (usize, usize),
    /// The value was quoted.
    pub quoted: bool,
    /// `=`, `:` or a space (`--flag value`).
    pub sep: u8,
    /// The key looks like a command-line flag (`--password`).
    pub flag: bool,
    /// Where the line holding the key starts looking back from (for [`code_context`]).
    kw_start: usize,
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Reads `key <sep> value` around a keyword found at `kw_start..kw_end` of `s`.
pub(crate) fn parse(s: &str, kw_start: usize, kw_end: usize) -> Option<KeyValue> {
    let b = s.as_bytes();
    // The keyword ends the key, or only a qualifier follows it (`HEROKU_API_KEY_LEGACY`).
    let kw_end = key_end(b, kw_end)?;
    let mut key_start = kw_start;
    while key_start > 0 && kw_start - key_start < 80 && is_key_byte(b[key_start - 1]) {
        key_start -= 1;
    }
    let dashes = b[key_start..kw_start]
        .iter()
        .take_while(|&&c| c == b'-')
        .count();
    let flag = dashes >= 1 && (dashes == 2 || kw_end - key_start - dashes >= 4);
    key_start += dashes;

    if key_start > 0 && b[key_start - 1] == b'<' && b.get(kw_end) == Some(&b'>') {
        return xml_element(b, key_start, kw_end, kw_start);
    }
    let mut i = kw_end;
    // Closing quote of a quoted key: `"key"`, `'key'`, `\"key\"`.
    let mut quoted_key = true;
    if b[i..].starts_with(b"\\\"") {
        i += 2;
    } else if matches!(b.get(i), Some(b'"' | b'\'')) {
        i += 1;
    } else {
        quoted_key = false;
    }
    let ws = skip_blanks(b, &mut i);
    if quoted_key {
        if let Some(found) = quoted_key_forms(b, i, (key_start, kw_end), kw_start) {
            return found;
        }
    }
    let sep = separator(b, &mut i, flag && ws > 0)?;
    skip_blanks(b, &mut i);
    let (value, quoted) = read_value(b, i)?;
    Some(KeyValue {
        key: (key_start, kw_end),
        value,
        quoted,
        sep,
        flag,
        kw_start,
    })
}

/// The two forms only a quoted key has, from `i` after the key and blanks: an XML attribute
/// pair (`<add key="ClearTextPassword" value="…"/>`, `<param name="token" value="…">`) and a
/// quoted default (`os.environ.get("API_TOKEN", "<default>")`, `ENV.fetch('TOKEN', '…')`: a
/// comma and a quoted value without blanks). `None`: neither form; `Some(found)`: this form,
/// with its pair or none.
fn quoted_key_forms(
    b: &[u8],
    mut i: usize,
    key: (usize, usize),
    kw_start: usize,
) -> Option<Option<KeyValue>> {
    let pair = |value, quoted, sep| KeyValue {
        key,
        value,
        quoted,
        sep,
        flag: false,
        kw_start,
    };
    if starts_with_ci(&b[i..], b"value=") {
        i += b"value=".len();
        return Some(read_value(b, i).map(|(value, quoted)| pair(value, quoted, b'=')));
    }
    if b.get(i) != Some(&b',') {
        return None;
    }
    let mut j = i + 1;
    skip_blanks(b, &mut j);
    if !matches!(b.get(j), Some(b'"' | b'\'')) && !b[j..].starts_with(b"\\\"") {
        return Some(None);
    }
    let Some((value, quoted)) = read_value(b, j) else {
        return Some(None);
    };
    let v = &b[value.0..value.1];
    // Not a list of names: `["api_key", "client_secret"]`, `("password", "Enter it")`.
    let spaced = v.iter().any(u8::is_ascii_whitespace);
    let name = v
        .iter()
        .all(|c| c.is_ascii_lowercase() || matches!(c, b'_' | b'-' | b'.'));
    Some((!spaced && !name).then(|| pair(value, quoted, b',')))
}

/// The separator at `i` (`:=`, `=>`, `=`, `:`; a blank after a command-line flag when
/// `spaced_flag`), normalised to `=`, `:` or ` `; moves `i` past it.
fn separator(b: &[u8], i: &mut usize, spaced_flag: bool) -> Option<u8> {
    match (b.get(*i), b.get(*i + 1)) {
        (Some(b':'), Some(b'=')) | (Some(b'='), Some(b'>')) => {
            *i += 2;
            Some(b'=')
        }
        (Some(b'='), next) if next != Some(&b'=') => {
            *i += 1;
            Some(b'=')
        }
        (Some(b':'), next) if next != Some(&b':') => {
            *i += 1;
            Some(b':')
        }
        _ if spaced_flag => Some(b' '),
        _ => None,
    }
}

/// Words that may follow the keyword at the end of a key without changing what the key holds:
/// `API_KEY_LEGACY`, `APIKEY_PRIVATE`, `TOKEN_PROD`, `SECRET_V2`.
const QUALIFIERS: &[&[u8]] = &[
    b"legacy",
    b"private",
    b"prod",
    b"production",
    b"live",
    b"staging",
    b"stage",
    b"dev",
    b"test",
    b"old",
    b"new",
    b"current",
    b"previous",
    b"prev",
    b"next",
    b"primary",
    b"secondary",
    b"backup",
    b"main",
    b"master",
    b"admin",
    b"root",
    b"rw",
    b"ro",
    b"raw",
    b"plain",
    b"plaintext",
    b"cleartext",
    b"v1",
    b"v2",
    b"v3",
    b"1",
    b"2",
    b"3",
];

/// Where the key ends when the keyword ends at `kw_end`: there, or after one qualifier
/// (`_LEGACY`, `-private`, `.prod`); `None` when something else follows the keyword
/// (`password_file`, `tokenizer`).
fn key_end(b: &[u8], kw_end: usize) -> Option<usize> {
    let ends = |i: usize| match b.get(i) {
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => false,
        Some(b'-' | b'.') => !b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric),
        _ => true,
    };
    if ends(kw_end) {
        return Some(kw_end);
    }
    if !matches!(b.get(kw_end), Some(b'_' | b'-' | b'.')) {
        return None;
    }
    let from = kw_end + 1;
    let len = b[from..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let word = &b[from..from + len];
    (QUALIFIERS.iter().any(|q| word.eq_ignore_ascii_case(q)) && ends(from + len))
        .then_some(from + len)
}

/// `<password>value</password>`: the text of an XML element whose name is the key, when the
/// element closes on the same name.
fn xml_element(b: &[u8], key_start: usize, key_end: usize, kw_start: usize) -> Option<KeyValue> {
    let open = key_end + 1;
    let close = open + b[open..].iter().position(|&c| c == b'<' || c == b'\n')?;
    let name = &b[key_start..key_end];
    let rest = &b[close..];
    let closes = rest.starts_with(b"</")
        && rest.get(2..2 + name.len()).is_some_and(|n| n == name)
        && rest.get(2 + name.len()) == Some(&b'>');
    let (mut vs, mut ve) = (open, close);
    while vs < ve && b[vs].is_ascii_whitespace() {
        vs += 1;
    }
    while ve > vs && b[ve - 1].is_ascii_whitespace() {
        ve -= 1;
    }
    (closes && ve > vs).then_some(KeyValue {
        key: (key_start, key_end),
        value: (vs, ve),
        quoted: true,
        sep: b'>',
        flag: false,
        kw_start,
    })
}

fn skip_blanks(b: &[u8], i: &mut usize) -> usize {
    let from = *i;
    while matches!(b.get(*i), Some(b' ' | b'\t')) {
        *i += 1;
    }
    *i - from
}

/// The value at `i`: quoted (to the closing quote, or the end of the line when it was cut) or
/// bare (to a blank or a delimiter).
fn read_value(b: &[u8], i: usize) -> Option<((usize, usize), bool)> {
    let rest = b.get(i..)?;
    let (open, close): (usize, &[u8]) = if rest.starts_with(b"\\\"") {
        (2, b"\\\"")
    } else {
        match rest.first() {
            Some(b'"') => (1, b"\""),
            Some(b'\'') => (1, b"'"),
            Some(b'`') => (1, b"`"),
            _ => (0, b""),
        }
    };
    if open > 0 {
        let start = i + open;
        let mut j = start;
        while j < b.len() {
            if b[j..].starts_with(close) || b[j] == b'\n' {
                break;
            }
            // `\"` inside a `"`-quoted value is an escaped quote; a literal `\n` ends the line.
            if b[j] == b'\\' && close == b"\"" {
                if b.get(j + 1) == Some(&b'n') {
                    break;
                }
                j += 2;
                continue;
            }
            j += 1;
        }
        let end = j.min(b.len());
        return (end > start).then_some(((start, end), true));
    }
    let mut j = i;
    while j < b.len()
        && !matches!(
            b[j],
            b' ' | b'\t'
                | b'\r'
                | b'\n'
                | b'"'
                | b'\''
                | b'`'
                | b','
                | b';'
                | b'&'
                | b')'
                | b'}'
                | b']'
                | b'>'
                | b'\\'
        )
    {
        j += 1;
    }
    (j > i).then_some(((i, j), false))
}

/// Whether the line up to the keyword reads as code: a declaration keyword, a call's
/// arguments, or a member (`self.token`). Looks at most 64 bytes back.
fn code_context(b: &[u8], key_start: usize, kw_start: usize) -> bool {
    let floor = key_start.saturating_sub(64);
    let line_start = b[floor..key_start]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(floor, |p| floor + p + 1);
    if matches!(
        b[line_start..key_start].trim_ascii_end().last(),
        Some(b'(' | b',')
    ) {
        return true;
    }
    // `self.token`, `this.password`: a member.
    let key = &b[key_start..kw_start];
    if key.starts_with(b"self.") || key.starts_with(b"this.") {
        return true;
    }
    const DECL: &[&[u8]] = &[
        b"let", b"const", b"var", b"val", b"my", b"auto", b"final", b"def", b"fn", b"func", b"if",
        b"elif", b"while", b"return", b"mut",
    ];
    b[line_start..key_start]
        .split(|c| !c.is_ascii_alphanumeric())
        .any(|word| DECL.contains(&word))
}

/// Values that stand for a secret rather than being one (compared ignoring case).
const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "example",
    "placeholder",
    "redacted",
    "secret",
    "password",
    "passwd",
    "token",
    "none",
    "null",
    "nil",
    "undefined",
    "todo",
    "tbd",
    "dummy",
    "fake",
    "sample",
    "test",
    "testing",
    "foo",
    "bar",
    "baz",
    "hidden",
    "masked",
    "required",
    "optional",
    "empty",
    "unset",
    "default",
    "string",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "env",
    "the",
    "is",
    "are",
    "not",
    "see",
    "from",
    "your",
    "a",
    "an",
    "same",
    "here",
    "below",
    "above",
    "missing",
    "invalid",
    "expired",
    "ok",
    "set",
];

/// Values that stand for a secret without being one.
pub(crate) fn is_placeholder(v: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (v.first(), v.last()) else {
        return true;
    };
    let var_name = |x: &[u8]| {
        x.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
    };
    let wrapped = match first {
        // `$VAR`, `${VAR}`, `$(cmd)`
        b'$' => matches!(v.get(1), Some(b'{' | b'(')) || (v.len() > 1 && is_identifier(&v[1..])),
        // `%s`, `%(name)s`, `%VAR%`
        b'%' => {
            v.len() <= 3
                || v.get(1) == Some(&b'(')
                || (last == b'%' && var_name(&v[1..v.len() - 1]))
        }
        b'<' => last == b'>',
        b'[' => last == b']',
        b'{' => last == b'}',
        _ => false,
    };
    if wrapped {
        return true;
    }
    if v.windows(2).any(|w| w == b"${" || w == b"{{") {
        return true;
    }
    if v.len() >= 3
        && v.iter()
            .all(|c| matches!(c, b'x' | b'X' | b'*' | b'.' | b'#' | b'-' | b'_' | b'0'))
    {
        return true;
    }
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
    {
        return true;
    }
    let lower = |p: &[u8]| v.len() > p.len() && v[..p.len()].eq_ignore_ascii_case(p);
    lower(b"your_") || lower(b"your-") || lower(b"<your") || lower(b"insert_") || lower(b"replace_")
}

/// Words that, as the whole unquoted value, are code (types, keywords), not secrets.
const CODE_WORDS: &[&str] = &[
    "str", "bool", "int", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "bytes", "option",
    "vec", "self", "impl", "dyn", "any", "object", "number", "text", "string?", "str?", "char",
    "float", "double", "long", "void", "await", "async", "new", "map", "list", "dict", "array",
];

/// `self.token`, `config.api_key`, `os.environ`: identifier segments joined by dots.
fn is_dotted_identifier(v: &[u8]) -> bool {
    v.contains(&b'.')
        && v.split(|&c| c == b'.').all(|seg| {
            matches!(seg.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'_')
                && seg.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        })
}

fn is_identifier(v: &[u8]) -> bool {
    matches!(v.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'_')
        && v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Paths: `/etc/x`, `./x`, `../x`, `~/x`, `C:\x` — not secrets (a base64 secret that happens to
/// start with `/` has mixed case and digits without dots or lower-case words).
fn looks_like_path(v: &[u8]) -> bool {
    let rel = v.starts_with(b"./") || v.starts_with(b"../") || v.starts_with(b"~/");
    let win = v.len() > 3 && v[0].is_ascii_alphabetic() && &v[1..3] == b":\\";
    if rel || win {
        return true;
    }
    if v.first() != Some(&b'/') || v.len() < 2 {
        return false;
    }
    let path_chars = v
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'.' | b'_' | b'-' | b'@'));
    // Each segment reads as a name: no segment longer than 32 with upper case and digits.
    let wordy = v.split(|&c| c == b'/').all(|seg| {
        seg.len() <= 32
            || !(seg.iter().any(u8::is_ascii_uppercase) && seg.iter().any(u8::is_ascii_digit))
    });
    path_chars && wordy && v.iter().filter(|&&c| c == b'/').count() >= 2
}

fn is_url_without_userinfo(v: &[u8]) -> bool {
    let Some(p) = v.windows(3).position(|w| w == b"://") else {
        return false;
    };
    v[..p].iter().all(u8::is_ascii_alphanumeric) && !v[p..].contains(&b'@')
}

fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// ISO dates/times and version strings.
fn is_time_or_version(v: &[u8]) -> bool {
    let date = v.len() >= 10
        && v[..4].iter().all(u8::is_ascii_digit)
        && v[4] == b'-'
        && v[5..7].iter().all(u8::is_ascii_digit)
        && v[7] == b'-';
    let ver = v.strip_prefix(b"v").unwrap_or(v);
    let version = ver.first().is_some_and(u8::is_ascii_digit)
        && ver.contains(&b'.')
        && ver
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+'))
        && ver.iter().filter(|c| c.is_ascii_digit()).count() * 2 >= ver.len() / 2;
    date || version
}

/// Rejections shared by every kind of key.
fn never_secret(s: &[u8], kv: &KeyValue, v: &[u8]) -> bool {
    if is_placeholder(v) || looks_like_path(v) || is_url_without_userinfo(v) {
        return true;
    }
    if kv.quoted {
        return false;
    }
    let first = v[0];
    first == b'&'
        || first == b'*'
        || v.iter().any(|c| matches!(c, b'(' | b'[' | b'<' | b'{'))
        || CODE_WORDS
            .iter()
            .any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
        || is_dotted_identifier(v)
        || (is_identifier(v) && code_context(s, kv.key.0, kv.kw_start))
}

/// The name of a secret, not its value: `existingSecret: redis-auth`, `tlsSecret: web-cert`
/// (a compound `…Secret` key with a Kubernetes-style name as value).
fn names_a_secret(s: &[u8], kv: &KeyValue, v: &[u8]) -> bool {
    let key = &s[kv.key.0..kv.key.1];
    if starts_with_ci(key, b"existing") || starts_with_ci(key, b"useexisting") {
        return true;
    }
    let compound = key.len() > 6 && key[key.len() - 6..].eq_ignore_ascii_case(b"secret");
    let dns_name = v.contains(&b'-')
        && v.iter()
            .all(|c| c.is_ascii_lowercase() || *c == b'-' || *c == b'.')
        && v.first().is_some_and(u8::is_ascii_lowercase);
    compound && dns_name
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// How demanding the value test is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Strength {
    /// Any value (passwords).
    Password,
    /// A value that looks machine-made.
    Secret,
    /// Long and random-looking only.
    Weak,
}

/// Key prefixes of `…_key` names that are not secrets.
const NON_SECRET_KEYS: &[&[u8]] = &[
    b"public",
    b"pub",
    b"cache",
    b"primary",
    b"foreign",
    b"partition",
    b"sort",
    b"range",
    b"idempotency",
    b"object",
    b"row",
    b"hash",
    b"lookup",
    b"dedup",
    b"shard",
    b"map",
    b"index",
    b"unique",
    b"composite",
    b"group",
    b"label",
    b"metric",
    b"translation",
    b"i18n",
    b"message",
    b"hot",
    b"short",
    b"sign_in",
    b"monkey",
    b"turn",
    b"don",
    b"ssh_public",
    b"host",
    b"known",
    b"trace",
    b"span",
    b"request",
    b"correlation",
    b"event",
    b"entity",
    b"idempotent",
    b"cursor",
    b"page",
    b"next",
    b"prev",
    b"state",
    b"bucket",
    b"table",
    b"column",
    b"field",
    b"attribute",
    b"config",
    b"setting",
    b"feature",
    b"flag",
    b"model",
    b"item",
    b"record",
    b"file",
    b"path",
    b"s3",
    b"registry",
    b"ssh",
    b"gpg",
    b"pgp",
    b"fingerprint",
];

fn value_passes(s: &[u8], kv: &KeyValue, strength: Strength) -> bool {
    let v = &s[kv.value.0..kv.value.1];
    if never_secret(s, kv, v) || names_a_secret(s, kv, v) {
        return false;
    }
    match strength {
        Strength::Password => true,
        Strength::Secret => {
            v.len() >= 8
                || v.iter().any(u8::is_ascii_digit)
                || v.iter().any(|c| !c.is_ascii_alphanumeric())
        }
        Strength::Weak => {
            let key = &s[kv.key.0..kv.key.1];
            let non_secret_key = NON_SECRET_KEYS.iter().any(|p| starts_with_ci(key, p));
            !non_secret_key
                && !key.eq_ignore_ascii_case(b"key")
                && v.len() >= 12
                && checks::char_classes(v) >= 2
                && checks::entropy(v) >= 3.0
                && !is_uuid(v)
                && !is_time_or_version(v)
                && !v.iter().all(u8::is_ascii_digit)
        }
    }
}

fn found(s: &str, at: usize, lit_end: usize, strength: Strength, out: &mut Vec<(usize, usize)>) {
    if let Some(kv) = parse(s, at, lit_end) {
        if value_passes(s.as_bytes(), &kv, strength) {
            out.push(kv.value);
        }
    }
}

/// `assignment`: the value after a password key.
pub(crate) fn password_value(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    found(s, at, lit_end, Strength::Password, out);
}

/// `assignment`: the value after a secret, token or API-key key.
pub(crate) fn secret_value(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    found(s, at, lit_end, Strength::Secret, out);
}

/// `generic_secret`: a long, random-looking value after a weakly secret-ish key.
pub(crate) fn weak_value(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    found(s, at, lit_end, Strength::Weak, out);
}

/// `api_key_header`: `X-…-Key: value`, `X-…-Token: value`, `Api-Key: value`, ... as an HTTP
/// header (a dashed name with `:`), whatever the value looks like.
pub(crate) fn header_value(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let Some(kv) = parse(s, at, lit_end) else {
        return;
    };
    let b = s.as_bytes();
    let key = &b[kv.key.0..kv.key.1];
    let dashed = key.contains(&b'-') && !key.contains(&b'_') && !key.contains(&b'.');
    if kv.sep != b':' || !dashed || kv.flag {
        return;
    }
    let v = &b[kv.value.0..kv.value.1];
    if !is_placeholder(v) && !names_a_secret(b, &kv, v) {
        out.push(kv.value);
    }
}

/// `base64_credentials`: an `auth` value (docker `config.json`, `.npmrc` `_auth=`) that decodes
/// to `user:password`.
pub(crate) fn base64_auth(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let Some(kv) = parse(s, at, lit_end) else {
        return;
    };
    let v = &s.as_bytes()[kv.value.0..kv.value.1];
    if v.len() >= 8 && checks::base64_decode(v).is_some_and(|d| checks::is_user_password(&d)) {
        out.push(kv.value);
    }
}

/// Key endings that make a `KEY=value` line inside decoded base64 a secret.
const SECRET_KEY_ENDINGS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pwd",
    b"passphrase",
    b"secret",
    b"token",
    b"apikey",
    b"api_key",
    b"access_key",
    b"secret_key",
    b"private_key",
    b"credential",
    b"credentials",
    b"auth",
];

/// Whether decoded text is printable and holds a `KEY=value` / `KEY: value` line whose key ends
/// in a secret word and whose value is not a placeholder (a base64-encoded `.env` file).
pub(crate) fn has_secret_line(decoded: &[u8]) -> bool {
    let printable = decoded
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) || matches!(c, b'\n' | b'\r' | b'\t'));
    printable
        && decoded.split(|&c| c == b'\n').any(|line| {
            let line = line.trim_ascii();
            let line = line.strip_prefix(b"export ").unwrap_or(line);
            let Some(sep) = line.iter().position(|&c| c == b'=' || c == b':') else {
                return false;
            };
            let key = line[..sep].trim_ascii();
            let value = line[sep + 1..].trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            is_key_like(key)
                && SECRET_KEY_ENDINGS.iter().any(|e| ends_with_ci(key, e))
                && !value.is_empty()
                && !is_placeholder(value)
        })
}

fn is_key_like(key: &[u8]) -> bool {
    !key.is_empty() && key.iter().all(|&c| is_key_byte(c))
}

fn ends_with_ci(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The base64 run starting at `i` (standard or URL-safe alphabet, with padding).
fn base64_run(b: &[u8], i: usize) -> usize {
    i + b[i..]
        .iter()
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_')
        })
        .count()
}

/// Shortest base64 blob looked at: 24 characters, 18 decoded bytes.
const MIN_BLOB: usize = 24;
/// Longest prefix of a blob decoded (a `.env` file's first lines).
const MAX_DECODED_BLOB: usize = 8192;

/// Whether the base64 blob `b[start..end]` decodes to text with a secret line.
fn blob_holds_secret(b: &[u8], start: usize, end: usize) -> bool {
    let n = (end - start).min(MAX_DECODED_BLOB);
    if n < MIN_BLOB {
        return false;
    }
    let blob = &b[start..start + n];
    let decoded = checks::base64_decode(blob.trim_ascii_end())
        .or_else(|| checks::base64_decode_prefix(blob, n));
    decoded.is_some_and(|d| has_secret_line(&d))
}

/// `base64_credentials`: a base64 blob at an upper-case word start (`REJfUEFTU1dPUkQ9…` is
/// `DB_PASSWORD=…`) that decodes to `KEY=secret` lines.
pub(crate) fn base64_env_word(s: &str, w: &super::pii::Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let end = base64_run(b, w.start);
    if end - w.start >= MIN_BLOB && blob_holds_secret(b, w.start, end) {
        out.push((w.start, end));
    }
}

/// `base64_credentials`: on a line that runs `base64` (`echo … | base64 -d`, `base64 --decode
/// <<< …`), every blob that decodes to `KEY=secret` lines.
pub(crate) fn base64_env_line(s: &str, at: usize, _lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let line_start = b[..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let line_end = at
        + b[at..]
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(b.len() - at);
    let mut i = line_start;
    while i < line_end {
        let prev_word = i > 0 && is_key_byte(b[i - 1]);
        if !prev_word && b[i].is_ascii_alphanumeric() {
            let end = base64_run(b, i).min(line_end);
            if blob_holds_secret(b, i, end) {
                out.push((i, end));
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(s: &str, kw: &str) -> Option<String> {
        let at = s.to_ascii_lowercase().find(kw)?;
        parse(s, at, at + kw.len()).map(|kv| s[kv.value.0..kv.value.1].to_string())
    }

    #[test]
    fn parses_every_syntax() {
        let cases = [
            ("DB_PASSWORD=hunter2", "password", "hunter2"),
            ("export API_TOKEN=abc123 && run", "token", "abc123"),
            (r#"{"password": "p@ss w0rd"}"#, "password", "p@ss w0rd"),
            (r#"{\"token\":\"t0k\"}"#, "token", "t0k"),
            ("password: hunter2\nnext: 1", "password", "hunter2"),
            ("password = hunter2 ; comment", "password", "hunter2"),
            ("--password hunter2 --user x", "password", "hunter2"),
            ("--token=abc", "token", "abc"),
            ("-H 'X-Api-Key: k3y'", "key", "k3y"),
            ("https://x.test/?a=1&token=abc&b=2", "token", "abc"),
            ("Server=x;Password=Secr3t;Db=y", "password", "Secr3t"),
            ("'password' => 'x1'", "password", "x1"),
            ("password := x1", "password", "x1"),
        ];
        for (s, kw, want) in cases {
            assert_eq!(value_of(s, kw).as_deref(), Some(want), "{s}");
        }
    }

    #[test]
    fn keyword_must_end_the_key() {
        for (s, kw) in [
            ("password_file=/run/x", "password"),
            ("max_tokens: 4096", "token"),
            ("tokenizer: cl100k", "token"),
            ("secretName: db-credentials", "secret"),
            ("if token == expected", "token"),
            ("password?: string", "password"),
            ("Original token count: 28", "token"),
            ("--password-stdin", "password"),
        ] {
            assert_eq!(value_of(s, kw), None, "{s}");
        }
    }

    fn masked(s: &str, kw: &str, f: fn(&str, usize, usize, &mut Vec<(usize, usize)>)) -> bool {
        let at = s.to_ascii_lowercase().find(kw).expect("keyword");
        let mut out = Vec::new();
        f(s, at, at + kw.len(), &mut out);
        !out.is_empty()
    }

    #[test]
    fn code_placeholders_paths_and_names_are_not_secrets() {
        for s in [
            "let token = self.token.clone();",
            "token: Option<String>",
            "password: &str",
            "token = get_token()",
            "password: ${DB_PASSWORD}",
            "token: <your-token>",
            "password: changeme",
            "password: xxxxxxxx",
            "token: [REDACTED]",
            "PWD=/home/dev/src/payments-service",
            "existingSecret: redis-auth",
            "tlsSecret: web-cert",
            "connect(password=password)",
            "token = config.auth.token",
        ] {
            let kw = ["password", "token", "pwd", "secret"]
                .into_iter()
                .find(|k| s.to_ascii_lowercase().contains(k))
                .expect("kw");
            assert!(!masked(s, kw, password_value), "{s}");
        }
        assert!(masked("password = hunter2", "password", password_value));
        assert!(masked(
            "connect(password=\"x\")",
            "password",
            password_value
        ));
        assert!(!masked(r#"{"token": "Hello"}"#, "token", secret_value));
        assert!(masked(r#"{"token": "abc123"}"#, "token", secret_value));
    }

    #[test]
    fn weak_keys_need_long_random_values() {
        assert!(masked(
            "aws_access_key=wJalrXUtnFEMI/K7MDENG",
            "key",
            weak_value
        ));
        assert!(masked(
            "X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
            "signature",
            weak_value
        ));
        for s in [
            "cache_key: node-modules-Linux-3f2a9c1b",
            "key: 4532def0a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "session: 01a1fc6e-e10a-7442-9281-3109f6a357e9",
            "auth: 2026-11-21T04:48:07.441Z",
            "signing_key: short",
            "public_key: ssh-ed25519AAAAC3NzaC1lZDI1NTE5AAAAI",
        ] {
            let kw = ["key", "session", "auth"]
                .into_iter()
                .find(|k| s.contains(k))
                .expect("kw");
            assert!(!masked(s, kw, weak_value), "{s}");
        }
    }

    #[test]
    fn headers_and_base64_auth() {
        assert!(masked("-H 'X-Api-Key: abc'", "key", header_value));
        assert!(masked("PRIVATE-TOKEN: glx", "token", header_value));
        assert!(!masked("api_key: abc", "key", header_value), "not a header");
        assert!(masked(
            r#""auth": "dXNlcjpwYXNzd29yZA==""#,
            "auth",
            base64_auth
        ));
        assert!(masked("_auth=dXNlcjpwYXNzd29yZA==", "auth", base64_auth));
        assert!(!masked(
            r#""auth": "aGVsbG8gd29ybGQ=""#,
            "auth",
            base64_auth
        ));
    }
}
