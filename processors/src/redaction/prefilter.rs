//! The prefilter: the two cheap passes over a string that say where the detectors may look.
//!
//! **Literals.** Every occurrence (ASCII case-insensitive, overlapping) of a few hundred
//! literals (`ghp_`, `sk-`, `password`, `-----begin`, ...). Each literal is keyed by its first
//! three bytes, case-folded and hashed into a 65,536-bit set (8 KiB, cache-resident). The pass
//! loads eight bytes at a time and tests the bit of each three-byte window in them: about seven
//! instructions per byte and no branch taken where nothing can start. Only where a bit is set
//! are the literals with that key compared. Two-byte literals set the bit of every third byte.
//! (A general Aho-Corasick DFA over the same literals costs about three times as many
//! instructions per byte, measured with callgrind on the Codex trace fixture.)
//!
//! **Word starts** for the formats without a literal (cards, phone numbers, IBANs, national ids,
//! e-mail, Twilio SIDs, Discord bot tokens): digits and upper-case letters that start a word, and
//! `+ ( @`. Eight bytes at a time are tested for any such byte with SWAR arithmetic, so plain
//! lower-case text and punctuation cost about two instructions per byte.

use super::catalog::WordStart;
use super::pii::{self, Wanted, Word};

const BITS: usize = 1 << 16;

/// Every byte of a `u64` set to `b`.
const fn splat(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

/// The bytes as keyed: ASCII letters folded to lower case by setting bit 5 (other bytes may
/// collide with each other; the comparison after the bit test is exact).
const FOLD: u64 = splat(0x20);

/// The bit of a three-byte window, little-endian (`a | b << 8 | c << 16`), folded.
fn key(window: u32) -> usize {
    (window.wrapping_mul(0x9E37_79B1) >> 16) as usize
}

fn window(a: u8, b: u8, c: u8) -> u32 {
    u32::from(a | 0x20) | u32::from(b | 0x20) << 8 | u32::from(c | 0x20) << 16
}

/// Eight bytes from `i`, zero-padded past the end.
#[inline]
fn load(s: &[u8], i: usize) -> u64 {
    if i + 8 <= s.len() {
        u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default())
    } else {
        tail(s, i)
    }
}

#[cold]
fn tail(s: &[u8], i: usize) -> u64 {
    s.get(i..)
        .unwrap_or_default()
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |x, (k, &b)| x | u64::from(b) << (8 * k))
}

/// A set of literals (each at least two bytes), found ignoring ASCII case.
pub(crate) struct LitFilter {
    bits: Box<[u64; BITS / 64]>,
    /// Per key: the range of `cands` holding the literals with that key (`from << 16 | to`).
    ranges: Vec<u32>,
    cands: Vec<u32>,
    /// The literals, lower-cased.
    lits: Vec<Box<[u8]>>,
    /// The first (up to) four bytes of each literal, folded, and the mask of the bytes used.
    heads: Vec<(u32, u32)>,
}

/// Up to four bytes of `b` from `i`, folded, little-endian, and the mask of the bytes present.
fn head(b: &[u8], i: usize, len: usize) -> (u32, u32) {
    let mut v = 0u32;
    let mut mask = 0u32;
    for k in 0..len.min(4) {
        if let Some(&c) = b.get(i + k) {
            v |= u32::from(c | 0x20) << (8 * k);
            mask |= 0xff << (8 * k);
        }
    }
    (v, mask)
}

impl LitFilter {
    /// A filter over `lits` (lower-cased here); literal `i` is reported as `i`. Literals shorter
    /// than two bytes are an error.
    pub(crate) fn new(lits: &[String]) -> Result<LitFilter, String> {
        let mut per_key: Vec<Vec<u32>> = vec![Vec::new(); BITS];
        let lower: Vec<Box<[u8]>> = lits
            .iter()
            .map(|l| l.as_bytes().to_ascii_lowercase().into_boxed_slice())
            .collect();
        for (i, l) in lower.iter().enumerate() {
            let id = u32::try_from(i).map_err(|e| e.to_string())?;
            match **l {
                [a, b, c, ..] => per_key[key(window(a, b, c))].push(id),
                [a, b] => {
                    for c in 0..=255u8 {
                        let k = key(window(a, b, c));
                        if !per_key[k].contains(&id) {
                            per_key[k].push(id);
                        }
                    }
                }
                _ => return Err(format!("literal {:?} is shorter than two bytes", lits[i])),
            }
        }
        let mut bits = Box::new([0u64; BITS / 64]);
        let mut ranges = vec![0u32; BITS];
        let mut cands = Vec::new();
        for (k, ids) in per_key.iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            bits[k / 64] |= 1 << (k % 64);
            let from = u16::try_from(cands.len()).map_err(|e| e.to_string())?;
            cands.extend_from_slice(ids);
            let to = u16::try_from(cands.len()).map_err(|e| e.to_string())?;
            ranges[k] = u32::from(from) << 16 | u32::from(to);
        }
        let heads = lower.iter().map(|l| head(l, 0, l.len())).collect();
        Ok(LitFilter {
            bits,
            ranges,
            cands,
            lits: lower,
            heads,
        })
    }

    /// Calls `f(literal, start, end)` for every occurrence of a literal in `s`, in order of
    /// start.
    pub(crate) fn find(&self, s: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let n = s.len();
        let mut i = 0;
        // Six windows per eight-byte load while eight bytes remain.
        while i + 8 <= n {
            let x = load(s, i) | FOLD;
            let mut any = 0u64;
            for k in 0..6 {
                any |= self.bit(x >> (8 * k)) << k;
            }
            while any != 0 {
                let k = any.trailing_zeros() as usize;
                any &= any - 1;
                let w = (x >> (8 * k)) as u32 & 0x00ff_ffff;
                self.check(s, i + k, key(w), &mut f);
            }
            i += 6;
        }
        // The last windows (two bytes at least), from a zero-padded load.
        while i + 1 < n {
            let x = load(s, i) | FOLD;
            if self.bit(x) != 0 {
                self.check(s, i, key(x as u32 & 0x00ff_ffff), &mut f);
            }
            i += 1;
        }
    }

    /// 1 when the window in the low three bytes of `x` has its bit set, else 0.
    #[inline]
    fn bit(&self, x: u64) -> u64 {
        let k = key(x as u32 & 0x00ff_ffff);
        (self.bits[k >> 6] >> (k & 63)) & 1
    }

    #[cold]
    fn check(&self, s: &[u8], i: usize, k: usize, f: &mut impl FnMut(usize, usize, usize)) {
        let r = self.ranges[k] as usize;
        let (text_head, _) = head(s, i, 4);
        for &id in self.cands.get(r >> 16..r & 0xffff).unwrap_or_default() {
            let id = id as usize;
            let (lit_head, mask) = self.heads[id];
            if text_head & mask != lit_head {
                continue;
            }
            let lit = &self.lits[id];
            if s.get(i..i + lit.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(lit))
            {
                f(id, i, i + lit.len());
            }
        }
    }
}

