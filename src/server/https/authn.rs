//! Authentication of Git requests: HTTP Basic carrying CodeCommit's SigV4
//! Git credentials. The username is the access key id, optionally followed
//! by `%` and a session token; the password is `YYYYMMDDTHHMMSSZ` + hex
//! signature over `GIT\n/v1/repos/NAME\n\nhost:HOST\n\nhost\n`.
//! Or an HTTPS Git credential: the username is a service user name
//! (`NAME-at-ACCOUNTID`, never an access key id: those are alphanumeric)
//! and the password the one `gitiam iam create-service-specific-credential`
//! printed.
//!
//! The result is an [`Authenticated`] caller, which can only be built around
//! the `SignatureVerified` proof that only `sigv4` mints, or the
//! `GitCredentialVerified` proof that only the directory's Git credential
//! check mints. A failure carries an [`AuthHint`] computed from the request
//! alone (never from what the server knows about keys or users).

use std::time::SystemTime;

use base64::Engine as _;
use http::HeaderMap;

use crate::server::access::Authenticated;
use crate::server::identity;
use crate::shared::config::git_credential;
use crate::shared::git::RepoName;
use crate::shared::sigv4::codecommit;

use super::error::{AuthHint, HttpError};
use crate::server::state::State;

/// Longest Basic credential accepted after base64 decoding (a session token
/// makes the username long; bound it anyway).
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// Credentials read from the `Authorization` header, not yet checked.
pub struct BasicCredentials {
    /// Access key id (empty for an HTTPS Git credential).
    pub access_key_id: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
    /// The service user name (`NAME-at-ACCOUNTID`) of an HTTPS Git
    /// credential; `access_key_id` is then empty.
    pub service_user_name: Option<String>,
    password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("access_key_id", &self.access_key_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

fn unauthorized(reason: impl Into<String>) -> HttpError {
    HttpError::Unauthorized {
        reason: reason.into(),
        hint: AuthHint::Malformed,
    }
}

/// Longest service user name: a 64-character IAM user name, `-at-` and 12
/// digits.
const MAX_SERVICE_USER_NAME: usize = 64 + 4 + 12;

/// Reads HTTP Basic credentials.
pub fn credentials(headers: &HeaderMap) -> Result<BasicCredentials, HttpError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(HttpError::NoCredentials)?;
    if values.next().is_some() {
        return Err(unauthorized("several Authorization headers"));
    }
    let value = value
        .to_str()
        .map_err(|_| unauthorized("Authorization header is not ASCII"))?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| unauthorized("Authorization header is not Basic"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized("Authorization header is not Basic"));
    }
    let encoded = encoded.trim();
    if encoded.len() > MAX_CREDENTIAL_BYTES * 4 / 3 + 4 {
        return Err(unauthorized("Basic credentials too long"));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| unauthorized("Basic credentials are not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| unauthorized("Basic credentials are not UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| unauthorized("Basic credentials without ':'"))?;
    if git_credential::is_service_user_name(username) {
        if username.len() > MAX_SERVICE_USER_NAME
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        {
            return Err(unauthorized("malformed service user name"));
        }
        return Ok(BasicCredentials {
            access_key_id: String::new(),
            session_token: None,
            service_user_name: Some(username.to_string()),
            password: password.to_string(),
        });
    }
    let (access_key_id, session_token) = match username.split_once('%') {
        Some((id, token)) => (id, Some(token.to_string())),
        None => (username, None),
    };
    if access_key_id.is_empty()
        || access_key_id.len() > 128
        || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(unauthorized("malformed access key id"));
    }
    Ok(BasicCredentials {
        access_key_id: access_key_id.to_string(),
        session_token,
        service_user_name: None,
        password: password.to_string(),
    })
}

/// The host the client addressed (the service put an HTTP/2 `:authority`
/// into `Host`). The signature covers it without the port.
pub fn request_host(headers: &HeaderMap) -> Result<&str, HttpError> {
    headers
        .get(http::header::HOST)
        .ok_or_else(|| unauthorized("no Host header"))?
        .to_str()
        .map_err(|_| unauthorized("Host header is not ASCII"))
}

