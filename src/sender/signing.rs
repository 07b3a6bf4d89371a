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

use crate::credential::is_credential;
use crate::event::Vendor;
use crate::verify::standard::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
#[cfg(feature = "ed25519")]
use crate::verify::StandardWebhooksSigner;
use crate::verify::{HmacSha256, SaleSmartly, StandardWebhooks};
use crate::{Error, Secret};

/// What signing adds to one attempt: headers, and query parameters appended to the URL.
///
/// Signature and token header values are marked sensitive ([`HeaderValue::set_sensitive`], so
/// `http`'s own `Debug` and HTTP/2 header compression treat them as secrets), and this type's
/// `Debug` prints `[redacted]` for them and for the `signature` query parameter: a captured
/// signature is a replayable credential, a token is the secret itself.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Signature {
    /// Headers to set (they replace headers of the same name).
    pub headers: HeaderMap,
    /// `(name, value)` pairs to append to the URL's query string (SaleSmartly signs this way).
    pub query: Vec<(String, String)>,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a HeaderMap);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, v)| {
                        let shown = if v.is_sensitive() || is_credential(k.as_str()) {
                            "[redacted]"
                        } else {
                            v.to_str().unwrap_or("[not visible ASCII]")
                        };
                        (k.as_str(), shown)
                    }))
                    .finish()
            }
        }
        struct Query<'a>(&'a [(String, String)]);
        impl fmt::Debug for Query<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, v)| {
                        let shown = if is_credential(k) { "[redacted]" } else { v };
                        (k.as_str(), shown)
                    }))
                    .finish()
            }
        }
        f.debug_struct("Signature")
            .field("headers", &Headers(&self.headers))
            .field("query", &Query(&self.query))
            .finish()
    }
}

/// Mark every credential header of `sig` sensitive: the signature headers and tokens, not the
/// delivery id or the timestamp.
fn mark_sensitive(mut sig: Signature, delivery_id_header: Option<&HeaderName>) -> Signature {
    for (name, value) in sig.headers.iter_mut() {
        let plain = Some(name) == delivery_id_header
            || name == HEADER_ID
            || name.as_str().contains("timestamp");
        if !plain {
            value.set_sensitive(true);
        }
    }
    sig
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
    /// Standard Webhooks with Ed25519 (`v1a,` entries, one per key), optionally alongside `v1`
    /// HMAC entries (during a migration from symmetric to asymmetric keys).
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    StandardV1a {
        /// HMAC secrets whose `v1` entries are sent too.
        v1: Option<StandardWebhooks>,
        /// Ed25519 signing keys.
        keys: Vec<Arc<StandardWebhooksSigner>>,
    },
    /// A configurable HMAC-SHA256 scheme (the Sam, Buzzi, ConversaLabs, GitHub, Slack and Stripe
    /// presets of [`HmacSha256`]).
    Hmac {
        /// The verifier whose `sign` produces the headers (boxed: it is large).
        verifier: Box<HmacSha256>,
        /// Header carrying the delivery id (the same on every attempt), if the scheme has one.
        delivery_id_header: Option<HeaderName>,
    },
    /// A static shared-token header (what SaleAssist's custom headers carry; checked by
    /// [`Token`](crate::verify::token::Token)).
    Token {
        /// Header name.
        header: HeaderName,
        /// The token (redacted in `Debug`).
        value: Secret,
    },
    /// SaleSmartly's MD5 signature in the `timestamp` and `signature` query parameters.
    SaleSmartly(SaleSmartly),
    /// Any other scheme.
    Custom(Arc<dyn Sign>),
}

impl Signing {
    /// Standard Webhooks with one `whsec_…` secret.
    pub fn standard(secret: &str) -> Result<Self, Error> {
        Ok(Signing::Standard(StandardWebhooks::new(secret)?))
    }

    /// An HMAC-SHA256 scheme without a delivery-id header.
    pub fn hmac(verifier: HmacSha256) -> Self {
        Signing::Hmac {
            verifier: Box::new(verifier),
            delivery_id_header: None,
        }
    }

    /// An HMAC-SHA256 scheme that also sends the delivery id in `header` (for example
    /// `X-Chatwoot-Delivery`), so the receiver can deduplicate retries by it.
    pub fn hmac_with_delivery_id(verifier: HmacSha256, header: &str) -> Result<Self, Error> {
        let header = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name `{header}`").into()))?;
        Ok(Signing::Hmac {
            verifier: Box::new(verifier),
            delivery_id_header: Some(header),
        })
    }

    /// A static token in `header`. The token must be at least 16 bytes, like the verifier's.
    pub fn token(header: &str, value: &str) -> Result<Self, Error> {
        let header = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name `{header}`").into()))?;
        if HeaderValue::from_str(value).is_err() {
            return Err(Error::InvalidSecret("a token must be visible ASCII"));
        }
        Ok(Signing::Token {
            header,
            value: Secret::raw(value)?,
        })
    }

    /// Standard Webhooks `v1a` with one Ed25519 key.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    pub fn standard_v1a(signer: StandardWebhooksSigner) -> Self {
        Signing::StandardV1a {
            v1: None,
            keys: vec![Arc::new(signer)],
        }
    }

    /// Also sign with `signer` (`v1a`). On [`Signing::Standard`] this keeps the `v1` entries
    /// and adds a `v1a` one; other schemes are returned unchanged with an error.
    #[cfg(feature = "ed25519")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
    pub fn add_v1a(self, signer: StandardWebhooksSigner) -> Result<Self, Error> {
        match self {
            Signing::Standard(v) => Ok(Signing::StandardV1a {
                v1: Some(v),
                keys: vec![Arc::new(signer)],
            }),
            Signing::StandardV1a { v1, mut keys } => {
                keys.push(Arc::new(signer));
                Ok(Signing::StandardV1a { v1, keys })
            }
            _ => Err(Error::Config(
                "v1a signatures only combine with Standard Webhooks signing".into(),
            )),
        }
    }
}

