//! Personal data and other formats without a literal to look for: the lexical pass that finds
//! word starts (a digit, an upper-case letter, `+` or `(` before a digit) in one walk over the
//! bytes, and the validators run there — payment cards (Luhn), phone numbers, IBANs (mod-97),
//! US SSN, UK NINO, Canadian SIN, Indian Aadhaar, Brazilian CPF, Spanish DNI/NIE, Italian
//! codice fiscale, French NIR.
//!
//! A number glued to a longer token (`e10a-7442-9281-3109f6a3`, `2026-11-21T04:48`, `v1.2.3`)
//! is not a candidate: only runs standing alone are.

use super::catalog::WordStart;
use super::checks;
use super::context;

/// At most this many digit groups are recorded for a numeric run.
const MAX_GROUPS: usize = 10;

/// Digits with single separators (` `, `-`, `.`, `/`) between groups: `4111 1111 1111 1111`,
/// `415-555-2671`, `529.982.247-25`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NumRun {
    pub end: usize,
    pub groups: [u8; MAX_GROUPS],
    pub seps: [u8; MAX_GROUPS],
    pub n: usize,
    pub digits: usize,
    /// Glued to a letter or digit (or to one through `-._/:`) on either side.
    pub glued: bool,
}

impl NumRun {
    fn parse(b: &[u8], start: usize) -> NumRun {
        let mut r = NumRun::default();
        let mut j = start;
        loop {
            let g = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            if r.n < MAX_GROUPS {
                r.groups[r.n] = u8::try_from(g).unwrap_or(u8::MAX);
            }
            r.n += 1;
            r.digits += g;
            j += g;
            match (b.get(j), b.get(j + 1)) {
                (Some(&sep @ (b' ' | b'-' | b'.' | b'/')), Some(d)) if d.is_ascii_digit() => {
                    if r.n <= MAX_GROUPS {
                        r.seps[r.n - 1] = sep;
                    }
                    j += 1;
                }
                _ => break,
            }
        }
        r.end = j;
        let glue = |c: u8| matches!(c, b'-' | b'.' | b'_' | b'/');
        let before = start
            .checked_sub(1)
            .and_then(|p| b.get(p))
            .is_some_and(|&c| {
                c.is_ascii_alphanumeric()
                    || (glue(c)
                        && start
                            .checked_sub(2)
                            .and_then(|q| b.get(q))
                            .is_some_and(u8::is_ascii_alphanumeric))
            });
        let after = b.get(j).is_some_and(|&c| {
            c.is_ascii_alphanumeric()
                || ((glue(c) || c == b':') && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric))
        });
        r.glued = before || after;
        r
    }

    fn groups(&self) -> &[u8] {
        &self.groups[..self.n.min(MAX_GROUPS)]
    }

    /// The separators used, if they are all the same byte (`None` for a single group).
    fn sep(&self) -> Option<u8> {
        let seps = &self.seps[..self.n.saturating_sub(1).min(MAX_GROUPS)];
        match seps.first() {
            Some(&s) if seps.iter().all(|&x| x == s) => Some(s),
            _ => None,
        }
    }

    fn is(&self, shape: &[u8]) -> bool {
        self.n <= MAX_GROUPS && self.groups() == shape
    }
}

/// A word start reported by the lexical pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word {
    /// Its first byte (the `+` or `(` for those kinds).
    pub start: usize,
    /// The end of the run of letters and digits at its start.
    pub end: usize,
    /// For words starting with a digit: the numeric run there.
    pub num: NumRun,
}

/// Which kinds of word start someone wants.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Wanted {
    pub digit: bool,
    pub upper: bool,
    pub plus: bool,
    pub paren: bool,
    pub at: bool,
}

impl Wanted {
    pub(crate) fn add(&mut self, k: WordStart) {
        match k {
            WordStart::Digit => self.digit = true,
            WordStart::Upper => self.upper = true,
            WordStart::Plus => self.plus = true,
            WordStart::Paren => self.paren = true,
            WordStart::At => self.at = true,
        }
    }

