//! Personal data of the privacy corpus, each valid by its own rules: phone numbers in E.164 and
//! national formats drawn from real numbering plans, IBANs with correct mod-97 check digits,
//! Luhn-valid payment card numbers of the real issuer ranges, and national identifiers that pass
//! their checksums (US SSN area/group/serial rules, UK NINO prefixes, Canadian SIN Luhn, French
//! NIR key, Spanish DNI letter, Dutch BSN 11-test, Brazilian CPF check digits, Indian Aadhaar
//! Verhoeff digit), plus email addresses.

use super::formats::Tok;
use super::gen::{self, Gen};

/// A PII format.
pub struct PiiFormat {
    pub id: &'static str,
    /// The column or label people file it under (`phone`, `iban`, …).
    pub label: &'static str,
    pub make: fn(&mut Gen) -> Tok,
}

/// Short PII values are their own core.
fn whole(v: String) -> Tok {
    Tok::with_core(v.clone(), &v)
}

pub fn pii_formats() -> Vec<PiiFormat> {
    vec![
        PiiFormat {
            id: "email-address",
            label: "email",
            make: |g| {
                let first = *g.pick(&[
                    "maria", "jonas", "priya", "kenji", "amara", "lucas", "sofia", "omar",
                ]);
                let last = *g.pick(&[
                    "lindqvist",
                    "okafor",
                    "ramanathan",
                    "takeda",
                    "dubois",
                    "moreau",
                    "haddad",
                ]);
                whole(format!(
                    "{first}.{last}{}@{}-mail.com",
                    g.digits(2),
                    g.word()
                ))
            },
        },
        PiiFormat {
            id: "email-address-plus",
            label: "email",
            make: |g| {
                whole(format!(
                    "ops+{}{}@acme-{}.io",
                    g.word(),
                    g.digits(3),
                    g.word()
                ))
            },
        },
        PiiFormat {
            id: "email-address-subdomain",
            label: "email",
            make: |g| {
                whole(format!(
                    "{}.{}@mail.{}-{}.co.uk",
                    g.word(),
                    g.word(),
                    g.word(),
                    g.digits(2)
                ))
            },
        },
        PiiFormat {
            id: "phone-e164-us",
            label: "phone",
            make: |g| {
                let (a, x, s) = us_parts(g);
                whole(format!("+1{a}{x}{s}"))
            },
        },
        PiiFormat {
            id: "phone-national-us",
            label: "phone",
            make: |g| {
                let (a, x, s) = us_parts(g);
                whole(format!("({a}) {x}-{s}"))
            },
        },
        PiiFormat {
            id: "phone-e164-gb",
            label: "phone",
            make: |g| whole(format!("+447{}{}", g.int(4, 9), g.digits(8))),
        },
        PiiFormat {
            id: "phone-national-gb",
            label: "phone",
            make: |g| whole(format!("020 7{} {}", g.digits(3), g.digits(4))),
        },
        PiiFormat {
            id: "phone-e164-de",
            label: "phone",
            make: |g| {
                whole(format!(
                    "+49 1{} {}",
                    g.pick(&["51", "52", "60", "62", "70", "71", "76"]),
                    g.digits(8)
                ))
            },
        },
        PiiFormat {
            id: "phone-national-de",
            label: "phone",
            make: |g| whole(format!("030 {}", g.digits(8))),
        },
        PiiFormat {
            id: "phone-e164-fr",
            label: "phone",
            make: |g| {
                whole(format!(
                    "+33 {} {} {} {} {}",
                    g.int(6, 7),
                    g.digits(2),
                    g.digits(2),
                    g.digits(2),
                    g.digits(2)
                ))
            },
        },
        PiiFormat {
            id: "phone-national-fr",
            label: "phone",
            make: |g| {
                whole(format!(
                    "0{} {} {} {} {}",
                    g.int(6, 7),
                    g.digits(2),
                    g.digits(2),
                    g.digits(2),
                    g.digits(2)
                ))
            },
        },
        PiiFormat {
            id: "phone-e164-in",
            label: "phone",
            make: |g| {
                whole(format!(
                    "+91 {}{} {}",
                    g.int(6, 9),
                    g.digits(4),
                    g.digits(5)
                ))
            },
        },
        PiiFormat {
            id: "phone-e164-br",
            label: "phone",
            make: |g| whole(format!("+55 11 9{}-{}", g.digits(4), g.digits(4))),
        },
        PiiFormat {
            id: "phone-e164-jp",
            label: "phone",
            make: |g| whole(format!("+81-90-{}-{}", g.digits(4), g.digits(4))),
        },
        PiiFormat {
            id: "iban-de",
            label: "iban",
            make: |g| iban(g, "DE", |g| g.digits(18), true),
        },
        PiiFormat {
            id: "iban-gb",
            label: "iban",
            make: |g| {
                iban(
                    g,
                    "GB",
                    |g| {
                        format!(
                            "{}{}",
                            g.pick(&["NWBK", "BARC", "LOYD", "MIDL"]),
                            g.digits(14)
                        )
                    },
                    true,
                )
            },
        },
        PiiFormat {
            id: "iban-fr",
            label: "iban",
            make: |g| {
                iban(
                    g,
                    "FR",
                    |g| format!("{}{}", g.digits(10), g.from(gen::UPPER_ALNUM, 11)) + &g.digits(2),
                    false,
                )
            },
        },
        PiiFormat {
            id: "iban-nl",
            label: "iban",
            make: |g| {
                iban(
                    g,
                    "NL",
                    |g| {
                        format!(
                            "{}{}",
                            g.pick(&["ABNA", "INGB", "RABO", "TRIO"]),
                            g.digits(10)
                        )
                    },
                    false,
                )
            },
        },
        PiiFormat {
            id: "iban-es",
            label: "iban",
            make: |g| iban(g, "ES", |g| g.digits(20), true),
        },
        PiiFormat {
            id: "card-visa",
            label: "card",
            make: |g| card(g, "4", 16, ' '),
        },
        PiiFormat {
            id: "card-mastercard",
            label: "card",
            make: |g| {
                let p = g.int(51, 55).to_string();
                card(g, &p, 16, '-')
            },
        },
        PiiFormat {
            id: "card-amex",
            label: "card",
            make: |g| {
                let p = *g.pick(&["34", "37"]);
                card(g, p, 15, ' ')
            },
        },
        PiiFormat {
            id: "card-discover",
            label: "card",
            make: |g| card(g, "6011", 16, '\0'),
        },
        PiiFormat {
            id: "national-id-us-ssn",
            label: "ssn",
            make: ssn,
        },
        PiiFormat {
            id: "national-id-gb-nino",
            label: "nino",
            make: |g| {
                let first = g.from("ABCEGHJKLMNOPRSTWXYZ", 1);
                let second = g.from("ABCEGHJKLMNPRSTWXYZ", 1);
                let prefix = format!("{first}{second}");
                let prefix =
                    if ["GB", "NK", "TN", "ZZ", "BG", "KN", "NT"].contains(&prefix.as_str()) {
                        "AB".to_owned()
                    } else {
                        prefix
                    };
                whole(format!(
                    "{prefix} {} {} {} {}",
                    g.digits(2),
                    g.digits(2),
                    g.digits(2),
                    g.from("ABCD", 1)
                ))
            },
        },
        PiiFormat {
            id: "national-id-ca-sin",
            label: "sin",
            make: |g| {
                let body = format!("{}{}", g.int(1, 7), g.digits(7));
                let full = format!("{body}{}", gen::luhn_digit(&body));
                whole(format!("{}-{}-{}", &full[0..3], &full[3..6], &full[6..9]))
            },
        },
        PiiFormat {
            id: "national-id-fr-nir",
            label: "nir",
            make: |g| {
                let body = format!(
                    "{}{:02}{:02}{:02}{}{}",
                    g.int(1, 2),
                    g.int(50, 99),
                    g.int(1, 12),
                    g.int(1, 95),
                    g.digits(3),
                    g.digits(3)
                );
                let n: u64 = body.parse().expect("digits");
                let key = 97 - n % 97;
                whole(format!(
                    "{} {} {} {} {} {} {key:02}",
                    &body[0..1],
                    &body[1..3],
                    &body[3..5],
                    &body[5..7],
                    &body[7..10],
                    &body[10..13]
                ))
            },
        },
        PiiFormat {
            id: "national-id-es-dni",
            label: "dni",
            make: |g| {
                let n = g.int(10_000_000, 99_999_999);
                let letter = "TRWAGMYFPDXBNJZSQVHLCKE".as_bytes()[(n % 23) as usize] as char;
                whole(format!("{n}{letter}"))
            },
        },
        PiiFormat {
            id: "national-id-nl-bsn",
            label: "bsn",
            make: |g| loop {
                let d: Vec<u64> = (0..8).map(|_| g.int(0, 9)).collect();
                let sum: u64 = d.iter().enumerate().map(|(i, v)| v * (9 - i as u64)).sum();
                let last = sum % 11;
                if d[0] != 0 && last <= 9 {
                    let s: String = d.iter().map(|v| v.to_string()).collect();
                    break whole(format!("{s}{last}"));
                }
            },
        },
        PiiFormat {
            id: "national-id-br-cpf",
            label: "cpf",
            make: |g| {
                let mut d: Vec<u32> = (0..9).map(|_| g.int(0, 9) as u32).collect();
                for len in [9u32, 10] {
                    let sum: u32 = d
                        .iter()
                        .enumerate()
                        .map(|(i, v)| v * (len + 1 - i as u32))
                        .sum();
                    let r = (sum * 10) % 11;
                    d.push(if r == 10 { 0 } else { r });
                }
                let s: String = d.iter().map(|v| v.to_string()).collect();
                whole(format!(
                    "{}.{}.{}-{}",
                    &s[0..3],
                    &s[3..6],
                    &s[6..9],
                    &s[9..11]
                ))
            },
        },
        PiiFormat {
            id: "national-id-in-aadhaar",
            label: "aadhaar",
            make: |g| {
                let body = format!("{}{}", g.int(2, 9), g.digits(10));
                let full = format!("{body}{}", verhoeff_digit(&body));
                whole(format!("{} {} {}", &full[0..4], &full[4..8], &full[8..12]))
            },
        },
    ]
}

