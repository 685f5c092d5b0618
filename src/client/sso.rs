//! IAM Identity Center (SSO) for the credential helper: the access token
//! the AWS CLI caches after `aws sso login`, the portal's
//! `GetRoleCredentials` call that turns it into role credentials, and the
//! OIDC `CreateToken` call that refreshes an expiring token with the
//! cached refresh token (as botocore does).
//!
//! The token cache is `~/.aws/sso/cache/SHA1.json`, where SHA1 is the hex
//! SHA-1 of the `sso-session` name (or, for legacy profiles, of the start
//! URL). Its JSON fields are the CLI's: `accessToken`, `expiresAt`, and for
//! refreshing `refreshToken`, `clientId`, `clientSecret`,
//! `registrationExpiresAt`, `region`, `startUrl`. Fields this module does
//! not know are kept when the file is written back.
//!
//! Both services speak AWS's rest-json protocol and are not SigV4-signed:
//! the portal takes the token in `x-amz-sso_bearer_token`, OIDC takes the
//! client registration in the body.

use super::Credentials;
use super::sts_client::{self, parse_timestamp};
use crate::shared::timestamp::utc_seconds;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest answer read from the portal or OIDC.
const MAX_RESPONSE: u64 = 1 << 20;
/// Largest token cache file read.
const MAX_TOKEN_FILE: u64 = 1 << 20;

/// An SSO call failed. Never contains tokens, secrets or credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// The service answered with an AWS error.
    #[error("{operation} at {endpoint} refused: {code}: {message}")]
    Service {
        /// `GetRoleCredentials` or `CreateToken`.
        operation: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The AWS error code, e.g. `UnauthorizedException`.
        code: String,
        /// AWS's message (one line, shortened).
        message: String,
    },
    /// The service could not be reached or the exchange failed.
    #[error("{operation} at {endpoint} failed: {message}")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The answer is not the JSON the service sends.
    #[error("{operation} at {endpoint} sent an unexpected answer: {message}")]
    BadResponse {
        /// The operation.
        operation: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// The endpoint URL is unusable.
    #[error("SSO endpoint {endpoint}: {message}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// The CA bundle is unusable.
    #[error(transparent)]
    Setup(sts_client::StsError),
}

impl From<sts_client::StsError> for SsoError {
    fn from(e: sts_client::StsError) -> Self {
        match e {
            sts_client::StsError::Endpoint { endpoint, message } => {
                SsoError::Endpoint { endpoint, message }
            }
            other => SsoError::Setup(other),
        }
    }
}

impl SsoError {
    /// Whether the service refused the token itself (HTTP 401, or OIDC's
    /// `InvalidGrantException` / `ExpiredTokenException`): signing in again
    /// is the fix.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, SsoError::Service { status: 401, .. })
            || matches!(self, SsoError::Service { code, .. }
                if code == "UnauthorizedException" || code == "InvalidGrantException" || code == "ExpiredTokenException")
    }
}

/// The default portal endpoint for `region`.
pub fn default_portal_endpoint(region: &str) -> String {
    format!("https://portal.sso.{region}.amazonaws.com")
}

/// The default OIDC endpoint for `region`.
pub fn default_oidc_endpoint(region: &str) -> String {
    format!("https://oidc.{region}.amazonaws.com")
}

/// The cache file of a token: `DIR/` + hex SHA-1 of `key` + `.json`, `key`
/// being the `sso-session` name or, for legacy profiles, the start URL.
pub fn token_file(dir: &Path, key: &str) -> PathBuf {
    use sha1::Digest as _;
    let digest = sha1::Sha1::digest(key.as_bytes());
    dir.join(format!("{}.json", hex::encode(digest)))
}

/// A cached SSO token. `Debug` shows only its expiry.
#[derive(Clone)]
pub struct CachedToken {
    /// The whole JSON object, so that unknown fields survive a write-back.
    fields: Map<String, Value>,
    /// `accessToken`.
    access_token: String,
    /// `expiresAt`.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a cached token could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenFileError {
    /// There is no cache file (never signed in, or signed out).
    #[error("no cached SSO token")]
    Missing,
    /// The file exists but cannot be used.
    #[error("cached SSO token {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the token).
        message: String,
    },
}