    pub(crate) fn any(&self) -> bool {
        self.digit || self.upper || self.plus || self.paren || self.at
    }
}

const ALNUM: u8 = 1;
const DIGIT: u8 = 2;
const UPPER: u8 = 4;
const MARK: u8 = 8;

/// The class bits of each byte: letters and digits, digits, upper case, and `+ ( @`.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_digit() {
            ALNUM | DIGIT
        } else if c.is_ascii_uppercase() {
            ALNUM | UPPER
        } else if c.is_ascii_lowercase() {
            ALNUM
        } else if c == b'+' || c == b'(' || c == b'@' {
            MARK
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Whether the run of digits and single separators at `start` holds at least `n` digits.
fn has_digits(b: &[u8], start: usize, n: usize) -> bool {
    let mut count = 0;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            count += 1;
            if count >= n {
                return true;
            }
        } else if !(matches!(c, b' ' | b'-' | b'.' | b'/')
            && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            return false;
        }
        i += 1;
    }
    false
}

/// The class bits of a byte (see [`CLASS`]); 0 for bytes no word start is made of.
#[inline]
pub(crate) fn class(c: u8) -> u8 {
    CLASS[usize::from(c)]
}

/// The lexical step at byte `i` of class `cls` (non-zero), given whether the byte before is a
/// letter or digit: reports a wanted word start there, if it is one. Digit words are reported
/// only when their numeric run has 8+ digits (no format here has fewer); upper-case words only
/// when 9+ long or followed by ` <digit>` (spaced IBAN / NINO), or `CCdd` followed by ` <upper>`
/// (spaced IBAN with a letter bank code); `@` anywhere; `+`/`(` before a
/// digit and not after a letter or digit.
#[inline(never)]
pub(crate) fn step(
    b: &[u8],
    i: usize,
    cls: u8,
    prev_alnum: bool,
    want: Wanted,
    f: &mut impl FnMut(WordStart, &Word),
) {
    if cls & ALNUM != 0 {
        if prev_alnum {
            return;
        }
        if cls & DIGIT != 0 {
            if want.digit && has_digits(b, i, 8) {
                let num = NumRun::parse(b, i);
                f(
                    WordStart::Digit,
                    &Word {
                        start: i,
                        end: word_end(b, i),
                        num,
                    },
                );
            }
        } else if cls & UPPER != 0 && want.upper {
            let end = word_end(b, i);
            // `GB82 WEST 1234 …`: a spaced IBAN whose bank code is letters.
            let iban_head = end - i == 4 && b[i + 2..end].iter().all(u8::is_ascii_digit);
            let spaced = b.get(end) == Some(&b' ')
                && b.get(end + 1)
                    .is_some_and(|c| c.is_ascii_digit() || (iban_head && c.is_ascii_uppercase()));
            if end - i >= 9 || spaced {
                let num = NumRun::default();
                f(WordStart::Upper, &Word { start: i, end, num });
            }
        }
        return;
    }
    let kind = match b[i] {
        b'@' if want.at => WordStart::At,
        b'+' if want.plus => WordStart::Plus,
        b'(' if want.paren => WordStart::Paren,
        _ => return,
    };
    let next_digit = b.get(i + 1).is_some_and(u8::is_ascii_digit);
    if kind == WordStart::At || (!prev_alnum && next_digit) {
        let num = NumRun::default();
        f(
            kind,
            &Word {
                start: i,
                end: i + 1,
                num,
            },
        );
    }
}

fn word_end(b: &[u8], i: usize) -> usize {
    i + b[i..]
        .iter()
        .take_while(|&&c| CLASS[usize::from(c)] & ALNUM != 0)
        .count()
}

/// Whether a class has the letter-or-digit bit.
#[inline]
pub(crate) fn is_alnum_class(cls: u8) -> bool {
    cls & ALNUM != 0
}

