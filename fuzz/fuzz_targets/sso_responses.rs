//! The SSO answers the credential helper reads
//! (`gitiam::client::sso`): the portal's `GetRoleCredentials` JSON, OIDC's
//! `CreateToken` JSON, rest-json error bodies, and the token cache file
//! (written by the AWS CLI, but any local program can write it). Mode: the
//! first byte picks the parser.
//!
//! Checked: credentials that parse have a session token and an expiry;
//! a refreshed token written back parses to the same access token and
//! expiry; error codes and messages are one line and bounded; no error
//! quotes the cached access token.
#![no_main]

use gitiam::client::sso::{
    CachedToken, parse_cache_time, parse_create_token, parse_error, parse_role_credentials,
};
use gitiam_fuzz::first_byte;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = first_byte(data);
    match mode % 4 {
        0 => {
            if let Ok(c) = parse_role_credentials(rest) {
                assert!(c.session_token.is_some() && c.expiration.is_some());
                assert!(!c.access_key_id.is_empty() && !c.secret_access_key().is_empty());
            }
        }
        1 => {
            if let Ok(t) = parse_create_token(rest) {
                assert!(t.expires_in > 0);
                let cached = CachedToken::parse(
                    br#"{"accessToken":"old","expiresAt":"2030-01-01T00:00:00Z"}"#,
                )
                .expect("a fixed token parses");
                let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
                let fresh = cached.refreshed(&t, "https://x/start", "us-east-1", now);
                let dir = std::env::temp_dir().join(format!("sso-fuzz-{}", std::process::id()));
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join("t.json");
                fresh.store(&path).expect("writes");
                let back = CachedToken::load(&path).expect("reads back");
                assert_eq!(back.access_token(), fresh.access_token());
                assert_eq!(back.expires_at, fresh.expires_at);
            }
        }
        2 => {
            let header =
                std::str::from_utf8(rest.get(..rest.len().min(40)).unwrap_or_default()).ok();
            let (code, message) = parse_error(header, rest, 400);
            assert!(!code.is_empty() && code.chars().count() <= 64 && !code.contains('\n'));
            assert!(message.chars().count() <= 300 && !message.contains('\n'));
        }
        _ => match CachedToken::parse(rest) {
            Ok(t) => {
                assert!(!t.access_token().is_empty());
                if let Some(g) = t.refresh_grant() {
                    assert!(!g.client_id.is_empty());
                }
            }
            Err(e) => {
                if let Ok(text) = std::str::from_utf8(rest)
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
                    && let Some(tok) = v.get("accessToken").and_then(|t| t.as_str())
                    && tok.len() >= 8
                {
                    // The token may be a word of the message itself
                    // ("expiresA" in "... expiresAt ..."): it counts as
                    // quoted only if the error for another token lacks it.
                    let mut other = v.clone();
                    other["accessToken"] = serde_json::Value::from("q".repeat(tok.len()));
                    let baseline = CachedToken::parse(other.to_string().as_bytes())
                        .err()
                        .unwrap_or_default();
                    if !baseline.contains(tok) {
                        assert!(!e.contains(tok), "an error quotes the access token");
                    }
                }
                // The time spellings alone (RFC 3339 and `...UTC`).
                if let Ok(text) = std::str::from_utf8(rest) {
                    let _ = parse_cache_time(text);
                }
            }
        },
    }
});