impl Signing {
    /// The scheme `vendor` signs with, over `secrets` (several: one signature each, as during
    /// rotation). What [`crate::sender::samples`] traffic for that vendor should carry.
    ///
    /// | vendor | scheme |
    /// |---|---|
    /// | Standard Webhooks | `webhook-signature: v1,…` per secret (`whsec_…`) |
    /// | Sam, Buzzi | [`HmacSha256::sam`] / [`HmacSha256::buzzi`], raw-text secrets |
    /// | ConversaLabs | [`HmacSha256::conversalabs`], delivery id in `X-Chatwoot-Delivery` |
    /// | SaleSmartly | [`SaleSmartly`] query signature, first secret only |
    /// | SaleAssist | static token in `X-Webhook-Token` (the header name is yours to choose) |
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
            Vendor::Sam | Vendor::Buzzi | Vendor::ConversaLabs => {
                let preset = match vendor {
                    Vendor::Sam => HmacSha256::sam,
                    Vendor::Buzzi => HmacSha256::buzzi,
                    _ => HmacSha256::conversalabs,
                };
                let mut v = preset(Secret::raw(first)?);
                for s in rest {
                    v = v.add_secret(Secret::raw(s)?);
                }
                if vendor == Vendor::ConversaLabs {
                    Signing::hmac_with_delivery_id(v, CONVERSALABS_DELIVERY_HEADER)
                } else {
                    Ok(Signing::hmac(v))
                }
            }
            // One signature fits in the query string: extra secrets are not used.
            Vendor::SaleSmartly => Ok(Signing::SaleSmartly(SaleSmartly::new(first)?)),
            Vendor::SaleAssist => Signing::token(SALEASSIST_TOKEN_HEADER, first),
        }
    }
}

impl From<StandardWebhooks> for Signing {
    fn from(v: StandardWebhooks) -> Self {
        Signing::Standard(v)
    }
}

/// Header the ConversaLabs profile carries the delivery id in.
pub const CONVERSALABS_DELIVERY_HEADER: &str = "x-chatwoot-delivery";
/// Header the SaleAssist profile carries its static token in (SaleAssist lets users pick any).
pub const SALEASSIST_TOKEN_HEADER: &str = "x-saleassist-token";

impl Sign for Signing {
    fn sign(&self, id: &str, timestamp: SystemTime, body: &[u8]) -> Result<Signature, Error> {
        let delivery_id_header = match self {
            Signing::Hmac {
                delivery_id_header, ..
            } => delivery_id_header.as_ref(),
            _ => None,
        };
        let sig = self.sign_plain(id, timestamp, body)?;
        Ok(match self {
            // A custom signer's headers are its own business; `Debug` still redacts them.
            Signing::Custom(_) => sig,
            _ => mark_sensitive(sig, delivery_id_header),
        })
    }
}

impl Signing {
    fn sign_plain(&self, id: &str, timestamp: SystemTime, body: &[u8]) -> Result<Signature, Error> {
        match self {
            #[cfg(feature = "ed25519")]
            Signing::StandardV1a { v1, keys } => {
                let mut sig = Signature::default();
                let secs = crate::verify::timestamp::unix_secs(timestamp);
                let mut entries: Vec<String> = Vec::with_capacity(keys.len() + 1);
                if let Some(v) = v1 {
                    entries.push(v.sign(id, timestamp, body));
                }
                entries.extend(keys.iter().map(|k| k.sign(id, timestamp, body)));
                insert(&mut sig.headers, HEADER_ID, id)?;
                insert(&mut sig.headers, HEADER_TIMESTAMP, &secs.to_string())?;
                insert(&mut sig.headers, HEADER_SIGNATURE, &entries.join(" "))?;
                Ok(sig)
            }
            Signing::Hmac {
                verifier,
                delivery_id_header,
            } => {
                let mut sig = Signature {
                    headers: verifier.sign(timestamp, body),
                    query: Vec::new(),
                };
                if let Some(h) = delivery_id_header {
                    let v = HeaderValue::from_str(id)
                        .map_err(|_| Error::Config("delivery id is not visible ASCII".into()))?;
                    sig.headers.insert(h.clone(), v);
                }
                Ok(sig)
            }
            Signing::Token { header, value } => {
                let mut sig = Signature::default();
                let v = HeaderValue::from_bytes(value.expose())
                    .map_err(|_| Error::InvalidSecret("a token must be visible ASCII"))?;
                sig.headers.insert(header.clone(), v);
                Ok(sig)
            }
            Signing::SaleSmartly(v) => {
                // The verifier renders `timestamp=…&signature=…`; carry it as query pairs.
                let query = v.sign(body, timestamp)?;
                let pairs = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                Ok(Signature {
                    headers: HeaderMap::new(),
                    query: pairs,
                })
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that only the CLI's list had before the two lists became one.
    #[test]
    fn the_clis_credential_names_are_redacted_in_debug_too() {
        let mut s = Signature::default();
        for (name, value) in [("sig", "v-sig"), ("code", "v-code"), ("api_key", "v-key")] {
            s.query.push((name.into(), value.into()));
            s.headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let shown = format!("{s:?}");
        assert!(!shown.contains("v-"), "{shown}");
        assert_eq!(shown.matches("[redacted]").count(), 6, "{shown}");
    }
}