fn span_of(w: &Word) -> (usize, usize) {
    (w.start, w.num.end)
}

/// Payment cards: 13–19 digits (contiguous, or in groups of 3–6 split by the same space or
/// dash, a short last group allowed) starting with 2–6, Luhn-valid. A trailing group that
/// makes the run too long (an expiry date after the number) is left off.
pub(crate) fn card(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let r = &w.num;
    if !matches!(b[w.start], b'2'..=b'6') || r.n > MAX_GROUPS {
        return;
    }
    let mut end = r.end;
    let mut digits = r.digits;
    for k in (1..=r.n).rev() {
        if k < r.n {
            end -= usize::from(r.groups[k]) + 1;
            digits -= usize::from(r.groups[k]);
        }
        let glued_after = k == r.n && r.glued && b.get(end).is_some_and(|c| *c != b' ');
        if !(13..=19).contains(&digits) || glued_after || glued_before(b, w.start) {
            continue;
        }
        let seps = &r.seps[..k - 1];
        let same = seps
            .iter()
            .all(|&x| x == seps.first().copied().unwrap_or(b' '));
        let groups_ok = k == 1
            || (seps.iter().all(|&x| x == b' ' || x == b'-')
                && same
                && r.groups[..k - 1].iter().all(|g| (3..=6).contains(g)));
        if groups_ok && checks::card_valid(&b[w.start..end]) {
            out.push((w.start, end));
            return;
        }
    }
}

fn glued_before(b: &[u8], start: usize) -> bool {
    let glue = |c: u8| matches!(c, b'-' | b'.' | b'_' | b'/');
    start
        .checked_sub(1)
        .and_then(|p| b.get(p))
        .is_some_and(|&c| {
            c.is_ascii_alphanumeric()
                || (glue(c)
                    && start
                        .checked_sub(2)
                        .and_then(|q| b.get(q))
                        .is_some_and(u8::is_ascii_alphanumeric))
        })
}

/// US SSN `123-45-6789` / `123 45 6789`, with the allocation rules.
pub(crate) fn us_ssn(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let r = &w.num;
    if r.glued || !r.is(&[3, 2, 4]) || !matches!(r.sep(), Some(b'-' | b' ')) {
        return;
    }
    let d: Vec<u32> = checks::digits(&s.as_bytes()[w.start..r.end]).collect();
    let num = |a: &[u32]| a.iter().fold(0, |n, x| n * 10 + x);
    if checks::ssn_valid(num(&d[..3]), num(&d[3..5]), num(&d[5..])) {
        out.push(span_of(w));
    }
}

/// US SSN as 9 bare digits after `ssn` / `social_security_number`.
pub(crate) fn us_ssn_keyed(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let Some(kv) = context::parse(s, at, lit_end) else {
        return;
    };
    let v = &s.as_bytes()[kv.value.0..kv.value.1];
    let d: Vec<u32> = checks::digits(v).collect();
    let shape_ok = v.iter().all(|c| c.is_ascii_digit() || *c == b'-') && d.len() == 9;
    let num = |a: &[u32]| a.iter().fold(0, |n, x| n * 10 + x);
    if shape_ok && checks::ssn_valid(num(&d[..3]), num(&d[3..5]), num(&d[5..])) {
        out.push(kv.value);
    }
}

/// How far after a `bsn` label its number is looked for (a CSV row, a form line).
const BSN_REACH: usize = 64;

