//! `chathooks parse`: the typed event and the normalised `Event` for a body.

use clap::Args;
use serde_json::{json, Value};

use super::capture::{self, Capture};
use super::{vendors, Failure, Out, Outcome};
use crate::lenient::{self, FixKind};
use crate::ParseError;

/// `chathooks parse` arguments.
#[derive(Args)]
pub struct ParseArgs {
    /// sam, saleassist, salesmartly, buzzi, conversalabs or standard.
    #[arg(long, value_name = "V")]
    vendor: String,
    /// Repair malformed JSON first (missing or trailing commas, unbalanced closers) and list
    /// every fix.
    #[arg(long)]
    repair: bool,
    /// A JSON body, or a capture (its body is parsed); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
}

super::opaque_debug!(ParseArgs);

/// The body of `bytes`: itself, or the body of the capture it is.
fn body_of(bytes: Vec<u8>) -> Result<(Vec<u8>, bool), String> {
    let looks_http = {
        let head = &bytes[..bytes.len().min(256)];
        let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        let line = String::from_utf8_lossy(&head[..line_end]);
        let mut parts = line.split(' ');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(m), Some(_), Some(v)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) && v.trim_end().starts_with("HTTP/1.")
        )
    };
    let looks_json_capture = !looks_http
        && bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| {
            v.get("body_base64").is_some()
                || (v.get("headers").is_some_and(Value::is_array) && v.get("method").is_some())
        });
    if looks_http || looks_json_capture {
        let c = Capture::parse(&bytes).map_err(|e| e.to_string())?;
        return Ok((c.body, true));
    }
    Ok((bytes, false))
}

