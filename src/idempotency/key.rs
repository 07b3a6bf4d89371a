//! [`IdempotencyKey`]: the name under which one delivery is deduplicated.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::Error;

/// Where the id in an [`IdempotencyKey`] came from.
///
/// Each source has its own tag in the key, so an id from one source can never equal a key
/// from another: a vendor event id that happens to read `sha256:…` cannot mark a body-hash
/// key as done, and a caller's own id cannot collide with a signed delivery id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdSource {
    /// A delivery id the signature covers (Standard Webhooks' `webhook-id`). Tag `id`.
    SignedDelivery,
    /// The vendor's event id, read from the verified payload. Tag `ev`.
    Event,
    /// An id chosen by the caller ([`IdempotencyKey::new`]). Tag `key`.
    Custom,
}

impl IdSource {
    fn tag(self) -> &'static str {
        match self {
            IdSource::SignedDelivery => "id",
            IdSource::Event => "ev",
            IdSource::Custom => "key",
        }
    }
}

/// Tag of keys made from a SHA-256 of the signed content ([`IdempotencyKey::content`]).
const CONTENT_TAG: &str = "sha256";

/// The dedupe key of one delivery: `namespace/tag:id`.
///
/// - `namespace` separates senders (and endpoints or tenants) so that two vendors' ids never
///   collide, e.g. `"sam"` or `"standard:billing"`. It is configuration: 1 to
///   [`MAX_NAMESPACE_LEN`](Self::MAX_NAMESPACE_LEN) bytes of ASCII letters, digits and `_ - . :`
///   (never `/`, so the first `/` of a key always ends the namespace).
/// - `tag` says where the id came from ([`IdSource`]): `id` (a signed delivery id), `ev` (the
///   vendor's event id), `key` (the caller's own id), `sha256` (a hash of the signed content).
/// - `id` comes from the request, so any non-empty value is accepted: ids up to
///   [`MAX_VERBATIM_ID_LEN`](Self::MAX_VERBATIM_ID_LEN) bytes of visible ASCII are kept as they
///   are after a `:` (readable in `redis-cli`); longer or unusual ids are replaced by their
///   SHA-256 in hex after a `#` instead, so a key is never longer than `namespace + 72` bytes.
///
/// The encoding is injective: two different `(namespace, source, id)` triples never give the
/// same key (short of a SHA-256 collision between two hashed ids). `("sam", "tenant-42:e")`
/// and `("sam:tenant-42", "e")` are `sam/key:tenant-42:e` and `sam:tenant-42/key:e`.
///
/// ```
/// use chathooks::idempotency::{IdSource, IdempotencyKey};
/// let key = IdempotencyKey::with_source("standard", IdSource::SignedDelivery, "msg_27UH4WbU6Z")?;
/// assert_eq!(key.as_str(), "standard/id:msg_27UH4WbU6Z");
/// assert_eq!(IdempotencyKey::new("sam", "order-7")?.as_str(), "sam/key:order-7");
/// let long = IdempotencyKey::new("sam", &"x".repeat(10_000))?;
/// assert_eq!(long.as_str().len(), "sam/key#".len() + 64);
/// assert!(IdempotencyKey::new("sam", "").is_err());
/// # Ok::<(), chathooks::Error>(())
/// ```
// `Arc`, not `Box`: a fresh delivery's key is held by its claim and copied into the handler's
// `DeliveryInfo`; sharing makes those copies free instead of one allocation each.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(Arc<str>);

impl IdempotencyKey {
    /// Longest namespace, in bytes.
    pub const MAX_NAMESPACE_LEN: usize = 64;
    /// Longest id kept verbatim, in bytes; longer ids are hashed.
    pub const MAX_VERBATIM_ID_LEN: usize = 200;

    /// The key of your own id `id` under `namespace` ([`IdSource::Custom`], tag `key`).
    ///
    /// # Errors
    /// See [`with_source`](Self::with_source).
    pub fn new(namespace: &str, id: &str) -> Result<Self, Error> {
        Self::with_source(namespace, IdSource::Custom, id)
    }

