//! Checksums, validity rules and text measures the detectors use to tell a real credential or
//! personal number from something of the same shape: Luhn (cards, Canadian SIN), ISO 13616
//! mod-97 (IBAN), Verhoeff (Aadhaar), the check digits of Brazil's CPF, Spain's DNI/NIE letter,
//! Italy's codice fiscale check character, France's NIR key, the US SSN and UK NINO allocation
//! rules, Shannon entropy, and base64 decoding.
//!
//! Every function takes the candidate's bytes and never panics, whatever they are.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};

/// Digits of `s` (every other byte ignored), as values 0–9.
pub(crate) fn digits(s: &[u8]) -> impl DoubleEndedIterator<Item = u32> + '_ {
    s.iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
}

/// Luhn (mod 10) over the digits of `s`.
pub(crate) fn luhn(s: &[u8]) -> bool {
    let mut sum = 0;
    for (i, d) in digits(s).rev().enumerate() {
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    sum % 10 == 0
}

/// A payment card number: 13 to 19 digits, Luhn-valid.
pub(crate) fn card_valid(s: &[u8]) -> bool {
    (13..=19).contains(&digits(s).count()) && luhn(s)
}

/// IBAN length of each country using it (ISO 13616 registry), by country code.
const IBAN_LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The IBAN length of a country code, if the country uses IBANs.
pub(crate) fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == country)
        .map(|(_, n)| usize::from(*n))
}

