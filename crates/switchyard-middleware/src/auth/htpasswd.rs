//! Password hashes in the htpasswd formats `basicAuth` accepts: MD5-crypt (`$apr1$`, `$1$`), SHA1
//! (`{SHA}`) and bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`).
//!
//! These are the formats the library Traefik uses can match. It reads any other string as an MD5-crypt
//! hash that no password ever matches, so plain-text passwords, DES `crypt(3)` and SHA-crypt (`$5$`,
//! `$6$`) entries load in Traefik but never let anyone in; here they are refused when the middleware is
//! built, so that the mistake shows.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The alphabet of crypt(3)'s base64, which MD5-crypt and bcrypt write their salts and digests in.
const CRYPT_ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a hash cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HashError {
    /// A format no password can match.
    #[error(
        "the password hash is not in a supported htpasswd format (MD5 `$apr1$`/`$1$`, SHA1 `{{SHA}}`, bcrypt `$2y$`); generate it with `htpasswd`"
    )]
    Unsupported,
    /// A known prefix followed by something that is not a hash of that kind.
    #[error("the {0} password hash is malformed")]
    Malformed(&'static str),
}

/// A parsed htpasswd password hash.
#[derive(Clone)]
pub(crate) enum Hash {
    /// `$apr1$salt$digest` or `$1$salt$digest`: the whole string, compared with the one computed.
    Md5Crypt {
        magic: &'static str,
        salt: String,
        full: String,
    },
    /// `{SHA}base64(sha1(password))`: the base64 part.
    Sha1(String),
    /// A bcrypt hash, verified by the `bcrypt` crate.
    Bcrypt { hash: String, cost: u32 },
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are secrets too: a debug print names the kind only.
        match self {
            Self::Md5Crypt { magic, .. } => write!(f, "Hash::Md5Crypt({magic})"),
            Self::Sha1(_) => f.write_str("Hash::Sha1"),
            Self::Bcrypt { cost, .. } => write!(f, "Hash::Bcrypt(cost {cost})"),
        }
    }
}

impl Hash {
    /// Reads a hash as written in an htpasswd line.
    pub(crate) fn parse(hash: &str) -> Result<Self, HashError> {
        if let Some(digest) = hash.strip_prefix("{SHA}") {
            return match STANDARD.decode(digest) {
                Ok(bytes) if bytes.len() == 20 => Ok(Self::Sha1(digest.to_owned())),
                _ => Err(HashError::Malformed("SHA1")),
            };
        }
        for magic in ["$apr1$", "$1$"] {
            if let Some(rest) = hash.strip_prefix(magic) {
                return parse_md5_crypt(magic, rest, hash);
            }
        }
        if ["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
            return parse_bcrypt(hash);
        }
        Err(HashError::Unsupported)
    }

    /// Whether `password` matches, compared in constant time.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Md5Crypt { magic, salt, full } => {
                let computed = md5_crypt(password, salt.as_bytes(), magic.as_bytes());
                computed.as_bytes().ct_eq(full.as_bytes()).into()
            }
            Self::Sha1(expected) => {
                let computed = STANDARD.encode(Sha1::digest(password));
                computed.as_bytes().ct_eq(expected.as_bytes()).into()
            }
            Self::Bcrypt { hash, .. } => bcrypt::verify(password, hash).unwrap_or(false),
        }
    }

    /// Whether checking a password costs enough CPU time to be moved off the async runtime's threads.
    pub(crate) fn is_slow(&self) -> bool {
        matches!(self, Self::Bcrypt { .. })
    }

    /// How much work a check costs, to pick the hash an unknown user is checked against.
    pub(crate) fn work(&self) -> u64 {
        match self {
            Self::Sha1(_) => 1,
            Self::Md5Crypt { .. } => 1_000,
            Self::Bcrypt { cost, .. } => 1u64.checked_shl(*cost).unwrap_or(u64::MAX).saturating_mul(1_000),
        }
    }
}

fn parse_md5_crypt(magic: &'static str, rest: &str, full: &str) -> Result<Hash, HashError> {
    let malformed = HashError::Malformed("MD5");
    let (salt, digest) = rest.split_once('$').ok_or(malformed.clone())?;
    let in_alphabet = |s: &str| s.bytes().all(|b| CRYPT_ALPHABET.contains(&b));
    if digest.len() != 22 || !in_alphabet(digest) || salt.contains('$') {
        return Err(malformed);
    }
    Ok(Hash::Md5Crypt {
        magic,
        salt: salt.to_owned(),
        full: full.to_owned(),
    })
}

fn parse_bcrypt(hash: &str) -> Result<Hash, HashError> {
    let malformed = HashError::Malformed("bcrypt");
    // `$2y$` (4 bytes), the cost (2 digits), `$`, then 22 characters of salt and 31 of digest.
    let cost = hash
        .get(4..6)
        .and_then(|c| c.parse::<u32>().ok())
        .ok_or(malformed.clone())?;
    let body = hash.get(7..).ok_or(malformed.clone())?;
    let well_formed = hash.as_bytes().get(6) == Some(&b'$')
        && (4..=31).contains(&cost)
        && body.len() == 53
        && body.bytes().all(|b| CRYPT_ALPHABET.contains(&b));
    if !well_formed {
        return Err(malformed);
    }
    Ok(Hash::Bcrypt {
        hash: hash.to_owned(),
        cost,
    })
}