/// Registration and refresh token needed to refresh an access token.
#[derive(Clone)]
pub struct RefreshGrant {
    /// `clientId`.
    pub client_id: String,
    client_secret: String,
    refresh_token: String,
    /// `registrationExpiresAt`.
    pub registration_expires_at: SystemTime,
}

impl std::fmt::Debug for RefreshGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshGrant")
            .field("client_id", &self.client_id)
            .field("registration_expires_at", &self.registration_expires_at)
            .finish_non_exhaustive()
    }
}

/// Parses the CLI's time spellings: RFC 3339 (`2026-01-01T00:00:00Z`,
/// with fractions or an offset) and the older `2026-01-01T00:00:00UTC`.
pub fn parse_cache_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Some(base) = s.strip_suffix("UTC") {
        return parse_timestamp(&format!("{base}Z"));
    }
    parse_timestamp(s)
}

impl CachedToken {
    /// Reads the token cached in `path`.
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        use std::io::Read as _;
        let invalid = |message: String| TokenFileError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TokenFileError::Missing);
            }
            Err(e) => return Err(invalid(format!("cannot read: {}", e.kind()))),
        };
        let mut bytes = Vec::new();
        file.take(MAX_TOKEN_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("cannot read: {}", e.kind())))?;
        Self::parse(&bytes).map_err(invalid)
    }

    /// Parses a token cache file's contents. Errors never quote the token.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let fields: Map<String, Value> = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a JSON object (line {})", e.line()))?;
        let access_token = fields
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("no accessToken")?
            .to_owned();
        let expires_at = fields
            .get("expiresAt")
            .and_then(Value::as_str)
            .and_then(parse_cache_time)
            .ok_or("no expiresAt, or it is not an ISO 8601 time")?;
        Ok(Self {
            fields,
            access_token,
            expires_at,
        })
    }

    /// The bearer token. Never log it.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }

    /// What refreshing needs, when the file has all of it.
    pub fn refresh_grant(&self) -> Option<RefreshGrant> {
        Some(RefreshGrant {
            client_id: self.field("clientId")?.to_owned(),
            client_secret: self.field("clientSecret")?.to_owned(),
            refresh_token: self.field("refreshToken")?.to_owned(),
            registration_expires_at: parse_cache_time(self.field("registrationExpiresAt")?)?,
        })
    }

    /// This token with a refreshed access token (and refresh token, when
    /// OIDC sent a new one), as botocore records it: `startUrl` and
    /// `region` of the session, the registration kept.
    pub fn refreshed(
        &self,
        new: &NewToken,
        start_url: &str,
        region: &str,
        now: SystemTime,
    ) -> Self {
        let mut fields = self.fields.clone();
        let expires_at = now + Duration::from_secs(new.expires_in);
        fields.insert("startUrl".into(), start_url.into());
        fields.insert("region".into(), region.into());
        fields.insert("accessToken".into(), new.access_token.clone().into());
        fields.insert("expiresAt".into(), utc_seconds(expires_at).into());
        if let Some(r) = &new.refresh_token {
            fields.insert("refreshToken".into(), r.clone().into());
        }
        Self {
            fields,
            access_token: new.access_token.clone(),
            expires_at,
        }
    }

    /// Replaces `path` with this token (owner-only, atomically).
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(&self.fields).map_err(std::io::Error::other)?;
        crate::shared::secret_file::replace(path, &json)
    }
}

/// A token from OIDC `CreateToken`. `Debug` shows only its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    access_token: String,
    /// `expiresIn`, seconds.
    pub expires_in: u64,
    refresh_token: Option<String>,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Credentials from a `GetRoleCredentials` answer
/// (`{"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken",
/// "expiration"}}`, the expiration in epoch milliseconds).
pub fn parse_role_credentials(body: &[u8]) -> Result<Credentials, String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let rc = v
        .get("roleCredentials")
        .and_then(Value::as_object)
        .ok_or("no roleCredentials object")?;
    let text = |name: &str| {
        rc.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("roleCredentials has no {name}"))
    };
    let akid = text("accessKeyId")?;
    let secret = text("secretAccessKey")?;
    let token = text("sessionToken")?;
    let millis = rc
        .get("expiration")
        .and_then(Value::as_u64)
        .ok_or("roleCredentials has no expiration in epoch milliseconds")?;
    let expiration = UNIX_EPOCH
        .checked_add(Duration::from_millis(millis))
        .ok_or("expiration is out of range")?;
    Ok(Credentials::new(
        akid,
        secret,
        Some(token.to_owned()),
        Some(expiration),
    ))
}

