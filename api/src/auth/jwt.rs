//! Access tokens: HS256 JWTs with the algorithm pinned and `exp`, `iss`,
//! `aud`, `sub` required. Refresh tokens are opaque random strings.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::domain::Role;
use crate::error::ApiError;

/// Token issuer.
pub const ISSUER: &str = "sortie";
/// Token audience.
pub const AUDIENCE: &str = "sortie-api";

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Password version: the user's `password_changed_at` in microseconds when the token was issued. A token
    /// whose version is not the current one is refused (exact, so a token issued in the same second as a
    /// password change but before it stops working). Tokens without it fall back to comparing `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwv: Option<i64>,
}

/// Signing and verification keys built once from the secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from the HMAC secret.
    pub fn new(secret: &SecretString) -> JwtKeys {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        // We never set `nbf`; a token that does and is not yet valid is refused (issue #11, token attacks).
        validation.validate_nbf = true;
        JwtKeys { encoding: EncodingKey::from_secret(bytes), decoding: DecodingKey::from_secret(bytes), validation }
    }

    /// Signs claims.
    pub fn encode(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("Failed to sign a token: {e}")))
    }

    /// Verifies a token: signature, algorithm, expiry, not-before, issuer, audience, and that it was not
    /// issued after both `now` (the injected clock's) and the system clock, past the leeway.
    pub fn decode(&self, token: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Claims, ApiError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))?;
        // `exp` and `nbf` are checked by the library against the system clock; `iat` against the later of
        // the system clock and the injected one (the same in production; tests move the injected clock
        // both ways and must not make a token issued by either clock "from the future").
        let latest = now.timestamp().max(chrono::Utc::now().timestamp());
        if claims.iat > latest + LEEWAY_SECS as i64 {
            return Err(ApiError::Unauthorized("invalid token: issued in the future".into()));
        }
        Ok(claims)
    }
}

/// A new opaque refresh token (256 random bits, URL-safe).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How refresh tokens are stored: SHA-256, hex.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A random secret for demo mode (stored in the database).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}
