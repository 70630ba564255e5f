//! Keyed hashing for the `hash` actions: HMAC-SHA256, hex-encoded behind the prefix
//! `hmac-sha256:`. With a key only the gateway knows, equal values give equal hashes (joinable in
//! the backend) while a dictionary of guessed e-mails or ids cannot be hashed to find them.

use hmac::{Hmac, Mac};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use sha2::{Digest, Sha256};
use std::hash::{BuildHasher, RandomState};

/// What every hashed value starts with.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// Shortest `hash_key` accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// A keyed HMAC-SHA256, cloned for each value.
#[derive(Clone)]
pub(crate) struct Hasher {
    mac: Hmac<Sha256>,
}

impl Hasher {
    /// A hasher keyed with `key` (HMAC accepts keys of any length).
    pub(crate) fn new(key: &[u8]) -> Option<Hasher> {
        Hmac::<Sha256>::new_from_slice(key)
            .ok()
            .map(|mac| Hasher { mac })
    }

    /// `hmac-sha256:<64 hex digits>` of `bytes`.
    pub(crate) fn hash_bytes(&self, bytes: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(bytes);
        to_prefixed_hex(&mac.finalize().into_bytes())
    }

    /// The hash of a whole attribute value. Strings and bytes are hashed as they are; ints,
    /// doubles and bools as their text (`42`, `1.5`, `true`), so `"42"` and `42` hash alike;
    /// arrays and kvlists as a canonical, type-tagged encoding of their content (built without
    /// recursion, so any depth is fine).
    pub(crate) fn hash_value(&self, v: &AnyValue) -> String {
        match &v.value {
            None => self.hash_bytes(b""),
            Some(Value::StringValue(s)) => self.hash_bytes(s.as_bytes()),
            Some(Value::BytesValue(b)) => self.hash_bytes(b),
            Some(Value::IntValue(i)) => self.hash_bytes(i.to_string().as_bytes()),
            Some(Value::StringValueStrindex(i)) => self.hash_bytes(i.to_string().as_bytes()),
            Some(Value::DoubleValue(d)) => self.hash_bytes(d.to_string().as_bytes()),
            Some(Value::BoolValue(b)) => self.hash_bytes(if *b { b"true" } else { b"false" }),
            Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
                let mut mac = self.mac.clone();
                let mut stack: Vec<&AnyValue> = vec![v];
                while let Some(v) = stack.pop() {
                    match &v.value {
                        None => mac.update(b"n"),
                        Some(Value::StringValue(s)) => tagged(&mut mac, b's', s.as_bytes()),
                        Some(Value::BytesValue(b)) => tagged(&mut mac, b'y', b),
                        Some(Value::IntValue(i)) => tagged(&mut mac, b'i', &i.to_le_bytes()),
                        Some(Value::StringValueStrindex(i)) => {
                            tagged(&mut mac, b'x', &i.to_le_bytes())
                        }
                        Some(Value::DoubleValue(d)) => {
                            tagged(&mut mac, b'd', &d.to_bits().to_le_bytes())
                        }
                        Some(Value::BoolValue(b)) => tagged(&mut mac, b'b', &[u8::from(*b)]),
                        Some(Value::ArrayValue(a)) => {
                            tagged(&mut mac, b'a', &(a.values.len() as u64).to_le_bytes());
                            stack.extend(a.values.iter().rev());
                        }
                        Some(Value::KvlistValue(l)) => {
                            tagged(&mut mac, b'k', &(l.values.len() as u64).to_le_bytes());
                            // Keys go in as they are met; values are pushed so that each key is
                            // followed by its value.
                            for kv in l.values.iter().rev() {
                                match &kv.value {
                                    Some(v) => stack.push(v),
                                    None => stack.push(&NO_VALUE),
                                }
                            }
                            for kv in &l.values {
                                tagged(&mut mac, b'K', kv.key.as_bytes());
                            }
                        }
                    }
                }
                to_prefixed_hex(&mac.finalize().into_bytes())
            }
        }
    }
}

/// True for `hmac-sha256:` followed by exactly 64 lowercase hex digits: what this module writes.
/// A `hash` key rule leaves such a value as it is, so two tiers that both redact (sidecar ->
/// central, ingest -> affine) give the same pseudonym as one.
pub(crate) fn is_hashed(s: &str) -> bool {
    s.strip_prefix(HASH_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

static NO_VALUE: AnyValue = AnyValue { value: None };

fn tagged(mac: &mut Hmac<Sha256>, tag: u8, bytes: &[u8]) {
    mac.update(&[tag]);
    mac.update(&(bytes.len() as u64).to_le_bytes());
    mac.update(bytes);
}

fn to_prefixed_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(HASH_PREFIX.len() + bytes.len() * 2);
    s.push_str(HASH_PREFIX);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// A 32-byte key for this process only, from the OS entropy that seeds std's `RandomState`
/// (128 bits per thread), mixed with the time and process id through SHA-256.
pub(crate) fn ephemeral_key() -> [u8; 32] {
    let mut sha = Sha256::new();
    for i in 0u64..8 {
        let state = RandomState::new();
        sha.update(state.hash_one(i).to_le_bytes());
    }
    let nanos = crate::clock::unix_nanos();
    sha.update(nanos.to_le_bytes());
    sha.update(std::process::id().to_le_bytes());
    sha.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let h = Hasher::new(b"Jefe").expect("any key length");
        assert_eq!(
            h.hash_bytes(b"what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ephemeral_keys_differ_between_calls() {
        assert_ne!(ephemeral_key(), ephemeral_key());
    }
}
