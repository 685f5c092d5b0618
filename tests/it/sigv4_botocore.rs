//! Cross-checks `gitiam::shared::sigv4::request::verify` against requests signed by
//! botocore's own `SigV4Auth` (what the AWS CLI sends to STS).

use crate::common;

use gitiam::shared::sigv4::request::{self, ExpectedScope, SignedRequest};
use gitiam::shared::sigv4::{SigningKeyCache, VerifyError, parse_amz_date};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

const SIGN: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.loads(sys.argv[1])
creds = Credentials(a["akid"], a["secret"], a.get("token"))
req = AWSRequest(method=a["method"], url=a["url"], data=a["body"].encode(), headers=a["headers"])
SigV4Auth(creds, a["service"], a["region"]).add_auth(req)
print(json.dumps({"headers": [[k, v] for k, v in req.headers.items()]}))
"#;

fn botocore_available(test: &str) -> bool {
    common::require_tool(test, "python3", &["-c", "import botocore"])
}

struct Signed {
    headers: HeaderMap,
}

fn sign_with_botocore(args: serde_json::Value) -> Signed {
    let out = common::python3_ok(&["-c", SIGN, &args.to_string()]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut headers = HeaderMap::new();
    for pair in v["headers"].as_array().unwrap() {
        let name =
            HeaderName::from_bytes(pair[0].as_str().unwrap().to_ascii_lowercase().as_bytes())
                .unwrap();
        headers.append(
            name,
            HeaderValue::from_str(pair[1].as_str().unwrap()).unwrap(),
        );
    }
    Signed { headers }
}

#[test]
fn verifies_sts_post_signed_by_botocore() {
    if !botocore_available("verifies_sts_post_signed_by_botocore") {
        return;
    }
    let body = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fdeployer&RoleSessionName=ci+job";
    let mut signed = sign_with_botocore(serde_json::json!({
        "akid": "ASIAEXAMPLE0000001",
        "secret": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": "eyJhbGciOi.session-token.value",
        "method": "POST",
        "url": "https://127.0.0.1:8443/",
        "body": body,
        "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "User-Agent": "aws-cli/1 botocore"},
        "service": "sts",
        "region": "us-east-1",
    }));
    // What the HTTP client adds; botocore signed `host` from the URL.
    signed
        .headers
        .insert("host", HeaderValue::from_static("127.0.0.1:8443"));
    let auth = request::parse_authorization(&signed.headers).unwrap();
    assert_eq!(auth.access_key_id, "ASIAEXAMPLE0000001");
    assert!(
        auth.signed_headers
            .contains(&"x-amz-security-token".to_owned())
    );
    assert_eq!(
        request::security_token(&signed.headers).unwrap(),
        Some("eyJhbGciOi.session-token.value")
    );
    let (_, now) = request::request_time(&signed.headers).unwrap();
    let scope = ExpectedScope {
        region: "us-east-1",
        service: "sts",
    };
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &signed.headers,
        body: body.as_bytes(),
    };
    let cache = SigningKeyCache::default();
    let skew = Duration::from_secs(900);
    let _proof = request::verify(
        &auth,
        &req,
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        scope,
        now,
        skew,
        &cache,
    )
    .unwrap();

    // The user agent is not signed: changing it is fine. Changing the
    // content type, the token or the body is not.
    let mut h = signed.headers.clone();
    h.insert("user-agent", HeaderValue::from_static("other"));
    let r = SignedRequest { headers: &h, ..req };
    assert!(
        request::verify(
            &auth,
            &r,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            scope,
            now,
            skew,
            &cache
        )
        .is_ok()
    );
    let mut h = signed.headers.clone();
    h.insert("x-amz-security-token", HeaderValue::from_static("forged"));
    let r = SignedRequest { headers: &h, ..req };
    assert_eq!(
        request::verify(
            &auth,
            &r,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            scope,
            now,
            skew,
            &cache
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let r = SignedRequest {
        body: b"Action=GetCallerIdentity&Version=2011-06-15",
        ..req
    };
    assert_eq!(
        request::verify(
            &auth,
            &r,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            scope,
            now,
            skew,
            &cache
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let late = now + Duration::from_secs(901);
    assert_eq!(
        request::verify(
            &auth,
            &req,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            scope,
            late,
            skew,
            &cache
        )
        .unwrap_err(),
        VerifyError::ClockSkew
    );
}

#[test]
fn verifies_get_with_query_and_odd_path_signed_by_botocore() {
    if !botocore_available("verifies_get_with_query_and_odd_path_signed_by_botocore") {
        return;
    }
    let mut signed = sign_with_botocore(serde_json::json!({
        "akid": "AKIDEXAMPLE",
        "secret": "s3cr3t/with+chars",
        "method": "GET",
        "url": "https://sts.example.com/a%20b/./c/?Version=2011-06-15&Action=GetCallerIdentity&x=~%2Fy&empty=",
        "body": "",
        "headers": {"X-Custom": "  spaced    value  "},
        "service": "sts",
        "region": "eu-west-3",
    }));
    signed
        .headers
        .insert("host", HeaderValue::from_static("sts.example.com"));
    let auth = request::parse_authorization(&signed.headers).unwrap();
    let now = parse_amz_date(signed.headers["x-amz-date"].to_str().unwrap()).unwrap();
    let req = SignedRequest {
        method: "GET",
        path: "/a%20b/./c/",
        query: "Version=2011-06-15&Action=GetCallerIdentity&x=~%2Fy&empty=",
        headers: &signed.headers,
        body: b"",
    };
    let scope = ExpectedScope {
        region: "eu-west-3",
        service: "sts",
    };
    let _proof = request::verify(
        &auth,
        &req,
        "s3cr3t/with+chars",
        scope,
        now,
        Duration::from_secs(900),
        &SigningKeyCache::default(),
    )
    .unwrap();
}
