//! The one error type of the crate, and the HTTP status each rejection maps to.
//!
//! Every stage (verify, parse, dedupe, respond) reports failures through [`Error`]. Each variant
//! documents when it happens and [`Error::status`] gives the status a receiver should answer with,
//! following the table in the crate docs. Framework adapters only translate; they never choose.
//!
//! Errors never contain secret material: not the secret, not the expected signature, not the
//! body. They name the header, query parameter or JSON path that was wrong.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// Where a piece of a delivery came from, for error messages.
pub type Name = Cow<'static, str>;

/// Everything that can go wrong while verifying, parsing or deduplicating a delivery.
///
/// The enum is `#[non_exhaustive]`: match on the variants you care about and fall back on
/// [`Error::status`] for the rest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header the scheme requires is absent (for example `webhook-signature`). HTTP 400.
    #[error("missing header `{0}`")]
    MissingHeader(Name),

    /// A header is present but cannot be used: not visible ASCII, empty, too long, or not in the
    /// scheme's format (also a signature header with no entry that decodes to a signature of
    /// the right length and version). The reason never quotes the expected signature. HTTP 400.
    #[error("invalid header `{name}`: {reason}")]
    InvalidHeader {
        /// The header name.
        name: Name,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A query-string parameter the scheme requires is absent (SaleSmartly's `signature`). HTTP 400.
    #[error("missing query parameter `{0}`")]
    MissingQueryParam(Name),

    /// A query-string parameter is present but malformed. HTTP 400.
    #[error("invalid query parameter `{name}`: {reason}")]
    InvalidQueryParam {
        /// The parameter name.
        name: Name,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The delivery timestamp could not be read: not decimal digits, negative, overflowing, or in
    /// milliseconds where seconds are expected. HTTP 400.
    #[error("invalid timestamp in `{name}`: {reason}")]
    InvalidTimestamp {
        /// Header or parameter that carried the timestamp.
        name: Name,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The timestamp is older than the tolerance allows (a replay or a very late retry). HTTP 401.
    #[error("timestamp is {age_secs} s old, tolerance is {tolerance_secs} s")]
    TimestampTooOld {
        /// How far in the past the timestamp is, in seconds.
        age_secs: u64,
        /// The configured tolerance, in seconds.
        tolerance_secs: u64,
    },

    /// The timestamp is further in the future than the tolerance allows. HTTP 401.
    #[error("timestamp is {ahead_secs} s in the future, tolerance is {tolerance_secs} s")]
    TimestampInFuture {
        /// How far in the future the timestamp is, in seconds.
        ahead_secs: u64,
        /// The configured tolerance, in seconds.
        tolerance_secs: u64,
    },

    /// No well-formed signature in the delivery matched any configured key. (A header holding
    /// no well-formed signature at all, for example only versions this verifier does not
    /// check, is [`Error::InvalidHeader`], 400.) HTTP 401.
    #[error("no signature in `{0}` matches")]
    SignatureMismatch(Name),

    /// The static token header did not hold any accepted value. HTTP 401.
    #[error("token in `{0}` is not accepted")]
    TokenMismatch(Name),

    /// A secret or key given to a verifier or sender is unusable (empty, too short, bad encoding).
    /// This is a configuration error, found at construction time. HTTP 500 if it ever reaches a
    /// response.
    #[error("invalid secret: {0}")]
    InvalidSecret(&'static str),

    /// A builder was given an unusable setting (for example an invalid header name). HTTP 500.
    #[error("invalid configuration: {0}")]
    Config(Cow<'static, str>),

    /// The body is larger than the configured limit. HTTP 413.
    #[error("body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },

    /// `Content-Encoding` names a coding the receiver does not decode (`br`, `zstd`, an unknown
    /// one, a list of codings), or gzip/deflate in a build without the `compression` feature.
    /// Nothing was verified: a signature is never checked against compressed bytes (see
    /// [`encoding`](crate::encoding)). HTTP 415.
    #[error("unsupported `Content-Encoding`: {0}")]
    UnsupportedEncoding(&'static str),

    /// The body does not decode as the gzip or deflate stream its `Content-Encoding` declares
    /// (truncated, corrupt, a bad checksum, bytes after the stream). HTTP 400.
    #[error("body is not valid {coding}: {reason}")]
    InvalidEncoding {
        /// The declared coding: `"gzip"` or `"deflate"`.
        coding: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The body was verified but does not parse as this vendor's payload. HTTP 422; the message
    /// names the JSON path of the bad field.
    #[error(transparent)]
    Parse(#[from] ParseError),

    /// The same delivery is being processed right now by another worker. Answer 409 with
    /// `Retry-After` so the sender retries later; the event is not lost.
    #[error("delivery is already being processed; retry after {} s", retry_after.as_secs())]
    InFlight {
        /// When the current claim's lease ends.
        retry_after: Duration,
    },

    /// The idempotency store or the inbox could not be reached. Answer 503 with
    /// `Retry-After`; never silently accept.
    #[error("store unavailable: {reason}")]
    StoreUnavailable {
        /// A short description of the failure (no credentials).
        reason: String,
        /// Suggested delay before the sender retries.
        retry_after: Duration,
    },
}

impl Error {
    /// The HTTP status a receiver should answer with (see the table in the crate docs).
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MissingHeader(_)
            | Error::InvalidHeader { .. }
            | Error::MissingQueryParam(_)
            | Error::InvalidQueryParam { .. }
            | Error::InvalidTimestamp { .. }
            | Error::InvalidEncoding { .. } => StatusCode::BAD_REQUEST,
            Error::TimestampTooOld { .. }
            | Error::TimestampInFuture { .. }
            | Error::SignatureMismatch(_)
            | Error::TokenMismatch(_) => StatusCode::UNAUTHORIZED,
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Parse(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::InFlight { .. } => StatusCode::CONFLICT,
            Error::StoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::InvalidSecret(_) | Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` delay to send with the response, for 409 and 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::InFlight { retry_after } | Error::StoreUnavailable { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// `true` for failures of the verify stage (400/401): the delivery cannot be trusted.
    /// (A body that does not decode, [`Error::InvalidEncoding`], is 400 too but never reached
    /// the verifier.)
    pub fn is_verification(&self) -> bool {
        !matches!(self, Error::InvalidEncoding { .. })
            && matches!(
                self.status(),
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
            )
    }
}

/// A verified body that does not parse as the vendor's payload.
///
/// Carries the JSON path of the offending field (for example `payload.people_detail.email`),
/// what was expected there and the position (line and column) of the failure. It never carries
/// the body or any value from it: serde's `invalid value: string "jane@example.com", expected …`
/// becomes `invalid value, expected …`, so 422 answers and logs cannot leak an email address or
/// a card number (the path may name keys, which are the payload's field names).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// Dotted path to the field that failed (`"."` when the failure is at the top level).
    pub path: String,
    /// What was wrong and what was expected (serde's message with any quoted value removed),
    /// or why the body was rejected.
    pub message: String,
    /// Byte line and column of the failure when the JSON itself is malformed (syntax error),
    /// `None` for type errors in well-formed JSON.
    pub position: Option<(usize, usize)>,
    /// `true` when the body is not well-formed JSON (a syntax error or truncated input), which
    /// is what [`crate::lenient::repair`] can sometimes fix.
    pub syntax: bool,
}

impl ParseError {
    /// Build a parse error from a message and a path.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError {
            path: path.into(),
            message: message.into(),
            position: None,
            syntax: false,
        }
    }

    /// Build a parse error from a `serde_path_to_error` failure over `serde_json`.
    pub fn from_json(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let syntax = matches!(
            inner.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        let position = (inner.line() > 0).then(|| (inner.line(), inner.column()));
        ParseError {
            path,
            message: redact_values(&inner.to_string()),
            position,
            syntax,
        }
    }
}

/// serde's data errors quote the offending value (`invalid type: string "4111…", expected u64`,
/// ``unknown variant `x`, expected one of …``). Keep what the crate wrote — the kind of error
/// and the `expected …` text of its own visitors — and drop everything between: the value.
/// Syntax errors never quote the input and pass through.
fn redact_values(msg: &str) -> String {
    const MARKERS: [(&str, &str); 5] = [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
        ("invalid length ", "invalid length"),
        ("unknown variant ", "unknown variant"),
        ("unknown field ", "unknown field"),
    ];
    let Some((at, marker, kind)) = MARKERS
        .iter()
        .filter_map(|(m, k)| msg.find(m).map(|i| (i, *m, *k)))
        .min_by_key(|(i, _, _)| *i)
    else {
        return msg.to_owned();
    };
    // The value comes first and the visitor's own `expected …` text last, so the last
    // ", expected " starts text the crate wrote even when the value itself holds one.
    let rest = &msg[at + marker.len()..];
    let tail = match rest.rfind(", expected ") {
        Some(i) => &rest[i..],
        None => match rest.rfind(" at line ") {
            Some(i) => &rest[i..],
            None => "",
        },
    };
    format!("{}{kind}{tail}", &msg[..at])
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unprocessable payload at `{}`: {}",
            self.path, self.message
        )
    }
}

impl std::error::Error for ParseError {}

impl From<serde_json::Error> for ParseError {
    fn from(inner: serde_json::Error) -> Self {
        let syntax = matches!(
            inner.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        let position = (inner.line() > 0).then(|| (inner.line(), inner.column()));
        ParseError {
            path: ".".into(),
            message: redact_values(&inner.to_string()),
            position,
            syntax,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_values() {
        for (msg, want) in [
            (
                r#"invalid type: string "jane@example.com", expected u64 at line 1 column 9"#,
                "invalid type, expected u64 at line 1 column 9",
            ),
            (
                r#"invalid value: string "4111 1111, expected x", expected a date at line 2 column 3"#,
                "invalid value, expected a date at line 2 column 3",
            ),
            (
                "unknown variant `secret`, expected one of `a`, `b`",
                "unknown variant, expected one of `a`, `b`",
            ),
            (
                "unknown field `x@y`, there are no fields at line 1 column 2",
                "unknown field at line 1 column 2",
            ),
            (
                r#"JSON inside the string: invalid type: string "pii", expected u8 at line 1 column 5"#,
                "JSON inside the string: invalid type, expected u8 at line 1 column 5",
            ),
            (
                "invalid length 3, expected 2 elements",
                "invalid length, expected 2 elements",
            ),
            ("missing field `event`", "missing field `event`"),
            (
                "EOF while parsing a value at line 1 column 0",
                "EOF while parsing a value at line 1 column 0",
            ),
        ] {
            assert_eq!(redact_values(msg), want);
        }
    }

    #[test]
    fn statuses_follow_the_design_table() {
        assert_eq!(Error::MissingHeader("x".into()).status(), 400);
        assert_eq!(Error::SignatureMismatch("x".into()).status(), 401);
        assert_eq!(Error::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(Error::Parse(ParseError::new("a.b", "bad")).status(), 422);
        let in_flight = Error::InFlight {
            retry_after: Duration::from_secs(7),
        };
        assert_eq!(in_flight.status(), 409);
        assert_eq!(in_flight.retry_after(), Some(Duration::from_secs(7)));
        let down = Error::StoreUnavailable {
            reason: "io".into(),
            retry_after: Duration::from_secs(1),
        };
        assert_eq!(down.status(), 503);
    }
}