/// Dutch BSN (burgerservicenummer): 9 digits standing alone that pass the eleven test, on the
/// same line after a `bsn` / `burgerservicenummer` / `sofinummer` label (a bare 9-digit number
/// is too common to be one by its shape alone).
pub(crate) fn nl_bsn(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let alnum_at = |i: Option<usize>| {
        i.and_then(|i| b.get(i))
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    if alnum_at(at.checked_sub(1)) || alnum_at(Some(lit_end)) {
        return;
    }
    let reach = (lit_end + BSN_REACH).min(b.len());
    let mut i = lit_end;
    while i < reach && b[i] != b'\n' {
        if b[i].is_ascii_digit() && !glued_before(b, i) {
            let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if end - i == 9 && !glued_after(b, end) && checks::bsn_valid(&b[i..end]) {
                out.push((i, end));
                return;
            }
            i = end;
        } else {
            i += 1;
        }
    }
}

/// Canadian SIN `046 454 286` / `046-454-286`, Luhn-valid.
pub(crate) fn ca_sin(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let r = &w.num;
    if !r.glued
        && r.is(&[3, 3, 3])
        && matches!(r.sep(), Some(b'-' | b' '))
        && checks::sin_valid(&s.as_bytes()[w.start..r.end])
    {
        out.push(span_of(w));
    }
}

/// Indian Aadhaar `2341 2341 2346` (4-4-4, space or dash), Verhoeff-valid.
pub(crate) fn in_aadhaar(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let r = &w.num;
    if !r.glued
        && r.is(&[4, 4, 4])
        && matches!(r.sep(), Some(b'-' | b' '))
        && checks::aadhaar_valid(&s.as_bytes()[w.start..r.end])
    {
        out.push(span_of(w));
    }
}

/// Brazilian CPF `529.982.247-25`, both check digits right.
pub(crate) fn br_cpf(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let r = &w.num;
    if !r.glued
        && r.is(&[3, 3, 3, 2])
        && r.seps[..3] == [b'.', b'.', b'-']
        && checks::cpf_valid(&s.as_bytes()[w.start..r.end])
    {
        out.push(span_of(w));
    }
}

/// Spanish DNI `12345678Z`: 8 digits and the right letter, standing alone.
pub(crate) fn es_dni(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    if w.end == w.start + 9
        && w.num.n == 1
        && !glued_before(b, w.start)
        && !glued_after(b, w.end)
        && checks::dni_valid(&b[w.start..w.end])
    {
        out.push((w.start, w.end));
    }
}

/// Spanish NIE `X1234567L`.
pub(crate) fn es_nie(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    if w.end == w.start + 9
        && matches!(b[w.start], b'X' | b'Y' | b'Z')
        && !glued_after(b, w.end)
        && checks::dni_valid(&b[w.start..w.end])
    {
        out.push((w.start, w.end));
    }
}

fn glued_after(b: &[u8], end: usize) -> bool {
    b.get(end).is_some_and(|&c| {
        c.is_ascii_alphanumeric()
            || (matches!(c, b'-' | b'.' | b'_' | b'/' | b':')
                && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric))
    })
}

/// French NIR `1 84 12 76 451 089 46` (grouped), with its key.
pub(crate) fn fr_nir(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let r = &w.num;
    if !r.glued
        && r.is(&[1, 2, 2, 2, 3, 3, 2])
        && r.sep() == Some(b' ')
        && checks::nir_valid(&s.as_bytes()[w.start..r.end])
    {
        out.push(span_of(w));
    }
}

/// UK National Insurance number `AB123456C` / `AB 12 34 56 C`.
pub(crate) fn uk_nino(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let (Some(&a), Some(&c)) = (b.get(w.start), b.get(w.start + 1)) else {
        return;
    };
    if !checks::nino_prefix_valid(a, c) {
        return;
    }
    let mut i = w.start + 2;
    let mut digits = 0;
    let spaced = b.get(i) == Some(&b' ');
    while digits < 6 {
        if spaced {
            if b.get(i) != Some(&b' ') {
                return;
            }
            i += 1;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                i += 2;
                digits += 2;
            }
            _ => return,
        }
    }
    if spaced {
        if b.get(i) != Some(&b' ') {
            return;
        }
        i += 1;
    }
    if matches!(b.get(i), Some(b'A'..=b'D')) && !glued_after(b, i + 1) {
        out.push((w.start, i + 1));
    }
}

