//! [`Secret`]: key material that never shows up in `Debug`, logs or errors, and is zeroised on drop.
//!
//! # What is and is not wiped
//!
//! The crate forbids `unsafe` code, so it wipes what it owns and can reach, and says plainly
//! what it cannot.
//!
//! **Wiped when dropped** (`zeroize`):
//! - every [`Secret`]'s bytes, and every clone of it (verifiers and senders that keep several
//!   keys for rotation hold clones; each is wiped on its own drop). A `Secret` is built once
//!   and never grows, so no reallocation leaves a stale copy behind;
//! - the text of a secret handed over as a `String` (see [`SecretInput`]), once decoded;
//! - the SHA-256 digests [`Token`](crate::verify::Token) keeps of its accepted values (they are
//!   `Secret`s too);
//! - Ed25519 secret keys and seeds (feature `ed25519`): the decoded `whsk_` bytes, and
//!   `ed25519-dalek`'s `SigningKey`, which zeroises itself.
//!
//! **Not wiped**:
//! - **keyed hasher states.** An HMAC-SHA256 state holds the SHA-256 chaining values after
//!   absorbing `key ⊕ ipad` and `key ⊕ opad`, which are as good as the key for computing MACs,
//!   plus the padded key block (and, for keys over 64 bytes, the key's digest). SaleSmartly's
//!   MD5 state absorbs the secret itself. `hmac` 0.12, `sha2` 0.10 and `md-5` 0.10 do not
//!   zeroise these states and they cannot be wiped from outside without `unsafe`. Two kinds
//!   exist:
//!   - [`StandardWebhooks`](crate::verify::StandardWebhooks) keys one state per secret when it
//!     is built and keeps it, beside the secret, for the verifier's lifetime (each check starts
//!     from a copy, which saves two SHA-256 blocks per check). When the verifier is dropped the
//!     secret is wiped but that heap copy of the keyed state is freed without being wiped;
//!   - every other check (the HMAC presets, SaleSmartly, the sender, the CLI) keys a fresh state
//!     per check; it lives on the verifying thread's stack for that check and is overwritten by
//!     later use of the stack, not kept. So does the copy a `StandardWebhooks` check works on,
//!     and the expected MAC (32 bytes on the stack) every check compares against;
//! - memory the crate does not own: a `&str` you pass to [`Secret::raw`] or a verifier (your
//!   copy; wipe it yourself if it matters), environment variables and command-line arguments
//!   read by the CLI and the examples, and the sender's outgoing token or signature headers
//!   (`http::HeaderValue`s, marked sensitive so they stay out of `Debug`, and the copies
//!   `reqwest`/`hyper` make while sending);
//! - anything the operating system copies: swap, core dumps, hibernation files. The crate does
//!   not `mlock`; disable core dumps and swap where this matters.

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::Error;

/// Shortest secret accepted by the raw, hex and base64 constructors, in bytes.
///
/// Shorter secrets are almost always a configuration mistake (a truncated environment variable,
/// a placeholder); they are rejected rather than silently used as weak keys.
pub const MIN_SECRET_LEN: usize = 16;

/// Shortest Standard Webhooks secret (`whsec_…`), in decoded bytes, as the specification requires.
pub const MIN_STANDARD_SECRET_LEN: usize = 24;

/// Longest secret accepted by any constructor, in bytes. A bound, not a recommendation.
pub const MAX_SECRET_LEN: usize = 4096;

