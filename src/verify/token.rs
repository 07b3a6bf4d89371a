//! Static shared-token header, for senders that do not sign (SaleAssist's "custom headers").
//!
//! The sender attaches a fixed `name: value` header that you configured in its dashboard. This
//! proves only that the sender knows the value: it does not bind the body, and anyone who sees
//! one request (a proxy log) can replay or forge deliveries. Prefer a signing scheme when the
//! vendor offers one.
//!
//! The comparison does not leak the accepted value's length: the presented value and each
//! accepted value are hashed with SHA-256, and the 32-byte digests are compared in constant time.
//! Accepted values' digests are computed once, when the verifier is built.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use http::HeaderName;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Verified, Verifier};
use crate::error::Name;
use crate::{Error, Inbound, Secret};

/// Most accepted values per verifier (rotation needs two or three).
const MAX_VALUES: usize = 16;
/// Most values of the header checked per delivery; more is a 400, so a request cannot make
/// the verifier hash without bound.
const MAX_PRESENTED: usize = 8;

/// Verifier for a static shared-token header.
///
/// ```
/// use std::time::SystemTime;
/// use chathooks::{Inbound, verify::{Token, Verifier}};
///
/// let v = Token::new("X-Hook-Token", "a-long-random-token-value")?
///     .add_value("the-next-token-after-rotation")?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-hook-token", "the-next-token-after-rotation".parse().unwrap());
/// let verified = v.verify_at(&Inbound::new(&headers, b"{}"), SystemTime::now())?;
/// assert_eq!(verified.key_index(), Some(1));
/// # Ok::<(), chathooks::Error>(())
/// ```
///
/// Values must be at least 16 bytes ([`crate::secret::MIN_SECRET_LEN`]). `Debug` shows the header
/// name and the number of values, never the values.
#[derive(Clone)]
pub struct Token {
    name: HeaderName,
    label: Name,
    /// SHA-256 of each accepted value; the digests are as sensitive as the values.
    digests: Vec<Secret>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.label)
            .field("values", &self.digests.len())
            .finish()
    }
}

impl Token {
    /// Accept deliveries whose `header` equals `value` exactly (bytes, case-sensitive). When
    /// the header appears several times (at most 8), any accepted value among them passes.
    ///
    /// Fails with [`Error::Config`] for an invalid header name and [`Error::InvalidSecret`] for a
    /// value shorter than 16 bytes.
    pub fn new(header: impl Into<Cow<'static, str>>, value: &str) -> Result<Self, Error> {
        let label: Name = header.into();
        let name = HeaderName::from_bytes(label.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name `{label}`").into()))?;
        Token {
            name,
            label,
            digests: Vec::new(),
        }
        .add_value(value)
    }

    /// Also accept `value` (rotation). [`Verified::key_index`] is the position of the matching
    /// value, 0 being the one given to [`Token::new`]. At most 16 values.
    pub fn add_value(mut self, value: &str) -> Result<Self, Error> {
        if self.digests.len() >= MAX_VALUES {
            return Err(Error::Config("more than 16 token values".into()));
        }
        // Validates emptiness and minimum length, and is wiped on drop.
        let value = Secret::raw(value)?;
        let digest: [u8; 32] = Sha256::digest(value.expose()).into();
        self.digests.push(Secret::from_bytes(digest.to_vec())?);
        Ok(self)
    }
}

impl Verifier for Token {
    fn verify_at<'a>(
        &self,
        inbound: &Inbound<'a>,
        _now: SystemTime,
    ) -> Result<Verified<'a>, Error> {
        let presented = inbound.headers().get_all(&self.name);
        let mut count = 0;
        let mut matched = None;
        // Every value of the header counts (a proxy may add its own copy before or after the
        // sender's), and every accepted value is compared, so the time does not depend on
        // which one matched.
        for value in presented.iter() {
            count += 1;
            if count > MAX_PRESENTED {
                return Err(Error::InvalidHeader {
                    name: self.label.clone(),
                    reason: "more than 8 values",
                });
            }
            let value: [u8; 32] = Sha256::digest(value.as_bytes()).into();
            for (index, digest) in self.digests.iter().enumerate() {
                // The lowest index wins, whichever copy of the header carried it.
                if bool::from(digest.expose().ct_eq(&value)) && matched.is_none_or(|m| index < m) {
                    matched = Some(index);
                }
            }
        }
        if count == 0 {
            return Err(Error::MissingHeader(self.label.clone()));
        }
        match matched {
            Some(index) => Ok(Verified::new("token", inbound.body()).with_key_index(Some(index))),
            None => Err(Error::TokenMismatch(self.label.clone())),
        }
    }
}
