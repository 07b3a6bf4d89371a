//! Opt-in repair of malformed JSON, with a report of every change.
//!
//! See [`repair`]: what it fixes, what it refuses, and its bounds.

use std::fmt;

/// Largest input [`repair`] accepts, in bytes.
pub const MAX_REPAIR_INPUT: usize = 1024 * 1024;

/// Deepest nesting of objects and arrays [`repair`] accepts (counting any inserted wrapper).
///
/// serde_json's default recursion limit of 128 accepts at most 127 nested containers, so every
/// document `repair` returns can be parsed by `serde_json::from_slice`.
pub const MAX_REPAIR_DEPTH: usize = 127;

/// Key under which [`repair`] nests an object that closed before its members ended.
///
/// The real name of the missing key is unknown (SaleAssist's sample lost the line that opened
/// the body of the automation tool's capture wrapper); `"body"` is a documented placeholder.
pub const WRAPPER_KEY: &str = "body";

/// Most fixes [`repair`] makes before giving up with [`RepairError::TooManyFixes`]. A payload
/// broken by a real sender needs a handful; input needing thousands is not a damaged document
/// but noise (`]]]]…`, `1 1 1 …`), and keeping one [`Fix`] per input byte would cost about
/// 50 bytes of memory per input byte.
pub const MAX_REPAIR_FIXES: usize = 1024;

/// The repaired document and the list of fixes applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repaired {
    /// The repaired JSON bytes.
    pub bytes: Vec<u8>,
    /// Every change made, in input order (ordered by [`Fix::offset`]).
    pub fixes: Vec<Fix>,
}

impl Repaired {
    /// `true` when the input was already well-formed JSON and came back unchanged.
    pub fn is_unchanged(&self) -> bool {
        self.fixes.is_empty()
    }
}

/// One change made by [`repair`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fix {
    /// Byte offset in the input where the fix applies (see each [`FixKind`] for which byte).
    pub offset: usize,
    /// What was changed.
    pub kind: FixKind,
}

/// The kinds of defects [`repair`] fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FixKind {
    /// A comma was missing between two members or elements. The offset is where it was
    /// inserted: just after the preceding value.
    InsertedComma,
    /// A comma directly before a closer (or the end of input) was removed. The offset is the
    /// comma's.
    RemovedTrailingComma,
    /// A closer was missing and was inserted. The offset is that of the closer that skipped it,
    /// or the input length when the input ended with containers still open.
    InsertedCloser {
        /// `'}'` or `']'`.
        closer: char,
    },
    /// A closer that matched no open container was removed. The offset is the closer's.
    RemovedCloser {
        /// `'}'` or `']'`.
        closer: char,
    },
    /// The top-level object closed while members still followed it (`{"a": 1}, "b": 2}`): the
    /// line opening a wrapper object was lost. The object is nested under `key` and the members
    /// that follow join the top-level object: `{"key": {"a": 1}, "b": 2}`. The offset is where
    /// `"key": {` was inserted, just after the opening brace of the top-level object.
    InsertedWrapper {
        /// The invented key, always [`WRAPPER_KEY`] for now.
        key: String,
        /// Offset of the `}` that closed the top-level object early and now closes the wrapper.
        closed_at: usize,
    },
}

impl fmt::Display for FixKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixKind::InsertedComma => f.write_str("inserted a missing comma"),
            FixKind::RemovedTrailingComma => f.write_str("removed a trailing comma"),
            FixKind::InsertedCloser { closer } => write!(f, "inserted a missing `{closer}`"),
            FixKind::RemovedCloser { closer } => write!(f, "removed an unmatched `{closer}`"),
            FixKind::InsertedWrapper { key, closed_at } => write!(
                f,
                "wrapped the object closed early at byte {closed_at} under key `{key}`"
            ),
        }
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.kind)
    }
}

