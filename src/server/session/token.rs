//! Session tokens and temporary secrets: the stateless half of STS.
//!
//! A session token is a JWT (HS256, `kid` header naming the key of the
//! [`KeySet`] that signed it) whose claims are the whole assumed-role
//! session: account, role, session name, source identity, tags, session
//! policy, issue and expiry time. Any process holding the same key file
//! verifies it; there is no session store.
//!
//! The secret access key is not in the token: it is
//! `HMAC-SHA256(derivation key, kid, access key id, iat, exp)`, recomputed by
//! the server on every request. The holder of a token learns nothing about
//! its secret from it, and even the JWT signing secret does not give it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::keys::KeySet;
use crate::shared::config::Secret;

/// `iss` of every token gitiam signs; anything else is not ours.
pub const ISSUER: &str = "gitiam-sts";
/// Longest session token accepted (the Git username carries it, so bound it).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Characters of a temporary access key id after `ASIA` (AWS uses 16).
const AKID_SUFFIX_LEN: usize = 16;
/// Domain separation for the secret derivation.
const DERIVATION_LABEL: &[u8] = b"gitiam-sts-secret-v1";

/// Everything a session token says. Signed, so every field can be trusted
/// once [`verify`] returned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionClaims {
    /// Always [`ISSUER`].
    pub iss: String,
    /// Key that signed the token (copy of the header's `kid`).
    pub kid: String,
    /// The temporary access key id, `ASIA` + 16 characters.
    pub akid: String,
    /// Account of the role.
    pub account: String,
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub role_arn: String,
    /// Role name (last component of the role ARN).
    pub role_name: String,
    /// The role's unique id (`AROA...`).
    pub role_id: String,
    /// `RoleSessionName` (or the web identity's session name).
    pub session_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Session tags (`aws:PrincipalTag/*`, overriding the role's tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Keys of the tags that pass on to sessions chained from this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// Session policy JSON, intersected with the role's policies. Re-parsed
    /// on use (it was validated when the session was issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST` for web identity sessions
    /// (`aws:FederatedProvider`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_provider: Option<String>,
    /// True when the session was obtained with role credentials (role
    /// chaining; capped at one hour, as in AWS).
    #[serde(default)]
    pub chained: bool,
    /// Issue time, Unix seconds (`aws:TokenIssueTime`).
    pub iat: u64,
    /// Expiry time, Unix seconds.
    pub exp: u64,
}

impl SessionClaims {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, the session's
    /// principal ARN.
    pub fn assumed_role_arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role_name, self.session_name
        )
    }

    /// `AROA...:SESSION`, the `UserId` (and `aws:userid`) of the session.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.role_id, self.session_name)
    }

    /// Issue time as a `SystemTime`.
    pub fn issued_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.iat)
    }

    /// Expiry time as a `SystemTime`.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.exp)
    }

    /// Constant-time check that `akid` is this session's access key id (a
    /// token presented with another key id is refused by the caller).
    pub fn matches_access_key(&self, akid: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.akid.as_bytes().ct_eq(akid.as_bytes()).into()
    }
}

/// What an issuer decides about a new session; [`issue`] adds the access key
/// id, times and key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionGrant {
    pub account: String,
    pub role_arn: String,
    pub role_name: String,
    pub role_id: String,
    pub session_name: String,
    pub source_identity: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub policy: Option<String>,
    pub federated_provider: Option<String>,
    pub chained: bool,
    pub duration: Duration,
}

/// Freshly issued temporary credentials. `Debug` redacts the secret.
pub struct Issued {
    pub claims: SessionClaims,
    pub secret: Secret,
    pub session_token: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("claims", &self.claims)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// Why a session token was refused. Each case is distinct so that STS can
/// answer `ExpiredToken` only for genuinely expired (and otherwise valid)
/// tokens; none of them carries token content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Signed by us and intact, but past its `exp`.
    #[error("session token expired")]
    Expired,
    /// The signature does not match: altered or forged.
    #[error("session token signature does not match")]
    Tampered,
    /// The `kid` names no key of this server's key set (foreign server, or
    /// the key was removed).
    #[error("session token signed with an unknown key")]
    UnknownKey,
    /// Not a gitiam session token at all.
    #[error("malformed session token: {0}")]
    Malformed(&'static str),
    /// Signing failed (should not happen with HMAC keys).
    #[error("cannot sign session token")]
    Signing,
}

impl TokenError {
    /// The AWS error code STS answers with.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            Self::Expired => "ExpiredToken",
            Self::Signing => "InternalFailure",
            Self::Tampered | Self::UnknownKey | Self::Malformed(_) => "InvalidClientTokenId",
        }
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A random temporary access key id: `ASIA` + 16 characters of the base32
/// alphabet AWS's ids use (`A-Z`, `2-7`).
pub fn new_access_key_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(4 + AKID_SUFFIX_LEN);
    id.push_str("ASIA");
    for _ in 0..AKID_SUFFIX_LEN {
        let i = rng.random_range(0..ALPHABET.len());
        id.push(ALPHABET.get(i).map_or('A', |b| char::from(*b)));
    }
    id
}

