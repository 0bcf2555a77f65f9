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

/// A valid hash of nothing anyone knows: verifying against it when the
/// e-mail is unknown keeps login time the same for known and unknown users.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29ydGllLWR1bW15LXNhbHQ$Ha2pPYwQFAJ8gyPCcJ8Jx3BLIY5LJ6WGx9LtbZ7c+zU";

/// A password policy: 8–128 characters.
pub fn check_policy(field: &str, password: &str) -> Result<(), crate::error::ApiError> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(crate::error::ApiError::invalid(field, "must be 8 to 128 characters"));
    }
    Ok(())
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
        Ok(())
    }
}