/// A US number: an area code and exchange of the North American plan (no N11, no 555).
fn us_parts(g: &mut Gen) -> (String, String, String) {
    let area = g
        .pick(&["206", "312", "415", "512", "617", "646", "720", "917"])
        .to_string();
    let exchange = loop {
        let x = format!("{}{}", g.int(2, 9), g.digits(2));
        if &x[1..] != "11" && x != "555" {
            break x;
        }
    };
    (area, exchange, g.digits(4))
}

/// An IBAN of `country` with a fresh BBAN and correct check digits, grouped by four or not.
fn iban(g: &mut Gen, country: &str, bban: fn(&mut Gen) -> String, grouped: bool) -> Tok {
    let bban = bban(g);
    let compact = format!("{country}{}{bban}", gen::iban_check(country, &bban));
    let value = if grouped {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        compact
    };
    whole(value)
}

/// A Luhn-valid card number of `len` digits starting with `prefix`, grouped by `sep`
/// (`'\0'`: no separator; Amex groups 4-6-5).
fn card(g: &mut Gen, prefix: &str, len: usize, sep: char) -> Tok {
    let body = format!("{prefix}{}", g.digits(len - 1 - prefix.len()));
    let full = format!("{body}{}", gen::luhn_digit(&body));
    let value = match (sep, len) {
        ('\0', _) => full,
        (s, 15) => format!("{}{s}{}{s}{}", &full[0..4], &full[4..10], &full[10..15]),
        (s, _) => full
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(&s.to_string()),
    };
    whole(value)
}