/// Why [`repair`] gave up. Every offset is a byte offset in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RepairError {
    /// The input is larger than [`MAX_REPAIR_INPUT`].
    #[error("input too large to repair (limit {MAX_REPAIR_INPUT} bytes)")]
    TooLarge,
    /// Objects and arrays nest deeper than [`MAX_REPAIR_DEPTH`] (an inserted wrapper counts).
    #[error("nesting deeper than {MAX_REPAIR_DEPTH} at byte {offset}")]
    TooDeep {
        /// Where the container that went too deep opens.
        offset: usize,
    },
    /// Repairing would take more than [`MAX_REPAIR_FIXES`] fixes.
    #[error("more than {MAX_REPAIR_FIXES} fixes needed (at byte {offset}); not repairing")]
    TooManyFixes {
        /// Where the fix past the limit would have applied.
        offset: usize,
    },
    /// The input is empty or only whitespace.
    #[error("no JSON value in the input")]
    Empty,
    /// The input ends where a value, key or colon is required (after `:` for example).
    #[error("input ends at byte {offset} where a value, key or colon is required")]
    UnexpectedEnd {
        /// The input length.
        offset: usize,
    },
    /// A string has no closing quote before the end of input or a raw line break.
    #[error("unterminated string starting at byte {offset}")]
    UnterminatedString {
        /// Offset of the opening quote.
        offset: usize,
    },
    /// A backslash inside a string is not followed by a valid JSON escape.
    #[error("invalid escape in string at byte {offset}")]
    InvalidEscape {
        /// Offset of the backslash.
        offset: usize,
    },
    /// A raw control character (below U+0020, other than a line break) inside a string.
    #[error("unescaped control character in string at byte {offset}")]
    ControlCharacter {
        /// Offset of the control character.
        offset: usize,
    },
    /// A number does not follow the JSON grammar (`01`, `1.`, `-`, `1e`, `1.5.3`, `12abc`).
    #[error("invalid number at byte {offset}")]
    InvalidNumber {
        /// Offset of the number's first byte.
        offset: usize,
    },
    /// A byte that no repair explains: a garbage token, a missing value, key or colon.
    #[error("unexpected byte 0x{byte:02x} at byte {offset}")]
    UnexpectedByte {
        /// Offset of the byte.
        offset: usize,
        /// The byte found.
        byte: u8,
    },
    /// A second value follows the complete top-level value and cannot be joined to it.
    #[error("unexpected data after the top-level value at byte {offset}")]
    TrailingData {
        /// Offset of the first byte of the extra data.
        offset: usize,
    },
}

impl RepairError {
    /// Byte offset in the input the error points at, when there is one.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            RepairError::TooLarge | RepairError::Empty => None,
            RepairError::TooDeep { offset }
            | RepairError::TooManyFixes { offset }
            | RepairError::UnexpectedEnd { offset }
            | RepairError::UnterminatedString { offset }
            | RepairError::InvalidEscape { offset }
            | RepairError::ControlCharacter { offset }
            | RepairError::InvalidNumber { offset }
            | RepairError::UnexpectedByte { offset, .. }
            | RepairError::TrailingData { offset } => Some(offset),
        }
    }
}

impl From<RepairError> for crate::ParseError {
    fn from(err: RepairError) -> Self {
        let mut parse = crate::ParseError::new(".", format!("JSON beyond repair: {err}"));
        parse.syntax = true;
        parse
    }
}

impl From<RepairError> for crate::Error {
    fn from(err: RepairError) -> Self {
        crate::Error::Parse(err.into())
    }
}

