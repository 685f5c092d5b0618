//! The smart-HTTP route (`gitiam::shared::git::route`): method, the path
//! after `/v1/repos/` and the query string.
//!
//! Input: a method selector byte, then `PATH[?QUERY]`.
//! Checked: an accepted route names a valid repository, the path is exactly
//! the name and the endpoint's sub-path, the method fits the endpoint, and
//! the canonical query the proxy sends on routes to the same endpoint.
#![no_main]

use gitiam::shared::git::{GitEndpoint, RepoName, RouteError, route};
use gitiam_fuzz::first_byte;
use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (selector, rest) = first_byte(data);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let method = match selector % 6 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::HEAD,
        3 => Method::PUT,
        4 => Method::OPTIONS,
        _ => Method::from_bytes(b"PROPFIND").expect("token"),
    };
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    match route(&method, path, query) {
        Ok((name, endpoint)) => {
            assert_eq!(RepoName::parse(name.as_str()).as_ref(), Ok(&name));
            assert_eq!(format!("{name}{}", endpoint.subpath()), path);
            assert!(
                method == endpoint.method()
                    || (method == Method::HEAD && endpoint.method() == Method::GET)
            );
            assert_eq!(
                GitEndpoint::parse(endpoint.subpath(), endpoint.query().as_deref()),
                Some(endpoint)
            );
            let again = route(&endpoint.method(), path, endpoint.query().as_deref());
            assert_eq!(again, Ok((name, endpoint)));
        }
        Err(RouteError::MethodNotAllowed { allow }) => {
            assert_ne!(allow, method);
            assert!(route(&allow, path, query).is_ok());
        }
        Err(RouteError::NotFound) => {}
    }
});