/// Checks `creds` for a request to `repo` on `host`.
pub fn authenticate(
    state: &State,
    creds: &BasicCredentials,
    host: &str,
    repo: &RepoName,
    now: SystemTime,
) -> Result<Authenticated, HttpError> {
    let directory = state.directory.load();
    if let Some(service_user_name) = &creds.service_user_name {
        let (user, credential_id, proof) = directory
            .verify_git_credential(service_user_name, &creds.password)
            .map_err(|e| HttpError::Unauthorized {
                reason: e.to_string(),
                hint: AuthHint::GitCredential,
            })?;
        return Ok(Authenticated::new(
            identity::Identity::User(user),
            credential_id,
            proof,
        ));
    }
    // Decided before the key is looked up: the hint depends on the request
    // only, so it tells nothing about which keys exist.
    let hint = sigv4_hint(&creds.password, now, state.server.max_clock_skew);
    let failed = |reason: String| HttpError::Unauthorized { reason, hint };
    let sts_keys = state.sts_keys.load();
    let resolved = identity::resolve(
        &directory,
        &sts_keys,
        &creds.access_key_id,
        creds.session_token.as_deref(),
        now,
    )
    .map_err(|e| failed(e.to_string()))?;
    let path = format!("/v1/repos/{repo}");
    let proof = codecommit::verify(
        &state.signing_keys,
        resolved.secret.expose(),
        &state.server.region,
        host,
        &path,
        &creds.password,
        now,
        state.server.max_clock_skew,
    )
    .map_err(|e| failed(e.to_string()))?;
    Ok(Authenticated::new(
        resolved.identity,
        creds.access_key_id.clone(),
        proof,
    ))
}

/// What a git user can check when a SigV4 Git password fails, judged from
/// the password alone: its form, then its time against the server's clock.
fn sigv4_hint(password: &str, now: SystemTime, max_skew: std::time::Duration) -> AuthHint {
    let Ok(parsed) = codecommit::parse_password(password) else {
        return AuthHint::NotSigned;
    };
    let off = match now.duration_since(parsed.timestamp) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if off > max_skew {
        return AuthHint::ClockSkew {
            minutes: off.as_secs().div_ceil(60),
        };
    }
    AuthHint::SigV4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        );
        h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn parses_basic_credentials() {
        let c = credentials(&basic("AKIAEXAMPLE000000001:20250101T000000Zabc")).unwrap();
        assert_eq!(c.access_key_id, "AKIAEXAMPLE000000001");
        assert!(c.session_token.is_none());
        let c = credentials(&basic("ASIAEXAMPLE000000001%eyJ.a.b:pw")).unwrap();
        assert_eq!(c.session_token.as_deref(), Some("eyJ.a.b"));
        assert!(!format!("{c:?}").contains("eyJ"));
        for bad in ["nocolon", ":pw", "AKIA/../x:pw"] {
            assert!(credentials(&basic(bad)).is_err(), "{bad}");
        }
        assert!(credentials(&HeaderMap::new()).is_err());
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert!(credentials(&h).is_err());
    }

    proptest::proptest! {
        /// What Git sends (`base64(user:password)`) comes back exactly:
        /// the key id, the token after the first `%`, nothing in `Debug`.
        #[test]
        fn basic_credentials_round_trip(
            akid in "[A-Z0-9]{1,128}",
            token in proptest::option::of("[A-Za-z0-9._%+/=-]{0,300}"),
            password in "[ -~]{0,100}",
        ) {
            let user = match &token {
                Some(t) => format!("{akid}%{t}"),
                None => akid.clone(),
            };
            let c = credentials(&basic(&format!("{user}:{password}"))).unwrap();
            proptest::prop_assert_eq!(&c.access_key_id, &akid);
            proptest::prop_assert_eq!(c.session_token.as_deref(), token.as_deref());
            let token_shown = if token.is_some() { "Some(\"<redacted>\")" } else { "None" };
            proptest::prop_assert_eq!(
                format!("{c:?}"),
                format!("BasicCredentials {{ access_key_id: {akid:?}, session_token: {token_shown}, .. }}")
            );
        }

        /// Any header value: never a panic, and a key id that comes out is
        /// well formed.
        #[test]
        fn any_authorization_value(value in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let Ok(v) = http::HeaderValue::from_bytes(&value) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, v);
            if let Ok(c) = credentials(&h) {
                proptest::prop_assert!(!c.access_key_id.is_empty() && c.access_key_id.len() <= 128);
                proptest::prop_assert!(c.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
        }
    }
}
