//! Random building blocks of the privacy corpus: alphabets, the checksums real token formats carry
//! (GitHub/npm CRC32 in base62, bech32 for age keys, CRC24 for OpenPGP armour, Luhn, IBAN
//! mod-97), a tiny DER writer for key blocks, and base64 in its variants. Everything is drawn from
//! one seeded RNG, so a seed reproduces a whole corpus.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const DIGITS: &str = "0123456789";
pub const HEX: &str = "0123456789abcdef";
pub const UPPER_HEX: &str = "0123456789ABCDEF";
pub const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
pub const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const LOWER_ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const URL_SAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// RFC 4648 base32 (AWS access key ids, Azure DevOps PATs in lower case).
pub const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The base62 alphabet of GitHub's and npm's token checksums.
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// bech32's data alphabet.
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// A seeded random source with helpers for token bodies.
pub struct Gen {
    rng: StdRng,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A number in `lo..=hi`.
    pub fn int(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }

    /// An index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        self.rng.fill(&mut out[..]);
        out
    }

    /// `n` characters of `alphabet`, never a run of more than two equal characters and always
    /// mixing at least two classes when the alphabet has them (so every body is high-entropy, as a
    /// real token is, and a scanner's "looks like a placeholder" filters do not drop it).
    pub fn from(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        loop {
            let s: String = (0..n)
                .map(|_| chars[self.rng.random_range(0..chars.len())])
                .collect();
            if n < 8 || looks_random(&s, alphabet) {
                return s;
            }
        }
    }

    pub fn digits(&mut self, n: usize) -> String {
        self.from(DIGITS, n)
    }
    pub fn hex(&mut self, n: usize) -> String {
        self.from(HEX, n)
    }
    pub fn alnum(&mut self, n: usize) -> String {
        self.from(ALNUM, n)
    }
    pub fn lower_alnum(&mut self, n: usize) -> String {
        self.from(LOWER_ALNUM, n)
    }
    pub fn upper_alnum(&mut self, n: usize) -> String {
        self.from(UPPER_ALNUM, n)
    }
    pub fn url_safe(&mut self, n: usize) -> String {
        self.from(URL_SAFE, n)
    }
    pub fn b64chars(&mut self, n: usize) -> String {
        self.from(B64, n)
    }

    /// Standard base64 (with padding) of `n` random bytes.
    pub fn b64_of_random(&mut self, n: usize) -> String {
        STANDARD.encode(self.bytes(n))
    }

    /// A v4 UUID, lower case.
    pub fn uuid(&mut self) -> String {
        let mut b = self.bytes(16);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// A lower-case word from a small list (names of hosts, users, projects).
    pub fn word(&mut self) -> &'static str {
        const WORDS: &[&str] = &[
            "atlas", "birch", "cobalt", "delta", "ember", "fjord", "granite", "harbor", "indigo",
            "juniper", "kestrel", "lumen", "maple", "nimbus", "onyx", "pillar", "quartz", "raven",
            "sierra", "tundra", "umber", "vesper", "willow", "yarrow", "zephyr",
        ];
        WORDS[self.below(WORDS.len())]
    }

    /// A password as people make them for services: letters, digits and a few safe symbols.
    pub fn password(&mut self, n: usize) -> String {
        self.from(
            "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789_-",
            n,
        )
    }
}

