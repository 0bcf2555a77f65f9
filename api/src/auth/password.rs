//! Password hashing with argon2id (the crate's default parameters).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    rand::fill(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("Failed to hash a password: {e}"))
}

/// Whether `password` matches the PHC string.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Whether `password` matches the PHC string, computed in `memory` (grown to
/// the hash's block count and kept by the caller for the next one), so
/// repeated checks reuse one allocation. Same result as [`verify`].
pub fn verify_with(password: &str, phc: &str, memory: &mut Vec<argon2::Block>) -> bool {
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let blocks = &mut memory[..params.block_count()];
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// A valid hash of nothing anyone knows: verifying against it when the
/// e-mail is unknown keeps login time the same for known and unknown users.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29ydGllLWR1bW15LXNhbHQ$Ha2pPYwQFAJ8gyPCcJ8Jx3BLIY5LJ6WGx9LtbZ7c+zU";

/// A password policy: 8–128 characters.
pub fn check_policy(field: &str, password: &str) -> Result<(), crate::error::ApiError> {
    Ok(policy(field, password)?)
}

/// [`check_policy`] as the domain's error.
pub fn policy(field: &str, password: &str) -> Result<(), crate::domain::Invalid> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(crate::domain::Invalid::new(field, "must be 8 to 128 characters"));
    }
    Ok(())
}

/// Characters of a generated password: no look-alikes (0/O, 1/l/I).
const GENERATED_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new random password of 20 characters from an unambiguous alphabet (about 116 bits), for an account an
/// administrator creates: shown once, never stored in clear.
pub fn generate() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..20).map(|_| char::from(GENERATED_ALPHABET[rng.random_range(0..GENERATED_ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() -> anyhow::Result<()> {
        let h = hash("correct horse")?;
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        let mut memory = Vec::new();
        assert!(verify_with("correct horse", &h, &mut memory));
        assert!(!verify_with("wrong horse", &h, &mut memory));
        assert!(!verify_with("correct horse", "not a hash", &mut memory));
        assert!(!verify_with("demo", DUMMY_HASH, &mut memory));
        Ok(())
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let (a, b) = (generate(), generate());
        assert!(policy("password", &a).is_ok());
        assert_eq!(a.chars().count(), 20);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| GENERATED_ALPHABET.contains(&c)));
    }
}