/// A valid SSN: area 001–899 except 666, group 01–99, serial 0001–9999.
fn ssn(g: &mut Gen) -> Tok {
    let area = loop {
        let a = g.int(1, 899);
        if a != 666 {
            break a;
        }
    };
    whole(format!(
        "{area:03}-{:02}-{:04}",
        g.int(1, 99),
        g.int(1, 9999)
    ))
}

/// The Verhoeff check digit of `digits`.
pub fn verhoeff_digit(digits: &str) -> char {
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
    const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];
    let mut c = 0usize;
    for (i, b) in digits.bytes().rev().enumerate() {
        c = D[c][P[(i + 1) % 8][(b - b'0') as usize] as usize] as usize;
    }
    char::from(b'0' + INV[c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pii_values_pass_their_own_checks() {
        // Verhoeff: the published example 236 → check digit 3.
        assert_eq!(verhoeff_digit("236"), '3');
        let mut g = Gen::new(11);
        for f in pii_formats() {
            for _ in 0..20 {
                let t = (f.make)(&mut g);
                let digits: String = t.value.chars().filter(char::is_ascii_digit).collect();
                match f.label {
                    "card" | "sin" => assert!(gen::luhn_valid(&digits), "{}", t.value),
                    "iban" => {
                        let c: String = t.value.chars().filter(|c| !c.is_whitespace()).collect();
                        let r = format!("{}{}", &c[4..], &c[..4]);
                        assert_eq!(gen::mod97(&r), 1, "{}", t.value);
                    }
                    _ => {}
                }
            }
        }
    }
}
