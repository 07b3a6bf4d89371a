//! The JSON path of a syntax error, for 422 answers that name the field.
//!
//! The parsers skip members they do not type (an event's `data` read as raw JSON before its
//! name is known, `IgnoredAny` while peeking at the name): serde_json then reports a syntax error
//! inside such a member without descending into it, so the tracked path stops at the member
//! (`data`). Only when a parse has already failed with a syntax error, [`precise`] walks the
//! same bytes again, recording every key on the way, and names the member the error is in
//! (`data.email`); a success never pays for it.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::lenient::de::Key;
use crate::ParseError;

/// `err` with its path replaced by the path of the member the syntax error is in, when `err` is
/// a syntax error a walk of `body` reaches at the same position; `err` unchanged otherwise
/// (type errors already carry their precise path).
///
/// A syntax error between two members (a missing comma, a trailing comma, the body cut off
/// after a value) is reported at the member before it: that is where the sender's JSON went
/// wrong.
pub(crate) fn precise(body: &[u8], err: ParseError) -> ParseError {
    if !err.syntax || err.position.is_none() {
        return err;
    }
    let path = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let walked = Walk { path: &path }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match walked {
        Err(e) if e.line() > 0 && Some((e.line(), e.column())) == err.position => ParseError {
            path: render(&path.into_inner()),
            ..err
        },
        _ => err,
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

/// Dotted like `serde_path_to_error` (`data.items[1].email`; `.` for the top level).
fn render(path: &[Segment]) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Visits every value (serde_json's own recursion limit bounds the depth), keeping in `path`
/// the members it is inside; on an error the path is left where the error happened.
struct Walk<'p> {
    path: &'p RefCell<Vec<Segment>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = self.path.borrow().len();
        loop {
            // An error reading the next key leaves the previous member on the path.
            let key = map.next_key::<Key<'de>>()?;
            self.path.borrow_mut().truncate(depth);
            let Some(key) = key else { return Ok(()) };
            self.path.borrow_mut().push(Segment::Key(key.into_string()));
            map.next_value_seed(Walk { path: self.path })?;
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.path.borrow().len();
        for index in 0.. {
            {
                let mut path = self.path.borrow_mut();
                path.truncate(depth);
                path.push(Segment::Index(index));
            }
            if seq.next_element_seed(Walk { path: self.path })?.is_none() {
                break;
            }
        }
        self.path.borrow_mut().truncate(depth);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(body: &str) -> String {
        let err = crate::platform::from_json::<serde::de::IgnoredAny>(body.as_bytes()).unwrap_err();
        err.path
    }

    #[test]
    fn names_the_member_a_syntax_error_is_in() {
        assert_eq!(path_of(r#"{"data":{"email":tru}}"#), "data.email");
        assert_eq!(path_of(r#"{"data":{"email":"a" "phone":1}}"#), "data.email");
        assert_eq!(path_of(r#"{"data":{"email":"a",}}"#), "data.email");
        assert_eq!(
            path_of(r#"{"data":{"items":[1,{"x":"\q"}]}}"#),
            "data.items[1].x"
        );
        assert_eq!(path_of(r#"{"data":{"email":"a""#), "data.email");
        assert_eq!(path_of(r#"{"data":{ x}}"#), "data");
        assert_eq!(path_of(r#"{"a":1} x"#), ".");
        // In an array, the element being read.
        assert_eq!(path_of(r#"[1,2"#), "[2]");
    }

    #[test]
    fn type_errors_and_other_positions_are_left_alone() {
        let err = ParseError::new("data.email", "invalid type");
        assert_eq!(precise(b"{", err.clone()), err);
        // A syntax error the walk does not reach at the same place keeps its own path.
        let mut far = ParseError::from(serde_json::from_str::<u8>("{").unwrap_err());
        far.position = Some((9, 9));
        assert_eq!(precise(br#"{"data":{"#, far.clone()).path, far.path);
    }
}