/// Key material for a verifier or sender.
///
/// - `Debug` prints `Secret([redacted; N bytes])` and nothing else; there is no `Display`.
/// - The bytes are wiped from memory when the secret is dropped (see the
///   [module docs](self#what-is-and-is-not-wiped) for the copies that are not).
/// - Constructors say how the text is encoded; each scheme documents which one it expects.
///
/// ```
/// use chathooks::Secret;
/// let s = Secret::standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
/// assert_eq!(s.len(), 24);
/// assert_eq!(format!("{s:?}"), "Secret([redacted; 24 bytes])");
/// assert!(Secret::raw("").is_err());
/// ```
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// The exact bytes of a text secret, used as the HMAC key as-is (GitHub, Slack, Stripe, Sam,
    /// Buzzi and most vendor dashboards work this way).
    pub fn raw(text: &str) -> Result<Self, Error> {
        Self::from_bytes(text.as_bytes().to_vec())
    }

    /// Raw key bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        Self::checked(Zeroizing::new(bytes.into()), MIN_SECRET_LEN)
    }

    /// A hex-encoded key (upper or lower case).
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode(text.trim()).map_err(|_| Error::InvalidSecret("not valid hex"))?;
        Self::checked(Zeroizing::new(bytes), MIN_SECRET_LEN)
    }

    /// A base64-encoded key (standard alphabet; padding optional).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = decode_base64(text.trim()).ok_or(Error::InvalidSecret("not valid base64"))?;
        Self::checked(Zeroizing::new(bytes), MIN_SECRET_LEN)
    }

    /// A Standard Webhooks secret: `whsec_` followed by base64, or the base64 alone.
    ///
    /// The decoded key must be at least [`MIN_STANDARD_SECRET_LEN`] bytes (24, as the
    /// specification says). Padding may be omitted.
    pub fn standard(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let b64 = text.strip_prefix("whsec_").unwrap_or(text);
        if b64.starts_with("v1,") {
            return Err(Error::InvalidSecret(
                "this looks like a signature (`v1,…`), not a secret (`whsec_…`)",
            ));
        }
        let bytes = decode_base64(b64).ok_or(Error::InvalidSecret(
            "a Standard Webhooks secret is `whsec_` followed by base64",
        ))?;
        Self::checked(Zeroizing::new(bytes), MIN_STANDARD_SECRET_LEN)
    }

    fn checked(bytes: Zeroizing<Vec<u8>>, min: usize) -> Result<Self, Error> {
        if bytes.is_empty() {
            Err(Error::InvalidSecret("secret is empty"))
        } else if bytes.len() < min {
            // The minimum in the text: "too short" alone left users guessing.
            Err(Error::InvalidSecret(if min == MIN_STANDARD_SECRET_LEN {
                "secret is too short: a Standard Webhooks key decodes to at least 24 bytes"
            } else {
                "secret is too short: at least 16 bytes"
            }))
        } else if bytes.len() > MAX_SECRET_LEN {
            Err(Error::InvalidSecret("secret is too long"))
        } else {
            Ok(Secret(bytes))
        }
    }

    /// Length of the key in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: empty secrets cannot be constructed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key bytes, for the signing code inside this crate.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

/// What the verifiers' constructors and `add_secret` methods take: a parsed [`Secret`], or the
/// secret's text as the vendor's dashboard shows it.
///
/// Every verifier reads alike: `StandardWebhooks::new(..)`, `HmacSha256::sam(..)`,
/// `SaleSmartly::new(..)` and each one's `add_secret(..)` accept either form.
///
/// - A [`Secret`] (or `&Secret`) is already valid, so nothing can fail: the method returns the
///   verifier itself.
/// - Text (`&str`, `String`, `&String`, …) is decoded the way the scheme expects (`whsec_…` base64
///   for Standard Webhooks, the bytes as-is for the others) and may be unusable, so the method
///   returns `Result<_, Error>` ([`Error::InvalidSecret`] for empty, too short or badly encoded
///   text).
///
/// ```
/// use chathooks::{Secret, verify::{HmacSha256, StandardWebhooks}};
///
/// // Text: `?` for the decoding error.
/// let sam = HmacSha256::sam("sam-signing-secret-from-the-dashboard")?
///     .add_secret("the-next-sam-secret-after-rotation")?;
/// let std = StandardWebhooks::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?
///     .add_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// // Parsed secrets: nothing left to fail.
/// let key = Secret::from_hex("00112233445566778899aabbccddeeff")?;
/// let buzzi = HmacSha256::buzzi(key.clone()).add_secret(&key);
/// let std = std.add_secret(Secret::standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?);
/// # let _ = (sam, std, buzzi);
/// # Ok::<(), chathooks::Error>(())
/// ```
///
/// The trait is sealed: it is implemented for the types above only.
pub trait SecretInput: sealed::Sealed {
    /// `T` for a [`Secret`], `Result<T, Error>` for text.
    type Output<T>;

