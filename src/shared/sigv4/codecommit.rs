//! The CodeCommit Git password: `YYYYMMDDTHHMMSS` + `Z` + hex SigV4
//! signature (service `codecommit`) over the canonical request
//! `GIT\n/PATH\n\nhost:HOST\n\nhost\n`, with the port removed from HOST.
//!
//! This is what `aws codecommit credential-helper` computes; the canonical
//! request is not a standard HTTP one, so it is signed with `aws-sigv4`'s
//! signing-key and signature primitives directly.
//!
//! AWS's `git-remote-codecommit` signs its `CODE_COMMIT_ENDPOINT` value as
//! given, so with `host:8443` there the port is part of the signed host.
//! [`verify`] accepts both spellings: the port-less one first, then, only
//! when the request's host has a port, the one with it. Either way the
//! signature binds the host, path, time and key.

use super::{SignatureVerified, SigningKeyCache, VerifyError};
use std::time::{Duration, SystemTime};

/// The SigV4 service name in CodeCommit credential scopes.
pub const SERVICE: &str = "codecommit";

/// The clock skew CodeCommit (and gitiam by default) tolerates.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A parsed Git password. `Debug` does not show the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct GitPassword {
    /// The signing time the password claims.
    pub timestamp: SystemTime,
    /// The raw 32-byte signature.
    pub signature: [u8; 32],
}

impl std::fmt::Debug for GitPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitPassword")
            .field("timestamp", &super::format_amz_date(self.timestamp))
            .field("signature", &"<redacted>")
            .finish()
    }
}

/// `host` without a `:port` suffix. A bracketed IPv6 literal keeps its
/// brackets (`[::1]:8443` → `[::1]`).
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        };
    }
    match host.split_once(':') {
        Some((h, _)) => h,
        None => host,
    }
}

/// The canonical request for `host` (port removed here) and `path`, which
/// should start with `/` (one is added otherwise).
pub fn canonical_request(host: &str, path: &str) -> String {
    let host = host_without_port(host);
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("GIT\n{slash}{path}\n\nhost:{host}\n\nhost\n")
}

/// The string to sign for `canonical_request` at `time` in `region`.
///
/// Unlike standard SigV4, the timestamp line has no trailing `Z`: the AWS
/// CLI puts `strftime('%Y%m%dT%H%M%S')` there, and CodeCommit verifies
/// exactly that.
pub fn string_to_sign(time: SystemTime, region: &str, canonical_request: &str) -> String {
    let amz_date = super::format_amz_date(time);
    let timestamp = amz_date.trim_end_matches('Z');
    super::string_to_sign(timestamp, region, SERVICE, canonical_request)
}

/// The Git password for `path` on `host` in `region`, signed at `time`.
pub fn password(secret: &str, region: &str, host: &str, path: &str, time: SystemTime) -> String {
    let key = super::keys::derive(secret, time, region, SERVICE);
    sign_canonical(&key, region, &canonical_request(host, path), time)
}

fn sign_canonical(key: &[u8; 32], region: &str, canonical: &str, time: SystemTime) -> String {
    let sts = string_to_sign(time, region, canonical);
    let signature = aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes());
    let amz_date = super::format_amz_date(time);
    format!("{amz_date}{signature}")
}

/// Parses a Git password: exactly `YYYYMMDDTHHMMSSZ` and 64 hex digits.
pub fn parse_password(password: &str) -> Result<GitPassword, VerifyError> {
    if password.len() != 16 + 64 || !password.is_ascii() {
        return Err(VerifyError::MalformedPassword(
            "expected 80 characters: YYYYMMDDTHHMMSSZ and 64 hex digits",
        ));
    }
    let (ts, sig) = password.split_at(16);
    let timestamp =
        super::parse_amz_date(ts).ok_or(VerifyError::MalformedPassword("bad timestamp"))?;
    let signature = super::decode_signature(sig)
        .ok_or(VerifyError::MalformedPassword("signature is not hex"))?;
    Ok(GitPassword {
        timestamp,
        signature,
    })
}

