//! `deserialize_with` functions for messy fields.
//!
//! Each function returns an `Option` and pairs with `#[serde(default)]`, so an absent field, a
//! `null` and a "not set" sentinel all read as `None`:
//!
//! ```
//! use serde::Deserialize;
//! use chathooks::lenient::de;
//!
//! #[derive(Deserialize)]
//! struct Lead {
//!     #[serde(default, deserialize_with = "de::string_or_number")]
//!     pincode: Option<String>,
//!     #[serde(default, deserialize_with = "de::boolish")]
//!     otp_verified: Option<bool>,
//!     #[serde(default, deserialize_with = "de::i64ish")]
//!     day_of_week: Option<i64>,
//!     #[serde(default, deserialize_with = "de::f64ish")]
//!     latitude: Option<f64>,
//! }
//! let lead: Lead = serde_json::from_str(
//!     r#"{"pincode":400615,"otp_verified":"Yes","day_of_week":"4","latitude":"28.4098"}"#,
//! ).unwrap();
//! assert_eq!(lead.pincode.as_deref(), Some("400615"));
//! assert_eq!(lead.otp_verified, Some(true));
//! assert_eq!(lead.day_of_week, Some(4));
//! assert_eq!(lead.latitude, Some(28.4098));
//! ```
//!
//! They are hand-written visitors rather than `serde_with` adapters: `serde_with::PickFirst`
//! buffers every field into serde's private `Content` tree and allocates, and none of its
//! adapters accepts `"Yes"` booleans or JSON that may or may not be wrapped in a string.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, Visitor};

/// `null` (and an `Option`'s `None`) reads as `None`; `Some(x)` is read as `x` by the same
/// visitor. Shared by every `Option`-returning visitor of this module and of `Timestamp`.
macro_rules! null_is_none {
    ($de:lifetime) => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<$de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}
pub(crate) use null_is_none;

/// Text ids and codes sent as strings or numbers: `"400615"`, `400615`, `1.5`. `""` and `null`
/// read as `None`; booleans as `"true"`/`"false"`. Arrays and objects are errors.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok((!v.is_empty()).then(|| v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok((!v.is_empty()).then_some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        null_is_none!('de);
    }
    d.deserialize_any(V)
}

/// Like [`string_or_number`], but the number `0` also reads as `None` (vendors that use `0`
/// for "no id").
pub fn string_or_number_nonzero<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(string_or_number(d)?.filter(|s| s != "0"))
}

/// Integers sent as numbers or decimal strings (`4`, `"4"`, `" 4 "`, `4.0`). `""` and `null`
/// read as `None`; text that is not an integer is an error.
pub fn i64ish<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or a string holding one")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<i64>()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                Ok(Some(v as i64))
            } else {
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
        }
        null_is_none!('de);
    }
    d.deserialize_any(V)
}

/// Like [`i64ish`], but `0` reads as `None` (SaleAssist's `dropped_at: 0`, `end_time: 0`).
pub fn i64ish_nonzero<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(i64ish(d)?.filter(|v| *v != 0))
}

/// Floating-point numbers sent as numbers or strings (`28.4098`, `"28.4098"`). `""` and `null`
/// read as `None`; non-finite values are errors.
pub fn f64ish<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number or a string holding one")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(None);
            }
            match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        null_is_none!('de);
    }
    d.deserialize_any(V)
}

/// Parse the boolean spellings vendors use: `true`/`false`, `1`/`0`, and (any case, trimmed)
/// `"yes"`/`"no"`, `"y"`/`"n"`, `"true"`/`"false"`, `"on"`/`"off"`, `"1"`/`"0"`.
pub fn parse_boolish(text: &str) -> Option<bool> {
    let t = text.trim();
    const TRUE: [&str; 5] = ["yes", "y", "true", "on", "1"];
    const FALSE: [&str; 5] = ["no", "n", "false", "off", "0"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// Booleans as `true`, `1`, `"Yes"`, `"1"`, `"true"` (see [`parse_boolish`]). `""` and `null`
/// read as `None`; other text is an error.
pub fn boolish<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean, 0/1, or yes/no text")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.trim().is_empty() {
                return Ok(None);
            }
            parse_boolish(v)
                .map(Some)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match v {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            match v {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            }
        }
        null_is_none!('de);
    }
    d.deserialize_any(V)
}