/// Whether `s` is free of the patterns a scanner treats as placeholders: long runs, and bodies
/// of a single character class when the alphabet offers several.
fn looks_random(s: &str, alphabet: &str) -> bool {
    let b = s.as_bytes();
    if b.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    let classes = |f: fn(&u8) -> bool| alphabet.as_bytes().iter().any(f);
    let has = |f: fn(&u8) -> bool| b.iter().any(f);
    let checks: [fn(&u8) -> bool; 3] = [
        u8::is_ascii_digit,
        u8::is_ascii_lowercase,
        u8::is_ascii_uppercase,
    ];
    checks.iter().all(|f| !classes(*f) || has(*f))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
pub fn b64_no_pad(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `text` wrapped at `width` columns.
pub fn wrap(text: &str, width: usize) -> String {
    text.as_bytes()
        .chunks(width)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The checksum GitHub and npm append to their tokens: CRC32 of the random part in base62,
/// left-padded to six characters.
pub fn crc32_base62(random_part: &str) -> String {
    let mut n = crc32fast::hash(random_part.as_bytes());
    let mut out = Vec::new();
    while n > 0 {
        out.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    while out.len() < 6 {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// A bech32 string (BIP 173) of `hrp` and `data`, as age encodes its keys.
pub fn bech32(hrp: &str, data: &[u8]) -> String {
    let mut groups = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            groups.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        groups.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    values.extend(&groups);
    values.extend([0u8; 6]);
    let polymod = bech32_polymod(&values) ^ 1;
    let checksum = (0..6).map(|i| ((polymod >> (5 * (5 - i))) & 31) as u8);
    let data: String = groups
        .iter()
        .copied()
        .chain(checksum)
        .map(|g| BECH32[g as usize] as char)
        .collect();
    format!("{hrp}1{data}")
}

fn bech32_polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// OpenPGP's CRC-24 (RFC 4880 §6.1) of `data`.
pub fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB704CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x1000000 != 0 {
                crc ^= 0x1864CFB;
            }
        }
    }
    crc & 0xFFFFFF
}

/// The Luhn check digit that completes `digits`.
pub fn luhn_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Whether `digits` passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    let (body, last) = digits.split_at(digits.len() - 1);
    luhn_digit(body).to_string() == last
}

/// The two IBAN check digits (ISO 13616 mod-97) for `country` and `bban`.
pub fn iban_check(country: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{country}00");
    let rem = mod97(&rearranged);
    format!("{:02}", 98 - rem)
}

/// The remainder mod 97 of an alphanumeric string read as in IBAN validation (A=10 … Z=35).
pub fn mod97(s: &str) -> u32 {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36).expect("alphanumeric");
        let digits = if v >= 10 { 100 } else { 10 };
        rem = (rem * digits + v) % 97;
    }
    rem
}

/// Minimal DER writer for the key structures of the private key blocks.
pub mod der {
    /// Tag + length + content.
    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = content.len();
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend([0x81, n as u8]);
        } else {
            out.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(content);
        out
    }
    pub fn seq(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &items.concat())
    }
    /// A positive INTEGER of these magnitude bytes (a leading zero is added when needed).
    pub fn int(magnitude: &[u8]) -> Vec<u8> {
        let mut m: Vec<u8> = magnitude.to_vec();
        while m.len() > 1 && m[0] == 0 {
            m.remove(0);
        }
        if m[0] & 0x80 != 0 {
            m.insert(0, 0);
        }
        tlv(0x02, &m)
    }
    pub fn small_int(v: u32) -> Vec<u8> {
        int(&v.to_be_bytes())
    }
    pub fn octets(b: &[u8]) -> Vec<u8> {
        tlv(0x04, b)
    }
    pub fn bits(b: &[u8]) -> Vec<u8> {
        let mut c = vec![0u8];
        c.extend_from_slice(b);
        tlv(0x03, &c)
    }
    pub fn oid(encoded: &[u8]) -> Vec<u8> {
        tlv(0x06, encoded)
    }
    pub fn null() -> Vec<u8> {
        vec![0x05, 0x00]
    }
    /// Context-specific constructed `[n]`.
    pub fn ctx(n: u8, content: &[u8]) -> Vec<u8> {
        tlv(0xa0 | n, content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_published_examples() {
        // IBAN example of the ISO 13616 register: GB82 WEST 1234 5698 7654 32.
        assert_eq!(iban_check("GB", "WEST12345698765432"), "82");
        assert_eq!(mod97("WEST12345698765432GB82"), 1);
        // Luhn: 4111 1111 1111 1111 is the classic valid test number.
        assert!(luhn_valid("4111111111111111"));
        assert_eq!(luhn_digit("411111111111111"), '1');
        // bech32 test vector of BIP 173.
        assert_eq!(bech32("a", &[]), "a12uel5l");
        // CRC-24 of the empty input is its initial value.
        assert_eq!(crc24(b""), 0xB704CE);
    }
}