/// Repair malformed JSON in one linear pass, reporting every change.
///
/// Some vendors publish (and presumably send) JSON that is not well-formed: SaleAssist's own
/// documentation sample misses a comma between two members and the line that opens its body
/// object, so the top-level object closes early and `"headers"` and `"queryString"` follow it
/// (vendor notes §2.8 Q1–Q2). `repair` fixes exactly these classes of defects and nothing else:
///
/// | defect | fix | [`FixKind`] |
/// |---|---|---|
/// | `{"a": 1 "b": 2}`, `[1 2]` | insert the comma after the first value | [`InsertedComma`](FixKind::InsertedComma) |
/// | `{"a": 1,}`, `[1,]` | remove the comma | [`RemovedTrailingComma`](FixKind::RemovedTrailingComma) |
/// | `{"a": [1}` | insert the closers the closer skips | [`InsertedCloser`](FixKind::InsertedCloser) |
/// | `{"a": 1` at the end | append the missing closers | [`InsertedCloser`](FixKind::InsertedCloser) |
/// | `{"a": 1}]`, `{"a": {"b": 1]}` | remove a closer that matches nothing open | [`RemovedCloser`](FixKind::RemovedCloser) |
/// | `{"a": 1}, "b": 2}` | wrap the early-closed object under [`WRAPPER_KEY`] | [`InsertedWrapper`](FixKind::InsertedWrapper) |
///
/// # Guarantees
///
/// - **Strings are never touched.** Escapes are validated exactly; bytes that are not UTF-8 are
///   copied through unchanged (the caller decides whether they are acceptable).
/// - **Nothing is invented.** A missing value, key or colon, a garbage token, an invalid number,
///   an invalid escape or an unterminated string is a [`RepairError`], not a guess.
/// - **Valid JSON is returned byte for byte** with an empty list of fixes.
/// - **Bounded.** One pass over at most [`MAX_REPAIR_INPUT`] bytes, at most
///   [`MAX_REPAIR_FIXES`] fixes (more is an error: memory stays O(input)), a container stack of
///   at most [`MAX_REPAIR_DEPTH`] frames and at most one wrapper (whose insertion copies the output once),
///   so time and memory are linear in the input; it never panics.
/// - **Ok means well-formed.** The output follows the JSON grammar (RFC 8259) and nests no deeper
///   than serde_json's default recursion limit allows. Like the input, it is not checked for
///   UTF-8 inside strings, nor numbers for range (`1e400` is grammatical JSON).
///
/// Repair is a last resort: parse strictly first and repair only when the strict parse reports a
/// syntax error ([`crate::ParseError::syntax`]) and the caller opted in.
///
/// # Example
///
/// ```
/// use chathooks::lenient::{repair, FixKind};
///
/// let fixed = repair(br#"{"a": 1 "b": [2, 3,]"#)?;
/// assert_eq!(fixed.bytes, br#"{"a": 1, "b": [2, 3]}"#);
/// let kinds: Vec<_> = fixed.fixes.iter().map(|f| (f.offset, f.kind.clone())).collect();
/// assert_eq!(kinds, [
///     (7, FixKind::InsertedComma),
///     (18, FixKind::RemovedTrailingComma),
///     (20, FixKind::InsertedCloser { closer: '}' }),
/// ]);
///
/// // A top-level object that closes early while members follow gets a wrapper.
/// let fixed = repair(br#"{"event": "x"}, "headers": {}}"#)?;
/// assert_eq!(fixed.bytes, br#"{"body":{"event": "x"}, "headers": {}}"#);
///
/// // Nothing is invented: a missing value is an error.
/// assert!(repair(br#"{"a": }"#).is_err());
/// # Ok::<(), chathooks::lenient::RepairError>(())
/// ```
pub fn repair(input: &[u8]) -> Result<Repaired, RepairError> {
    if input.len() > MAX_REPAIR_INPUT {
        return Err(RepairError::TooLarge);
    }
    let mut r = Repairer {
        input,
        out: Vec::with_capacity(input.len().saturating_add(16)),
        fixes: Vec::new(),
        stack: Vec::new(),
        objects: 0,
        arrays: 0,
        max_depth: 0,
        top_object: None,
        top_closed_at: 0,
        wrapped: false,
        too_many: None,
    };
    r.run()?;
    if let Some(offset) = r.too_many {
        return Err(RepairError::TooManyFixes { offset });
    }
    r.fixes.sort_by_key(|f| f.offset);
    Ok(Repaired {
        bytes: r.out,
        fixes: r.fixes,
    })
}

/// A comma already copied to the output, removed again if it turns out to be trailing.
#[derive(Clone, Copy)]
struct Comma {
    input: usize,
    output: usize,
}

#[derive(Clone, Copy)]
enum State {
    /// A value is required; `closable` when a closer may come instead (`[` just opened, or a
    /// trailing comma in an array).
    Value {
        closable: bool,
        comma: Option<Comma>,
    },
    /// A key is required; a closer may come instead when the object is empty or after a comma.
    Key { first: bool, comma: Option<Comma> },
    /// A colon is required after a key.
    Colon,
    /// A value ended (at `input`/`output`); a comma, closer or the end of input may come.
    After { input: usize, output: usize },
}

struct Repairer<'a> {
    input: &'a [u8],
    out: Vec<u8>,
    fixes: Vec<Fix>,
    /// Open containers, each stored as its closer (`b'}'` or `b']'`).
    stack: Vec<u8>,
    /// How many `}` and `]` frames are on the stack, so a mismatched closer is classified in O(1).
    objects: usize,
    arrays: usize,
    max_depth: usize,
    /// Input and output offsets just after the top-level `{`, where a wrapper would go.
    top_object: Option<(usize, usize)>,
    top_closed_at: usize,
    wrapped: bool,
    /// Offset of the first fix past [`MAX_REPAIR_FIXES`].
    too_many: Option<usize>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bytes that would continue a number or literal, so `[1true]` or `[01]` is never split.
