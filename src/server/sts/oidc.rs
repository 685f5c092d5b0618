//! Web identity tokens (OIDC ID tokens from GitHub Actions, GitLab CI, ...)
//! for `AssumeRoleWithWebIdentity`: find the account's provider by the
//! token's `iss`, get its keys (JWKS file, or URL with a short cache), and
//! check signature, `iss`, `aud`, `exp` and `nbf` with `jsonwebtoken`.
//!
//! Only asymmetric algorithms are accepted, and a key's type and declared
//! `alg` must agree with the token's header: a token can never pick the
//! algorithm its key is checked with (the classic "alg: none" / "HS256 with
//! the public key" confusions).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::error::{ErrorCode, StsError};
use crate::shared::config::sts::{
    JWKS_URL_TTL, JwksSource, MAX_JWKS_BYTES, OidcProvider, parse_jwks,
};

/// Algorithms an identity provider may sign with.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Time allowed for fetching a `jwks_url`.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a verified web identity token says, as trust policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    /// `sub`.
    pub subject: String,
    /// The audience that matched one of the provider's client ids.
    pub audience: String,
    /// The `HOST:aud` condition value: `azp` when present, else the audience
    /// (AWS's rule for OIDC providers).
    pub aud_context: String,
    /// `amr` values (`HOST:amr`).
    pub amr: Vec<String>,
    /// `iss` as the token has it (`Provider` in the answer).
    pub issuer: String,
}

/// `aud` and `amr` may be a string or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    azp: Option<String>,
    amr: Option<OneOrMany>,
    exp: Option<u64>,
    nbf: Option<u64>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: Option<String>,
}

fn invalid(message: impl Into<String>) -> StsError {
    StsError::new(ErrorCode::InvalidIdentityToken, message)
}

/// The token's `iss`, read without verification: only to pick the provider
/// whose keys then verify everything.
pub fn unverified_issuer(token: &str) -> Result<String, StsError> {
    jsonwebtoken::dangerous::insecure_decode::<IssuerOnly>(token)
        .ok()
        .and_then(|data| data.claims.iss)
        .ok_or_else(|| invalid("The web identity token is not a valid JWT with an iss claim"))
}

/// Verifies `token` against `provider` at `now`, allowing `leeway` of clock
/// skew on `exp`/`nbf`.
pub async fn verify(
    provider: &OidcProvider,
    token: &str,
    now: SystemTime,
    leeway: Duration,
) -> Result<WebIdentity, StsError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("The web identity token is not a valid JWT"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(invalid(format!(
            "The web identity token's algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let jwks = jwks(provider).await?;
    let jwk = select_key(&jwks, header.kid.as_deref(), header.alg)?;
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|_| invalid("The provider's signing key cannot be used"))?;

    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    // Times are checked below against the caller's clock, so that an
    // expired token gets its own error code.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let data =
        jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                invalid("The web identity token's signature is not valid")
            }
            _ => invalid("The web identity token's claims cannot be read"),
        })?;
    let claims = data.claims;

    if !provider.matches_issuer(&claims.iss) {
        return Err(invalid("Token issuer does not match the provider"));
    }
    let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let leeway_s = leeway.as_secs();
    let exp = claims
        .exp
        .ok_or_else(|| invalid("The web identity token has no exp claim"))?;
    if now_s >= exp.saturating_add(leeway_s) {
        return Err(StsError::new(
            ErrorCode::ExpiredTokenException,
            format!(
                "Token expired: current date/time {} must be before the expiration date/time {}",
                crate::shared::timestamp::utc_seconds(now),
                crate::shared::timestamp::utc_seconds(UNIX_EPOCH + Duration::from_secs(exp))
            ),
        ));
    }
    if let Some(nbf) = claims.nbf
        && now_s.saturating_add(leeway_s) < nbf
    {
        return Err(invalid("The web identity token is not valid yet (nbf)"));
    }
    let audiences = claims.aud.map(OneOrMany::into_vec).unwrap_or_default();
    let audience = audiences
        .iter()
        .find(|a| provider.client_ids.iter().any(|c| c == *a))
        .cloned()
        .ok_or_else(|| invalid("Incorrect token audience"))?;
    let subject = claims
        .sub
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("The web identity token has no sub claim"))?;
    Ok(WebIdentity {
        subject,
        aud_context: claims.azp.unwrap_or_else(|| audience.clone()),
        audience,
        amr: claims.amr.map(OneOrMany::into_vec).unwrap_or_default(),
        issuer: claims.iss,
    })
}

/// Picks the verification key: by `kid` when the token names one, else the
/// only key that could fit. The key's type must suit `alg`, and a key that
/// declares its `alg` must declare this one.
fn select_key<'a>(
    jwks: &'a JwkSet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'a Jwk, StsError> {
    let fits = |k: &&Jwk| {
        let declared_ok = match &k.common.key_algorithm {
            None => true,
            Some(a) => key_algorithm(*a) == Some(alg),
        };
        declared_ok && family_fits(k, alg)
    };
    let mut candidates = jwks.keys.iter().filter(fits);
    let key = match kid {
        Some(kid) => candidates.find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let first = candidates.next();
            if candidates.next().is_some() {
                None
            } else {
                first
            }
        }
    };
    key.ok_or_else(|| {
        invalid("No matching signing key found in the provider's JWKS for this token")
    })
}

fn family_fits(key: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    match &key.algorithm {
        P::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        P::EllipticCurve(_) => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
        P::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        // Symmetric keys would let anyone who can read the JWKS mint tokens.
        P::OctetKey(_) => false,
    }
}

