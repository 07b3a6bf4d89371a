//! JSON re-serialisation for doctor's "re-serialised JSON" near miss, written in chunks to a
//! [`Sink`] so that a restyled 1 MiB body is hashed while it is produced (the chunk stays in
//! cache for every keyed state) instead of being materialised per style.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
#[cfg(test)]
use serde_json::Value;

use super::Style;

/// Size at which the writer hands its buffer to the sink.
const CHUNK: usize = 32 * 1024;

/// Where restyled bytes go.
pub(super) trait Sink {
    /// Take the next bytes of the output.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The body as JSON text, checked once for every style: `None` unless it is UTF-8 and JSON.
pub(super) fn json_text(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    // The token rewriter assumes well-formed input.
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    Some(text)
}

/// Write `text` (already checked by [`json_text`]) in `style` to `sink`; `None` when the style
/// cannot be produced.
pub(super) fn write_style(text: &str, style: Style, sink: &mut impl Sink) -> Option<()> {
    if style.sorted() {
        return write_sorted_style(&sorted_compact(text)?, style, sink);
    }
    let mut out = Out {
        buf: Vec::with_capacity(2 * CHUNK),
        sink,
    };
    write_tokens(text, style, &mut out)?;
    out.finish();
    Some(())
}

/// `text` (already checked by [`json_text`]) compact with every object's keys sorted: written
/// once and shared by the sorted styles, since sorting parses the whole body.
pub(super) fn sorted_compact(text: &str) -> Option<Vec<u8>> {
    let v: &RawValue = serde_json::from_str(text).ok()?;
    let mut sorted = Vec::with_capacity(text.len());
    let mut out = Out {
        buf: Vec::with_capacity(2 * CHUNK),
        sink: &mut sorted,
    };
    write_sorted(v, &mut out)?;
    out.finish();
    Some(sorted)
}

/// Write `sorted` (from [`sorted_compact`]) in the sorted `style` to `sink`: the escaping
/// styles re-space and escape it as they would the captured text (key order is all sorting
/// changes); `None` for a style that does not sort.
pub(super) fn write_sorted_style(sorted: &[u8], style: Style, sink: &mut impl Sink) -> Option<()> {
    let tokens = match style {
        Style::SortedCompact => {
            for chunk in sorted.chunks(CHUNK) {
                sink.put(chunk);
            }
            return Some(());
        }
        Style::SortedCompactAscii => Style::CompactAscii,
        Style::SortedPython => Style::Python,
        _ => return None,
    };
    let mut out = Out {
        buf: Vec::with_capacity(2 * CHUNK),
        sink,
    };
    write_tokens(std::str::from_utf8(sorted).ok()?, tokens, &mut out)?;
    out.finish();
    Some(())
}

struct Out<'s, S: Sink> {
    buf: Vec<u8>,
    sink: &'s mut S,
}