/// Verifies a Git password made for `path` on `host` (port removed here) in
/// `region`, signed with `secret`, within `max_skew` of `now` either way.
#[allow(clippy::too_many_arguments)] // mirrors the inputs of the signature
pub fn verify(
    cache: &SigningKeyCache,
    secret: &str,
    region: &str,
    host: &str,
    path: &str,
    password: &str,
    now: SystemTime,
    max_skew: Duration,
) -> Result<SignatureVerified, VerifyError> {
    let parsed = parse_password(password)?;
    super::check_skew(parsed.timestamp, now, max_skew)?;
    let key = cache.signing_key(secret, parsed.timestamp, region, SERVICE);
    let matches = |canonical: &str| {
        let sts = string_to_sign(parsed.timestamp, region, canonical);
        let expected = aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes());
        super::decode_signature(&expected)
            .is_some_and(|expected| super::signatures_equal(&expected, &parsed.signature))
    };
    // The AWS CLI's spelling (no port) first; git-remote-codecommit's (the
    // host exactly as the client named it, port included) only when there
    // is a port, so a port-less request costs one HMAC chain as before.
    if matches(&canonical_request(host, path))
        || (host_without_port(host) != host && matches(&canonical_request_with_port(host, path)))
    {
        Ok(SignatureVerified::new())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// The canonical request with `host` kept as given, port included: what
/// `git-remote-codecommit` signs when `CODE_COMMIT_ENDPOINT` has a port.
pub fn canonical_request_with_port(host: &str, path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("GIT\n{slash}{path}\n\nhost:{host}\n\nhost\n")
}

/// The Git password as `git-remote-codecommit` makes it: like [`password`]
/// but with the port (if any) kept in the signed host.
pub fn password_with_port(
    secret: &str,
    region: &str,
    host: &str,
    path: &str,
    time: SystemTime,
) -> String {
    let key = super::keys::derive(secret, time, region, SERVICE);
    sign_canonical(&key, region, &canonical_request_with_port(host, path), time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// 2015-08-30T12:36:00Z, the timestamp of AWS's SigV4 test suite.
    const T0: u64 = 1_440_938_160;

    #[test]
    fn canonical_request_matches_aws_cli_shape() {
        assert_eq!(
            canonical_request(
                "git-codecommit.us-east-1.amazonaws.com:443",
                "/v1/repos/demo"
            ),
            "GIT\n/v1/repos/demo\n\nhost:git-codecommit.us-east-1.amazonaws.com\n\nhost\n"
        );
        assert_eq!(
            canonical_request("localhost:8443", "v1/repos/x"),
            "GIT\n/v1/repos/x\n\nhost:localhost\n\nhost\n"
        );
        assert_eq!(host_without_port("[::1]:8443"), "[::1]");
        assert_eq!(host_without_port("example.com"), "example.com");
    }

    /// Value computed with botocore's `SigV4Auth` exactly as
    /// `awscli/customizations/codecommit.py` does (see
    /// tests/it/credential_interop.rs for the live cross-check).
    #[test]
    fn known_string_to_sign() {
        let cr = canonical_request(
            "git-codecommit.us-east-1.amazonaws.com",
            "/v1/repos/MyDemoRepo",
        );
        assert_eq!(
            string_to_sign(t(T0), "us-east-1", &cr),
            "AWS4-HMAC-SHA256\n20150830T123600\n20150830/us-east-1/codecommit/aws4_request\n\
             956504f984c57eae87a4d346014b4f0ecfc62a9cc354b2434e0408ec253be706"
        );
    }

    #[test]
    fn known_password() {
        let p = password(
            SECRET,
            "us-east-1",
            "git-codecommit.us-east-1.amazonaws.com",
            "/v1/repos/MyDemoRepo",
            t(T0),
        );
        assert_eq!(p, KNOWN_PASSWORD);
    }
    const KNOWN_PASSWORD: &str =
        "20150830T123600Z088fec8c788f892e6cb940f22a736b224a5a5de18925fa5f02413a1bb215c389";

    #[test]
    fn verify_accepts_own_password_and_rejects_tampering() {
        let cache = SigningKeyCache::default();
        let host = "git.example.com:8443";
        let p = password(SECRET, "eu-west-1", host, "/v1/repos/a", t(T0));
        let ok = |pw: &str, now: u64, path: &str, region: &str, secret: &str| {
            verify(
                &cache,
                secret,
                region,
                "git.example.com",
                path,
                pw,
                t(now),
                DEFAULT_MAX_SKEW,
            )
        };
        assert!(ok(&p, T0, "/v1/repos/a", "eu-west-1", SECRET).is_ok());
        assert!(ok(&p, T0 + 899, "/v1/repos/a", "eu-west-1", SECRET).is_ok());
        assert!(ok(&p, T0 - 899, "/v1/repos/a", "eu-west-1", SECRET).is_ok());
        assert_eq!(
            ok(&p, T0 + 901, "/v1/repos/a", "eu-west-1", SECRET).unwrap_err(),
            VerifyError::ClockSkew
        );
        assert_eq!(
            ok(&p, T0 - 901, "/v1/repos/a", "eu-west-1", SECRET).unwrap_err(),
            VerifyError::ClockSkew
        );
        assert_eq!(
            ok(&p, T0, "/v1/repos/b", "eu-west-1", SECRET).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        assert_eq!(
            ok(&p, T0, "/v1/repos/a", "us-east-1", SECRET).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        assert_eq!(
            ok(&p, T0, "/v1/repos/a", "eu-west-1", "other").unwrap_err(),
            VerifyError::SignatureMismatch
        );
        // Uppercase hex is the same signature.
        let upper = format!("{}{}", &p[..16], p[16..].to_uppercase());
        assert!(ok(&upper, T0, "/v1/repos/a", "eu-west-1", SECRET).is_ok());
        // A timestamp moved by one second invalidates the signature.
        let moved = format!("20150830T123601Z{}", &p[16..]);
        assert_eq!(
            ok(&moved, T0, "/v1/repos/a", "eu-west-1", SECRET).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        // One flipped hex digit.
        let mut flipped = p.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            ok(&flipped, T0, "/v1/repos/a", "eu-west-1", SECRET).unwrap_err(),
            VerifyError::SignatureMismatch
        );
    }

    #[test]
    fn verify_accepts_the_host_with_its_port_as_git_remote_codecommit_signs_it() {
        let cache = SigningKeyCache::default();
        let path = "/v1/repos/a";
        let with_port =
            password_with_port(SECRET, "us-east-1", "git.example.com:8443", path, t(T0));
        let without = password(SECRET, "us-east-1", "git.example.com:8443", path, t(T0));
        assert_ne!(with_port, without);
        let check = |host: &str, pw: &str| {
            verify(
                &cache,
                SECRET,
                "us-east-1",
                host,
                path,
                pw,
                t(T0),
                DEFAULT_MAX_SKEW,
            )
        };
        assert!(check("git.example.com:8443", &with_port).is_ok());
        assert!(check("git.example.com:8443", &without).is_ok());
        // The port is bound: another port, or none, does not match.
        assert_eq!(
            check("git.example.com:9443", &with_port).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        assert_eq!(
            check("git.example.com", &with_port).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        assert_eq!(
            check("other.example.com:8443", &with_port).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        // Path, key and time are still bound.
        assert!(
            verify(
                &cache,
                SECRET,
                "us-east-1",
                "git.example.com:8443",
                "/v1/repos/b",
                &with_port,
                t(T0),
                DEFAULT_MAX_SKEW
            )
            .is_err()
        );
        assert!(
            verify(
                &cache,
                "other",
                "us-east-1",
                "git.example.com:8443",
                path,
                &with_port,
                t(T0),
                DEFAULT_MAX_SKEW
            )
            .is_err()
        );
        assert_eq!(
            canonical_request_with_port("[::1]:8443", "v1/repos/x"),
            "GIT\n/v1/repos/x\n\nhost:[::1]:8443\n\nhost\n"
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "20150830T123600Z",
            "20150830T123600",
            &format!("20150830T123600Z{}", "g".repeat(64)),
            &format!("20150830T123600X{}", "0".repeat(64)),
            &format!("20150830T123600Z{}", "0".repeat(65)),
        ] {
            assert!(
                matches!(parse_password(bad), Err(VerifyError::MalformedPassword(_))),
                "{bad:?}"
            );
        }
        let p = parse_password(&format!("20150830T123600Z{}", "ab".repeat(32))).unwrap();
        assert_eq!(p.timestamp, t(T0));
        assert_eq!(p.signature, [0xab; 32]);
        let d = format!("{p:?}");
        assert!(!d.contains("ab") || !d.contains(&"ab".repeat(32)), "{d}");
        assert!(d.contains("redacted"));
    }

    #[test]
    fn errors_carry_no_secret_material() {
        let cache = SigningKeyCache::default();
        let p = password(SECRET, "r", "h", "/p", t(T0));
        let e = verify(&cache, SECRET, "r", "h", "/q", &p, t(T0), DEFAULT_MAX_SKEW).unwrap_err();
        let msg = format!("{e} {e:?}");
        assert!(!msg.contains(&p[16..]) && !msg.contains(SECRET), "{msg}");
    }

    proptest::proptest! {
        #[test]
        fn sign_then_verify(secret in "[ -~]{1,60}", region in "[a-z]{2}-[a-z]{4,9}-[1-9]",
                            host in "[a-z0-9.-]{1,30}(:[0-9]{1,5})?", path in "/[a-zA-Z0-9/._-]{0,60}",
                            secs in 0u64..4_102_444_800) {
            let cache = SigningKeyCache::new(16);
            let p = password(&secret, &region, &host, &path, t(secs));
            proptest::prop_assert_eq!(parse_password(&p).unwrap().timestamp, t(secs));
            proptest::prop_assert!(verify(&cache, &secret, &region, &host, &path, &p, t(secs), DEFAULT_MAX_SKEW).is_ok());
            let other = format!("{path}x");
            proptest::prop_assert_eq!(verify(&cache, &secret, &region, &host, &other, &p, t(secs), DEFAULT_MAX_SKEW).unwrap_err(), VerifyError::SignatureMismatch);
        }
    }
}