    /// The key of delivery `id` from sender `namespace`, taken from `source`.
    ///
    /// # Errors
    /// - [`Error::Config`] when `namespace` is empty, too long or has other characters than
    ///   ASCII letters, digits and `_ - . :` (a programming error, HTTP 500).
    /// - [`Error::InvalidHeader`] (HTTP 400) when `id` is empty: a delivery without an id cannot
    ///   be deduplicated, and using `""` would merge every such delivery into one.
    pub fn with_source(namespace: &str, source: IdSource, id: &str) -> Result<Self, Error> {
        check_namespace(namespace)?;
        if id.is_empty() {
            return Err(Error::InvalidHeader {
                name: "delivery id".into(),
                reason: "empty delivery id cannot be deduplicated",
            });
        }
        let tag = source.tag();
        let verbatim =
            id.len() <= Self::MAX_VERBATIM_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic());
        if verbatim {
            assemble(&[namespace, "/", tag, ":", id])
        } else {
            let mut hex = [0u8; 64];
            assemble(&[
                namespace,
                "/",
                tag,
                "#",
                hex_digits(&Sha256::digest(id.as_bytes()).into(), &mut hex),
            ])
        }
    }

    /// A key read back from a store, as [`as_str`](Self::as_str) wrote it (for backends that
    /// keep keys as text, such as the inbox stores).
    ///
    /// # Errors
    /// [`Error::Config`] when `stored` is not `namespace/tag:id` (or `namespace/tag#<sha256 hex>`)
    /// with a valid namespace, a known tag and a non-empty id of at most `MAX_VERBATIM_ID_LEN`
    /// visible ASCII bytes.
    pub fn from_stored(stored: &str) -> Result<Self, Error> {
        let bad = || Error::Config("stored idempotency key is not `namespace/tag:id`".into());
        let (ns, rest) = stored.split_once('/').ok_or_else(bad)?;
        check_namespace(ns).map_err(|_| bad())?;
        let cut = rest.find([':', '#']).ok_or_else(bad)?;
        let (tag, sep, id) = (&rest[..cut], rest.as_bytes()[cut], &rest[cut + 1..]);
        let known = [IdSource::SignedDelivery, IdSource::Event, IdSource::Custom]
            .iter()
            .any(|s| s.tag() == tag)
            || (tag == CONTENT_TAG && sep == b':');
        let hex64 = |id: &str| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let id_ok = match sep {
            b'#' => hex64(id),
            _ if tag == CONTENT_TAG => hex64(id),
            _ => {
                !id.is_empty()
                    && id.len() <= Self::MAX_VERBATIM_ID_LEN
                    && id.bytes().all(|b| b.is_ascii_graphic())
            }
        };
        if !(known && id_ok) {
            return Err(bad());
        }
        Ok(IdempotencyKey(stored.into()))
    }

    /// The key of a delivery that carries no usable id, from the SHA-256 of exactly the content
    /// its signature covers ([`Verified::signed_content_sha256`](crate::Verified::signed_content_sha256)):
    /// `namespace/sha256:<hex>`.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `namespace` (see [`with_source`](Self::with_source)).
    pub fn content(namespace: &str, sha256: &[u8; 32]) -> Result<Self, Error> {
        check_namespace(namespace)?;
        let mut hex = [0u8; 64];
        assemble(&[
            namespace,
            "/",
            CONTENT_TAG,
            ":",
            hex_digits(sha256, &mut hex),
        ])
    }

    /// The key as stored (`namespace/tag:id`, without any store prefix).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id part: what follows the tag, as the key keeps it (the id itself, or the SHA-256
    /// hex of a hashed id or of the signed content).
    ///
    /// ```
    /// use chathooks::idempotency::{IdSource, IdempotencyKey};
    /// let key = IdempotencyKey::with_source("sam", IdSource::Event, "lead.captured:l_1@2026")?;
    /// assert_eq!(key.id(), "lead.captured:l_1@2026");
    /// assert_eq!(IdempotencyKey::new("standard:billing", "order-7")?.id(), "order-7");
    /// # Ok::<(), chathooks::Error>(())
    /// ```
    pub fn id(&self) -> &str {
        // The namespace never holds `/`, and the tag never holds `:` or `#`.
        let rest = self.0.split_once('/').map_or(&*self.0, |(_, rest)| rest);
        rest.find([':', '#']).map_or(rest, |cut| &rest[cut + 1..])
    }
}