impl<S: Sink> Out<'_, S> {
    /// Hand a full buffer over; called between tokens, so the buffer stays near `CHUNK`.
    fn spill(&mut self) {
        if self.buf.len() >= CHUNK {
            self.sink.put(&self.buf);
            self.buf.clear();
        }
    }

    fn finish(self) {
        if !self.buf.is_empty() {
            self.sink.put(&self.buf);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_tokens<S: Sink>(text: &str, style: Style, out: &mut Out<'_, S>) -> Option<()> {
    let (item_sep, key_sep, indent, ascii): (&[u8], &[u8], usize, bool) = match style {
        Style::Compact => (b",", b":", 0, false),
        Style::CompactAscii => (b",", b":", 0, true),
        Style::Python => (b", ", b": ", 0, true),
        Style::Spaced => (b", ", b": ", 0, false),
        Style::Pretty2 => (b",", b": ", 2, false),
        Style::Pretty4 => (b",", b": ", 4, false),
        Style::Pretty2Ascii => (b",", b": ", 2, true),
        Style::Pretty4Ascii => (b",", b": ", 4, true),
        Style::SortedCompact | Style::SortedCompactAscii | Style::SortedPython => return None,
    };
    let newline = |buf: &mut Vec<u8>, depth: usize| {
        if indent > 0 {
            buf.push(b'\n');
            buf.extend(std::iter::repeat_n(b' ', depth * indent));
        }
    };
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        out.spill();
        let b = bytes[i];
        match b {
            b'"' => {
                // Copy the string run by run, escaping non-ASCII if asked.
                out.buf.push(b'"');
                i += 1;
                while i < bytes.len() {
                    let end = bytes[i..]
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || (ascii && c >= 0x80))
                        .map_or(bytes.len(), |p| i + p);
                    out.buf.extend_from_slice(&bytes[i..end]);
                    i = end;
                    out.spill();
                    let Some(&c) = bytes.get(i) else { break };
                    if c == b'\\' {
                        // An ASCII-escaped body (Python's `json.dumps`) restyled for a sender
                        // that signed raw UTF-8 (`JSON.stringify`): non-ASCII escapes become
                        // the characters; quotes, backslashes and controls stay escaped.
                        if !ascii {
                            if let Some((ch, len)) = non_ascii_escape(&bytes[i..]) {
                                let mut utf8 = [0u8; 4];
                                out.buf
                                    .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                                i += len;
                                continue;
                            }
                        }
                        let to = (i + 2).min(bytes.len());
                        out.buf.extend_from_slice(&bytes[i..to]);
                        i = to;
                        continue;
                    }
                    if c == b'"' {
                        out.buf.push(b'"');
                        i += 1;
                        break;
                    }
                    // Non-ASCII (only stops here in an escaping style).
                    let ch = text.get(i..)?.chars().next()?;
                    let mut units = [0u16; 2];
                    for &u in ch.encode_utf16(&mut units).iter() {
                        out.buf.extend_from_slice(&[
                            b'\\',
                            b'u',
                            HEX[usize::from(u >> 12)],
                            HEX[usize::from((u >> 8) & 0xf)],
                            HEX[usize::from((u >> 4) & 0xf)],
                            HEX[usize::from(u & 0xf)],
                        ]);
                    }
                    i += ch.len_utf8();
                }
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let next = bytes[i + 1..]
                    .iter()
                    .position(|c| !c.is_ascii_whitespace())
                    .map(|p| i + 1 + p);
                out.buf.push(b);
                if let Some(n) = next.filter(|&n| bytes[n] == close) {
                    out.buf.push(close);
                    i = n + 1;
                    continue;
                }
                depth += 1;
                newline(&mut out.buf, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out.buf, depth);
                out.buf.push(b);
            }
            b',' => {
                out.buf.extend_from_slice(item_sep);
                newline(&mut out.buf, depth);
            }
            b':' => out.buf.extend_from_slice(key_sep),
            _ => out.buf.push(b),
        }
        i += 1;
    }
    Some(())
}

/// The character a `\\uXXXX` escape (or a `\\uD8XX\\uDCXX` pair) at the start of `s` stands
/// for, and the escape's length, when it is at or above DEL: the characters `JSON.stringify`
/// writes unescaped and Python's `ensure_ascii` escapes. A lone surrogate is `None` (kept as is).
fn non_ascii_escape(s: &[u8]) -> Option<(char, usize)> {
    fn unit(s: &[u8]) -> Option<u32> {
        match s {
            [b'\\', b'u', h @ ..] if h.len() >= 4 => {
                u32::from_str_radix(std::str::from_utf8(&h[..4]).ok()?, 16).ok()
            }
            _ => None,
        }
    }
    let hi = unit(s)?;
    match hi {
        0..=0x7e => None,
        0xd800..=0xdbff => {
            let lo = unit(s.get(6..)?)?;
            if !(0xdc00..=0xdfff).contains(&lo) {
                return None;
            }
            let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            Some((char::from_u32(cp)?, 12))
        }
        _ => Some((char::from_u32(hi)?, 6)),
    }
}