fn key_algorithm(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Keys fetched from `jwks_url`s, by URL, with the time they were fetched.
/// Process-wide rather than per provider: a configuration reload rebuilds
/// the providers and must not make every replica refetch.
type UrlCache = Mutex<HashMap<String, (Instant, Arc<JwkSet>)>>;

fn url_cache() -> &'static UrlCache {
    static CACHE: OnceLock<UrlCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The provider's keys: the loaded file, or the URL's document (cached for
/// [`JWKS_URL_TTL`]; fetched off the async runtime, with a timeout and a
/// size limit).
async fn jwks(provider: &OidcProvider) -> Result<Arc<JwkSet>, StsError> {
    match &provider.jwks {
        JwksSource::Static(set) => Ok(Arc::clone(set)),
        JwksSource::Url { url } => {
            if let Ok(cache) = url_cache().lock()
                && let Some((at, set)) = cache.get(url)
                && at.elapsed() < JWKS_URL_TTL
            {
                return Ok(Arc::clone(set));
            }
            let fetch_url = url.clone();
            let fetched = tokio::task::spawn_blocking(move || fetch(&fetch_url))
                .await
                .map_err(|_| idp_error(url))?
                .map_err(|reason| {
                    tracing::warn!(jwks_url = %url, %reason, "cannot fetch JWKS");
                    idp_error(url)
                })?;
            let set = Arc::new(fetched);
            if let Ok(mut cache) = url_cache().lock() {
                cache.insert(url.clone(), (Instant::now(), Arc::clone(&set)));
            }
            Ok(set)
        }
    }
}

fn idp_error(url: &str) -> StsError {
    StsError::new(
        ErrorCode::IdpCommunicationError,
        format!("Couldn't retrieve verification key from your identity provider ({url})"),
    )
}

fn fetch(url: &str) -> Result<JwkSet, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(3)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    parse_jwks(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::config::sts::OidcProviderConfig;
    use jsonwebtoken::{EncodingKey, Header};

    // A throwaway P-256 key pair made for these tests only.
    const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgY3hwC/Yg7cjmHI/R
zUs49qG2dc4WUab84pxhKn0umWKhRANCAASF/Aclu1uPL+X6xRkjgRJXoda+vlJ/
4Rix3rY9VuBL38prEpfxI0cstRmOaaUOd4w6O8ahpM5300LRc+qB9Ji3
-----END PRIVATE KEY-----";
    const EC_X: &str = "hfwHJbtbjy_l-sUZI4ESV6HWvr5Sf-EYsd62PVbgS98";
    const EC_Y: &str = "ymsSl_EjRyy1GY5ppQ53jDo7xqGkznfTQtFz6oH0mLc";

    fn provider(dir: &std::path::Path) -> OidcProvider {
        let jwks = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}","kid":"k1","alg":"ES256","use":"sig"}},
                        {{"kty":"oct","k":"c2VjcmV0","kid":"sym"}}]}}"#
        );
        std::fs::write(dir.join("jwks.json"), jwks).unwrap();
        let cfg: OidcProviderConfig = toml::from_str(
            "url = 'https://token.example.com'\nclient_ids = ['sts.amazonaws.com']\njwks_file = 'jwks.json'",
        )
        .unwrap();
        cfg.validate("444455556666", dir).unwrap()
    }

    fn sign(claims: serde_json::Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn claims(aud: &str, exp: u64) -> serde_json::Value {
        serde_json::json!({"iss":"https://token.example.com","sub":"repo:org/app:ref:refs/heads/main","aud":aud,"exp":exp,"nbf":1000,"iat":1000})
    }

    #[test]
    fn valid_token_and_claims() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider(dir.path());
        let token = sign(claims("sts.amazonaws.com", 2000), "k1");
        assert_eq!(
            unverified_issuer(&token).unwrap(),
            "https://token.example.com"
        );
        let id = run(verify(&p, &token, at(1500), Duration::ZERO)).unwrap();
        assert_eq!(id.subject, "repo:org/app:ref:refs/heads/main");
        assert_eq!(id.audience, "sts.amazonaws.com");
        assert_eq!(id.aud_context, "sts.amazonaws.com");
    }

    #[test]
    fn refusals() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider(dir.path());
        let code = |token: &str, now: u64| {
            run(verify(&p, token, at(now), Duration::ZERO))
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(&sign(claims("other", 2000), "k1"), 1500),
            ErrorCode::InvalidIdentityToken
        );
        assert_eq!(
            code(&sign(claims("sts.amazonaws.com", 2000), "k1"), 2000),
            ErrorCode::ExpiredTokenException
        );
        assert_eq!(
            code(&sign(claims("sts.amazonaws.com", 2000), "k1"), 999),
            ErrorCode::InvalidIdentityToken
        );
        assert_eq!(
            code(&sign(claims("sts.amazonaws.com", 2000), "nokey"), 1500),
            ErrorCode::InvalidIdentityToken
        );
        // HS256 signed with the JWKS's symmetric key: refused, never verified.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("sym".into());
        let hs = jsonwebtoken::encode(
            &header,
            &claims("sts.amazonaws.com", 2000),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(code(&hs, 1500), ErrorCode::InvalidIdentityToken);
        // Tampered payload.
        let token = sign(claims("sts.amazonaws.com", 2000), "k1");
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims("sts.amazonaws.com", 2000)
                .to_string()
                .replace("main", "evil"),
        );
        parts[1] = &forged;
        assert_eq!(
            code(&parts.join("."), 1500),
            ErrorCode::InvalidIdentityToken
        );
        // Another issuer.
        let mut c = claims("sts.amazonaws.com", 2000);
        c["iss"] = "https://evil.example.com".into();
        assert_eq!(code(&sign(c, "k1"), 1500), ErrorCode::InvalidIdentityToken);
    }
}
