//! Captures: one recorded HTTP request, as every command reads it and `listen` writes it.
//!
//! Two formats are read, told apart by the first non-blank byte:
//!
//! - JSON (`{` first): `{"method":"POST","path":"/webhooks/sam","query":"a=1","headers":[["name",
//!   "value"],…],"body_base64":"…"}`; `"body"` as a UTF-8 string is accepted instead of
//!   `"body_base64"`. Missing `method` means `POST`, missing `path` means `/`.
//! - A raw HTTP/1.1 request as saved by a proxy or `nc -l`: request line, headers, blank line,
//!   body (CRLF or bare LF line ends; `Content-Length` and `Transfer-Encoding: chunked` are
//!   honoured).
//!
//! Parsing never panics on any input (a property test feeds it arbitrary bytes) and every
//! failure names what was wrong in one line.

use std::fmt;
use std::io::Read;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::credential::is_credential;

/// Largest capture read from a file or standard input.
pub const MAX_CAPTURE_LEN: usize = 64 * 1024 * 1024;
/// Most headers in one capture.
pub const MAX_HEADERS: usize = 256;

/// One recorded request.
#[derive(Clone, PartialEq, Eq)]
pub struct Capture {
    /// `POST`, usually.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string without `?`, if any.
    pub query: Option<String>,
    /// Headers in the order received, names as received.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// When `listen` received it (unix seconds), if recorded.
    pub received_at: Option<u64>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Captures hold signatures and personal data: show shapes, not values.
        f.debug_struct("Capture")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why bytes are not a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError(pub String);

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaptureError {}

fn err<T>(msg: impl Into<String>) -> Result<T, CaptureError> {
    Err(CaptureError(msg.into()))
}

#[derive(Deserialize)]
struct JsonCapture {
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    body_base64: Option<String>,
    body: Option<String>,
    received_at: Option<u64>,
}

impl Capture {
    /// A `POST /` capture of `body` with these headers.
    pub fn new(headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Capture {
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers,
            body,
            received_at: None,
        }
    }

    /// Parse a capture in either format.
    pub fn parse(bytes: &[u8]) -> Result<Capture, CaptureError> {
        let bytes = strip_bom(bytes);
        if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
            return err(
                "not a capture: it starts with a UTF-16 byte-order mark, so it looks like UTF-16 text (what Windows PowerShell's `>` writes); save it as UTF-8",
            );
        }
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let capture = match first {
            None => return err("empty capture"),
            Some(b'{') => Self::parse_json(bytes)?,
            Some(_) => Self::parse_http(bytes)?,
        };
        capture.validate()?;
        Ok(capture)
    }