/// Italian codice fiscale `RSSMRA85T10A562S`.
pub(crate) fn it_codice_fiscale(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    if w.end != w.start + 16 || glued_after(b, w.end) {
        return;
    }
    let cf = &b[w.start..w.end];
    // LLLLLL DD L DD L DDD L
    let shape = b"LLLLLLDDLDDLDDDL";
    let fits = cf.iter().zip(shape).all(|(c, k)| match k {
        b'L' => c.is_ascii_uppercase(),
        _ => c.is_ascii_digit(),
    });
    if fits && checks::codice_fiscale_valid(cf) {
        out.push((w.start, w.end));
    }
}

/// IBAN, compact (`DE89370400440532013000`) or printed in groups of four
/// (`DE89 3704 0044 0532 0130 00`), with the country's length and mod-97.
pub(crate) fn iban(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let st = w.start;
    let head_ok = b.get(st + 1).is_some_and(u8::is_ascii_uppercase)
        && b.get(st + 2..st + 4)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let Some(len) = head_ok
        .then(|| checks::iban_length(&b[st..st + 2]))
        .flatten()
    else {
        return;
    };
    let mut compact = Vec::with_capacity(len);
    let mut i = st;
    while compact.len() < len && i < b.len() {
        let c = b[i];
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            compact.push(c);
            i += 1;
        } else if c == b' '
            && compact.len() % 4 == 0
            && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            i += 1;
        } else {
            break;
        }
    }
    if compact.len() == len && !glued_after(b, i) && checks::iban_valid(&compact) {
        out.push((st, i));
    }
}

fn is_local_part_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// File extensions that follow `@` in names like `icon@2x.png`, not top-level domains.
const FILE_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "ts", "tsx", "jsx", "rs", "py", "go",
    "rb", "md", "json", "yaml", "yml", "toml", "lock", "txt", "css", "html", "zip", "gz", "tar",
    "so", "dll", "exe", "bin", "pdf", "mov", "mp4",
];

/// An e-mail address around the `@` at `w.start`: `local@label.label.tld` with an alphabetic
/// top-level domain of 2+ letters. Not SSH remotes (`git@host`), SSH algorithm names
/// (`…@openssh.com`), file names (`icon@2x.png`), or the `password@host` of a URL.
pub(crate) fn email(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let at = w.start;
    let mut start = at;
    while start > 0 && at - start < 64 && is_local_part_byte(b[start - 1]) {
        start -= 1;
    }
    if start == at || &b[start..at] == b"git" {
        return;
    }
    // Domain labels; the address ends after the last all-letter label of 2+ that follows
    // another label.
    let mut i = at + 1;
    let mut labels = 0;
    let mut end = None;
    loop {
        let from = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        if i == from {
            break;
        }
        labels += 1;
        if labels >= 2 && i - from >= 2 && b[from..i].iter().all(u8::is_ascii_alphabetic) {
            end = Some((from, i));
        }
        if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric()) {
            i += 1;
        } else {
            break;
        }
    }
    let Some((tld_start, end)) = end else {
        return;
    };
    let tld = &s[tld_start..end];
    let domain = &s[at + 1..end];
    if FILE_TLDS.iter().any(|t| tld.eq_ignore_ascii_case(t))
        || domain.eq_ignore_ascii_case("openssh.com")
        || super::catalog::ends_with_url_userinfo(&b[..start])
    {
        return;
    }
    out.push((start, end));
}

/// A phone number's digits from `i`: digits with single ` `, `-`, `.` separators and one group
/// in parentheses allowed. Returns the end and the number of digits.
fn phone_run(b: &[u8], mut i: usize) -> (usize, usize) {
    let mut digits = 0;
    let mut end = i;
    let mut parens = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            digits += 1;
            i += 1;
            end = i;
        } else if c == b'(' && !parens && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            parens = true;
            i += 1;
        } else if c == b')' && parens && b.get(i.wrapping_sub(1)).is_some_and(u8::is_ascii_digit) {
            i += 1;
            end = i;
            if b.get(i) == Some(&b' ') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        } else if matches!(c, b' ' | b'-' | b'.')
            && (b.get(i + 1).is_some_and(u8::is_ascii_digit) || b.get(i + 1) == Some(&b'('))
        {
            i += 1;
        } else {
            break;
        }
    }
    (end, digits)
}