/// The key from its parts, assembled on the stack and then allocated once: keys are built for
/// every delivery (`format!` would grow a `String` several times, then copy it).
fn assemble(parts: &[&str]) -> Result<IdempotencyKey, Error> {
    // Namespace ≤ 64 bytes, tag ≤ 6, two separators, id ≤ 200 (or 64 hex digits).
    let mut buf =
        [0u8; IdempotencyKey::MAX_NAMESPACE_LEN + 8 + IdempotencyKey::MAX_VERBATIM_ID_LEN];
    let mut len = 0;
    for part in parts {
        let end = len + part.len();
        let Some(slot) = buf.get_mut(len..end) else {
            return Err(Error::Config("idempotency key too long".into()));
        };
        slot.copy_from_slice(part.as_bytes());
        len = end;
    }
    // Whole `&str`s were copied, so the bytes are UTF-8; the error arm keeps this panic-free.
    let key = std::str::from_utf8(&buf[..len])
        .map_err(|_| Error::Config("idempotency key is not UTF-8".into()))?;
    Ok(IdempotencyKey(Arc::from(key)))
}

/// `bytes` as 64 lowercase hex digits in `out`.
fn hex_digits<'a>(bytes: &[u8; 32], out: &'a mut [u8; 64]) -> &'a str {
    // 32 bytes always make 64 digits, which are ASCII: neither fallback is ever taken.
    let _ = hex::encode_to_slice(bytes, out);
    std::str::from_utf8(out).unwrap_or("")
}

pub(crate) fn check_namespace(namespace: &str) -> Result<(), Error> {
    let ok = !namespace.is_empty()
        && namespace.len() <= IdempotencyKey::MAX_NAMESPACE_LEN
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(
            "idempotency namespace must be 1-64 bytes of ASCII letters, digits and `_-.:`".into(),
        ))
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdempotencyKey").field(&self.0).finish()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_and_hashed_ids_never_collide() {
        let plain = IdempotencyKey::new("ns", "abc").unwrap();
        assert_eq!(plain.as_str(), "ns/key:abc");
        let hashed = IdempotencyKey::new("ns", "a b").unwrap();
        assert!(hashed.as_str().starts_with("ns/key#"));
        // An id that looks like a hashed key stays verbatim, after `:` not `#`.
        let tail = &hashed.as_str()["ns/key#".len()..];
        let spoof = IdempotencyKey::new("ns", &format!("#{tail}")).unwrap();
        assert_ne!(spoof, hashed);
        let unicode = IdempotencyKey::new("ns", "ключ").unwrap();
        assert_eq!(unicode.as_str().len(), "ns/key#".len() + 64);
        let at_limit = "y".repeat(IdempotencyKey::MAX_VERBATIM_ID_LEN);
        assert_eq!(
            IdempotencyKey::new("ns", &at_limit).unwrap().as_str(),
            format!("ns/key:{at_limit}")
        );
    }

    #[test]
    fn stored_keys_read_back() {
        for key in [
            IdempotencyKey::new("standard:billing", "msg:1").unwrap(),
            IdempotencyKey::new("sam", &"x".repeat(500)).unwrap(),
        ] {
            assert_eq!(IdempotencyKey::from_stored(key.as_str()).unwrap(), key);
        }
        for key in [
            IdempotencyKey::with_source("ns", IdSource::Event, "#e:1").unwrap(),
            IdempotencyKey::content("ns", &[7; 32]).unwrap(),
        ] {
            assert_eq!(IdempotencyKey::from_stored(key.as_str()).unwrap(), key);
        }
        for bad in [
            "",
            "nocolon",
            ":id",
            "ns:",
            "n s:id",
            "ns:a b",
            "ns/key:",
            "ns/zz:id",
            "ns/key:a b",
            "ns/key#abc",
            "ns/sha256:xyz",
            "/key:id",
            "n s/key:id",
        ] {
            assert!(IdempotencyKey::from_stored(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_namespaces_and_empty_ids_are_errors() {
        for ns in ["", "a b", "ns\n", "a/b", &"n".repeat(65)] {
            let err = IdempotencyKey::new(ns, "id").unwrap_err();
            assert_eq!(err.status(), 500, "{ns:?}");
            assert_eq!(
                IdempotencyKey::content(ns, &[0; 32]).unwrap_err().status(),
                500
            );
        }
        assert_eq!(IdempotencyKey::new("ns", "").unwrap_err().status(), 400);
    }
}