    fn parse_json(bytes: &[u8]) -> Result<Capture, CaptureError> {
        if let Err(e) = std::str::from_utf8(bytes) {
            return err(format!(
                "JSON capture is not valid UTF-8 (byte {})",
                e.valid_up_to()
            ));
        }
        let c: JsonCapture = serde_json::from_slice(bytes).map_err(|e| {
            CaptureError(format!(
                "not a JSON capture: {e} (expected {{\"method\",\"path\",\"query\",\"headers\":[[name,value],…],\"body_base64\"}})"
            ))
        })?;
        let body = match (c.body_base64, c.body) {
            (Some(b64), _) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| CaptureError(format!("`body_base64` is not base64: {e}")))?,
            (None, Some(text)) => text.into_bytes(),
            (None, None) => Vec::new(),
        };
        let (path, query) = match c.path {
            // A path that carries its own query string, when `query` is not given separately.
            Some(p) => match (p.split_once('?'), &c.query) {
                (Some((p, q)), None) => (p.to_owned(), Some(q.to_owned())),
                _ => (p, c.query),
            },
            None => ("/".into(), c.query),
        };
        Ok(Capture {
            method: c.method.unwrap_or_else(|| "POST".into()),
            path,
            query: query.filter(|q| !q.is_empty()),
            headers: c.headers,
            body,
            received_at: c.received_at,
        })
    }

    fn parse_http(bytes: &[u8]) -> Result<Capture, CaptureError> {
        // Skip blank lines before the request line (RFC 9112 §2.2 allows them).
        let start = bytes
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(bytes.len());
        let rest = &bytes[start..];
        let Some((head, body)) = split_head(rest) else {
            // Without a blank line the whole input is the head: binary data is not a cut-off
            // request, and saying "truncated" sends people looking for the missing end.
            not_text(rest, start)?;
            return err(
                "truncated capture: no blank line after the headers (raw HTTP) and not JSON",
            );
        };
        not_text(head, start)?;
        let head = std::str::from_utf8(head).map_err(|e| {
            CaptureError(format!(
                "not a capture: the request head is not text (byte {} is not UTF-8)",
                start + e.valid_up_to()
            ))
        })?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v)) if parts.next().is_none() => (m, t, v),
            _ => {
                return err(format!(
                    "not a capture: expected a request line like `POST /path HTTP/1.1`, found `{}`",
                    shorten(request_line)
                ))
            }
        };
        if !version.starts_with("HTTP/1.") {
            return err(format!("unsupported HTTP version `{}`", shorten(version)));
        }
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return err(format!("invalid method `{}`", shorten(method)));
        }
        // Absolute-form targets (`POST http://host/path`, as proxies log them) keep their path.
        let target = match target.find("://") {
            Some(i) => {
                let after = &target[i + 3..];
                after.find('/').map(|j| &after[j..]).unwrap_or("/")
            }
            None => target,
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned()).filter(|q| !q.is_empty())),
            None => (target.to_owned(), None),
        };
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                return err("obsolete folded header lines are not supported");
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                CaptureError(format!("header line without `:`: `{}`", shorten(line)))
            })?;
            headers.push((name.to_owned(), value.trim().to_owned()));
            if headers.len() > MAX_HEADERS {
                return err(format!("more than {MAX_HEADERS} headers"));
            }
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let chunked =
            get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            decode_chunked(body)?
        } else if let Some(len) = get("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| CaptureError(format!("invalid Content-Length `{}`", shorten(len))))?;
            if body.len() < len {
                return err(format!(
                    "truncated capture: Content-Length is {len} but the body has {} bytes",
                    body.len()
                ));
            }
            body[..len].to_vec()
        } else {
            body.to_vec()
        };
        Ok(Capture {
            method: method.to_owned(),
            path,
            query,
            headers,
            body,
            received_at: None,
        })
    }

    fn validate(&self) -> Result<(), CaptureError> {
        if self.headers.len() > MAX_HEADERS {
            return err(format!("more than {MAX_HEADERS} headers"));
        }
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return err(format!("invalid header name `{}`", shorten(name)));
            }
            if HeaderValue::from_bytes(value.as_bytes()).is_err() {
                return err(format!("invalid value for header `{name}`"));
            }
        }
        if !self.path.starts_with('/') {
            return err(format!(
                "path must start with `/`, found `{}`",
                shorten(&self.path)
            ));
        }
        Ok(())
    }

    /// The headers as an `http::HeaderMap` (validated by [`Capture::parse`]; invalid entries of a
    /// hand-built capture are skipped).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                map.append(n, v);
            }
        }
        map
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Path and query, as in a request line.
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// [`target`](Self::target) as the terminal and logs may show it: the values of query
    /// parameters that carry a signature or a credential (SaleSmartly's `signature`, `?token=`)
    /// are `…`, since a signature seen there can be replayed. Saved captures keep them all.
    pub fn target_for_output(&self) -> String {
        match self.query_for_output() {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The query with the values [`target_for_output`](Self::target_for_output) hides.
    pub fn query_for_output(&self) -> Option<String> {
        let q = self.query.as_deref()?;
        Some(
            q.split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if is_credential(name) => format!("{name}=…"),
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&"),
        )
    }

    /// The capture as the JSON format (`body_base64`, plus `body` when the body is UTF-8, for
    /// people reading the file).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&self.body),
        });
        if let Ok(text) = std::str::from_utf8(&self.body) {
            v["body"] = serde_json::Value::String(text.to_owned());
        }
        if let Some(at) = self.received_at {
            v["received_at"] = at.into();
        }
        v
    }

    /// The capture as a raw HTTP/1.1 request (with a `Content-Length` matching the body).
    pub fn to_http(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target()).into_bytes();
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("transfer-encoding")
            {
                continue;
            }
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// A leading UTF-8 byte-order mark removed: Windows editors and PowerShell write one, and it is
/// no part of the JSON or the request.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// An error when `head` (at `offset` in the input) is binary or not UTF-8: a request head is
/// text, with no control characters beyond tab and the line ends.
fn not_text(head: &[u8], offset: usize) -> Result<(), CaptureError> {
    let control = head
        .iter()
        .position(|&b| b.is_ascii_control() && !matches!(b, b'\t' | b'\r' | b'\n'));
    let invalid = std::str::from_utf8(head).err().map(|e| e.valid_up_to());
    match (control, invalid) {
        (Some(at), _) => err(format!(
            "not a capture: binary data (byte {} is 0x{:02x}), neither a JSON capture nor a raw HTTP request",
            offset + at,
            head[at]
        )),
        (None, Some(at)) => err(format!(
            "not a capture: not UTF-8 text (byte {} is 0x{:02x}), neither a JSON capture nor a raw HTTP request; convert it to UTF-8 first",
            offset + at,
            head[at]
        )),
        (None, None) => Ok(()),
    }
}

