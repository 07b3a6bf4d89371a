//! `format!("{:?}")` of every secret-holding type shows no secret bytes.

use base64::Engine as _;
use chathooks::verify::{HmacSha256, SaleSmartly, StandardWebhooks, Token};
use chathooks::Secret;

/// Every way the bytes could appear: as text, hex, base64 and Rust's `[1, 2, …]` list.
fn assert_hidden(debug: &str, secret: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let list = format!("{secret:?}");
    let mut forms = vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        b64.trim_end_matches('=').to_string(),
        list[1..list.len() - 1].to_string(),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        forms.push(text.to_string());
    }
    for form in forms {
        // Eight characters of any form are enough to count as a leak.
        let probe = &form[..form.len().min(8)];
        assert!(!debug.contains(probe), "{debug} contains {probe:?}");
    }
}

#[test]
fn no_secret_in_debug() {
    let text = "Zq7-hunter2-Xy9-secret";
    let check = |d: String| assert_hidden(&d, text.as_bytes());
    let s = Secret::raw(text).unwrap();
    assert_eq!(format!("{s:?}"), "Secret([redacted; 22 bytes])");
    check(format!("{s:?} {s:#?}"));
    let h = HmacSha256::github(s.clone()).add_secret(s.clone());
    check(format!("{h:?} {h:#?}"));
    check(format!("{:?}", h.clone().into_builder()));
    let t = Token::new("X-Token", text).unwrap();
    check(format!("{t:?} {t:#?}"));
    let ss = SaleSmartly::new(text).unwrap();
    check(format!("{ss:?} {ss:#?}"));

    let whsec = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&whsec[6..])
        .unwrap();
    let sw = StandardWebhooks::new(whsec).unwrap();
    let d = format!("{sw:?} {sw:#?}");
    assert_hidden(&d, &raw);
    assert!(!d.contains("C2FVsBQI"));
}

#[cfg(feature = "ed25519")]
#[test]
fn no_signing_key_in_debug() {
    use chathooks::verify::StandardWebhooksSigner;
    let pair =
        "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(pair)
        .unwrap();
    let signer = StandardWebhooksSigner::new(&format!("whsk_{pair}")).unwrap();
    let d = format!("{signer:?} {signer:#?}");
    assert_hidden(&d, &bytes[..32]);
    assert!(d.contains("whpk_"), "{d}");
}
