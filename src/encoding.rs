//! Compressed bodies: `Content-Encoding: gzip` and `deflate` are decoded before verification,
//! with the body limit enforced on the **decoded** bytes; every other coding is refused (415).
//!
//! [`Receiver::receive`](crate::Receiver::receive) and [`Receiver::accept`](crate::Receiver::accept)
//! call [`decode_body`] themselves, so the axum, actix-web and tower adapters and their inbox
//! routes all behave alike. Code that calls a [`Verifier`](crate::Verifier) directly calls
//! [`decode_body`] first.
//!
//! # Which bytes are signed
//!
//! A content coding is a transformation of the representation applied *after* it was produced
//! (RFC 9110 §8.4): a sender signs its payload, then an HTTP client, a proxy or an edge
//! compresses what goes on the wire. So every scheme the crate knows verifies the decoded bytes:
//!
//! | scheme (vendor) | signed bytes | a compressed body is |
//! |---|---|---|
//! | Standard Webhooks v1/v1a (Svix and others) | `id.timestamp.payload`, the payload uncompressed | decoded, then verified |
//! | HMAC-SHA256 presets (GitHub, Slack, Stripe, Sam, Buzzi, ConversaLabs) | the body as produced (with the timestamp where the scheme has one) | decoded, then verified |
//! | SaleSmartly (MD5 over `event` and `data`) | fields of the JSON body | decoded, then verified |
//! | static token (SaleAssist) | nothing; the token proves the sender knew it | decoded, then parsed |
//!
//! None of these senders documents compressing its requests, and none signs compressed bytes;
//! a body that arrives compressed was compressed on its way. A receiver therefore never verifies
//! against compressed bytes: gzip and deflate are decoded, anything else is refused before the
//! verifier runs.
//!
//! # What is accepted
//!
//! | `Content-Encoding` | result |
//! |---|---|
//! | absent, empty or `identity` | the body as sent |
//! | `gzip` or `x-gzip` (RFC 1952, several members allowed) | decoded |
//! | `deflate` (zlib, RFC 1950; raw RFC 1951 deflate as sent by some clients is accepted too) | decoded |
//! | decoded size over the receiver's [`body_limit`](crate::Receiver::body_limit) | **413**, decoding stops at the limit |
//! | truncated, corrupt, bad checksum, bytes after the stream | **400** [`Error::InvalidEncoding`] |
//! | `br`, `zstd`, `compress`, any other coding, or a list of codings (`gzip, gzip`) | **415** [`Error::UnsupportedEncoding`] |
//!
//! Decoding is streaming: the decoder writes into a buffer that never grows past the limit, so
//! a zip bomb (10 MiB of zeros gzipped to 10 KB) costs at most the limit in memory and the time
//! to decode that much. The compressed bytes are bounded by the same limit when they are read.
//!
//! The decoders are `flate2` with its pure-Rust `miniz_oxide` backend, behind the `compression`
//! feature (on by default). Without it, gzip and deflate are refused with 415 as well.
//!
//! For Brotli or zstd, decode in front of the receiver (tower-http's `RequestDecompressionLayer`
//! removes `Content-Encoding` once it has decoded, and the receiver's limit still applies to
//! what it reads); on actix-web, the adapter reads compressed bodies itself, so actix's own
//! decompression never runs on them.
//!
//! ```
//! use std::borrow::Cow;
//! use chathooks::encoding::decode_body;
//! # fn main() -> Result<(), chathooks::Error> {
//! let mut headers = http::HeaderMap::new();
//! assert!(matches!(decode_body(&headers, b"{}", 1024)?, Cow::Borrowed(b"{}")));
//! headers.insert("content-encoding", "br".parse().unwrap());
//! assert_eq!(decode_body(&headers, b"..", 1024).unwrap_err().status(), 415);
//! # Ok(()) }
//! ```

use std::borrow::Cow;

use http::header::CONTENT_ENCODING;
use http::HeaderMap;

use crate::Error;

/// A content coding the crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// The coding `headers` declare: `None` for an uncompressed body, 415 for anything not decoded.
pub(crate) fn coding(headers: &HeaderMap) -> Result<Option<Coding>, Error> {
    let mut found: Option<&str> = None;
    for value in headers.get_all(CONTENT_ENCODING) {
        let text = value.to_str().map_err(|_| {
            Error::UnsupportedEncoding(
                "the header is not visible ASCII; only gzip and deflate are decoded",
            )
        })?;
        let tokens = text.split(',').map(str::trim);
        for token in tokens.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("identity")) {
            if found.replace(token).is_some() {
                return Err(Error::UnsupportedEncoding(
                    "a list of codings is not decoded; send one of gzip or deflate",
                ));
            }
        }
    }
    match found {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("gzip") || t.eq_ignore_ascii_case("x-gzip") => {
            Ok(Some(Coding::Gzip))
        }
        Some(t) if t.eq_ignore_ascii_case("deflate") => Ok(Some(Coding::Deflate)),
        Some(t) => Err(Error::UnsupportedEncoding(unsupported(t))),
    }
}

