//! The SigV4 `Authorization` header and what the STS front door reads
//! next to it (`gitiam::shared::sigv4::request`): `X-Amz-Date`,
//! `X-Amz-Security-Token`, and the canonical request rebuilt from the raw
//! path, query, headers and body.
//!
//! Modes (first byte): 0 the bytes are the header value; 1 they are a
//! header block, a blank line, `METHOD PATH[?QUERY]`, a line feed and the
//! body, which then goes through the whole `verify` with a fixed secret.
//! Checked: a parsed header written back canonically parses to the same
//! fields; the header map and the bare value give the same answer; an
//! `X-Amz-Date` that parses formats back to itself; and a signature the
//! fuzzer cannot know (HMAC with a secret it never sees) is never accepted.
#![no_main]

use std::time::Duration;

use gitiam::shared::sigv4::request::{
    self, ExpectedScope, SigV4Authorization, SignedRequest, parse_authorization,
    parse_authorization_value,
};
use gitiam::shared::sigv4::{SigningKeyCache, format_amz_date, parse_amz_date};
use gitiam_fuzz::{authorization, first_byte, header_map, split_once};
use libfuzzer_sys::fuzz_target;

fn check(auth: &SigV4Authorization) {
    assert!(!auth.access_key_id.is_empty() && auth.access_key_id.len() <= 128);
    assert!(auth.date.len() == 8 && auth.date.bytes().all(|b| b.is_ascii_digit()));
    assert!(auth.signed_headers.windows(2).all(|w| w[0] < w[1]));
    let canonical = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
        auth.access_key_id,
        auth.date,
        auth.region,
        auth.service,
        auth.signed_headers.join(";"),
        "0".repeat(64)
    );
    let again = parse_authorization_value(&canonical).expect("written back, it parses");
    assert_eq!(again.access_key_id, auth.access_key_id);
    assert_eq!(again.date, auth.date);
    assert_eq!(again.region, auth.region);
    assert_eq!(again.service, auth.service);
    assert_eq!(again.signed_headers, auth.signed_headers);
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = first_byte(data);
    if mode & 1 == 0 {
        let Ok(value) = std::str::from_utf8(rest) else {
            return;
        };
        let direct = parse_authorization_value(value);
        if let Ok(auth) = &direct {
            check(auth);
        }
        if let Some(headers) = authorization(rest) {
            let via_headers = parse_authorization(&headers);
            if headers
                .get(http::header::AUTHORIZATION)
                .is_some_and(|v| v.to_str().is_ok())
            {
                assert_eq!(via_headers.is_ok(), direct.is_ok());
                assert_eq!(
                    via_headers.ok().map(|a| format!("{a:?}")),
                    direct.ok().map(|a| format!("{a:?}"))
                );
            }
        }
        return;
    }

    // A header block, a blank line, the request line and the body.
    let (block, request_and_body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let headers = header_map(block);
    let (request_line, body) = split_once(request_and_body, b'\n');
    let request_line = String::from_utf8_lossy(request_line);
    let (method, target) = request_line.split_once(' ').unwrap_or(("POST", "/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let _ = request::security_token(&headers);
    let time = request::request_time(&headers);
    if let Ok((text, t)) = &time {
        assert_eq!(parse_amz_date(text), Some(*t));
        assert_eq!(
            &format_amz_date(*t),
            text,
            "X-Amz-Date does not format back"
        );
    }
    let Ok(auth) = parse_authorization(&headers) else {
        return;
    };
    check(&auth);
    let req = SignedRequest {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    let _ = request::canonical_request(&auth, &req);
    let scope = ExpectedScope {
        region: &auth.region,
        service: &auth.service,
    };
    let now = match &time {
        Ok((_, t)) => *t,
        Err(_) => std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let cache = SigningKeyCache::new(4);
    let verdict = request::verify(
        &auth,
        &req,
        "fuzz-secret-the-fuzzer-never-sees",
        scope,
        now,
        Duration::from_secs(300),
        &cache,
    );
    assert!(
        verdict.is_err(),
        "a signature made without the secret was accepted"
    );
});
