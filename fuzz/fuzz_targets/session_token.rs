//! Session tokens (`gitiam::server::session::token::verify`): JWTs signed
//! with the STS key set, arriving in the Git username or
//! `X-Amz-Security-Token`.
//!
//! The key set is fixed (two keys, loaded from a key file written at
//! start-up), so the fuzzer can get past the signature: modes (first byte)
//! 0 the bytes are the token; 1 they are the claims, signed here with the
//! active key; 2 they are a JOSE header, a line feed and the claims, signed
//! with the active key.
//! Checked: a token signed with the right key is never called tampered or
//! unknown; whatever verifies carries the key id it was signed with and a
//! temporary access key id, is not expired, re-signed verifies to the same
//! claims, and has a secret.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gitiam::server::session::keys::KeySet;
use gitiam::server::session::token::{
    SessionClaims, TokenError, derive_secret, is_temporary_access_key_id, verify,
};
use gitiam_fuzz::{first_byte, split_once};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const ACTIVE_KID: &str = "fuzz-active";
const ACTIVE_SECRET: [u8; 32] = [0x11; 32];

/// The fixed key set, read by gitiam's own loader from a 0600 file.
fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let json = serde_json::json!({
            "version": 1,
            "active": ACTIVE_KID,
            "keys": [
                {"kid": ACTIVE_KID, "created": 0,
                 "signing_secret": STANDARD.encode(ACTIVE_SECRET),
                 "derivation_secret": STANDARD.encode([0x22u8; 32])},
                {"kid": "fuzz-retired", "created": 0,
                 "signing_secret": STANDARD.encode([0x33u8; 32]),
                 "derivation_secret": STANDARD.encode([0x44u8; 32])},
            ]
        });
        let path: PathBuf =
            std::env::temp_dir().join(format!("gitiam-fuzz-keys-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .expect("key file");
            f.write_all(json.to_string().as_bytes()).expect("key file");
        }
        let keys = KeySet::load(&path).expect("fixed key set loads");
        let _ = std::fs::remove_file(&path);
        keys
    })
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// `header.payload.signature` with HS256 under the active key.
fn sign(header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&ACTIVE_SECRET).expect("HMAC key");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn default_header() -> Vec<u8> {
    format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{ACTIVE_KID}"}}"#).into_bytes()
}

fn check(claims: &SessionClaims, signed_by_active: bool) {
    if signed_by_active {
        assert_eq!(claims.kid, ACTIVE_KID);
    }
    assert!(is_temporary_access_key_id(&claims.akid));
    assert!(claims.exp > 1_800_000_000);
    derive_secret(keys(), claims).expect("a verified token has a secret");
    if claims.kid == ACTIVE_KID {
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let again = verify(keys(), &sign(&default_header(), &payload), now())
            .expect("re-signed claims verify");
        assert_eq!(&again, claims);
    }
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = first_byte(data);
    match mode % 3 {
        0 => {
            let Ok(token) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(claims) = verify(keys(), token, now()) {
                check(&claims, false);
            }
        }
        1 => {
            let token = sign(&default_header(), rest);
            match verify(keys(), &token, now()) {
                Ok(claims) => check(&claims, true),
                Err(TokenError::Tampered | TokenError::UnknownKey) => {
                    panic!("a token signed with the active key was called forged")
                }
                Err(_) => {}
            }
        }
        _ => {
            let (header, payload) = split_once(rest, b'\n');
            let token = sign(header, payload);
            if let Ok(claims) = verify(keys(), &token, now()) {
                check(&claims, true);
            }
        }
    }
});