/// For each byte of `x`: the high bit set where the byte is ASCII and in `lo..=hi`.
fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let ascii = !x & splat(0x80);
    let y = x & splat(0x7f);
    let ge = y + splat(0x80 - lo);
    let gt = y + splat(0x7f - hi);
    ge & !gt & ascii
}

/// For each byte of `x`: the high bit set where the byte equals `b`.
fn equal(x: u64, b: u8) -> u64 {
    let t = x ^ splat(b);
    !(((t & splat(0x7f)) + splat(0x7f)) | t) & splat(0x80)
}

/// All ones when `on`, else zero.
fn enable(on: bool) -> u64 {
    0u64.wrapping_sub(u64::from(on))
}

/// The lexical pass: calls `f` at every wanted word start of `s`, in order (see
/// [`pii::step`]). Eight bytes at a time are skipped when none is a digit, an upper-case letter
/// or a wanted `+ ( @`.
pub(crate) fn words(s: &[u8], want: Wanted, mut f: impl FnMut(WordStart, &Word)) {
    if !want.any() {
        return;
    }
    let (digit, upper) = (enable(want.digit), enable(want.upper));
    let (plus, paren, at) = (enable(want.plus), enable(want.paren), enable(want.at));
    let n = s.len();
    let mut i = 0;
    while i < n {
        let x = load(s, i);
        let mut hits = (in_range(x, b'0', b'9') & digit)
            | (in_range(x, b'A', b'Z') & upper)
            | (equal(x, b'+') & plus)
            | (equal(x, b'(') & paren)
            | (equal(x, b'@') & at);
        while hits != 0 {
            let k = (hits.trailing_zeros() / 8) as usize;
            hits &= hits - 1;
            let at = i + k;
            let Some(&c) = s.get(at) else {
                break;
            };
            let prev_alnum = at > 0 && pii::is_alnum_class(pii::class(s[at - 1]));
            pii::step(s, at, pii::class(c), prev_alnum, want, &mut f);
        }
        i += 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_overlapping_occurrence_in_any_case() {
        let lits: Vec<String> = ["sk-", "sk-ant-", "token", "key", "u+", "yc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = LitFilter::new(&lits).expect("builds");
        let mut got = Vec::new();
        f.find(b"SK-ANT-x MY_TOKEN apikey u+ yc", |id, a, b| {
            got.push((id, a, b))
        });
        assert_eq!(
            got,
            [
                (0, 0, 3),
                (1, 0, 7),
                (2, 12, 17),
                (3, 21, 24),
                (4, 25, 27),
                (5, 28, 30)
            ]
        );
        let mut none = 0;
        f.find(b"nothing to see here, ye", |_, _, _| none += 1);
        assert_eq!(none, 0);
        assert!(LitFilter::new(&["@".to_string()]).is_err());
    }

    #[test]
    fn literals_are_found_at_every_offset_and_at_the_very_end() {
        let f = LitFilter::new(&["ghp_".to_string(), "yc".to_string()]).expect("builds");
        for pad in 0..20 {
            let text = format!("{}ghp_x", ".".repeat(pad));
            let mut at = Vec::new();
            f.find(text.as_bytes(), |_, a, _| at.push(a));
            assert_eq!(at, [pad], "{text}");
            let tail = format!("{}yc", ".".repeat(pad));
            let mut at = Vec::new();
            f.find(tail.as_bytes(), |_, a, _| at.push(a));
            assert_eq!(at, [pad], "{tail}");
        }
    }

    #[test]
    fn swar_byte_tests_match_the_scalar_ones() {
        for b in 0..=255u8 {
            let x = u64::from_le_bytes([b, b'a', b, 0, 0xff, b, b'Z', b]);
            let r = in_range(x, b'0', b'9');
            let e = equal(x, b'@');
            for (k, c) in x.to_le_bytes().iter().enumerate() {
                let bit = 0x80u64 << (8 * k);
                assert_eq!(r & bit != 0, c.is_ascii_digit(), "{c}");
                assert_eq!(e & bit != 0, *c == b'@', "{c}");
            }
        }
    }
}
