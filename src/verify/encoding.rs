//! Decoding of candidate signatures into fixed-size buffers, without allocating.
//!
//! A candidate decodes to exactly `N` bytes or it is rejected: this is what makes `v1,`, empty,
//! truncated and over-long signatures fail before any comparison happens.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Standard alphabet, padding optional, for decoding; pads when encoding.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode hex (either case) into exactly `N` bytes.
pub(crate) fn hex_exact<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Decode standard base64 (padding optional) into exactly `N` bytes.
pub(crate) fn base64_exact<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    // The longest valid encoding of N bytes is the padded one.
    let padded = N.div_ceil(3) * 4;
    if text.is_empty() || text.len() > padded {
        return None;
    }
    // decode_slice needs room for its estimate (a multiple of 3); 3 spare bytes always suffice.
    let mut buf = [0u8; 128];
    if N + 3 > buf.len() {
        return None;
    }
    let n = BASE64.decode_slice(text, &mut buf[..N + 3]).ok()?;
    if n != N {
        return None;
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[..N]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_lengths_only() {
        let b64 = BASE64.encode([7u8; 32]);
        assert_eq!(base64_exact::<32>(b64.as_bytes()), Some([7u8; 32]));
        assert_eq!(
            base64_exact::<32>(b64.trim_end_matches('=').as_bytes()),
            Some([7u8; 32])
        );
        assert_eq!(base64_exact::<32>(&b64.as_bytes()[..40]), None);
        assert_eq!(base64_exact::<32>(b""), None);
        assert_eq!(
            base64_exact::<32>(BASE64.encode([7u8; 33]).as_bytes()),
            None
        );
        assert_eq!(
            base64_exact::<32>(BASE64.encode([7u8; 31]).as_bytes()),
            None
        );
        assert_eq!(
            base64_exact::<64>(BASE64.encode([9u8; 64]).as_bytes()),
            Some([9u8; 64])
        );
        let hex = "ab".repeat(32);
        assert_eq!(hex_exact::<32>(hex.as_bytes()), Some([0xab; 32]));
        assert_eq!(
            hex_exact::<32>(hex.to_uppercase().as_bytes()),
            Some([0xab; 32])
        );
        assert_eq!(hex_exact::<32>(&hex.as_bytes()[..62]), None);
        assert_eq!(hex_exact::<32>("zz".repeat(32).as_bytes()), None);
    }
}
