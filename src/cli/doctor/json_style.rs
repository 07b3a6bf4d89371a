//! JSON re-serialisation for doctor's "re-serialised JSON" near miss, written in chunks to a
//! [`Sink`] so that a restyled 1 MiB body is hashed while it is produced (the chunk stays in
//! cache for every keyed state) instead of being materialised per style.

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
    let mut out = Out {
        buf: Vec::with_capacity(2 * CHUNK),
        sink,
    };
    if style == Style::SortedCompact {
        let v: Value = serde_json::from_str(text).ok()?;
        write_sorted(&v, &mut out)?;
    } else {
        write_tokens(text, style, &mut out)?;
    }
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
        Style::SortedCompact => return None,
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

/// Compact, keys sorted by their bytes; strings and numbers as serde_json writes them.
fn write_sorted<S: Sink>(v: &Value, out: &mut Out<'_, S>) -> Option<()> {
    out.spill();
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.buf.push(b'{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.buf.push(b',');
                }
                serde_json::to_writer(&mut out.buf, k).ok()?;
                out.buf.push(b':');
                write_sorted(item, out)?;
            }
            out.buf.push(b'}');
        }
        Value::Array(items) => {
            out.buf.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.buf.push(b',');
                }
                write_sorted(item, out)?;
            }
            out.buf.push(b']');
        }
        other => serde_json::to_writer(&mut out.buf, other).ok()?,
    }
    Some(())
}