/// Split at the first blank line (`\r\n\r\n` or `\n\n`): head and body.
fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes.get(i + 1) == Some(&b'\n') {
                return Some((&bytes[..i], &bytes[i + 2..]));
            }
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                return Some((&bytes[..i], &bytes[i + 3..]));
            }
        }
        i += 1;
    }
    None
}

fn decode_chunked(mut input: &[u8]) -> Result<Vec<u8>, CaptureError> {
    let mut out = Vec::new();
    loop {
        let eol = input
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| CaptureError("truncated capture: chunk size line missing".into()))?;
        let line = std::str::from_utf8(&input[..eol])
            .map_err(|_| CaptureError("invalid chunk size line".into()))?
            .trim_end_matches('\r');
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| CaptureError(format!("invalid chunk size `{}`", shorten(size_text))))?;
        input = &input[eol + 1..];
        if size == 0 {
            return Ok(out);
        }
        if size > input.len() || out.len() + size > MAX_CAPTURE_LEN {
            return err(format!(
                "truncated capture: chunk of {size} bytes, {} left",
                input.len()
            ));
        }
        out.extend_from_slice(&input[..size]);
        input = &input[size..];
        input = input
            .strip_prefix(b"\r\n")
            .or_else(|| input.strip_prefix(b"\n"))
            .ok_or_else(|| CaptureError("chunk not followed by a line end".into()))?;
    }
}

/// At most 60 characters of `s`, for error messages.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// Read a file, or standard input for `-`, with a size bound.
pub fn read_input(path: &str) -> Result<Vec<u8>, CaptureError> {
    let mut buf = Vec::new();
    let limit = MAX_CAPTURE_LEN as u64 + 1;
    let res = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        match std::fs::File::open(path) {
            Ok(f) => f.take(limit).read_to_end(&mut buf),
            Err(e) => return err(format!("cannot open `{path}`: {}", io_reason(&e))),
        }
    };
    if let Err(e) = res {
        return err(format!("cannot read `{path}`: {}", io_reason(&e)));
    }
    if buf.len() > MAX_CAPTURE_LEN {
        return err(format!("`{path}` is larger than 64 MiB"));
    }
    Ok(buf)
}

/// Read and parse a capture from a file or `-`.
pub fn load(path: &str) -> Result<Capture, CaptureError> {
    let bytes = read_input(path)?;
    Capture::parse(&bytes).map_err(|e| {
        let name = if path == "-" { "standard input" } else { path };
        CaptureError(format!("{name}: {e}"))
    })
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that only the sender's list had before the two lists became one.
    #[test]
    fn the_senders_credential_names_are_hidden_in_output_too() {
        let json = br#"{"method":"POST","path":"/h","query":"authorization=a1&cookie=b2&x-api-key=c3&client_secret=d4&page=2","headers":[],"body_base64":""}"#;
        let c = Capture::parse(json).unwrap();
        assert_eq!(
            c.query_for_output().as_deref(),
            Some("authorization=…&cookie=…&x-api-key=…&client_secret=…&page=2")
        );
    }

    #[test]
    fn json_and_http_agree() {
        let json = br#"{"method":"POST","path":"/webhooks/sam","query":"a=1&b=2","headers":[["X-Sam-Signature","abc"],["Content-Type","application/json"]],"body_base64":"eyJhIjoxfQ=="}"#;
        let c = Capture::parse(json).unwrap();
        assert_eq!(c.body, br#"{"a":1}"#);
        assert_eq!(c.query.as_deref(), Some("a=1&b=2"));
        let again = Capture::parse(&c.to_http()).unwrap();
        assert_eq!(again.body, c.body);
        assert_eq!(again.path, c.path);
        assert_eq!(again.query, c.query);
        assert_eq!(again.header("x-sam-signature"), Some("abc"));
        let round = Capture::parse(c.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn raw_http_variants() {
        let c = Capture::parse(b"POST /h?x=1 HTTP/1.1\nHost: a\nContent-Length: 2\n\nhi-extra")
            .unwrap();
        assert_eq!(c.body, b"hi");
        let c = Capture::parse(
            b"POST /h HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3\r\n!!!\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(c.body, b"hi!!!");
        let e = Capture::parse(b"POST /h HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort").unwrap_err();
        assert!(e.0.contains("truncated"), "{e}");
        assert!(Capture::parse(b"POST /h HTTP/1.1\r\nHost: a").is_err());
        assert!(Capture::parse(b"\xff\xfe\n\n").is_err());
        assert!(Capture::parse(b"{\"body\":1}").is_err());
        assert!(Capture::parse(b"").is_err());
    }
}