/// A `CreateToken` answer (`accessToken`, `expiresIn`, optional
/// `refreshToken`).
pub fn parse_create_token(body: &[u8]) -> Result<NewToken, String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let access_token = v
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("no accessToken")?
        .to_owned();
    let expires_in = v
        .get("expiresIn")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0 && *s <= 366 * 24 * 3600)
        .ok_or("no expiresIn, or not a number of seconds up to a year")?;
    let refresh_token = v
        .get("refreshToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(NewToken {
        access_token,
        expires_in,
        refresh_token,
    })
}

/// `(code, message)` of a rest-json error: the code from `x-amzn-ErrorType`
/// (up to its first `:`), else the body's `__type` (after any `#`), `code`
/// or OAuth's `error`; made one line and short.
pub fn parse_error(error_type_header: Option<&str>, body: &[u8], status: u16) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let from_body = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let code = error_type_header
        .map(|h| h.split(':').next().unwrap_or(h).to_owned())
        .or_else(|| from_body("__type").map(|t| t.rsplit('#').next().unwrap_or(&t).to_owned()))
        .or_else(|| from_body("code"))
        .or_else(|| from_body("error"))
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = from_body("message")
        .or_else(|| from_body("Message"))
        .or_else(|| from_body("error_description"))
        .unwrap_or_default();
    let one_line = |s: &str, max: usize| -> String {
        let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        s.chars().take(max).collect()
    };
    (one_line(&code, 64), one_line(&message, 300))
}