/// International numbers: `+` and 8–15 digits, first 1–9 (`+14155552671`,
/// `+44 20 7946 0958`, `+33 6 12 34 56 78`, `+1 (415) 555-2671`).
pub(crate) fn phone_intl(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    if b.get(w.start + 1) == Some(&b'0') {
        return;
    }
    let (end, digits) = phone_run(b, w.start + 1);
    if (8..=15).contains(&digits) && !glued_after(b, end) {
        out.push((w.start, end));
    }
}

/// North American numbers: `(415) 555-2671`, `(415)555-2671`.
pub(crate) fn phone_paren(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let area = b.get(w.start + 1..w.start + 4);
    let ok = area.is_some_and(|a| a.iter().all(u8::is_ascii_digit) && a[0] >= b'2')
        && b.get(w.start + 4) == Some(&b')');
    if !ok {
        return;
    }
    let mut i = w.start + 5;
    if matches!(b.get(i), Some(b' ' | b'-')) {
        i += 1;
    }
    let rest = NumRun::parse(b, i);
    let first = b.get(i).copied().unwrap_or(b'0');
    if b.get(i).is_some_and(u8::is_ascii_digit)
        && rest.is(&[3, 4])
        && matches!(rest.sep(), Some(b'-' | b'.' | b' '))
        && first >= b'2'
        && !glued_after(b, rest.end)
    {
        out.push((w.start, rest.end));
    }
}

/// National numbers written with separators: North American `415-555-2671`, `1-800-555-0199`,
/// `415.555.2671`; and numbers with a leading trunk `0` in 2–6 groups (`06 12 34 56 78`,
/// `020 7946 0958`, `07700 900123`), 9–13 digits. Contiguous digits are never taken for a
/// phone number without `+` or a `phone:` key.
pub(crate) fn phone_national(s: &str, w: &Word, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let r = &w.num;
    if r.glued || r.n < 2 || r.n > 6 {
        return;
    }
    let Some(sep) = r.sep().filter(|s| matches!(s, b' ' | b'-' | b'.')) else {
        return;
    };
    let g = r.groups();
    let d: Vec<u8> = b[w.start..r.end]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .copied()
        .collect();
    let nanp_at = |k: usize| d.get(k).is_some_and(|&c| c >= b'2');
    let nanp = (g == [3, 3, 4] && nanp_at(0) && nanp_at(3))
        || (g == [1, 3, 3, 4] && d[0] == b'1' && nanp_at(1) && nanp_at(4));
    let last = g.len() - 1;
    let trunk = d[0] == b'0'
        && (9..=13).contains(&d.len())
        && g[..last].iter().all(|x| (2..=5).contains(x))
        && (2..=8).contains(&g[last])
        && sep != b'.'
        && !d.iter().all(|&c| c == d[0]);
    if nanp || trunk {
        out.push(span_of(w));
    }
}

