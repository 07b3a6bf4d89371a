//! [`Inbound`]: a borrowed view of one delivery (headers, query string, body bytes).

use std::borrow::Cow;

use http::{HeaderMap, HeaderValue};

/// One webhook delivery as it arrived: headers, optional query string and the exact body bytes.
///
/// `Inbound` only borrows; building one costs nothing. Verifiers read the body as bytes and never
/// require UTF-8 or re-serialise it.
///
/// ```
/// use chathooks::Inbound;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("webhook-id", "msg_1".parse().unwrap());
/// let body = br#"{"type":"ping"}"#;
/// let inbound = Inbound::new(&headers, body).with_query("timestamp=1&signature=abc");
/// assert_eq!(inbound.header_str("webhook-id"), Some("msg_1"));
/// assert_eq!(inbound.query_param("timestamp").as_deref(), Some("1"));
/// ```
///
/// Its `Debug` shows header names, query parameter names and the body's length only: header
/// values carry tokens (`Authorization`, SaleAssist's token is the secret itself), the query
/// carries SaleSmartly's signature, and the body personal data.
#[derive(Clone, Copy)]
pub struct Inbound<'a> {
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    body: &'a [u8],
}

impl std::fmt::Debug for Inbound<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct HeaderNames<'h>(&'h HeaderMap);
        impl std::fmt::Debug for HeaderNames<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.0.keys()).finish()
            }
        }
        struct ParamNames<'q>(&'q str);
        impl std::fmt::Debug for ParamNames<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list()
                    .entries(
                        self.0
                            .split('&')
                            .map(|p| p.split('=').next().unwrap_or_default()),
                    )
                    .finish()
            }
        }
        f.debug_struct("Inbound")
            .field("headers", &HeaderNames(self.headers))
            .field("query", &self.query.map(ParamNames))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl<'a> Inbound<'a> {
    /// A delivery with these headers and body, without a query string.
    pub fn new(headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        Inbound {
            headers,
            query: None,
            body,
        }
    }

    /// Attach the raw query string (without the leading `?`). Accepts `&str` or `Option<&str>`,
    /// so `req.uri().query()` can be passed directly.
    pub fn with_query(mut self, query: impl Into<Option<&'a str>>) -> Self {
        self.query = query.into();
        self
    }

    /// View an `http::Request` whose body is already buffered.
    ///
    /// ```
    /// let req = http::Request::builder()
    ///     .uri("/hook?timestamp=1")
    ///     .header("x-sam-signature", "00")
    ///     .body(b"{}".to_vec())
    ///     .unwrap();
    /// let inbound = chathooks::Inbound::from_request(&req);
    /// assert_eq!(inbound.body(), b"{}");
    /// assert_eq!(inbound.query(), Some("timestamp=1"));
    /// ```
    pub fn from_request<B: AsRef<[u8]>>(req: &'a http::Request<B>) -> Self {
        Inbound {
            headers: req.headers(),
            query: req.uri().query(),
            body: req.body().as_ref(),
        }
    }

    /// The same delivery with another body (the decoded one, for a compressed body).
    pub(crate) fn with_body<'b>(&self, body: &'b [u8]) -> Inbound<'b>
    where
        'a: 'b,
    {
        Inbound {
            headers: self.headers,
            query: self.query,
            body,
        }
    }

    /// All headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The body bytes exactly as received.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The first value of a header (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a HeaderValue> {
        self.headers.get(name)
    }

    /// The first value of a header as visible ASCII text; `None` when absent or not text.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter, percent-decoded (`+` is kept as `+`; see below).
    ///
    /// Parameter names are compared exactly. Because signatures and timestamps are hex, base64
    /// or digits, `+` is *not* turned into a space: base64 uses `+`, and a sender that did not
    /// encode it would otherwise fail verification.
    pub fn query_param(&self, name: &str) -> Option<Cow<'a, str>> {
        query_pairs(self.query?)
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v)
    }
}

/// Split a query string into percent-decoded `(name, value)` pairs, keeping `+` literal.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), Cow::Borrowed("")),
        })
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_and_lengths_never_values_or_the_body() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer s3cr3t-token"),
        );
        h.insert(
            "x-saleassist-token",
            HeaderValue::from_static("the-shared-secret"),
        );
        let body = br#"{"email":"jane@example.com"}"#;
        let i = Inbound::new(&h, body).with_query("timestamp=1&signature=0123abcd");
        let debug = format!("{i:?}");
        for hidden in ["s3cr3t", "the-shared-secret", "0123abcd", "jane@"] {
            assert!(!debug.contains(hidden), "{hidden} in {debug}");
        }
        for shown in [
            "authorization",
            "x-saleassist-token",
            "signature",
            "body_len: 28",
        ] {
            assert!(debug.contains(shown), "{shown} not in {debug}");
        }
        let v = crate::Verified::new("token", body);
        assert!(!format!("{v:?}").contains("jane@"), "{v:?}");
    }

    #[test]
    fn query_decoding_keeps_plus_and_decodes_percent() {
        let h = HeaderMap::new();
        let i = Inbound::new(&h, b"").with_query("a=1%2B2&b=x+y&c&d=%zz&e=%4");
        assert_eq!(i.query_param("a").as_deref(), Some("1+2"));
        assert_eq!(i.query_param("b").as_deref(), Some("x+y"));
        assert_eq!(i.query_param("c").as_deref(), Some(""));
        assert_eq!(i.query_param("d").as_deref(), Some("%zz"));
        assert_eq!(i.query_param("e").as_deref(), Some("%4"));
        assert_eq!(i.query_param("zz"), None);
    }
}