    /// Decode with `decode` when this is text, then hand the secret to `build`.
    #[doc(hidden)]
    fn resolve<T>(
        self,
        decode: fn(&str) -> Result<Secret, Error>,
        build: impl FnOnce(Secret) -> T,
    ) -> Self::Output<T>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Secret {}
    impl Sealed for &super::Secret {}
    impl<T: AsRef<str> + ?Sized> Sealed for &T {}
    impl Sealed for String {}
}

impl SecretInput for Secret {
    type Output<T> = T;
    fn resolve<T>(
        self,
        _: fn(&str) -> Result<Secret, Error>,
        build: impl FnOnce(Secret) -> T,
    ) -> T {
        build(self)
    }
}

impl SecretInput for &Secret {
    type Output<T> = T;
    fn resolve<T>(
        self,
        _: fn(&str) -> Result<Secret, Error>,
        build: impl FnOnce(Secret) -> T,
    ) -> T {
        build(self.clone())
    }
}

/// `&str`, `&String`, `&&str`, `&Cow<str>`, …
impl<S: AsRef<str> + ?Sized> SecretInput for &S {
    type Output<T> = Result<T, Error>;
    fn resolve<T>(
        self,
        decode: fn(&str) -> Result<Secret, Error>,
        build: impl FnOnce(Secret) -> T,
    ) -> Result<T, Error> {
        decode(self.as_ref()).map(build)
    }
}

impl SecretInput for String {
    type Output<T> = Result<T, Error>;
    fn resolve<T>(
        self,
        decode: fn(&str) -> Result<Secret, Error>,
        build: impl FnOnce(Secret) -> T,
    ) -> Result<T, Error> {
        // Wiped once decoded: the text is as sensitive as the key.
        let text = Zeroizing::new(self);
        decode(&text).map(build)
    }
}

/// Decode standard-alphabet base64 with or without padding; `None` on any invalid input.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    crate::verify::encoding::BASE64.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_validate() {
        assert!(Secret::raw("short").is_err());
        assert!(Secret::raw("sixteen-bytes-ok").is_ok());
        assert!(Secret::from_hex("zz").is_err());
        assert_eq!(Secret::from_hex(&"ab".repeat(16)).unwrap().len(), 16);
        assert!(Secret::standard("whsec_").is_err());
        assert!(Secret::standard("whsec_!!!").is_err());
        assert!(Secret::standard("v1,abc").is_err());
        // 24 bytes, unpadded base64 accepted.
        assert_eq!(
            Secret::standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
                .unwrap()
                .len(),
            24
        );
        assert!(Secret::standard("whsec_MTIzNDU2Nzg5MA==").is_err()); // 10 bytes
        assert!(Secret::from_bytes(vec![1u8; MAX_SECRET_LEN + 1]).is_err());
        // A short secret's error names the minimum.
        for (err, min) in [
            (Secret::raw("ss-secret-abc").unwrap_err(), MIN_SECRET_LEN),
            (
                Secret::standard("whsec_c2hvcnQ=").unwrap_err(),
                MIN_STANDARD_SECRET_LEN,
            ),
        ] {
            let text = err.to_string();
            assert!(text.contains(&format!("at least {min} bytes")), "{text}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::raw("super-secret-value-123").unwrap();
        let d = format!("{s:?} {s:#?}");
        assert!(!d.contains("super"));
        assert!(d.contains("redacted"));
    }
}