/// Poul-Henning Kamp's MD5-based crypt, as `$1$` (FreeBSD, glibc) and `$apr1$` (Apache) use it with their
/// own magic string: returns `magic`, `salt`, `$` and the 22-character digest.
pub(crate) fn md5_crypt(password: &[u8], salt: &[u8], magic: &[u8]) -> String {
    let digest = stretch(initial_digest(password, salt, magic), password, salt);
    let mut out = String::with_capacity(magic.len() + salt.len() + 23);
    out.push_str(&String::from_utf8_lossy(magic));
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    // The digest's bytes are written in this order, three at a time, as four crypt-base64 characters each.
    for [a, b, c] in [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]] {
        let group = (u32::from(digest[a]) << 16) | (u32::from(digest[b]) << 8) | u32::from(digest[c]);
        push_crypt64(&mut out, group, 4);
    }
    push_crypt64(&mut out, u32::from(digest[11]), 2);
    out
}

/// MD5-crypt's first digest, of the password, the magic, the salt, and bytes the password picks.
fn initial_digest(password: &[u8], salt: &[u8], magic: &[u8]) -> md5::digest::Output<Md5> {
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(magic);
    ctx.update(salt);
    for chunk in password.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    // The bits of the password's length pick, for each bit, a NUL byte or the password's first byte.
    let first = password.first().copied().unwrap_or(0);
    let mut length = password.len();
    while length != 0 {
        ctx.update([if length & 1 == 0 { first } else { 0 }]);
        length >>= 1;
    }
    ctx.finalize()
}

/// A thousand rounds to slow guessing down, mixing password, salt and the previous digest.
fn stretch(mut digest: md5::digest::Output<Md5>, password: &[u8], salt: &[u8]) -> md5::digest::Output<Md5> {
    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 0 {
            ctx.update(digest);
        } else {
            ctx.update(password);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 0 {
            ctx.update(password);
        } else {
            ctx.update(digest);
        }
        digest = ctx.finalize();
    }
    digest
}

/// Appends the low `chars * 6` bits of `value`, least significant first, in crypt's base64.
fn push_crypt64(out: &mut String, mut value: u32, chars: usize) {
    for _ in 0..chars {
        out.push(char::from(CRYPT_ALPHABET[(value & 0x3f) as usize]));
        value >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from `openssl passwd` and glibc's crypt(3).
    const APR1_TEST: &str = "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";
    const APR1_TEST2: &str = "$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0";
    const MD5_PASSWORD: &str = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/";
    const SHA_TEST: &str = "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";
    const BCRYPT_TEST: &str = "$2b$05$abcdefghijklmnopqrstuuMceFj4VbmHOj8C7PetMxzZkwre/z.Ri";

    fn check(hash: &str, password: &str) -> bool {
        Hash::parse(hash).unwrap().verify(password.as_bytes())
    }

    #[test]
    fn md5_crypt_matches_known_vectors() {
        assert_eq!(md5_crypt(b"test", b"H6uskkkW", b"$apr1$"), APR1_TEST);
        assert_eq!(md5_crypt(b"password", b"saltsalt", b"$1$"), MD5_PASSWORD);
        assert!(check(APR1_TEST, "test"));
        assert!(check(APR1_TEST2, "test2"));
        assert!(check(MD5_PASSWORD, "password"));
        assert!(!check(APR1_TEST, "test2"));
        assert!(!check(APR1_TEST, ""));
        // Long passwords go through the alternate digest more than once.
        let long = "a fairly long password, longer than sixteen bytes";
        let hash = md5_crypt(long.as_bytes(), b"abcdefgh", b"$apr1$");
        assert!(check(&hash, long));
        assert!(!check(&hash, &long[..long.len() - 1]));
    }

    #[test]
    fn sha1_and_bcrypt_match_known_vectors() {
        assert!(check(SHA_TEST, "test"));
        assert!(!check(SHA_TEST, "Test"));
        assert!(check(BCRYPT_TEST, "test"));
        assert!(!check(BCRYPT_TEST, "tesT"));
        for prefix in ["$2a$", "$2x$", "$2y$"] {
            let hash = format!("{prefix}{}", &BCRYPT_TEST[4..]);
            assert!(check(&hash, "test"), "{prefix}");
        }
    }

    #[test]
    fn other_formats_are_refused() {
        for hash in [
            "test",
            "",
            "abJnggxhB/yJU",
            "$6$salt$abc",
            "$5$x$y",
            "$apr2$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/",
        ] {
            assert_eq!(Hash::parse(hash).unwrap_err(), HashError::Unsupported, "{hash}");
        }
        for hash in [
            "{SHA}abc",
            "{SHA}",
            "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj",
            "$apr1$H6uskkkW",
            "$1$salt$has*invalid*characters",
            "$2y$05$short",
            "$2y$99$abcdefghijklmnopqrstuuMceFj4VbmHOj8C7PetMxzZkwre/z.Ri",
            "$2y$x5$abcdefghijklmnopqrstuuMceFj4VbmHOj8C7PetMxzZkwre/z.Ri",
        ] {
            assert!(matches!(Hash::parse(hash), Err(HashError::Malformed(_))), "{hash}");
        }
    }

    #[test]
    fn bcrypt_is_the_costliest_and_runs_off_the_runtime() {
        let bcrypt = Hash::parse(BCRYPT_TEST).unwrap();
        let md5 = Hash::parse(APR1_TEST).unwrap();
        let sha = Hash::parse(SHA_TEST).unwrap();
        assert!(bcrypt.work() > md5.work() && md5.work() > sha.work());
        assert!(bcrypt.is_slow() && !md5.is_slow() && !sha.is_slow());
        assert_eq!(format!("{bcrypt:?}"), "Hash::Bcrypt(cost 5)");
    }
}