fn continues_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_')
}

fn starts_value(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
    )
}

impl Repairer<'_> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.input.get(i).copied()
    }

    fn copy(&mut self, from: usize, to: usize) {
        if let Some(bytes) = self.input.get(from..to) {
            self.out.extend_from_slice(bytes);
        }
    }

    fn fix(&mut self, offset: usize, kind: FixKind) {
        // Past the limit nothing more is kept (memory stays O(input)); `repair` then fails.
        if self.fixes.len() < MAX_REPAIR_FIXES {
            self.fixes.push(Fix { offset, kind });
        } else if self.too_many.is_none() {
            self.too_many = Some(offset);
        }
    }

    fn run(&mut self) -> Result<(), RepairError> {
        let mut state = State::Value {
            closable: false,
            comma: None,
        };
        let mut i = 0;
        loop {
            let ws_start = i;
            while self.byte(i).is_some_and(is_ws) {
                i += 1;
            }
            self.copy(ws_start, i);
            let Some(b) = self.byte(i) else {
                return self.finish(state);
            };
            match state {
                State::Value { closable, comma } => match b {
                    b'}' | b']' if closable => {
                        state = self.close(b, i, state, comma)?;
                        i += 1;
                    }
                    _ => {
                        i = self.value(b, i, &mut state)?;
                    }
                },
                State::Key { first, comma } => match b {
                    b'"' => {
                        i = self.string(i)?;
                        state = State::Colon;
                    }
                    b'}' | b']' if first || comma.is_some() => {
                        state = self.close(b, i, state, comma)?;
                        i += 1;
                    }
                    _ => return Err(RepairError::UnexpectedByte { offset: i, byte: b }),
                },
                State::Colon => {
                    if b != b':' {
                        return Err(RepairError::UnexpectedByte { offset: i, byte: b });
                    }
                    self.out.push(b':');
                    i += 1;
                    state = State::Value {
                        closable: false,
                        comma: None,
                    };
                }
                State::After { input, output } => {
                    let top = self.stack.last().copied();
                    match (b, top) {
                        (b'}' | b']', None) => {
                            self.fix(
                                i,
                                FixKind::RemovedCloser {
                                    closer: char::from(b),
                                },
                            );
                            i += 1;
                        }
                        (_, None) => {
                            state = self.wrap(b, i, input, output)?;
                            if b == b',' {
                                self.out.push(b',');
                                state = State::Key {
                                    first: false,
                                    comma: None,
                                };
                                i += 1;
                            }
                        }
                        (b',', Some(_)) => {
                            let comma = Some(Comma {
                                input: i,
                                output: self.out.len(),
                            });
                            self.out.push(b',');
                            i += 1;
                            state = if top == Some(b'}') {
                                State::Key {
                                    first: false,
                                    comma,
                                }
                            } else {
                                State::Value {
                                    closable: true,
                                    comma,
                                }
                            };
                        }
                        (b'}' | b']', Some(_)) => {
                            state = self.close(b, i, state, None)?;
                            i += 1;
                        }
                        (b'"', Some(b'}')) => {
                            self.insert_comma(input, output);
                            state = State::Key {
                                first: false,
                                comma: None,
                            };
                        }
                        (_, Some(b']')) if starts_value(b) => {
                            self.insert_comma(input, output);
                            state = State::Value {
                                closable: false,
                                comma: None,
                            };
                        }
                        _ => return Err(RepairError::UnexpectedByte { offset: i, byte: b }),
                    }
                }
            }
        }
    }

    fn insert_comma(&mut self, input: usize, output: usize) {
        // Only whitespace follows `output`, so the shift is paid once per whitespace run.
        if output <= self.out.len() {
            self.out.insert(output, b',');
        }
        self.fix(input, FixKind::InsertedComma);
    }

    /// Parses one value starting with `b` at `i`, returns the offset after it.
    fn value(&mut self, b: u8, i: usize, state: &mut State) -> Result<usize, RepairError> {
        let end = match b {
            b'{' | b'[' => {
                let closer = if b == b'{' { b'}' } else { b']' };
                if self.stack.len() >= MAX_REPAIR_DEPTH {
                    return Err(RepairError::TooDeep { offset: i });
                }
                let top_level = self.stack.is_empty();
                self.stack.push(closer);
                if closer == b'}' {
                    self.objects += 1;
                } else {
                    self.arrays += 1;
                }
                self.max_depth = self.max_depth.max(self.stack.len());
                self.out.push(b);
                if top_level && closer == b'}' {
                    self.top_object = Some((i + 1, self.out.len()));
                }
                *state = if closer == b'}' {
                    State::Key {
                        first: true,
                        comma: None,
                    }
                } else {
                    State::Value {
                        closable: true,
                        comma: None,
                    }
                };
                return Ok(i + 1);
            }
            b'"' => self.string(i)?,
            b'-' | b'0'..=b'9' => self.number(i)?,
            b't' | b'f' | b'n' => {
                let word: &[u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                let end = i + word.len();
                if self.input.get(i..end) != Some(word)
                    || self.byte(end).is_some_and(continues_token)
                {
                    return Err(RepairError::UnexpectedByte { offset: i, byte: b });
                }
                self.out.extend_from_slice(word);
                end
            }
            _ => {
                return Err(RepairError::UnexpectedByte { offset: i, byte: b });
            }
        };
        *state = State::After {
            input: end,
            output: self.out.len(),
        };
        Ok(end)
    }

    /// Copies the string opening at `start`; returns the offset after its closing quote.
    fn string(&mut self, start: usize) -> Result<usize, RepairError> {
        let mut j = start + 1;
        loop {
            match self.byte(j) {
                None | Some(b'\n' | b'\r') => {
                    return Err(RepairError::UnterminatedString { offset: start })
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    let len = match self.byte(j + 1) {
                        None => return Err(RepairError::UnterminatedString { offset: start }),
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                        Some(b'u')
                            if self
                                .input
                                .get(j + 2..j + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            6
                        }
                        Some(_) => return Err(RepairError::InvalidEscape { offset: j }),
                    };
                    j += len;
                }
                Some(c) if c < 0x20 => return Err(RepairError::ControlCharacter { offset: j }),
                Some(_) => j += 1,
            }
        }
        self.copy(start, j + 1);
        Ok(j + 1)
    }

    /// Copies the number starting at `start` after checking the RFC 8259 grammar.
    fn number(&mut self, start: usize) -> Result<usize, RepairError> {
        let bad = RepairError::InvalidNumber { offset: start };
        let mut j = start;
        if self.byte(j) == Some(b'-') {
            j += 1;
        }
        match self.byte(j) {
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => j = self.digits(j),
            _ => return Err(bad),
        }
        if self.byte(j) == Some(b'.') {
            let k = self.digits(j + 1);
            if k == j + 1 {
                return Err(bad);
            }
            j = k;
        }
        if matches!(self.byte(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(self.byte(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let k = self.digits(j);
            if k == j {
                return Err(bad);
            }
            j = k;
        }
        if self.byte(j).is_some_and(continues_token) {
            return Err(bad);
        }
        self.copy(start, j);
        Ok(j)
    }

    fn digits(&self, mut j: usize) -> usize {
        while self.byte(j).is_some_and(|b| b.is_ascii_digit()) {
            j += 1;
        }
        j
    }

    fn drop_trailing_comma(&mut self, comma: Option<Comma>) {
        if let Some(c) = comma {
            // Only whitespace was copied after the comma, so this shift is cheap.
            if c.output < self.out.len() {
                self.out.remove(c.output);
            }
            self.fix(c.input, FixKind::RemovedTrailingComma);
        }
    }

    fn pop(&mut self) -> Option<u8> {
        let closer = self.stack.pop()?;
        if closer == b'}' {
            self.objects -= 1;
        } else {
            self.arrays -= 1;
        }
        Some(closer)
    }

    /// Handles closer `b` at `i` while the stack is non-empty and a closer is allowed.
    fn close(
        &mut self,
        b: u8,
        i: usize,
        state: State,
        comma: Option<Comma>,
    ) -> Result<State, RepairError> {
        let open = if b == b'}' { self.objects } else { self.arrays };
        if open == 0 {
            self.fix(
                i,
                FixKind::RemovedCloser {
                    closer: char::from(b),
                },
            );
            return Ok(state);
        }
        self.drop_trailing_comma(comma);
        while let Some(top) = self.pop() {
            self.out.push(top);
            if top == b {
                break;
            }
            self.fix(
                i,
                FixKind::InsertedCloser {
                    closer: char::from(top),
                },
            );
        }
        if self.stack.is_empty() {
            self.top_closed_at = i;
        }
        Ok(State::After {
            input: i + 1,
            output: self.out.len(),
        })
    }

    /// After a complete top-level object, `b` at `i` starts more members: nest what was parsed
    /// under [`WRAPPER_KEY`] and reopen the top-level object (once). `b` is `,` or the `"` of a
    /// key that also lacks its comma.
    fn wrap(
        &mut self,
        b: u8,
        i: usize,
        end_in: usize,
        end_out: usize,
    ) -> Result<State, RepairError> {
        let trailing = RepairError::TrailingData { offset: i };
        let Some((at_in, at_out)) = self.top_object else {
            return Err(trailing);
        };
        if self.wrapped || self.max_depth >= MAX_REPAIR_DEPTH {
            return Err(if self.wrapped {
                trailing
            } else {
                RepairError::TooDeep { offset: i }
            });
        }
        let key_follows = match b {
            b'"' => true,
            b',' => {
                let mut k = i + 1;
                while self.byte(k).is_some_and(is_ws) {
                    k += 1;
                }
                self.byte(k) == Some(b'"')
            }
            _ => false,
        };
        if !key_follows {
            return Err(trailing);
        }
        if b == b'"' {
            self.insert_comma(end_in, end_out);
        }
        let head = format!("\"{WRAPPER_KEY}\":{{");
        if at_out <= self.out.len() {
            self.out.splice(at_out..at_out, head.bytes());
        }
        self.fix(
            at_in,
            FixKind::InsertedWrapper {
                key: WRAPPER_KEY.to_owned(),
                closed_at: self.top_closed_at,
            },
        );
        self.wrapped = true;
        self.stack.push(b'}');
        self.objects += 1;
        Ok(State::Key {
            first: false,
            comma: None,
        })
    }

    /// End of input in `state`: close what is open, or fail if something is missing.
    fn finish(&mut self, state: State) -> Result<(), RepairError> {
        let end = self.input.len();
        match state {
            State::After { .. } => {}
            State::Value {
                closable: true,
                comma,
            } => self.drop_trailing_comma(comma),
            State::Key { first, comma } if first || comma.is_some() => {
                self.drop_trailing_comma(comma)
            }
            _ if self.out.iter().all(|&b| is_ws(b)) => return Err(RepairError::Empty),
            _ => return Err(RepairError::UnexpectedEnd { offset: end }),
        }
        while let Some(closer) = self.pop() {
            self.out.push(closer);
            self.fix(
                end,
                FixKind::InsertedCloser {
                    closer: char::from(closer),
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(input: &str) -> (String, Vec<(usize, FixKind)>) {
        let r = repair(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let fixes = r.fixes.into_iter().map(|f| (f.offset, f.kind)).collect();
        (
            String::from_utf8(r.bytes).expect("utf-8 in, utf-8 out"),
            fixes,
        )
    }

    fn closer(c: char) -> FixKind {
        FixKind::InsertedCloser { closer: c }
    }

    #[test]
    fn valid_json_is_untouched() {
        for doc in [
            "0",
            "-0.5e+10",
            " \"a\\\"}]\\u00e9\" ",
            "{}",
            "[]",
            "[[], {}, [{}]]",
            "{\"a\": [1, 2, {\"b\": null}], \"c\": true, \"d\": false}\n",
            "{\"a,b\": \"}, \\\"c\\\": 1\"}",
        ] {
            assert_eq!(fixed(doc), (doc.to_owned(), vec![]), "{doc:?}");
        }
    }

    #[test]
    fn missing_commas() {
        assert_eq!(
            fixed("{\"a\": 1\n \"b\": 2}"),
            (
                "{\"a\": 1,\n \"b\": 2}".into(),
                vec![(7, FixKind::InsertedComma)]
            )
        );
        assert_eq!(
            fixed("[1 \"x\" {} [] true]"),
            (
                "[1, \"x\", {}, [], true]".into(),
                vec![
                    (2, FixKind::InsertedComma),
                    (6, FixKind::InsertedComma),
                    (9, FixKind::InsertedComma),
                    (12, FixKind::InsertedComma),
                ]
            )
        );
        assert_eq!(
            fixed("[\"a\"\"b\"]"),
            ("[\"a\",\"b\"]".into(), vec![(4, FixKind::InsertedComma)])
        );
    }

    #[test]
    fn trailing_commas() {
        assert_eq!(
            fixed("{\"a\": [1, 2 , ] , }"),
            (
                "{\"a\": [1, 2  ]  }".into(),
                vec![
                    (12, FixKind::RemovedTrailingComma),
                    (16, FixKind::RemovedTrailingComma)
                ]
            )
        );
        assert_eq!(
            fixed("[1,"),
            (
                "[1]".into(),
                vec![(2, FixKind::RemovedTrailingComma), (3, closer(']'))]
            )
        );
    }

    #[test]
    fn closers() {
        assert_eq!(
            fixed("{\"a\": [1"),
            (
                "{\"a\": [1]}".into(),
                vec![(8, closer(']')), (8, closer('}'))]
            )
        );
        assert_eq!(
            fixed("{\"a\": [1}"),
            ("{\"a\": [1]}".into(), vec![(8, closer(']'))])
        );
        assert_eq!(
            fixed("[{\"a\": 1]"),
            ("[{\"a\": 1}]".into(), vec![(8, closer('}'))])
        );
        assert_eq!(
            fixed("{\"a\": {\"b\": 1]}"),
            (
                "{\"a\": {\"b\": 1}}".into(),
                vec![
                    (13, FixKind::RemovedCloser { closer: ']' }),
                    (15, closer('}'))
                ]
            )
        );
        assert_eq!(
            fixed("[1]]\n"),
            (
                "[1]\n".into(),
                vec![(3, FixKind::RemovedCloser { closer: ']' })]
            )
        );
        assert_eq!(
            fixed("{\"a\":{}"),
            ("{\"a\":{}}".into(), vec![(7, closer('}'))])
        );
        assert_eq!(
            fixed("[["),
            ("[[]]".into(), vec![(2, closer(']')), (2, closer(']'))])
        );
    }

    #[test]
    fn wrapper() {
        let wrapper = |closed_at| FixKind::InsertedWrapper {
            key: WRAPPER_KEY.into(),
            closed_at,
        };
        assert_eq!(
            fixed("{\"e\": 1}, \"h\": {}}"),
            (
                "{\"body\":{\"e\": 1}, \"h\": {}}".into(),
                vec![(1, wrapper(7))]
            )
        );
        // Also lacking the comma and the final closer.
        assert_eq!(
            fixed("{\"e\": 1} \"h\": 2"),
            (
                "{\"body\":{\"e\": 1}, \"h\": 2}".into(),
                vec![
                    (1, wrapper(7)),
                    (8, FixKind::InsertedComma),
                    (15, closer('}'))
                ]
            )
        );
    }

    #[test]
    fn beyond_repair() {
        use RepairError as E;
        let cases: &[(&str, RepairError)] = &[
            ("", E::Empty),
            (" \n", E::Empty),
            (
                "{\"a\": }",
                E::UnexpectedByte {
                    offset: 6,
                    byte: b'}',
                },
            ),
            (
                "{\"a\" 1}",
                E::UnexpectedByte {
                    offset: 5,
                    byte: b'1',
                },
            ),
            ("{\"a\":", E::UnexpectedEnd { offset: 5 }),
            ("{\"a\"", E::UnexpectedEnd { offset: 4 }),
            (
                "[1,,2]",
                E::UnexpectedByte {
                    offset: 3,
                    byte: b',',
                },
            ),
            (
                "{,}",
                E::UnexpectedByte {
                    offset: 1,
                    byte: b',',
                },
            ),
            (
                "{1: 2}",
                E::UnexpectedByte {
                    offset: 1,
                    byte: b'1',
                },
            ),
            (
                "{\"a\": 1 2}",
                E::UnexpectedByte {
                    offset: 8,
                    byte: b'2',
                },
            ),
            ("[\"abc", E::UnterminatedString { offset: 1 }),
            ("[\"abc\n\"]", E::UnterminatedString { offset: 1 }),
            ("[\"a\\\"]", E::UnterminatedString { offset: 1 }),
            ("[\"\\x\"]", E::InvalidEscape { offset: 2 }),
            ("[\"\\u12g4\"]", E::InvalidEscape { offset: 2 }),
            ("[\"\t\"]", E::ControlCharacter { offset: 2 }),
            ("[01]", E::InvalidNumber { offset: 1 }),
            ("[1.]", E::InvalidNumber { offset: 1 }),
            ("[-]", E::InvalidNumber { offset: 1 }),
            ("[1e+]", E::InvalidNumber { offset: 1 }),
            ("[1.5.3]", E::InvalidNumber { offset: 1 }),
            ("[12abc]", E::InvalidNumber { offset: 1 }),
            (
                "[tru]",
                E::UnexpectedByte {
                    offset: 1,
                    byte: b't',
                },
            ),
            (
                "[truex]",
                E::UnexpectedByte {
                    offset: 1,
                    byte: b't',
                },
            ),
            (
                "[undefined]",
                E::UnexpectedByte {
                    offset: 1,
                    byte: b'u',
                },
            ),
            (
                "'a'",
                E::UnexpectedByte {
                    offset: 0,
                    byte: b'\'',
                },
            ),
            (
                "\u{feff}{}",
                E::UnexpectedByte {
                    offset: 0,
                    byte: 0xef,
                },
            ),
            (
                "]",
                E::UnexpectedByte {
                    offset: 0,
                    byte: b']',
                },
            ),
            ("1 2", E::TrailingData { offset: 2 }),
            ("{} {}", E::TrailingData { offset: 3 }),
            ("{\"a\":1},", E::TrailingData { offset: 7 }),
            ("{\"a\":1}, 5", E::TrailingData { offset: 7 }),
            ("[1], \"b\": 2]", E::TrailingData { offset: 3 }),
            (
                "{\"a\":1}, \"b\":2}, \"c\":3}",
                E::TrailingData { offset: 15 },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(repair(input.as_bytes()).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn non_utf8_in_strings_passes_through() {
        let input = b"{\"a\": \"\xff\xfe\" \"b\": 1}";
        let r = repair(input).expect("repairable");
        assert_eq!(r.bytes, b"{\"a\": \"\xff\xfe\", \"b\": 1}");
        assert_eq!(r.fixes.len(), 1);
        // Outside a string it is garbage.
        assert!(matches!(
            repair(b"[\xff]"),
            Err(RepairError::UnexpectedByte {
                offset: 1,
                byte: 0xff
            })
        ));
    }

    #[test]
    fn limits() {
        assert_eq!(
            repair(&vec![b' '; MAX_REPAIR_INPUT + 1]),
            Err(RepairError::TooLarge)
        );
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let ok = deep(MAX_REPAIR_DEPTH);
        assert_eq!(
            repair(ok.as_bytes()).map(|r| r.bytes),
            Ok(ok.clone().into_bytes())
        );
        serde_json::from_str::<serde_json::Value>(&ok).expect("serde_json accepts the limit");
        let too_deep = deep(MAX_REPAIR_DEPTH + 1);
        assert_eq!(
            repair(too_deep.as_bytes()),
            Err(RepairError::TooDeep {
                offset: MAX_REPAIR_DEPTH
            })
        );
        assert!(serde_json::from_str::<serde_json::Value>(&too_deep).is_err());
        // The wrapper adds a level, so it is refused when the object is already at the limit.
        let nested = format!(
            "{{\"a\":{}{}}}, \"b\": 1}}",
            "[".repeat(MAX_REPAIR_DEPTH - 1),
            "]".repeat(MAX_REPAIR_DEPTH - 1)
        );
        assert!(matches!(
            repair(nested.as_bytes()),
            Err(RepairError::TooDeep { .. })
        ));
        // Unclosed input at the depth limit closes without growing the stack.
        let open = "[".repeat(MAX_REPAIR_DEPTH);
        let r = repair(open.as_bytes()).expect("closable");
        assert_eq!(r.fixes.len(), MAX_REPAIR_DEPTH);
    }

    #[test]
    fn errors_convert_to_a_422_syntax_error() {
        let err = repair(b"{\"a\": }").expect_err("beyond repair");
        assert_eq!(err.offset(), Some(6));
        let parse = crate::ParseError::from(err.clone());
        assert!(parse.syntax);
        assert!(parse.message.contains("byte 6"), "{}", parse.message);
        assert_eq!(crate::Error::from(err).status(), 422);
    }
}
