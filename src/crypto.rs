//! Password hashing (argon2id) and random tokens. Tokens travel in links and cookies; only
//! their SHA-256 is stored, so a leaked database does not hand out live sessions or links.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::password::{NewPassword, normalize};

pub fn hash_password(password: &NewPassword) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_str().as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Verifies a typed password against a stored hash. Without a hash (unknown account, or an
/// account whose password is not set yet) the same work is done against a fixed hash, so the
/// answer takes about as long either way.
pub fn verify_password(typed: &str, stored: Option<&str>) -> bool {
    let candidate = normalize(typed);
    let (hash, real) = match stored.and_then(|s| PasswordHash::new(s).ok()) {
        Some(hash) => (hash, true),
        None => (dummy_hash(), false),
    };
    let matches = Argon2::default()
        .verify_password(candidate.as_bytes(), &hash)
        .is_ok();
    matches && real
}

fn dummy_hash() -> PasswordHash {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text = DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(random_token().as_bytes())
            .expect("hashing a random token")
            .to_string()
    });
    PasswordHash::new(text).expect("the dummy hash parses")
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::password;

    #[test]
    fn hashes_verify_and_differ() {
        let password =
            password::check("una frase bastante larga", "una frase bastante larga", &[]).unwrap();
        let first = hash_password(&password).unwrap();
        let second = hash_password(&password).unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "salted");
        assert!(verify_password("una frase bastante larga", Some(&first)));
        assert!(!verify_password("una frase bastante corta", Some(&first)));
        assert!(!verify_password("una frase bastante larga", None));
        assert!(!verify_password("x", Some("not a hash")));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, "short"));
    }
}