/// A configured portal or OIDC endpoint.
pub struct SsoClient {
    endpoint: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for SsoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl SsoClient {
    /// A client for `endpoint`, trusting only `ca_bundle` when given.
    pub fn new(endpoint: &str, ca_bundle: Option<&Path>) -> Result<Self, SsoError> {
        let (endpoint, agent) = sts_client::https_agent(endpoint, ca_bundle)?;
        Ok(Self { endpoint, agent })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The portal's `GetRoleCredentials`.
    pub fn get_role_credentials(
        &self,
        token: &CachedToken,
        account_id: &str,
        role_name: &str,
    ) -> Result<Credentials, SsoError> {
        const OP: &str = "GetRoleCredentials";
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("role_name", role_name)
            .append_pair("account_id", account_id)
            .finish();
        let url = format!("{}/federation/credentials?{query}", self.endpoint);
        let req = self
            .agent
            .get(&url)
            .header("x-amz-sso_bearer_token", token.access_token());
        let body = self.exchange(OP, req.call())?;
        parse_role_credentials(&body).map_err(|message| SsoError::BadResponse {
            operation: OP,
            endpoint: self.endpoint.clone(),
            message,
        })
    }

    /// OIDC `CreateToken` with the `refresh_token` grant.
    pub fn refresh(&self, grant: &RefreshGrant) -> Result<NewToken, SsoError> {
        const OP: &str = "CreateToken";
        let body = serde_json::json!({
            "grantType": "refresh_token",
            "clientId": grant.client_id,
            "clientSecret": grant.client_secret,
            "refreshToken": grant.refresh_token,
        })
        .to_string();
        let req = self
            .agent
            .post(format!("{}/token", self.endpoint))
            .header("content-type", "application/json");
        let answer = self.exchange(OP, req.send(body.as_bytes()))?;
        parse_create_token(&answer).map_err(|message| SsoError::BadResponse {
            operation: OP,
            endpoint: self.endpoint.clone(),
            message,
        })
    }

    fn exchange(
        &self,
        operation: &'static str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, SsoError> {
        let transport = |e: ureq::Error| SsoError::Transport {
            operation,
            endpoint: self.endpoint.clone(),
            message: e.to_string(),
        };
        let resp = result.map_err(transport)?;
        let status = resp.status();
        let error_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .into_body()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(transport)?;
        if status.is_success() {
            return Ok(bytes);
        }
        let (code, message) = parse_error(error_type.as_deref(), &bytes, status.as_u16());
        Err(SsoError::Service {
            operation,
            endpoint: self.endpoint.clone(),
            status: status.as_u16(),
            code,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_names_are_the_clis() {
        // SHA-1("abc") is FIPS 180's first test vector.
        assert_eq!(
            token_file(Path::new("/c"), "abc"),
            Path::new("/c/a9993e364706816aba3e25717850c26c9cd0d89d.json")
        );
    }

    #[test]
    fn parses_cached_tokens_and_keeps_unknown_fields() {
        let text = br#"{"startUrl": "https://d-123.awsapps.com/start", "region": "us-east-1",
            "accessToken": "SECRETTOKEN", "expiresAt": "2030-01-01T00:00:00Z",
            "clientId": "cid", "clientSecret": "csecret", "refreshToken": "rtok",
            "registrationExpiresAt": "2030-06-01T00:00:00UTC", "extra": 1}"#;
        let t = CachedToken::parse(text).unwrap();
        assert_eq!(t.access_token(), "SECRETTOKEN");
        assert_eq!(
            t.expires_at,
            parse_timestamp("2030-01-01T00:00:00Z").unwrap()
        );
        let g = t.refresh_grant().unwrap();
        assert_eq!(
            g.registration_expires_at,
            parse_timestamp("2030-06-01T00:00:00Z").unwrap()
        );
        let dbg = format!("{t:?} {g:?}");
        assert!(
            !dbg.contains("SECRETTOKEN") && !dbg.contains("csecret") && !dbg.contains("rtok"),
            "{dbg}"
        );
        let now = parse_timestamp("2029-12-31T23:00:00Z").unwrap();
        let new = parse_create_token(
            br#"{"accessToken": "NEW", "expiresIn": 3600, "tokenType": "Bearer"}"#,
        )
        .unwrap();
        let r = t.refreshed(&new, "https://d-123.awsapps.com/start", "us-east-1", now);
        assert_eq!(r.access_token(), "NEW");
        assert_eq!(r.field("expiresAt"), Some("2030-01-01T00:00:00Z"));
        assert_eq!(r.field("refreshToken"), Some("rtok"));
        assert_eq!(r.fields.get("extra"), Some(&Value::from(1)));
        // Without the registration: no refresh.
        let bare =
            CachedToken::parse(br#"{"accessToken": "a", "expiresAt": "2030-01-01T00:00:00Z"}"#)
                .unwrap();
        assert!(bare.refresh_grant().is_none());
        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"accessToken": "SECRETTOKEN"}"#,
            br#"{"accessToken": "SECRETTOKEN", "expiresAt": "soon"}"#,
        ] {
            let e = CachedToken::parse(bad).unwrap_err();
            assert!(!e.contains("SECRETTOKEN"), "{e}");
        }
    }

    #[test]
    fn parses_role_credentials_and_errors() {
        let c = parse_role_credentials(br#"{"roleCredentials": {"accessKeyId": "ASIA1", "secretAccessKey": "s", "sessionToken": "t", "expiration": 1893456000000}}"#).unwrap();
        assert_eq!(c.git_username(), "ASIA1%t");
        assert_eq!(
            c.expiration,
            Some(UNIX_EPOCH + Duration::from_secs(1_893_456_000))
        );
        assert!(parse_role_credentials(br#"{"roleCredentials": {"accessKeyId": "A", "secretAccessKey": "s", "sessionToken": "t"}}"#).is_err());
        assert!(parse_role_credentials(b"<html/>").is_err());
        assert_eq!(
            parse_error(
                Some("UnauthorizedException:http://internal.amazon.com/"),
                br#"{"message": "Session token not found or invalid"}"#,
                401
            ),
            (
                "UnauthorizedException".into(),
                "Session token not found or invalid".into()
            )
        );
        assert_eq!(
            parse_error(
                None,
                br#"{"error": "invalid_grant", "error_description": "expired"}"#,
                400
            ),
            ("invalid_grant".into(), "expired".into())
        );
        assert_eq!(
            parse_error(None, b"", 502),
            ("HTTP 502".into(), String::new())
        );
        assert_eq!(
            utc_seconds(UNIX_EPOCH + Duration::from_secs(1_893_456_000)),
            "2030-01-01T00:00:00Z"
        );
        let e = SsoClient::new("portal.example", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SSO endpoint portal.example: must start with https:// or http://"
        );
    }
}