/// The reason for a coding that is not decoded. Known names are spelt out; anything else is
/// not echoed (it is the sender's text, and it would land in logs and answers).
fn unsupported(token: &str) -> &'static str {
    const KNOWN: [(&str, &str); 4] = [
        (
            "br",
            "`br` (Brotli) is not decoded; send gzip, deflate or an uncompressed body",
        ),
        (
            "zstd",
            "`zstd` is not decoded; send gzip, deflate or an uncompressed body",
        ),
        (
            "compress",
            "`compress` (LZW) is not decoded; send gzip, deflate or an uncompressed body",
        ),
        (
            "x-compress",
            "`compress` (LZW) is not decoded; send gzip, deflate or an uncompressed body",
        ),
    ];
    KNOWN
        .iter()
        .find(|(name, _)| token.eq_ignore_ascii_case(name))
        .map_or(
            "unknown coding; only gzip and deflate are decoded",
            |(_, reason)| reason,
        )
}

/// The body a verifier must see: `body` itself when `headers` declare no content coding, the
/// decoded bytes for `gzip`/`deflate` (see the [module docs](self)).
///
/// Errors: [`Error::BodyTooLarge`] (413) when the decoded body would exceed `limit` (decoding
/// stops there), [`Error::InvalidEncoding`] (400) for a body that does not decode,
/// [`Error::UnsupportedEncoding`] (415) for any other coding.
pub fn decode_body<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>, Error> {
    match coding(headers)? {
        None => Ok(Cow::Borrowed(body)),
        Some(coding) => decode(coding, body, limit).map(Cow::Owned),
    }
}

#[cfg(not(feature = "compression"))]
fn decode(_: Coding, _: &[u8], _: usize) -> Result<Vec<u8>, Error> {
    Err(Error::UnsupportedEncoding(
        "this build decodes no coding (chathooks' `compression` feature is off)",
    ))
}

#[cfg(feature = "compression")]
fn decode(coding: Coding, body: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    use flate2::bufread::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

    let invalid = |reason| Error::InvalidEncoding {
        coding: coding.name(),
        reason,
    };
    match coding {
        Coding::Gzip => read_bounded(&mut MultiGzDecoder::new(body), limit, coding),
        // RFC 9110's "deflate" is the zlib format; some clients send raw deflate. A zlib
        // header is recognisable (its first two bytes are a multiple of 31), raw deflate is not.
        Coding::Deflate if looks_zlib(body) => {
            let mut decoder = ZlibDecoder::new(body);
            let out = read_bounded(&mut decoder, limit, coding)?;
            if !decoder.get_ref().is_empty() {
                return Err(invalid("bytes after the end of the compressed stream"));
            }
            Ok(out)
        }
        Coding::Deflate => {
            let mut decoder = DeflateDecoder::new(body);
            let out = read_bounded(&mut decoder, limit, coding)?;
            if !decoder.get_ref().is_empty() {
                return Err(invalid("bytes after the end of the compressed stream"));
            }
            Ok(out)
        }
    }
}

#[cfg(feature = "compression")]
fn looks_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Read `reader` to its end into a buffer that never holds (or reserves) more than `limit`
/// bytes: one byte over it and decoding stops with 413.
#[cfg(feature = "compression")]
fn read_bounded(
    reader: &mut dyn std::io::Read,
    limit: usize,
    coding: Coding,
) -> Result<Vec<u8>, Error> {
    const CHUNK: usize = 16 * 1024;
    let mut chunk = [0u8; CHUNK];
    let mut out: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let reason = match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => "the compressed stream is truncated",
                    _ => "the compressed data is corrupt (bad header, data or checksum)",
                };
                return Err(Error::InvalidEncoding {
                    coding: coding.name(),
                    reason,
                });
            }
        };
        let len = out.len() + n;
        if len > limit {
            return Err(Error::BodyTooLarge { limit });
        }
        if len > out.capacity() {
            // Geometric growth, capped at the limit: the buffer never outgrows it.
            let cap = out
                .capacity()
                .saturating_mul(2)
                .max(len)
                .max(CHUNK)
                .min(limit);
            out.reserve_exact(cap - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(all(test, feature = "compression"))]
mod tests {
    use std::io::Write;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, value.parse().unwrap());
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn codings() {
        assert_eq!(coding(&HeaderMap::new()).unwrap(), None);
        assert_eq!(coding(&headers("identity")).unwrap(), None);
        assert_eq!(coding(&headers(" GZIP ")).unwrap(), Some(Coding::Gzip));
        assert_eq!(coding(&headers("x-gzip")).unwrap(), Some(Coding::Gzip));
        assert_eq!(coding(&headers("deflate")).unwrap(), Some(Coding::Deflate));
        for bad in ["br", "zstd", "x-foo", "gzip, gzip", "gzip, br", "compress"] {
            let err = coding(&headers(bad)).unwrap_err();
            assert_eq!(err.status(), 415, "{bad}");
            assert!(!err.to_string().contains("x-foo"), "{err}");
        }
        let mut two = headers("gzip");
        two.append(CONTENT_ENCODING, "deflate".parse().unwrap());
        assert_eq!(coding(&two).unwrap_err().status(), 415);
    }

    #[test]
    fn the_buffer_never_outgrows_the_limit() {
        let bomb = gzip(&vec![0u8; 4 * 1024 * 1024]);
        let limit = 100_000;
        let err = decode(Coding::Gzip, &bomb, limit).unwrap_err();
        assert!(
            matches!(err, Error::BodyTooLarge { limit: 100_000 }),
            "{err}"
        );
        let exact = gzip(&vec![7u8; limit]);
        let out = decode(Coding::Gzip, &exact, limit).unwrap();
        assert_eq!(out.len(), limit);
        assert!(out.capacity() <= limit, "{}", out.capacity());
    }
}