/// Strings where `""` means "not set" (SaleAssist's `whatsapp_request_id: ""`).
pub fn non_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()))
}

/// A value that may arrive as JSON or as a string holding JSON (SaleSmartly's `labels`,
/// `custom_field`, `ad_referral`; SaleAssist's `registration_form`). `""` and `null` read as
/// `None`; a string that is not valid JSON for `T` is an error naming the inner problem.
///
/// ```
/// use serde::Deserialize;
/// #[derive(Deserialize)]
/// struct U {
///     #[serde(default, deserialize_with = "chathooks::lenient::de::json_in_string")]
///     labels: Option<Vec<serde_json::Value>>,
/// }
/// let a: U = serde_json::from_str(r#"{"labels":"[{\"id\":1}]"}"#).unwrap();
/// let b: U = serde_json::from_str(r#"{"labels":[{"id":1}]}"#).unwrap();
/// assert_eq!(a.labels, b.labels);
/// ```
pub fn json_in_string<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON, or a string holding JSON")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.trim().is_empty() {
                return Ok(None);
            }
            serde_json::from_str(v)
                .map(Some)
                .map_err(|e| E::custom(format_args!("JSON inside the string: {e}")))
        }
        null_is_none!('de);
        // Anything that is not a string is the value itself: hand it to T.
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            T::deserialize(de::value::BoolDeserializer::new(v)).map(Some)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            T::deserialize(de::value::I64Deserializer::new(v)).map(Some)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            T::deserialize(de::value::U64Deserializer::new(v)).map(Some)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            T::deserialize(de::value::F64Deserializer::new(v)).map(Some)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Some)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// Elements of a heterogeneous array that do not parse as `T` are skipped instead of failing
/// the event. Use it where a vendor mixes shapes and only some matter; keep the raw array too
/// (as `Vec<serde_json::Value>`) when nothing may be lost.
pub fn vec_skip_invalid<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<serde_json::Value>()? {
                if let Ok(t) = serde_json::from_value(v) {
                    out.push(t);
                }
            }
            Ok(out)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Err(de::Error::invalid_type(de::Unexpected::Map, &self))
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// `null` reads as `T::default()`; pair with `#[serde(default)]` so an absent field does too.
/// For payload objects a vendor may omit or send as `null` (an event without `data`).
///
/// ```
/// use serde::Deserialize;
/// #[derive(Deserialize)]
/// struct E {
///     #[serde(default, deserialize_with = "chathooks::lenient::de::null_as_default")]
///     tags: Vec<String>,
/// }
/// let e: E = serde_json::from_str(r#"{"tags":null}"#).unwrap();
/// assert!(e.tags.is_empty());
/// ```
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// A map key that borrows from the input when it has no escapes (no allocation per key).
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

// Newtype readers: the `deserialize_with` functions above as types, so hand-written map
// visitors (`open_struct!`) can call `next_value::<Reader>()` and keep serde_path_to_error's
// path tracking.

/// [`string_or_number`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct StrNum(#[serde(deserialize_with = "string_or_number")] pub Option<String>);

/// [`boolish`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Bool(#[serde(deserialize_with = "boolish")] pub Option<bool>);

/// [`f64ish`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct F64(#[serde(deserialize_with = "f64ish")] pub Option<f64>);

/// [`i64ish`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct I64(#[serde(deserialize_with = "i64ish")] pub Option<i64>);

