//! Verification stage: known-answer vectors, regression tests, property tests, redaction.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathooks::Error;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

mod debug;
mod hmac;
mod props;
mod salesmartly;
mod standard;
mod token;

/// Unix seconds as a `SystemTime`.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Headers from `(name, value)` text pairs.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Assert the error is a 400 (malformed/missing) and return it.
#[track_caller]
pub fn bad_request<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    let e = r.expect_err("expected a 400");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e:?}");
    e
}

/// Assert the error is a 401 (mismatch/stale) and return it.
#[track_caller]
pub fn unauthorized<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    let e = r.expect_err("expected a 401");
    assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{e:?}");
    e
}
