//! HTTP Basic with CodeCommit Git credentials
//! (`gitiam::server::https::authn::credentials`): username
//! `AKID[%SESSION_TOKEN]`, password `YYYYMMDDTHHMMSSZ` + signature; or
//! an HTTPS Git credential: username `NAME-at-ACCOUNTID`, any password.
//!
//! Modes (first byte): 0 the bytes are the `Authorization` value; 1 they
//! are `username:password`, sent base64-encoded the way Git sends them, and
//! the result must be exactly the username's parts; 2 they are a whole
//! header block (`name: value` lines, repeats allowed). Whenever
//! credentials come out, the access key id is well formed and `Debug`
//! shows nothing of the token or password.
#![no_main]

use base64::Engine as _;
use gitiam::server::https::authn::{BasicCredentials, credentials};
use gitiam::shared::config::git_credential;
use gitiam::shared::sigv4::codecommit;
use gitiam_fuzz::{authorization, first_byte, header_map};
use libfuzzer_sys::fuzz_target;

fn check(creds: &BasicCredentials) {
    if let Some(name) = &creds.service_user_name {
        assert!(creds.access_key_id.is_empty() && creds.session_token.is_none());
        assert!(git_credential::is_service_user_name(name) && name.len() <= 80);
        return;
    }
    let id = &creds.access_key_id;
    assert!(!id.is_empty() && id.len() <= 128);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    let expected = format!(
        "BasicCredentials {{ access_key_id: {id:?}, session_token: {}, .. }}",
        if creds.session_token.is_some() {
            "Some(\"<redacted>\")"
        } else {
            "None"
        }
    );
    assert_eq!(format!("{creds:?}"), expected, "Debug shows a secret");
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = first_byte(data);
    match mode % 3 {
        0 => {
            if let Some(headers) = authorization(rest)
                && let Ok(c) = credentials(&headers)
            {
                check(&c);
            }
        }
        1 => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(rest);
            let headers =
                authorization(format!("Basic {encoded}").as_bytes()).expect("base64 is a value");
            let result = credentials(&headers);
            let Ok(text) = std::str::from_utf8(rest) else {
                assert!(result.is_err(), "non-UTF-8 credentials accepted");
                return;
            };
            let Some((username, password)) = text.split_once(':') else {
                assert!(result.is_err(), "credentials without ':' accepted");
                return;
            };
            if git_credential::is_service_user_name(username) {
                if let Ok(c) = &result {
                    check(c);
                    assert_eq!(c.service_user_name.as_deref(), Some(username));
                }
                return;
            }
            let (id, token) = match username.split_once('%') {
                Some((id, token)) => (id, Some(token)),
                None => (username, None),
            };
            let well_formed =
                !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric());
            match result {
                Ok(c) => {
                    check(&c);
                    assert_eq!(c.access_key_id, id);
                    assert_eq!(c.session_token.as_deref(), token);
                }
                Err(_) => assert!(
                    !well_formed || encoded.len() > 16 * 1024 * 4 / 3 + 4,
                    "well-formed credentials refused"
                ),
            }
            // The password goes to the CodeCommit password parser.
            let _ = codecommit::parse_password(password);
        }
        _ => {
            if let Ok(c) = credentials(&header_map(rest)) {
                check(&c);
            }
        }
    }
});