/// [`crate::lenient::timestamp`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Ts(
    #[serde(deserialize_with = "crate::lenient::timestamp")] pub Option<crate::lenient::Timestamp>,
);

/// [`json_in_string`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent, bound(deserialize = "T: DeserializeOwned"))]
pub(crate) struct JsonStr<T>(#[serde(deserialize_with = "json_in_string")] pub Option<T>);

/// [`non_empty_string`] as a type.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct NonEmpty(#[serde(deserialize_with = "non_empty_string")] pub Option<String>);

/// [`null_as_default`] as a type: `null` reads as `T::default()`.
pub(crate) struct OrDefault<T>(pub T);

impl<'de, T: serde::Deserialize<'de> + Default> serde::Deserialize<'de> for OrDefault<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        null_as_default(d).map(OrDefault)
    }
}

/// Any `Deserialize` type, unchanged.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Plain<T>(pub T);

/// Strings or numbers in an array, as text (`["a@b.c", 8373916383]`); `""`/`null` items dropped.
pub(crate) fn vec_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let items: Option<Vec<StrNum>> = serde::Deserialize::deserialize(d)?;
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.0)
        .collect())
}

/// A struct with typed, lenient well-known fields and an `extra` map that keeps every other
/// field. Hand-written map visitor rather than `#[serde(flatten)]`: flatten buffers the whole
/// object into serde's private `Content` tree (slow, and it loses the JSON path of errors).
///
/// Each field is `"json_key" | "alias"… => name: Type = Reader,` where `Reader` is one of the newtype
/// readers above (`.0` is the value).
///
/// A field whose type is `Option<S>` for another `open_struct!` `S` may end in `=> in_place`
/// (after its reader, which must then be `Plain<Option<S>>`): it reads the same, but straight
/// into the field instead of building `S` on the stack and copying it up through every
/// `Result` and `Option` on the way (large records nest a few of these; the copies showed in
/// profiles as `memmove`).
macro_rules! open_struct {
    (@read $map:ident, $slot:expr, $reader:ty) => {
        $slot = $map.next_value::<$reader>()?.0
    };
    (@read $map:ident, $slot:expr, $reader:ty, in_place) => {
        $map.next_value_seed($crate::lenient::de::InPlace(&mut $slot))?
    };
    (@read_de $d:ident, $slot:expr, $reader:ty) => {
        $slot = <$reader as serde::Deserialize>::deserialize($d)?.0
    };
    (@read_de $d:ident, $slot:expr, $reader:ty, in_place) => {
        serde::de::DeserializeSeed::deserialize($crate::lenient::de::InPlace(&mut $slot), $d)?
    };
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident expecting $exp:literal {
            $(
                $(#[doc = $doc:literal])*
                $key:literal $(| $alias:literal)* => $field:ident : $ty:ty = $reader:ty
                    $(=> $in_place:ident)?,
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Default)]
        #[non_exhaustive]
        $vis struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
            /// Every other field, as sent (nothing is dropped).
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($exp)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::lenient::de::Key<'de>>()? {
                            match key.as_str() {
                                $( $key $(| $alias)* => $crate::lenient::de::open_struct!(
                                    @read map, out.$field, $reader $(, $in_place)?
                                ), )*
                                _ => {
                                    let v = map.next_value::<serde_json::Value>()?;
                                    out.extra.insert(key.into_string(), v);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }

        impl $crate::lenient::de::RecordSlot for $name {
            type Record = Self;
            fn clear(&mut self) {
                *self = Self::default();
            }
            fn reset(&mut self) -> &mut Self {
                *self = Self::default();
                self
            }
        }

        impl $crate::lenient::de::ReadField for $name {
            const EXPECTING: &'static str = $exp;
            fn read_field<'de, D: serde::Deserializer<'de>>(
                &mut self,
                key: $crate::lenient::de::Key<'_>,
                d: D,
            ) -> Result<(), D::Error> {
                match key.as_str() {
                    $( $key $(| $alias)* => {
                        $crate::lenient::de::open_struct!(
                            @read_de d, self.$field, $reader $(, $in_place)?
                        )
                    } )*
                    _ => {
                        let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
                        self.extra.insert(key.into_string(), v);
                    }
                }
                Ok(())
            }
        }
    };
}
pub(crate) use open_struct;

/// Reads one member of an [`open_struct!`] from its own deserializer, exactly as the struct's
/// `Deserialize` reads it from a map: for callers that see the object's members one at a time
/// before they know which struct they belong to (a record sent at the top level of a body).
pub(crate) trait ReadField {
    /// What the struct's `Deserialize` says it expected (in "invalid type" errors).
    const EXPECTING: &'static str;
    /// Read the value of `key` from `d` into `self` (unknown keys into `extra`).
    fn read_field<'de, D: Deserializer<'de>>(&mut self, key: Key<'_>, d: D)
        -> Result<(), D::Error>;
}

/// Where [`InPlace`] reads an [`open_struct!`] record: an `Option` of it (`null` is `None`, as
/// `Plain<Option<T>>` reads it) or the record itself (`null` is its default, as [`OrDefault`]
/// reads it; [`open_struct!`] implements this for each record).
pub(crate) trait RecordSlot {
    /// The record.
    type Record: ReadField;
    /// What `null` leaves in the slot.
    fn clear(&mut self);
    /// The slot holding a default record, to fill.
    fn reset(&mut self) -> &mut Self::Record;
}

impl<T: ReadField + Default> RecordSlot for Option<T> {
    type Record = T;
    fn clear(&mut self) {
        *self = None;
    }
    fn reset(&mut self) -> &mut T {
        self.insert(T::default())
    }
}

/// A boxed record reads as the record: `Option<Box<R>>` is a slot like `Option<R>`, for nested
/// records boxed to keep their parent small (ConversaLabs' `conversation` in a message and
/// `meta` in a conversation: inline, a message envelope was a "large" allocation).
impl<T: ReadField> ReadField for Box<T> {
    const EXPECTING: &'static str = T::EXPECTING;
    fn read_field<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key<'_>,
        d: D,
    ) -> Result<(), D::Error> {
        (**self).read_field(key, d)
    }
}

/// Reads an [`open_struct!`] record into its slot exactly as the slot's type reads it (anything
/// but `null` or an object is the error the record's own `Deserialize` gives), without building
/// the record apart and moving it in.
pub(crate) struct InPlace<'a, S>(pub &'a mut S);

