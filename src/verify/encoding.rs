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
    // A table lookup per digit (the `hex` crate's decoder branches per character and costs
    // about four times as much; every Sam/GitHub-style signature is decoded twice per request).
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_DIGIT[usize::from(pair[0])],
            HEX_DIGIT[usize::from(pair[1])],
        );
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    // Invalid digits map to 0xff: any of them sets the high bits.
    (bad & 0xf0 == 0).then_some(out)
}

/// Value of each ASCII hex digit (either case); 0xff for every other byte.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

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
        // Every byte value, in each position of a digit pair, against the `hex` crate.
        for b in 0..=255u8 {
            for text in [[b, b'0'], [b'0', b]] {
                let mut want = [0u8; 1];
                let want = hex::decode_to_slice(text, &mut want).ok().map(|()| want);
                assert_eq!(hex_exact::<1>(&text), want, "{text:?}");
            }
        }
    }
}