/// Compact, keys sorted by their bytes; strings and numbers as serde_json writes a parsed
/// value. Written from the text, object by object, instead of building a `serde_json::Value`
/// of the whole body (parsing and dropping one was a fifth of doctor's near-miss time). The
/// nesting is at most serde_json's recursion limit (the text was checked by [`json_text`]).
fn write_sorted<S: Sink>(v: &RawValue, out: &mut Out<'_, S>) -> Option<()> {
    out.spill();
    let raw = v.get();
    match raw.as_bytes().first()? {
        b'{' => {
            let Members(mut members) = serde_json::from_str(raw).ok()?;
            // Stable: of equal keys the last one stays last, and wins as in a map.
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.buf.push(b'{');
            let mut first = true;
            for (i, (key, item)) in members.iter().enumerate() {
                if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    out.buf.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut out.buf, key.as_ref()).ok()?;
                out.buf.push(b':');
                write_sorted(item, out)?;
            }
            out.buf.push(b'}');
        }
        b'[' => {
            let items: Vec<&RawValue> = serde_json::from_str(raw).ok()?;
            out.buf.push(b'[');
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    out.buf.push(b',');
                }
                write_sorted(item, out)?;
            }
            out.buf.push(b']');
        }
        // Without escapes serde_json writes a string back as it was.
        b'"' if !raw.contains('\\') => out.buf.extend_from_slice(raw.as_bytes()),
        b'"' => {
            let text: String = serde_json::from_str(raw).ok()?;
            serde_json::to_writer(&mut out.buf, &text).ok()?;
        }
        b't' | b'f' | b'n' => out.buf.extend_from_slice(raw.as_bytes()),
        _ => {
            let n: serde_json::Number = serde_json::from_str(raw).ok()?;
            serde_json::to_writer(&mut out.buf, &n).ok()?;
        }
    }
    Some(())
}

/// An object's members in written order: the key unescaped (borrowed when it has no escapes)
/// and the value's raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Object)
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer this replaced: through a whole `Value`.
    fn sorted_via_value(text: &str) -> Vec<u8> {
        fn write(v: &Value, out: &mut Vec<u8>) {
            match v {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    out.push(b'{');
                    for (i, k) in keys.into_iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                        out.push(b':');
                        write(&map[k], out);
                    }
                    out.push(b'}');
                }
                Value::Array(items) => {
                    out.push(b'[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write(item, out);
                    }
                    out.push(b']');
                }
                other => out.extend_from_slice(other.to_string().as_bytes()),
            }
        }
        let mut out = Vec::new();
        write(&serde_json::from_str(text).unwrap(), &mut out);
        out
    }

    #[test]
    fn sorted_from_the_text_equals_sorted_through_a_value() {
        for text in [
            r#" {"b": 1, "a": ["\u00e9", {}], "c": {"d": null, "C": true}} "#,
            r#"{"k": 1, "k": 2, "j": "x", "k": 3}"#,
            r#"{"n": [1.50, 1e3, -0, 12345678901234567890, -5, 0.1, 2E-3]}"#,
            r#"{"s": "a\/b \"q\" \t \ud83d\ude00 \u0001", "\u0062": "esc key", "a": "é"}"#,
            r#"[[], {}, [{}], "x", false, null, {"z": {"y": {"x": [1, {"b": 0, "a": 1}]}}}]"#,
            "42",
            r#""plain""#,
        ] {
            let mut out = Vec::new();
            let checked = json_text(text.as_bytes()).expect("valid JSON");
            write_style(checked, Style::SortedCompact, &mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(sorted_via_value(text)).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn python_ascii_escapes_restyle_to_the_utf8_a_javascript_sender_signed() {
        // `json.dumps({"name": "José 😀", "q": "\"\\\n\u0001\x7f", "lone": "\ud800"})`
        let python =
            r#"{"name": "Jos\u00e9 \ud83d\ude00", "q": "\"\\\n\u0001\u007f", "lone": "\ud800x"}"#;
        // `JSON.stringify` of the same object (a lone surrogate is written as an escape).
        let javascript =
            "{\"name\":\"José 😀\",\"q\":\"\\\"\\\\\\n\\u0001\u{7f}\",\"lone\":\"\\ud800x\"}";
        let restyle = |text: &str, style| {
            let mut out = Vec::new();
            write_style(json_text(text.as_bytes()).unwrap(), style, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(restyle(python, Style::Compact), javascript);
        // And back: the escaping styles turn the characters into Python's escapes.
        assert_eq!(
            restyle(javascript, Style::Python),
            python.replace("\\u007f", "\u{7f}")
        );
    }
}