impl<'de, S: RecordSlot> de::DeserializeSeed<'de> for InPlace<'_, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: RecordSlot> Visitor<'de> for InPlace<'_, S> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // A repeated key replaces the whole record, as assigning a new one did.
        d.deserialize_map(Fill(self.0.reset()))
    }
}

/// An [`open_struct!`] read into `.0` (already its default) member by member, as its own map
/// visitor reads it.
pub(crate) struct Fill<'a, T>(pub &'a mut T);

impl<'de, T: ReadField> Visitor<'de> for Fill<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            map.next_value_seed(FieldInto {
                data: &mut *self.0,
                key,
            })?;
        }
        Ok(())
    }
}

/// One member's value into an [`open_struct!`], as its map visitor reads it.
pub(crate) struct FieldInto<'a, 'k, T> {
    /// The record.
    pub data: &'a mut T,
    /// The member's key.
    pub key: Key<'k>,
}

impl<'de, T: ReadField> de::DeserializeSeed<'de> for FieldInto<'_, '_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.data.read_field(self.key, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "string_or_number")]
        s: Option<String>,
        #[serde(default, deserialize_with = "i64ish_nonzero")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "boolish")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "json_in_string")]
        j: Option<serde_json::Value>,
        #[serde(default, deserialize_with = "vec_skip_invalid")]
        v: Vec<u8>,
    }

    fn t(s: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(s)
    }

    open_struct! {
        #[derive(Debug, Clone, PartialEq)]
        struct Inner expecting "struct Inner" {
            "a" => a: Option<String> = StrNum,
        }
    }
    open_struct! {
        #[derive(Debug, Clone, PartialEq)]
        struct Moved expecting "struct Outer" {
            "inner" => inner: Option<Inner> = Plain<Option<Inner>>,
        }
    }
    open_struct! {
        #[derive(Debug, Clone, PartialEq)]
        struct Placed expecting "struct Outer" {
            "inner" => inner: Option<Inner> = Plain<Option<Inner>> => in_place,
        }
    }

    /// A field read `in_place` reads exactly what `Plain<Option<_>>` reads, errors and their
    /// paths included, from a map and through `ReadField`.
    #[test]
    fn in_place_fields_read_as_moved_ones() {
        fn tracked<T: DeserializeOwned>(s: &str) -> Result<T, String> {
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(s))
                .map_err(|e| format!("{} at {}", e.inner(), e.path()))
        }
        for body in [
            r#"{}"#,
            r#"{"inner":null}"#,
            r#"{"inner":{}}"#,
            r#"{"inner":{"a":1,"b":[true]}}"#,
            r#"{"inner":{"a":"x","b":1},"inner":{"c":2}}"#,
            r#"{"inner":{"a":"x"},"inner":null}"#,
            r#"{"inner":"text"}"#,
            r#"{"inner":[1]}"#,
            r#"{"inner":{"a":[1]}}"#,
            r#"{"inner":{"a":"x","a":"y"},"z":3}"#,
        ] {
            let moved = tracked::<Moved>(body).map(|m| (m.inner, m.extra));
            let placed = tracked::<Placed>(body).map(|m| (m.inner, m.extra));
            assert_eq!(placed, moved, "{body}");
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            if let Some(v) = value.get("inner") {
                let text = v.to_string();
                let (mut m, mut p) = (Moved::default(), Placed::default());
                let read_m = m.read_field(
                    Key::Borrowed("inner"),
                    &mut serde_json::Deserializer::from_str(&text),
                );
                let read_p = p.read_field(
                    Key::Borrowed("inner"),
                    &mut serde_json::Deserializer::from_str(&text),
                );
                let shown = |r: Result<(), serde_json::Error>| r.map_err(|e| e.to_string());
                let ok = read_m.is_ok();
                assert_eq!(shown(read_p), shown(read_m), "{body}");
                // After an error the record is dropped unread, so only a success is compared.
                if ok {
                    assert_eq!(p.inner, m.inner, "{body}");
                }
            }
        }
    }

    #[test]
    fn messy_values() {
        let x = t(r#"{"s":"","n":0,"b":"No","j":"","v":[1,"x",2,{}]}"#).unwrap();
        assert_eq!((x.s, x.n, x.b, x.j), (None, None, Some(false), None));
        assert_eq!(x.v, vec![1, 2]);
        let x = t(r#"{"s":12,"n":"7","b":1,"j":"{\"a\":[1]}"}"#).unwrap();
        assert_eq!(x.s.as_deref(), Some("12"));
        assert_eq!(x.n, Some(7));
        assert_eq!(x.b, Some(true));
        assert_eq!(x.j, Some(serde_json::json!({"a":[1]})));
        let x = t(r#"{"s":null,"n":null,"b":null,"j":null,"v":null}"#).unwrap();
        assert!(x.s.is_none() && x.n.is_none() && x.b.is_none() && x.j.is_none());
        assert!(t(r#"{"b":"maybe"}"#).is_err());
        assert!(t(r#"{"n":"four"}"#).is_err());
        assert!(t(r#"{"s":[1]}"#).is_err());
        assert!(t(r#"{"j":"{broken"}"#).is_err());
        assert!(t(r#"{"v":{}}"#).is_err());
    }
}
