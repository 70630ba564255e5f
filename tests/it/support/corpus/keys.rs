//! Private key files of every common armour, built to their published layouts (PEM over DER for
//! PKCS#1, PKCS#8, encrypted PKCS#8, SEC1 and DSA; `openssh-key-v1`; OpenPGP armour with its
//! CRC-24; PuTTY `.ppk` v3 with its HMAC-SHA-256 MAC; age's bech32 secret key; the SSH.com
//! "SSH2" armour). Key material is random bytes of the right sizes (a scanner checks the armour
//! and the structure, never the maths), so a seed reproduces every key.

use hmac::{Hmac, Mac};

use super::formats::Tok;
use super::gen::{self, b64, der, Gen};

/// One private key file.
pub struct KeyFile {
    /// Format id, e.g. `private-key-openssh`.
    pub id: &'static str,
    /// File name in the session's work tree.
    pub path: &'static str,
    /// The whole file.
    pub text: String,
    /// The planted value (the key block) and its core.
    pub tok: Tok,
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Every key file, freshly made.
pub fn key_files(g: &mut Gen) -> Vec<KeyFile> {
    vec![
        pem_file(
            g,
            "private-key-rsa-pkcs1",
            "keys/legacy_rsa.pem",
            "RSA PRIVATE KEY",
            None,
            rsa_pkcs1_der,
        ),
        pem_file(
            g,
            "private-key-rsa-pkcs1-encrypted",
            "keys/legacy_rsa_enc.pem",
            "RSA PRIVATE KEY",
            Some("Proc-Type: 4,ENCRYPTED"),
            |g| g.bytes(624),
        ),
        pem_file(
            g,
            "private-key-pkcs8",
            "keys/service.key",
            "PRIVATE KEY",
            None,
            pkcs8_der,
        ),
        pem_file(
            g,
            "private-key-pkcs8-encrypted",
            "keys/service_enc.key",
            "ENCRYPTED PRIVATE KEY",
            None,
            encrypted_pkcs8_der,
        ),
        pem_file(
            g,
            "private-key-ec-sec1",
            "keys/signing-ec.pem",
            "EC PRIVATE KEY",
            None,
            ec_der,
        ),
        pem_file(
            g,
            "private-key-dsa",
            "keys/old_dsa.pem",
            "DSA PRIVATE KEY",
            None,
            dsa_der,
        ),
        openssh(g),
        pgp(g),
        putty(g),
        age(g),
        ssh2(g),
    ]
}

/// A PEM file of `label` around `der(g)`; `encrypted_header` adds the RFC 1421 headers.
fn pem_file(
    g: &mut Gen,
    id: &'static str,
    path: &'static str,
    label: &str,
    encrypted_header: Option<&str>,
    der: fn(&mut Gen) -> Vec<u8>,
) -> KeyFile {
    let body = gen::wrap(&b64(&der(g)), 64);
    let headers = match encrypted_header {
        Some(h) => format!(
            "{h}\nDEK-Info: AES-128-CBC,{}\n\n",
            g.from(gen::UPPER_HEX, 32)
        ),
        None => String::new(),
    };
    let block = format!("-----BEGIN {label}-----\n{headers}{body}\n-----END {label}-----");
    block_file(id, path, block, &body)
}

/// A key file that is exactly `block`, its core from the middle of `body`.
fn block_file(id: &'static str, path: &'static str, block: String, body: &str) -> KeyFile {
    let tok = block_tok(block, body);
    KeyFile {
        id,
        path,
        text: format!("{}\n", tok.value),
        tok,
    }
}

/// The planted block with a core from the middle of its base64 body.
fn block_tok(block: String, body: &str) -> Tok {
    let lines: Vec<&str> = body.lines().collect();
    let line = lines[lines.len() / 2];
    let core = &line[8..28];
    Tok::with_core(block, core)
}

fn rand_int(g: &mut Gen, n: usize) -> Vec<u8> {
    let mut b = g.bytes(n);
    b[0] |= 0x80;
    der::int(&b)
}

fn rsa_pkcs1_der(g: &mut Gen) -> Vec<u8> {
    der::seq(&[
        der::small_int(0),
        rand_int(g, 128),
        der::small_int(65537),
        rand_int(g, 128),
        rand_int(g, 64),
        rand_int(g, 64),
        rand_int(g, 64),
        rand_int(g, 64),
        rand_int(g, 64),
    ])
}

fn pkcs8_der(g: &mut Gen) -> Vec<u8> {
    der::seq(&[
        der::small_int(0),
        der::seq(&[der::oid(OID_RSA), der::null()]),
        der::octets(&rsa_pkcs1_der(g)),
    ])
}

fn encrypted_pkcs8_der(g: &mut Gen) -> Vec<u8> {
    let kdf = der::seq(&[
        der::oid(OID_PBKDF2),
        der::seq(&[der::octets(&g.bytes(16)), der::small_int(600_000)]),
    ]);
    let cipher = der::seq(&[der::oid(OID_AES256_CBC), der::octets(&g.bytes(16))]);
    der::seq(&[
        der::seq(&[der::oid(OID_PBES2), der::seq(&[kdf, cipher])]),
        der::octets(&g.bytes(656)),
    ])
}

fn ec_der(g: &mut Gen) -> Vec<u8> {
    let mut point = vec![0x04];
    point.extend(g.bytes(64));
    der::seq(&[
        der::small_int(1),
        der::octets(&g.bytes(32)),
        der::ctx(0, &der::oid(OID_P256)),
        der::ctx(1, &der::bits(&point)),
    ])
}

fn dsa_der(g: &mut Gen) -> Vec<u8> {
    der::seq(&[
        der::small_int(0),
        rand_int(g, 128),
        rand_int(g, 20),
        rand_int(g, 128),
        rand_int(g, 128),
        rand_int(g, 20),
    ])
}

/// SSH wire `string`.
fn ssh_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend((s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn openssh(g: &mut Gen) -> KeyFile {
    let seed = g.bytes(32);
    let public = g.bytes(32);
    let mut pub_blob = Vec::new();
    ssh_string(&mut pub_blob, b"ssh-ed25519");
    ssh_string(&mut pub_blob, &public);
    let check = g.bytes(4);
    let mut private = Vec::new();
    private.extend(&check);
    private.extend(&check);
    ssh_string(&mut private, b"ssh-ed25519");
    ssh_string(&mut private, &public);
    ssh_string(&mut private, &[seed.as_slice(), public.as_slice()].concat());
    ssh_string(&mut private, format!("deploy@{}", g.word()).as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut blob = b"openssh-key-v1\0".to_vec();
    ssh_string(&mut blob, b"none");
    ssh_string(&mut blob, b"none");
    ssh_string(&mut blob, b"");
    blob.extend(1u32.to_be_bytes());
    ssh_string(&mut blob, &pub_blob);
    ssh_string(&mut blob, &private);
    let body = gen::wrap(&b64(&blob), 70);
    let block =
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----");
    block_file("private-key-openssh", "keys/id_ed25519", block, &body)
}

/// OpenPGP multiprecision integer.
fn mpi(bytes: &[u8]) -> Vec<u8> {
    let mut b: &[u8] = bytes;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    let bits = (b.len() * 8) as u16 - b[0].leading_zeros() as u16;
    let mut out = bits.to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

fn pgp_packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0 | tag];
    if body.len() < 192 {
        out.push(body.len() as u8);
    } else {
        let n = body.len() - 192;
        out.extend([((n >> 8) + 192) as u8, n as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn pgp(g: &mut Gen) -> KeyFile {
    let mut key = vec![0x04];
    key.extend((g.int(1_600_000_000, 1_760_000_000) as u32).to_be_bytes());
    key.push(22); // EdDSA
    key.extend([9, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01]);
    let mut point = vec![0x40];
    point.extend(g.bytes(32));
    key.extend(mpi(&point));
    key.push(0); // S2K usage: unprotected
    let secret = mpi(&g.bytes(32));
    let checksum = secret.iter().map(|&b| u32::from(b)).sum::<u32>() as u16;
    key.extend(&secret);
    key.extend(checksum.to_be_bytes());
    let mut data = pgp_packet(5, &key);
    data.extend(pgp_packet(13, b"Release Signing Key (ci)"));
    let crc = gen::crc24(&data).to_be_bytes();
    let body = gen::wrap(&b64(&data), 64);
    let block = format!(
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{body}\n={}\n-----END PGP PRIVATE KEY BLOCK-----",
        b64(&crc[1..])
    );
    let lines: Vec<&str> = body.lines().collect();
    let core = lines[1][8..28].to_owned();
    let tok = Tok::with_core(block, &core);
    KeyFile {
        id: "private-key-pgp",
        path: "keys/release-signing.asc",
        text: format!("{}\n", tok.value),
        tok,
    }
}

fn putty(g: &mut Gen) -> KeyFile {
    let comment = format!("ed25519-key-2025{:02}{:02}", g.int(1, 12), g.int(1, 28));
    let mut public = Vec::new();
    ssh_string(&mut public, b"ssh-ed25519");
    ssh_string(&mut public, &g.bytes(32));
    let mut private = Vec::new();
    ssh_string(&mut private, &g.bytes(32));
    let mut mac_data = Vec::new();
    for part in [
        b"ssh-ed25519".as_slice(),
        b"none",
        comment.as_bytes(),
        &public,
        &private,
    ] {
        ssh_string(&mut mac_data, part);
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&[]).expect("any key length");
    mac.update(&mac_data);
    let mac = gen::hex(&mac.finalize().into_bytes());
    let pub_lines = gen::wrap(&b64(&public), 64);
    let priv_b64 = b64(&private);
    let text = format!(
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: {comment}\nPublic-Lines: {}\n{pub_lines}\nPrivate-Lines: 1\n{priv_b64}\nPrivate-MAC: {mac}\n",
        pub_lines.lines().count()
    );
    let tok = Tok::with_core(text.trim_end().to_owned(), &priv_b64[8..28]);
    KeyFile {
        id: "private-key-putty",
        path: "keys/deploy.ppk",
        text,
        tok,
    }
}

fn age(g: &mut Gen) -> KeyFile {
    let secret = gen::bech32("age-secret-key-", &g.bytes(32)).to_uppercase();
    let public = gen::bech32("age", &g.bytes(32));
    let text = format!(
        "# created: 2025-{:02}-{:02}T10:{:02}:00Z\n# public key: {public}\n{secret}\n",
        g.int(1, 12),
        g.int(1, 28),
        g.int(0, 59)
    );
    let core = secret[16..36].to_owned();
    KeyFile {
        id: "private-key-age",
        path: "keys/age-backup.txt",
        text,
        tok: Tok::with_core(secret, &core),
    }
}

fn ssh2(g: &mut Gen) -> KeyFile {
    let mut blob = vec![0x3f, 0x6f, 0xf9, 0xeb];
    blob.extend((700u32).to_be_bytes());
    blob.extend(g.bytes(692));
    let body = gen::wrap(&b64(&blob), 70);
    let block = format!(
        "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key-{}\"\n{body}\n---- END SSH2 ENCRYPTED PRIVATE KEY ----",
        g.digits(8)
    );
    block_file("private-key-ssh2", "keys/legacy.ssh2", block, &body)
}

/// An EC private key PEM (for kubeconfig `client-key-data` and service-account JSON use).
pub fn ec_pem(g: &mut Gen) -> (String, String) {
    let body = gen::wrap(&b64(&ec_der(g)), 64);
    let core = body.lines().nth(1).expect("two lines")[4..24].to_owned();
    (
        format!("-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n"),
        core,
    )
}

/// A PKCS#8 RSA private key PEM and its core (for service-account JSON).
pub fn pkcs8_pem(g: &mut Gen) -> (String, String) {
    let body = gen::wrap(&b64(&pkcs8_der(g)), 64);
    let core = body.lines().nth(3).expect("long body")[8..28].to_owned();
    (
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
        core,
    )
}