/// Any number of 7–15 digits after `phone:`, `tel=`, `mobile:`, `fax:`, ...
pub(crate) fn phone_keyed(s: &str, at: usize, lit_end: usize, out: &mut Vec<(usize, usize)>) {
    let Some(kv) = context::parse(s, at, lit_end) else {
        return;
    };
    let b = s.as_bytes();
    let from = kv.value.0 + usize::from(b.get(kv.value.0) == Some(&b'+'));
    let (end, digits) = phone_run(b, from);
    if (7..=15).contains(&digits) && !glued_after(b, end) {
        out.push((kv.value.0, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one word handler over every word start of its kind in `s`.
    fn run(s: &str, kind: WordStart, f: fn(&str, &Word, &mut Vec<(usize, usize)>)) -> Vec<&str> {
        let mut want = Wanted::default();
        want.add(kind);
        let mut out = Vec::new();
        super::super::prefilter::words(s.as_bytes(), want, |k, w| {
            if k == kind {
                f(s, w, &mut out)
            }
        });
        out.iter().map(|&(a, b)| &s[a..b]).collect()
    }

    #[test]
    fn numbers_glued_to_words_are_not_candidates() {
        let r = NumRun::parse(b"e10a-7442-9281-3109f6a", 5);
        assert!(r.glued);
        let r = NumRun::parse(b"on 2026-11-21T04:48", 3);
        assert!(r.glued);
        let r = NumRun::parse(b"card 4111 1111 1111 1111.", 5);
        assert!(!r.glued);
        assert_eq!(r.digits, 16);
    }

    #[test]
    fn cards_phones_and_ids() {
        use WordStart::*;
        assert_eq!(
            run("pay 4111 1111 1111 1111 12/29", Digit, card),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(run("ssn 123-45-6789.", Digit, us_ssn), ["123-45-6789"]);
        assert!(run("ssn 666-45-6789", Digit, us_ssn).is_empty());
        assert_eq!(run("sin 130-692-544", Digit, ca_sin), ["130-692-544"]);
        assert_eq!(run("cpf 529.982.247-25", Digit, br_cpf), ["529.982.247-25"]);
        assert_eq!(run("dni 12345678Z ok", Digit, es_dni), ["12345678Z"]);
        assert_eq!(run("nie X1234567L", Upper, es_nie), ["X1234567L"]);
        assert_eq!(run("ni AB123456C", Upper, uk_nino), ["AB123456C"]);
        assert_eq!(run("ni AB 12 34 56 C", Upper, uk_nino), ["AB 12 34 56 C"]);
        assert_eq!(
            run("cf RSSMRA85T10A562S", Upper, it_codice_fiscale),
            ["RSSMRA85T10A562S"]
        );
        assert_eq!(
            run("iban DE89 3704 0044 0532 0130 00.", Upper, iban),
            ["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(
            run("iban GB82WEST12345698765432", Upper, iban),
            ["GB82WEST12345698765432"]
        );
        assert_eq!(
            run("call +44 20 7946 0958 now", Plus, phone_intl),
            ["+44 20 7946 0958"]
        );
        assert_eq!(
            run("call +1 (415) 555-2671", Plus, phone_intl),
            ["+1 (415) 555-2671"]
        );
        assert_eq!(
            run("call (415) 555-2671", Paren, phone_paren),
            ["(415) 555-2671"]
        );
        assert_eq!(
            run("call 415-555-2671", Digit, phone_national),
            ["415-555-2671"]
        );
        assert_eq!(
            run("tel 06 12 34 56 78", Digit, phone_national),
            ["06 12 34 56 78"]
        );
        assert_eq!(
            run("aadhaar 2341 2341 2346", Digit, in_aadhaar),
            ["2341 2341 2346"]
        );
    }

    #[test]
    fn dates_versions_ips_and_ids_are_not_personal_data() {
        use WordStart::*;
        for s in [
            "2026-11-21 04:48:07",
            "at 2026-11-21T04:48:07.441Z",
            "v1.88.0 and 0.169.0",
            "10.0.0.12:8080 192.168.100.200",
            "01a1fc6e-e10a-7442-9281-3109f6a357e9",
            "ts 1763700487441123456",
            "+00:00 +0530",
            "ids 1234 5678 90",
            "2024/01/15 12:30",
            "pid 123-456-7890",
        ] {
            for (k, f) in [
                (Digit, card as fn(&str, &Word, &mut Vec<(usize, usize)>)),
                (Digit, us_ssn),
                (Digit, ca_sin),
                (Digit, phone_national),
                (Digit, in_aadhaar),
                (Plus, phone_intl),
            ] {
                assert!(run(s, k, f).is_empty(), "{s}");
            }
        }
    }
}