/// True for strings shaped like the ids [`new_access_key_id`] makes.
pub fn is_temporary_access_key_id(id: &str) -> bool {
    id.len() == 4 + AKID_SUFFIX_LEN
        && id.starts_with("ASIA")
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// Issues credentials for `grant`, signed with the active key.
pub fn issue(keys: &KeySet, grant: SessionGrant, now: SystemTime) -> Result<Issued, TokenError> {
    issue_with_transitive_tags(keys, grant, Vec::new(), now)
}

/// Like [`issue`], marking the tags named in `transitive_tag_keys` as
/// transitive (they pass on through role chaining).
pub fn issue_with_transitive_tags(
    keys: &KeySet,
    grant: SessionGrant,
    transitive_tag_keys: Vec<String>,
    now: SystemTime,
) -> Result<Issued, TokenError> {
    let iat = unix(now);
    let key = keys.active();
    let claims = SessionClaims {
        iss: ISSUER.to_owned(),
        kid: key.kid().to_owned(),
        akid: new_access_key_id(),
        account: grant.account,
        role_arn: grant.role_arn,
        role_name: grant.role_name,
        role_id: grant.role_id,
        session_name: grant.session_name,
        source_identity: grant.source_identity,
        tags: grant.tags,
        transitive_tag_keys,
        policy: grant.policy,
        federated_provider: grant.federated_provider,
        chained: grant.chained,
        iat,
        exp: iat.saturating_add(grant.duration.as_secs()),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    let session_token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(key.signing_secret()),
    )
    .map_err(|_| TokenError::Signing)?;
    let secret = derive_secret(keys, &claims)?;
    Ok(Issued {
        claims,
        secret,
        session_token,
    })
}

/// Verifies a session token: shape, key id, signature, issuer, then expiry
/// against `now` (in that order, so that `Expired` implies "genuine").
pub fn verify(keys: &KeySet, token: &str, now: SystemTime) -> Result<SessionClaims, TokenError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("length"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed("header"))?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError::Malformed("algorithm"));
    }
    let kid = header.kid.ok_or(TokenError::Malformed("no key id"))?;
    let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the caller's clock, and reported apart
    // from signature failures.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<SessionClaims>(
        token,
        &DecodingKey::from_secret(key.signing_secret()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Tampered,
        _ => TokenError::Malformed("claims"),
    })?;
    let claims = data.claims;
    if claims.iss != ISSUER || claims.kid != kid {
        return Err(TokenError::Malformed("issuer"));
    }
    if !is_temporary_access_key_id(&claims.akid) {
        return Err(TokenError::Malformed("access key id"));
    }
    if unix(now) >= claims.exp {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The secret access key of a session: 40 base64 characters (like AWS's)
/// of `HMAC-SHA256(derivation key of claims.kid, label, kid, akid, iat, exp)`.
pub fn derive_secret(keys: &KeySet, claims: &SessionClaims) -> Result<Secret, TokenError> {
    let key = keys.get(&claims.kid).ok_or(TokenError::UnknownKey)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.derivation_key()).map_err(|_| TokenError::Signing)?;
    for part in [
        DERIVATION_LABEL,
        claims.kid.as_bytes(),
        claims.akid.as_bytes(),
        claims.iat.to_string().as_bytes(),
        claims.exp.to_string().as_bytes(),
    ] {
        // Length-prefixed, so no two different inputs concatenate alike.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    let digest = mac.finalize().into_bytes();
    let truncated = digest.get(..30).ok_or(TokenError::Signing)?;
    Ok(Secret::new(STANDARD.encode(truncated)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> SessionGrant {
        SessionGrant {
            account: "444455556666".into(),
            role_arn: "arn:aws:iam::444455556666:role/deployer".into(),
            role_name: "deployer".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "ci-run".into(),
            source_identity: Some("alice".into()),
            tags: BTreeMap::from([("team".to_owned(), "web".to_owned())]),
            policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
            federated_provider: None,
            chained: false,
            duration: Duration::from_secs(900),
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn issue_verify_derive_roundtrip() {
        let keys = KeySet::generate();
        let issued = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        assert!(is_temporary_access_key_id(&issued.claims.akid));
        assert_eq!(issued.secret.expose().len(), 40);
        let claims = verify(&keys, &issued.session_token, at(1_800_000_100)).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.exp, 1_800_000_900);
        assert_eq!(
            claims.assumed_role_arn(),
            "arn:aws:sts::444455556666:assumed-role/deployer/ci-run"
        );
        assert_eq!(claims.user_id(), "AROAEXAMPLE:ci-run");
        assert!(claims.matches_access_key(&issued.claims.akid));
        assert!(!claims.matches_access_key("ASIAAAAAAAAAAAAAAAAA"));
        assert_eq!(derive_secret(&keys, &claims).unwrap(), issued.secret);
    }

    #[test]
    fn secret_is_not_in_token_and_differs_per_session() {
        let keys = KeySet::generate();
        let a = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        let b = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(!a.session_token.contains(a.secret.expose()));
        let payload = a.session_token.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        assert!(!String::from_utf8(json).unwrap().contains(a.secret.expose()));
        assert!(!format!("{a:?}").contains(a.secret.expose()));
    }

    #[test]
    fn distinct_errors() {
        let keys = KeySet::generate();
        let issued = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        let token = &issued.session_token;
        assert_eq!(
            verify(&keys, token, at(1_800_000_900)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&KeySet::generate(), token, at(1_800_000_001)),
            Err(TokenError::UnknownKey)
        );
        // Change one character of the payload: signature no longer matches.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace("deployer", "admin");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        let tampered = parts.join(".");
        assert_eq!(
            verify(&keys, &tampered, at(1_800_000_001)),
            Err(TokenError::Tampered)
        );
        // Expired and tampered: tampering wins (no ExpiredToken for forgeries).
        assert_eq!(
            verify(&keys, &tampered, at(1_900_000_000)),
            Err(TokenError::Tampered)
        );
        assert!(matches!(
            verify(&keys, "not-a-token", at(0)),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            verify(&keys, "", at(0)),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(TokenError::Expired.aws_error_code(), "ExpiredToken");
        assert_eq!(
            TokenError::Tampered.aws_error_code(),
            "InvalidClientTokenId"
        );
    }

    #[test]
    fn rejects_other_algorithms_and_issuers() {
        let keys = KeySet::generate();
        let issued = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        let key = keys.active();
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(key.kid().to_owned());
        let other_alg = jsonwebtoken::encode(
            &header,
            &issued.claims,
            &EncodingKey::from_secret(key.signing_secret()),
        )
        .unwrap();
        assert!(matches!(
            verify(&keys, &other_alg, at(1_800_000_001)),
            Err(TokenError::Malformed(_))
        ));
        let mut claims = issued.claims.clone();
        claims.iss = "someone-else".into();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        let foreign = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(key.signing_secret()),
        )
        .unwrap();
        assert!(matches!(
            verify(&keys, &foreign, at(1_800_000_001)),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn rotated_keys_keep_verifying_until_removed() {
        let mut keys = KeySet::generate();
        let old_kid = keys.active().kid().to_owned();
        let old = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        keys.rotate();
        let new = issue(&keys, grant(), at(1_800_000_000)).unwrap();
        assert_ne!(old.claims.kid, new.claims.kid);
        let claims = verify(&keys, &old.session_token, at(1_800_000_001)).unwrap();
        assert_eq!(derive_secret(&keys, &claims).unwrap(), old.secret);
        keys.remove(&old_kid).unwrap();
        assert_eq!(
            verify(&keys, &old.session_token, at(1_800_000_001)),
            Err(TokenError::UnknownKey)
        );
        assert!(verify(&keys, &new.session_token, at(1_800_000_001)).is_ok());
    }

    #[test]
    fn shared_key_file_verifies_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let a = KeySet::load_or_generate(&path).unwrap();
        let b = KeySet::load(&path).unwrap();
        let issued = issue(&a, grant(), at(1_800_000_000)).unwrap();
        let claims = verify(&b, &issued.session_token, at(1_800_000_001)).unwrap();
        assert_eq!(derive_secret(&b, &claims).unwrap(), issued.secret);
    }
}
