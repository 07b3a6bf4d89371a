//! Signing outgoing deliveries with the verifier types' own `sign` functions.
//!
//! Each [`Signing`] variant holds the verifier of its scheme and calls that verifier's signing
//! code, so what the sender produces is exactly what the verifier checks: sign → verify
//! round-trips by construction. A verifier configured with several secrets (rotation) signs with
//! each of them. The sender signs every attempt again with the time of that attempt, under the
//! same delivery id.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::event::Vendor;
use crate::verify::standard::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::verify::StandardWebhooks;
use crate::Error;

/// What signing adds to one attempt: headers, and query parameters appended to the URL.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Signature {
    /// Headers to set (they replace headers of the same name).
    pub headers: HeaderMap,
    /// `(name, value)` pairs to append to the URL's query string (SaleSmartly signs this way).
    pub query: Vec<(String, String)>,
}

/// A signing scheme for outgoing deliveries. Implement it for schemes the crate does not know;
/// wrap the implementation in [`Signing::Custom`].
pub trait Sign: Send + Sync + fmt::Debug {
    /// Sign one attempt of delivery `id`, made at `timestamp`, carrying `body`.
    fn sign(&self, id: &str, timestamp: SystemTime, body: &[u8]) -> Result<Signature, Error>;
}

/// How the sender signs deliveries to an endpoint: one variant per scheme the verifier accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Signing {
    /// No signature (Slack incoming webhooks, local experiments).
    None,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` with one `v1,`
    /// entry per secret.
    Standard(StandardWebhooks),
    /// Any other scheme.
    Custom(Arc<dyn Sign>),
}

impl Signing {
    /// Standard Webhooks with one `whsec_…` secret.
    pub fn standard(secret: &str) -> Result<Self, Error> {
        Ok(Signing::Standard(StandardWebhooks::new(secret)?))
    }
}

impl Signing {
    /// The scheme `vendor` signs with, over `secrets` (several: one signature each, as during
    /// rotation). What [`crate::sender::samples`] traffic for that vendor should carry.
    pub fn for_vendor(vendor: Vendor, secrets: &[&str]) -> Result<Self, Error> {
        let (first, rest) = secrets
            .split_first()
            .ok_or(Error::InvalidSecret("at least one secret is needed"))?;
        match vendor {
            Vendor::StandardWebhooks => {
                let mut v = StandardWebhooks::new(first)?;
                for s in rest {
                    v = v.add_secret(s)?;
                }
                Ok(Signing::Standard(v))
            }
            other => Err(Error::Config(
                format!("no signing profile for {other} yet").into(),
            )),
        }
    }
}

impl From<StandardWebhooks> for Signing {
    fn from(v: StandardWebhooks) -> Self {
        Signing::Standard(v)
    }
}

impl Sign for Signing {
    fn sign(&self, id: &str, timestamp: SystemTime, body: &[u8]) -> Result<Signature, Error> {
        match self {
            Signing::None => Ok(Signature::default()),
            Signing::Standard(v) => {
                let mut sig = Signature::default();
                let secs = crate::verify::timestamp::unix_secs(timestamp);
                insert(&mut sig.headers, HEADER_ID, id)?;
                insert(&mut sig.headers, HEADER_TIMESTAMP, &secs.to_string())?;
                insert(
                    &mut sig.headers,
                    HEADER_SIGNATURE,
                    &v.sign(id, timestamp, body),
                )?;
                Ok(sig)
            }
            Signing::Custom(s) => s.sign(id, timestamp, body),
        }
    }
}

pub(crate) fn insert(
    headers: &mut HeaderMap,
    name: &'static str,
    value: &str,
) -> Result<(), Error> {
    let value = HeaderValue::from_str(value).map_err(|_| {
        Error::Config(format!("value for header `{name}` is not visible ASCII").into())
    })?;
    headers.insert(HeaderName::from_static(name), value);
    Ok(())
}
