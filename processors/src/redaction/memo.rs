//! Strings already found clean in this request. Codex telemetry repeats the same short strings
//! over and over (span names, code paths, thread names, model names, ids in every record); a
//! string equal, byte for byte, to one already scanned clean under the same rules is clean too,
//! so it is looked up instead of scanned again. Exact comparison, never a hash alone: a
//! collision cannot let a secret through.

/// Strings longer than this are not remembered.
pub(crate) const MAX_LEN: usize = 96;
/// Remembered strings per request at most (slots are twice as many).
const CAPACITY: usize = 512;
/// Bytes of remembered strings per request at most.
const ARENA: usize = 32 << 10;

#[derive(Clone, Copy, Default)]
struct Slot {
    hash: u64,
    start: u32,
    len: u32,
    /// The request this slot was filled in; older slots are empty.
    generation: u32,
}

/// The set, reused from request to request (emptied by moving to a new generation).
pub(crate) struct Memo {
    slots: Vec<Slot>,
    arena: Vec<u8>,
    generation: u32,
    count: usize,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            slots: vec![Slot::default(); CAPACITY * 2],
            arena: Vec::with_capacity(ARENA),
            generation: 1,
            count: 0,
        }
    }
}

/// A fast hash of a short string (multiply-rotate over eight-byte words).
pub(crate) fn hash(s: &[u8]) -> u64 {
    let mut h = s.len() as u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let w = <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    let rest = chunks
        .remainder()
        .iter()
        .enumerate()
        .fold(0u64, |x, (k, &b)| x | u64::from(b) << (8 * k));
    (h.rotate_left(5) ^ rest).wrapping_mul(0x517c_c1b7_2722_0a95)
}

impl Memo {
    /// Forgets everything (a new request).
    pub(crate) fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.iter_mut().for_each(|s| *s = Slot::default());
            self.generation = 1;
        }
        self.arena.clear();
        self.count = 0;
    }

    fn index(&self, h: u64) -> usize {
        (h as usize) & (self.slots.len() - 1)
    }

    /// Whether `s` (with hash `h`) was remembered.
    pub(crate) fn contains(&self, s: &[u8], h: u64) -> bool {
        let mut i = self.index(h);
        loop {
            let slot = self.slots[i];
            if slot.generation != self.generation {
                return false;
            }
            if slot.hash == h && slot.len as usize == s.len() {
                let start = slot.start as usize;
                if self.arena.get(start..start + s.len()) == Some(s) {
                    return true;
                }
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }

    /// Remembers `s` (with hash `h`) if there is room.
    pub(crate) fn insert(&mut self, s: &[u8], h: u64) {
        if self.count >= CAPACITY || self.arena.len() + s.len() > ARENA {
            return;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.arena.len()), u32::try_from(s.len())) else {
            return;
        };
        let mut i = self.index(h);
        while self.slots[i].generation == self.generation {
            i = (i + 1) & (self.slots.len() - 1);
        }
        self.arena.extend_from_slice(s);
        self.slots[i] = Slot {
            hash: h,
            start,
            len,
            generation: self.generation,
        };
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exact_strings_only_within_a_request() {
        let mut m = Memo::default();
        let a = b"codex_exec_server::local_file_system";
        m.insert(a, hash(a));
        assert!(m.contains(a, hash(a)));
        assert!(
            !m.contains(b"codex_exec_server::local_file_systen", hash(a)),
            "same hash, other bytes"
        );
        m.reset();
        assert!(!m.contains(a, hash(a)));
    }

    #[test]
    fn stops_remembering_when_full_and_still_answers() {
        let mut m = Memo::default();
        for i in 0..CAPACITY * 3 {
            let s = format!("value-{i}");
            m.insert(s.as_bytes(), hash(s.as_bytes()));
        }
        assert!(m.contains(b"value-0", hash(b"value-0")));
        assert!(!m.contains(b"value-9999", hash(b"value-9999")));
    }
}
