//! Player tokens: HS256 JWTs signed with `JWT_SECRET`. A guest gets a fresh player id and a
//! display name; the WebSocket and room creation accept nothing else.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::PlayerId;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The player id.
    pub sub: String,
    pub name: String,
    pub iat: u64,
    pub exp: u64,
}

/// Who is on the other end of a connection or request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub player_id: PlayerId,
    pub name: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token was given")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("invalid name: {0}")]
    BadName(String),
    #[error("could not sign a token: {0}")]
    Signing(String),
}

/// A token just issued to a guest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub player_id: PlayerId,
    pub name: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl,
        }
    }

    /// Issues a token for a new guest called `name` (trimmed; 1 to 32 characters, no control
    /// characters).
    pub fn issue_guest(&self, name: &str) -> Result<IssuedToken, AuthError> {
        let name = validate_name(name)?;
        let now = unix_now();
        let claims = Claims {
            sub: PlayerId::generate().to_string(),
            name: name.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims; tests use it to make expired tokens.
    pub fn sign(&self, claims: &Claims) -> Result<IssuedToken, AuthError> {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|err| AuthError::Signing(err.to_string()))?;
        Ok(IssuedToken {
            token,
            player_id: PlayerId::from(claims.sub.as_str()),
            name: claims.name.clone(),
            expires_at: claims.exp,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(err.to_string()),
            })?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.sub.len() > crate::ids::MAX_ID_LEN {
            return Err(AuthError::Invalid("bad subject".into()));
        }
        let name = validate_name(&claims.name)?;
        Ok(Identity {
            player_id: PlayerId::from(claims.sub.as_str()),
            name: Arc::from(name),
        })
    }
}

fn validate_name(name: &str) -> Result<&str, AuthError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AuthError::BadName("a name is required".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::BadName(format!(
            "at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::BadName(
            "control characters are not allowed".into(),
        ));
    }
    Ok(name)
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new("a-test-secret-of-some-length", Duration::from_secs(60))
    }

    #[test]
    fn a_guest_token_verifies() {
        let keys = keys();
        let issued = keys.issue_guest("  Ada ").unwrap();
        let who = keys.verify(&issued.token).unwrap();
        assert_eq!(who.player_id, issued.player_id);
        assert_eq!(&*who.name, "Ada");
    }

    #[test]
    fn expired_foreign_and_garbage_tokens_are_refused() {
        let keys = keys();
        let now = unix_now();
        let expired = keys
            .sign(&Claims {
                sub: "p1".into(),
                name: "Old".into(),
                iat: now - 7200,
                exp: now - 3600,
            })
            .unwrap();
        assert_eq!(keys.verify(&expired.token), Err(AuthError::Expired));
        let other = TokenKeys::new("another-secret-entirely", Duration::from_secs(60));
        let foreign = other.issue_guest("Eve").unwrap();
        assert!(matches!(
            keys.verify(&foreign.token),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            keys.verify("abc.def.ghi"),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(keys.verify(""), Err(AuthError::Missing));
    }

    #[test]
    fn names_are_checked() {
        let keys = keys();
        assert!(keys.issue_guest("").is_err());
        assert!(keys.issue_guest(&"x".repeat(33)).is_err());
        assert!(keys.issue_guest("a\u{7}b").is_err());
        assert!(keys.issue_guest(&"é".repeat(32)).is_ok());
    }
}