/// Line (1-based), the line's text and the 0-based byte column of `offset` in `input`.
fn locate(input: &[u8], offset: usize) -> (usize, String, usize) {
    let offset = offset.min(input.len());
    let start = input[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = input[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |p| offset + p);
    let line = input[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let text = String::from_utf8_lossy(&input[start..end])
        .trim_end_matches('\r')
        .to_owned();
    (line, text, offset - start)
}

/// The line text (windowed around the column when long) and a caret line under the byte.
fn caret(text: &str, byte_col: usize) -> (String, String) {
    const WINDOW: usize = 70;
    let col_chars = text
        .char_indices()
        .take_while(|(i, _)| *i < byte_col)
        .count();
    let chars: Vec<char> = text.chars().collect();
    let (from, lead) = if col_chars > WINDOW / 2 && chars.len() > WINDOW {
        (col_chars - WINDOW / 2, "…")
    } else {
        (0, "")
    };
    let to = (from + WINDOW).min(chars.len());
    let tail = if to < chars.len() { "…" } else { "" };
    let shown: String = chars[from..to].iter().collect();
    let pad = lead.chars().count() + col_chars - from;
    (
        format!("{lead}{shown}{tail}").replace('\t', " "),
        format!("{}^", " ".repeat(pad)),
    )
}

fn describe_fix(kind: &FixKind) -> String {
    match kind {
        FixKind::InsertedComma => "inserted a missing comma".into(),
        FixKind::RemovedTrailingComma => "removed a trailing comma".into(),
        FixKind::InsertedCloser { closer } => format!("inserted a missing `{closer}`"),
        FixKind::RemovedCloser { closer } => format!("removed an unmatched `{closer}`"),
        FixKind::InsertedWrapper { key, closed_at } => format!(
            "nested the members before byte {closed_at} under a missing `\"{key}\": {{` (the line opening them was lost)"
        ),
    }
}

/// Run `parse`.
pub fn run(a: ParseArgs, out: Out) -> Outcome {
    let vendor = vendors::platform(&a.vendor)?;
    let mut raw = capture::read_input(&a.file)?;
    // A byte-order mark is no part of the JSON (serde_json stops at it, at line 1 column 1).
    let bom = raw.len() - capture::strip_bom(&raw).len();
    raw.drain(..bom);
    let (input, from_capture) = body_of(raw)?;
    if let Err(e) = std::str::from_utf8(&input) {
        return Err(Failure::Input(format!(
            "{}: not UTF-8 (byte {}), so not JSON",
            if a.file == "-" {
                "standard input"
            } else {
                &a.file
            },
            e.valid_up_to()
        )));
    }
    let mut fixes_json = Vec::new();
    let mut fix_lines = Vec::new();
    let body = if a.repair {
        match lenient::repair(&input) {
            Ok(r) => {
                for f in &r.fixes {
                    let (line, _, col) = locate(&input, f.offset);
                    let text = describe_fix(&f.kind);
                    fix_lines.push(format!(
                        "byte {} (line {line}, column {}): {text}",
                        f.offset,
                        col + 1
                    ));
                    fixes_json.push(json!({
                        "offset": f.offset, "line": line, "column": col + 1, "fix": text,
                    }));
                }
                r.bytes
            }
            Err(e) => {
                let mut err = ParseError::new(".", format!("JSON beyond repair: {e}"));
                err.syntax = true;
                let pos = e.offset().map(|o| {
                    let (line, _, col) = locate(&input, o);
                    (line, col + 1)
                });
                err.position = pos;
                return report_failure(&out, vendor, &input, &err, Some(&[]));
            }
        }
    } else {
        input.clone()
    };
    match vendors::parse(vendor, &body) {
        Ok(p) => {
            let normalized = serde_json::to_value(&p.normalized)?;
            if out.json {
                out.print_json(&json!({
                    "ok": true,
                    "vendor": vendors::cli_name(vendor),
                    "event": p.name,
                    "event_id": p.event_id,
                    "kind": normalized.get("kind"),
                    "typed": p.typed,
                    "normalized": normalized,
                    "repaired": a.repair && !fixes_json.is_empty(),
                    "fixes": fixes_json,
                    "from_capture": from_capture,
                }));
            } else {
                outln!(
                    "{} {} event `{}`{}",
                    out.good("✓ parsed"),
                    vendors::cli_name(vendor),
                    p.name,
                    p.event_id
                        .as_deref()
                        .map(|id| format!(" (id {id})"))
                        .unwrap_or_default()
                );
                if a.repair {
                    if fix_lines.is_empty() {
                        outln!(
                            "\n{}",
                            out.dim("Repair: the JSON was well-formed, nothing changed.")
                        );
                    } else {
                        outln!(
                            "\n{}",
                            out.warn(&format!("Repaired ({} fixes):", fix_lines.len()))
                        );
                        for l in &fix_lines {
                            outln!("  - {l}");
                        }
                    }
                }
                outln!("\n{}", out.dim("Typed event:"));
                outln!("{}", p.typed);
                outln!("\n{}", out.dim("Normalised event (JSON):"));
                outln!("{}", serde_json::to_string_pretty(&normalized)?);
            }
            Ok(())
        }
        Err(e) => {
            let fixes = a.repair.then_some(fix_lines.as_slice());
            // Positions refer to the bytes parsed: the repaired ones when repairing.
            report_failure(&out, vendor, &body, &e, fixes)
        }
    }
}

fn report_failure(
    out: &Out,
    vendor: crate::event::Vendor,
    input: &[u8],
    e: &ParseError,
    fixes: Option<&[String]>,
) -> Outcome {
    let located = e.position.map(|(line, column)| {
        let offset = line_offset(input, line) + column.saturating_sub(1);
        let (line, text, col) = locate(input, offset);
        let (shown, caret) = caret(&text, col);
        (line, col + 1, shown, caret)
    });
    let hint = (e.syntax && fixes.is_none() && lenient::repair(input).is_ok())
        .then_some("`--repair` can fix this JSON (and lists what it changes)");
    if out.json {
        out.print_json(&json!({
            "ok": false,
            "vendor": vendors::cli_name(vendor),
            "error": e.to_string(),
            "path": e.path,
            "message": e.message,
            "syntax": e.syntax,
            "line": located.as_ref().map(|l| l.0),
            "column": located.as_ref().map(|l| l.1),
            "excerpt": located.as_ref().map(|l| l.2.clone()),
            "caret": located.as_ref().map(|l| l.3.clone()),
            "hint": hint,
        }));
    } else {
        outln!(
            "{} as {}: {}",
            out.bad("✗ not parseable"),
            vendors::cli_name(vendor),
            e
        );
        outln!("  path: {}", e.path);
        if let Some((line, col, shown, caret)) = &located {
            let num = line.to_string();
            outln!("  --> line {line}, column {col}");
            outln!("{} |", " ".repeat(num.len() + 1));
            outln!(" {num} | {shown}");
            outln!("{} | {}", " ".repeat(num.len() + 1), out.bad(caret));
        }
        if let Some(f) = fixes {
            for l in f {
                outln!("  repaired: {l}");
            }
        }
        if let Some(h) = hint {
            outln!("  {} {h}", out.warn("hint:"));
        }
    }
    Err(Failure::Check)
}

/// Byte offset where 1-based `line` starts.
fn line_offset(input: &[u8], line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    input
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(line - 2)
        .map_or(input.len(), |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_byte() {
        let input = b"{\n  \"a\": x\n}";
        let (line, text, col) = locate(input, 9);
        assert_eq!(line, 2);
        assert_eq!(text, "  \"a\": x");
        let (shown, c) = caret(&text, col);
        assert_eq!(shown.chars().nth(c.len() - 1), Some('x'));
        let long = "y".repeat(500);
        let (shown, c) = caret(&long, 300);
        assert!(shown.starts_with('…') && c.ends_with('^'));
    }
}