/// An IBAN in compact form (no spaces): known country, its length, and mod-97 = 1.
pub(crate) fn iban_valid(compact: &[u8]) -> bool {
    let (Some(country), true) = (compact.get(..2), compact.len() >= 5) else {
        return false;
    };
    if iban_length(country) != Some(compact.len()) {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35, then mod 97.
    let mut rem: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US Social Security number's parts: area not 000, 666 or 900–999; group not 00; serial
/// not 0000.
pub(crate) fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// A Dutch BSN: 9 digits, not all zero, with 9·d1 + 8·d2 + … + 2·d8 − d9 divisible by 11
/// (the eleven test).
pub(crate) fn bsn_valid(nine: &[u8]) -> bool {
    if nine.len() != 9 || !nine.iter().all(u8::is_ascii_digit) || nine.iter().all(|&c| c == b'0') {
        return false;
    }
    let weighted: i64 = nine
        .iter()
        .zip([9i64, 8, 7, 6, 5, 4, 3, 2, -1])
        .map(|(&c, w)| i64::from(c - b'0') * w)
        .sum();
    weighted % 11 == 0
}

/// A Canadian Social Insurance Number: 9 digits, Luhn-valid, not starting with 0 or 8 (never
/// issued).
pub(crate) fn sin_valid(nine: &[u8]) -> bool {
    let first = digits(nine).next();
    digits(nine).count() == 9 && !matches!(first, Some(0) | Some(8)) && luhn(nine)
}

/// A UK National Insurance number prefix (two letters): neither letter D, F, I, Q, U or V, the
/// second not O, and not one of the never-allocated pairs BG, GB, KN, NK, NT, TN, ZZ.
pub(crate) fn nino_prefix_valid(a: u8, b: u8) -> bool {
    const BAD: &[u8] = b"DFIQUV";
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() || BAD.contains(&a) || BAD.contains(&b) {
        return false;
    }
    if b == b'O' {
        return false;
    }
    !matches!(
        &[a, b],
        b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
    )
}

/// Verhoeff check over the digits of `s` (India's Aadhaar uses it).
pub(crate) fn verhoeff(s: &[u8]) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0usize;
    for (i, d) in digits(s).rev().enumerate() {
        c = usize::from(D[c][usize::from(P[i % 8][d as usize])]);
    }
    c == 0
}

/// An Aadhaar number: 12 digits, the first 2–9, Verhoeff-valid.
pub(crate) fn aadhaar_valid(s: &[u8]) -> bool {
    let first = digits(s).next().unwrap_or(0);
    digits(s).count() == 12 && first >= 2 && verhoeff(s)
}

/// A Brazilian CPF: 11 digits, not all equal, both check digits right.
pub(crate) fn cpf_valid(s: &[u8]) -> bool {
    let d: Vec<u32> = digits(s).collect();
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n).map(|i| d[i] * (n as u32 + 1 - i as u32)).sum();
        let r = (sum * 10) % 11;
        if r == 10 {
            0
        } else {
            r
        }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// A Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter): the letter is the
/// number mod 23 looked up in the official table.
pub(crate) fn dni_valid(s: &[u8]) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let (Some(&last), true) = (s.last(), s.len() == 9) else {
        return false;
    };
    let lead = match s[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        b'0'..=b'9' => u32::from(s[0] - b'0'),
        _ => return false,
    };
    let mut n = lead;
    for &b in &s[1..8] {
        if !b.is_ascii_digit() {
            return false;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    LETTERS[(n % 23) as usize] == last
}

/// An Italian codice fiscale (16 characters): the last is the check character of the first 15.
pub(crate) fn codice_fiscale_valid(s: &[u8]) -> bool {
    // Values of characters in odd positions (1st, 3rd, ...), for 0-9 and A-Z.
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    if s.len() != 16 {
        return false;
    }
    let mut sum = 0;
    for (i, &b) in s[..15].iter().enumerate() {
        let idx = match b {
            b'0'..=b'9' => usize::from(b - b'0'),
            b'A'..=b'Z' => usize::from(b - b'A'),
            _ => return false,
        };
        sum += if i % 2 == 0 { ODD[idx] } else { idx as u32 };
    }
    u32::from(s[15]) == u32::from(b'A') + sum % 26
}

/// A French NIR (numéro de sécurité sociale), 15 digits: the last two are 97 minus the first
/// 13 mod 97; the first is 1 or 2 (sex), month 01–12 (or 20+ for unknown).
pub(crate) fn nir_valid(s: &[u8]) -> bool {
    let d: Vec<u32> = digits(s).collect();
    if d.len() != 15 || !matches!(d[0], 1 | 2) {
        return false;
    }
    let month = d[3] * 10 + d[4];
    if month == 0 || (month > 12 && month < 20) {
        return false;
    }
    let body = d[..13].iter().fold(0u64, |n, &x| n * 10 + u64::from(x));
    let key = u64::from(d[13] * 10 + d[14]);
    97 - body % 97 == key
}

/// Shannon entropy of `s` in bits per byte.
pub(crate) fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// How many of the classes lower case, upper case, digit and other printable ASCII `s` uses.
pub(crate) fn char_classes(s: &[u8]) -> u32 {
    let (mut l, mut u, mut d, mut o) = (false, false, false, false);
    for &b in s {
        match b {
            b'a'..=b'z' => l = true,
            b'A'..=b'Z' => u = true,
            b'0'..=b'9' => d = true,
            _ => o = true,
        }
    }
    u32::from(l) + u32::from(u) + u32::from(d) + u32::from(o)
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const B64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const B64URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// `s` decoded as base64 (standard or URL-safe alphabet, padding optional).
pub(crate) fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    B64.decode(s).ok().or_else(|| B64URL.decode(s).ok())
}

/// The first bytes of `s` decoded as base64, for a look at what a long blob starts with:
/// decodes the first `chars` characters (rounded down to whole 4-character groups).
pub(crate) fn base64_decode_prefix(s: &[u8], chars: usize) -> Option<Vec<u8>> {
    let n = s.len().min(chars) / 4 * 4;
    base64_decode(s.get(..n)?)
}

/// Whether decoded base64 is a `user:password` pair: printable ASCII with a colon that has text
/// on both sides.
pub(crate) fn is_user_password(decoded: &[u8]) -> bool {
    let printable = decoded.iter().all(|b| (0x20..0x7f).contains(b));
    match decoded.iter().position(|&b| b == b':') {
        Some(i) => printable && i > 0 && i + 1 < decoded.len(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_off_by_one() {
        assert!(card_valid(b"4111111111111111"));
        assert!(card_valid(b"4111 1111 1111 1111"));
        assert!(card_valid(b"378282246310005"));
        assert!(!card_valid(b"4111111111111112"));
        assert!(!card_valid(b"411111111111"), "12 digits is too short");
    }

    #[test]
    fn iban_mod97_and_country_length() {
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"FR1420041010050500013M02606"));
        assert!(iban_valid(b"NO9386011117947"));
        assert!(!iban_valid(b"DE89370400440532013001"), "check digits");
        assert!(!iban_valid(b"DE8937040044053201300"), "length of DE is 22");
        assert!(!iban_valid(b"QQ89370400440532013000"), "no such country");
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_valid(123, 45, 6789));
        assert!(!ssn_valid(0, 45, 6789));
        assert!(!ssn_valid(666, 45, 6789));
        assert!(!ssn_valid(900, 45, 6789));
        assert!(!ssn_valid(123, 0, 6789));
        assert!(!ssn_valid(123, 45, 0));
    }

    #[test]
    fn national_id_checksums() {
        assert!(sin_valid(b"130 692 544"));
        assert!(!sin_valid(b"046 454 286"), "0 is never issued");
        assert!(!sin_valid(b"130 692 545"));
        assert!(nino_prefix_valid(b'A', b'B'));
        assert!(!nino_prefix_valid(b'G', b'B'));
        assert!(!nino_prefix_valid(b'D', b'A'));
        assert!(aadhaar_valid(b"2341 2341 2346"));
        assert!(!aadhaar_valid(b"2341 2341 2347"));
        assert!(cpf_valid(b"529.982.247-25"));
        assert!(!cpf_valid(b"529.982.247-26"));
        assert!(!cpf_valid(b"111.111.111-11"));
        assert!(dni_valid(b"12345678Z"));
        assert!(dni_valid(b"X1234567L"));
        assert!(!dni_valid(b"12345678A"));
        assert!(codice_fiscale_valid(b"RSSMRA85T10A562S"));
        assert!(!codice_fiscale_valid(b"RSSMRA85T10A562T"));
        assert!(nir_valid(b"1 84 12 76 451 089 46"));
        assert!(!nir_valid(b"1 84 12 76 451 089 47"));
    }

    #[test]
    fn entropy_and_classes() {
        assert!(entropy(b"aaaaaaaa") < 0.01);
        assert!(entropy(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") > 4.0);
        assert_eq!(char_classes(b"abcD1-"), 4);
    }

    #[test]
    fn base64_user_password() {
        let d = base64_decode(b"dXNlcjpwYXNz").expect("valid");
        assert!(is_user_password(&d));
        assert!(!is_user_password(b"no colon here"));
        assert!(base64_decode(b"not base64!").is_none());
        let pem = base64_decode_prefix(b"LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=", 30)
            .expect("prefix");
        assert!(pem.starts_with(b"-----BEGIN RSA"));
    }
}
