//! [`IdempotencyKey`]: the name under which one delivery is deduplicated.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::Error;

/// The dedupe key of one delivery: `namespace:id`.
///
/// - `namespace` separates senders (and endpoints or tenants) so that two vendors' ids never
///   collide, e.g. `"sam"` or `"standard:billing"`. It is configuration: 1 to
///   [`MAX_NAMESPACE_LEN`](Self::MAX_NAMESPACE_LEN) bytes of ASCII letters, digits and `_ - . :`.
/// - `id` is the sender's delivery or event id (`webhook-id`, a vendor's event id), which stays
///   the same across retries. It comes from the request, so any non-empty value is accepted:
///   ids up to [`MAX_VERBATIM_ID_LEN`](Self::MAX_VERBATIM_ID_LEN) bytes of visible ASCII are kept
///   as they are (readable in `redis-cli`); longer or unusual ids, and ids starting with `#`,
///   are replaced by `#` and their SHA-256 in hex, so a key is never longer than
///   `namespace + 66` bytes.
///
/// ```
/// use chathooks::idempotency::IdempotencyKey;
/// let key = IdempotencyKey::new("standard", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk")?;
/// assert_eq!(key.as_str(), "standard:msg_27UH4WbU6Z5A5EzD8u03UvzRbpk");
/// let long = IdempotencyKey::new("sam", &"x".repeat(10_000))?;
/// assert_eq!(long.as_str().len(), "sam:#".len() + 64);
/// assert!(IdempotencyKey::new("sam", "").is_err());
/// # Ok::<(), chathooks::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(Box<str>);

impl IdempotencyKey {
    /// Longest namespace, in bytes.
    pub const MAX_NAMESPACE_LEN: usize = 64;
    /// Longest id kept verbatim, in bytes; longer ids are hashed.
    pub const MAX_VERBATIM_ID_LEN: usize = 200;

    /// The key of delivery `id` from sender `namespace`.
    ///
    /// # Errors
    /// - [`Error::Config`] when `namespace` is empty, too long or has other characters than
    ///   ASCII letters, digits and `_ - . :` (a programming error, HTTP 500).
    /// - [`Error::InvalidHeader`] (HTTP 400) when `id` is empty: a delivery without an id cannot
    ///   be deduplicated, and using `""` would merge every such delivery into one.
    pub fn new(namespace: &str, id: &str) -> Result<Self, Error> {
        let ns_ok = !namespace.is_empty()
            && namespace.len() <= Self::MAX_NAMESPACE_LEN
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !ns_ok {
            return Err(Error::Config(
                "idempotency namespace must be 1-64 bytes of ASCII letters, digits and `_-.:`"
                    .into(),
            ));
        }
        if id.is_empty() {
            return Err(Error::InvalidHeader {
                name: "delivery id".into(),
                reason: "empty delivery id cannot be deduplicated",
            });
        }
        let verbatim = id.len() <= Self::MAX_VERBATIM_ID_LEN
            && !id.starts_with('#')
            && id.bytes().all(|b| b.is_ascii_graphic());
        let key = if verbatim {
            format!("{namespace}:{id}")
        } else {
            format!(
                "{namespace}:#{}",
                hex::encode(Sha256::digest(id.as_bytes()))
            )
        };
        Ok(IdempotencyKey(key.into_boxed_str()))
    }

    /// A key read back from a store, as [`as_str`](Self::as_str) wrote it (for backends that
    /// keep keys as text, such as the inbox stores).
    ///
    /// # Errors
    /// [`Error::Config`] when `stored` is not `namespace:id` with a valid namespace and a
    /// non-empty id of at most `MAX_VERBATIM_ID_LEN` visible ASCII bytes.
    pub fn from_stored(stored: &str) -> Result<Self, Error> {
        let bad = || Error::Config("stored idempotency key is not `namespace:id`".into());
        // Namespaces and ids may both hold ':', so the split is not recoverable; check what
        // every key has: a non-empty namespace-like head, a ':', a non-empty visible tail.
        let (head, rest) = stored.split_once(':').ok_or_else(bad)?;
        let ok = !head.is_empty()
            && !rest.is_empty()
            && stored.len() <= Self::MAX_NAMESPACE_LEN + 1 + Self::MAX_VERBATIM_ID_LEN
            && head
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && rest.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(bad());
        }
        Ok(IdempotencyKey(stored.into()))
    }

    /// The key as stored (`namespace:id`, without any store prefix).
    pub fn as_str(&self) -> &str {
        &self.0
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
        assert_eq!(plain.as_str(), "ns:abc");
        let hashed = IdempotencyKey::new("ns", "a b").unwrap();
        assert!(hashed.as_str().starts_with("ns:#"));
        // An id that looks like a hash is itself hashed, so it cannot impersonate one.
        let tail = &hashed.as_str()["ns:".len()..];
        let spoof = IdempotencyKey::new("ns", tail).unwrap();
        assert_ne!(spoof, hashed);
        let unicode = IdempotencyKey::new("ns", "ключ").unwrap();
        assert_eq!(unicode.as_str().len(), 3 + 65);
        let at_limit = "y".repeat(IdempotencyKey::MAX_VERBATIM_ID_LEN);
        assert_eq!(
            IdempotencyKey::new("ns", &at_limit).unwrap().as_str(),
            format!("ns:{at_limit}")
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
        for bad in ["", "nocolon", ":id", "ns:", "n s:id", "ns:a b"] {
            assert!(IdempotencyKey::from_stored(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_namespaces_and_empty_ids_are_errors() {
        for ns in ["", "a b", "ns\n", &"n".repeat(65)] {
            let err = IdempotencyKey::new(ns, "id").unwrap_err();
            assert_eq!(err.status(), 500, "{ns:?}");
        }
        assert_eq!(IdempotencyKey::new("ns", "").unwrap_err().status(), 400);
    }
}
