//! `chathooks doctor`: each variant found from a capture signed that way, and the near misses.

use std::io::Write as _;

use hmac::{Hmac, Mac};
use serde_json::Value;

use super::{b64, capture, hmac256, run, TempDir};

const BODY: &[u8] = r#"{"event":"lead.captured","data":{"name":"Zoë","n":1}}"#.as_bytes();
const SECRET: &str = "a-raw-secret-of-24-bytes!";
const TS: u64 = 1_764_000_000;

fn doctor(dir: &TempDir, cap: &[u8], extra: &[&str]) -> (i32, Value) {
    let path = dir.file("cap.json", cap);
    let mut args = vec!["doctor", "--json", "--at"];
    let at = TS.to_string();
    args.push(&at);
    args.extend_from_slice(extra);
    args.push(&path);
    let r = run(&args);
    (r.code, r.json())
}

fn at(secs: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

/// A case name, its headers and what doctor must report.
type Case = (&'static str, Vec<(&'static str, String)>, Want);
/// A case name, headers, captured body and the expected `body_variant`.
type BodyCase = (&'static str, Vec<(String, String)>, Vec<u8>, &'static str);

/// One expected finding: the fields `--json` documents.
struct Want {
    scheme: &'static str,
    header: Option<&'static str>,
    encoding: Option<&'static str>,
    prefix: Option<&'static str>,
    content: Option<&'static str>,
    secret_encoding: Option<&'static str>,
    timestamp_header: Option<&'static str>,
}

fn check(v: &Value, w: &Want, case: &str) {
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    assert_eq!(v["matched"], true, "{case}: {v:#}");
    assert_eq!(s("scheme").as_deref(), Some(w.scheme), "{case}");
    assert_eq!(s("header").as_deref(), w.header, "{case}");
    assert_eq!(s("encoding").as_deref(), w.encoding, "{case}");
    assert_eq!(s("prefix").as_deref(), w.prefix, "{case}");
    assert_eq!(s("signed_content").as_deref(), w.content, "{case}");
    assert_eq!(s("secret_encoding").as_deref(), w.secret_encoding, "{case}");
    assert_eq!(
        s("timestamp_header").as_deref(),
        w.timestamp_header,
        "{case}"
    );
    assert!(v["explanation"].as_str().is_some_and(|e| !e.is_empty()));
}

#[test]
fn finds_every_hmac_variant() {
    let dir = TempDir::new("doctor");
    let ts = TS.to_string();
    let ms = (TS * 1000).to_string();
    let raw = SECRET.as_bytes();
    let sig_body = hmac256(raw, &[BODY]);
    let sig_ts = hmac256(raw, &[ts.as_bytes(), b".", BODY]);
    let sig_ms = hmac256(raw, &[ms.as_bytes(), b".", BODY]);
    let sig_id = hmac256(raw, &[b"evt_1.", ts.as_bytes(), b".", BODY]);
    let sig_slack = hmac256(raw, &[b"v0:", ts.as_bytes(), b":", BODY]);
    let stripe = format!("t={ts},v1={}", hex(&sig_ts));
    let cases: Vec<Case> = vec![
        (
            "body hex, no prefix",
            vec![("X-Signature", hex(&sig_body))],
            Want {
                scheme: "hmac-sha256",
                header: Some("X-Signature"),
                encoding: Some("hex"),
                prefix: None,
                content: Some("body"),
                secret_encoding: Some("raw"),
                timestamp_header: None,
            },
        ),
        (
            "body base64, sha256= prefix",
            vec![("X-Signature", format!("sha256={}", b64(&sig_body)))],
            Want {
                scheme: "hmac-sha256",
                header: Some("X-Signature"),
                encoding: Some("base64"),
                prefix: Some("sha256="),
                content: Some("body"),
                secret_encoding: Some("raw"),
                timestamp_header: None,
            },
        ),
        (
            "{ts}.{body} hex",
            vec![
                ("X-Timestamp", ts.clone()),
                ("X-Signature", format!("sha256={}", hex(&sig_ts))),
            ],
            Want {
                scheme: "hmac-sha256",
                header: Some("X-Signature"),
                encoding: Some("hex"),
                prefix: Some("sha256="),
                content: Some("timestamp.body"),
                secret_encoding: Some("raw"),
                timestamp_header: Some("X-Timestamp"),
            },
        ),
        (
            "{id}.{ts}.{body}",
            vec![
                ("X-Event-Id", "evt_1".into()),
                ("X-Timestamp", ts.clone()),
                ("X-Signature", b64(&sig_id)),
            ],
            Want {
                scheme: "hmac-sha256",
                header: Some("X-Signature"),
                encoding: Some("base64"),
                prefix: None,
                content: Some("id.timestamp.body"),
                secret_encoding: Some("raw"),
                timestamp_header: Some("X-Timestamp"),
            },
        ),
        (
            "slack v0",
            vec![
                ("X-Slack-Request-Timestamp", ts.clone()),
                ("X-Slack-Signature", format!("v0={}", hex(&sig_slack))),
            ],
            Want {
                scheme: "hmac-sha256",
                header: Some("X-Slack-Signature"),
                encoding: Some("hex"),
                prefix: Some("v0="),
                content: Some("slack-v0"),
                secret_encoding: Some("raw"),
                timestamp_header: Some("X-Slack-Request-Timestamp"),
            },
        ),
        (
            "stripe",
            vec![("Stripe-Signature", stripe)],
            Want {
                scheme: "hmac-sha256",
                header: Some("Stripe-Signature"),
                encoding: Some("hex"),
                prefix: Some("v1="),
                content: Some("stripe"),
                secret_encoding: Some("raw"),
                timestamp_header: Some("Stripe-Signature"),
            },
        ),
        (
            "timestamp in milliseconds",
            vec![("X-Timestamp", ms), ("X-Signature", hex(&sig_ms))],
            Want {
                scheme: "hmac-sha256",
                header: Some("X-Signature"),
                encoding: Some("hex"),
                prefix: None,
                content: Some("timestamp.body"),
                secret_encoding: Some("raw"),
                timestamp_header: Some("X-Timestamp"),
            },
        ),
    ];
    for (case, headers, want) in &cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, v) = doctor(&dir, &capture(&h, None, BODY), &["--secret", SECRET]);
        assert_eq!(code, 0, "{case}: {v:#}");
        check(&v, want, case);
        let rust = v["rust"].as_str().unwrap_or_default();
        if *case != "{id}.{ts}.{body}" {
            assert!(rust.contains("HmacSha256::"), "{case}: {rust}");
        }
        if *case == "timestamp in milliseconds" {
            assert_eq!(v["timestamp_unit"], "milliseconds");
            assert_eq!(
                v["confirmed"], false,
                "the seconds-only verifier cannot take it"
            );
            // The human output does not call the rejected verifier the one to use.
            let path = dir.path().join("cap.json");
            let ts = TS.to_string();
            let r = run(&[
                "doctor",
                "--at",
                &ts,
                "--secret",
                SECRET,
                path.to_str().unwrap(),
            ]);
            assert!(
                r.stdout
                    .starts_with("✓ match, but the verifier below rejects it"),
                "{}",
                r.stdout
            );
            assert!(!r.stdout.contains("Verifier to use"), "{}", r.stdout);
        } else if *case != "{id}.{ts}.{body}" {
            assert_eq!(
                v["confirmed"], true,
                "{case}: the emitted verifier accepts it"
            );
        }
    }
    // The emitted code names the preset when the settings are one.
    let (_, v) = doctor(
        &dir,
        &capture(
            &[("X-Hub-Signature-256", &format!("sha256={}", hex(&sig_body)))],
            None,
            BODY,
        ),
        &["--secret", SECRET],
    );
    assert_eq!(v["preset"], "github");
    assert!(v["rust"]
        .as_str()
        .unwrap()
        .contains("HmacSha256::github(Secret::raw(&secret)?)"));
}

#[test]
fn finds_every_secret_decoding() {
    let dir = TempDir::new("doctor-keys");
    let key: Vec<u8> = (1u8..=32).collect();
    let sig = hmac256(&key, &[BODY]);
    let h = [("X-Signature", hex(&sig))];
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cap = capture(&h, None, BODY);
    for (text, enc) in [
        (b64(&key), "base64"),
        (hex(&key), "hex"),
        (format!("whsec_{}", b64(&key)), "whsec"),
    ] {
        let (code, v) = doctor(&dir, &cap, &["--secret", &text]);
        assert_eq!(code, 0, "{enc}: {v:#}");
        assert_eq!(v["secret_encoding"], enc);
        assert_eq!(v["confirmed"], true, "{enc}: {v:#}");
        assert!(v["explanation"].as_str().unwrap().contains("decoded bytes"));
    }
    // A second secret (rotation) is reported by index.
    let (code, v) = doctor(
        &dir,
        &cap,
        &["--secret", "some-other-secret-123", "--secret", &b64(&key)],
    );
    assert_eq!(code, 0);
    assert_eq!(v["secret_index"], 1);
}

#[test]
fn finds_standard_webhooks_token_and_salesmartly() {
    let dir = TempDir::new("doctor-schemes");
    let ts = TS.to_string();
    // Standard Webhooks v1, via the crate's own signer.
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let v = chathooks::verify::StandardWebhooks::new(secret).unwrap();
    let sig = v.sign("msg_1", at(TS), BODY);
    let cap = capture(
        &[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ],
        None,
        BODY,
    );
    let (code, j) = doctor(&dir, &cap, &["--secret", secret]);
    assert_eq!(code, 0, "{j:#}");
    check(
        &j,
        &Want {
            scheme: "standard-webhooks",
            header: Some("webhook-signature"),
            encoding: Some("base64"),
            prefix: Some("v1,"),
            content: Some("id.timestamp.body"),
            secret_encoding: Some("whsec"),
            timestamp_header: Some("webhook-timestamp"),
        },
        "standard",
    );
    assert!(j["rust"]
        .as_str()
        .unwrap()
        .contains("StandardWebhooks::new"));

    // v1a with --public-key.
    let signer = chathooks::verify::StandardWebhooksSigner::new(
        "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
    )
    .unwrap();
    let sig = signer.sign("msg_2", at(TS), BODY);
    let cap = capture(
        &[
            ("webhook-id", "msg_2"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &sig),
        ],
        None,
        BODY,
    );
    let pk = signer.public_key();
    let (code, j) = doctor(&dir, &cap, &["--public-key", &pk]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["scheme"], "standard-webhooks");
    assert_eq!(j["v1a"], true);
    assert!(j["rust"].as_str().unwrap().contains("with_public_key"));

    // Static token.
    let cap = capture(&[("X-Hook-Token", SECRET)], None, BODY);
    let (code, j) = doctor(&dir, &cap, &["--secret", SECRET]);
    assert_eq!(code, 0);
    assert_eq!(j["scheme"], "token");
    assert_eq!(j["header"], "X-Hook-Token");
    assert_eq!(j["confirmed"], true);

    // A bearer token: the emitted verifier expects the whole `Bearer <secret>` value, and
    // the one doctor builds from it accepts the capture.
    let bearer = format!("Bearer {SECRET}");
    let cap = capture(&[("Authorization", &bearer)], None, BODY);
    let (code, j) = doctor(&dir, &cap, &["--secret", SECRET]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["scheme"], "token");
    assert_eq!(j["prefix"], "Bearer ");
    assert_eq!(j["confirmed"], true, "{j:#}");
    assert!(
        j["rust"]
            .as_str()
            .unwrap()
            .contains(r#"Token::new("Authorization", &format!("Bearer {secret}"))?"#),
        "{j:#}"
    );
    let verifier =
        chathooks::verify::Token::new("Authorization", &format!("Bearer {SECRET}")).unwrap();
    let headers = http::HeaderMap::from_iter([(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&bearer).unwrap(),
    )]);
    use chathooks::verify::Verifier as _;
    assert!(verifier
        .verify_at(&chathooks::Inbound::new(&headers, BODY), at(TS))
        .is_ok());

    // SaleSmartly, both layouts.
    let ss = r#"{"event":"message","data":{"msg":"hi"}}"#.as_bytes();
    let secret = "salesmartly-demo-key-0123456789";
    for (with_ts, layout) in [(true, "with-timestamp"), (false, "without-timestamp")] {
        let mut md5_input = format!("{secret}&data={{\"msg\":\"hi\"}}&event=message");
        if with_ts {
            md5_input.push_str(&format!("&timestamp={ts}"));
        }
        let sig = hex(&md5_of(md5_input.as_bytes()));
        let q = format!("timestamp={ts}&signature={sig}");
        let (code, j) = doctor(&dir, &capture(&[], Some(&q), ss), &["--secret", secret]);
        assert_eq!(code, 0, "{layout}: {j:#}");
        assert_eq!(j["scheme"], "salesmartly-md5");
        assert_eq!(j["salesmartly_layout"], layout);
        assert_eq!(j["confirmed"], true);
    }
}

fn md5_of(b: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    md5::Md5::digest(b).to_vec()
}

#[test]
fn explains_a_stale_timestamp_with_its_age() {
    let dir = TempDir::new("doctor-stale");
    let ts = TS.to_string();
    let sig = hmac256(SECRET.as_bytes(), &[ts.as_bytes(), b".", BODY]);
    let cap = capture(
        &[("X-Timestamp", &ts), ("X-Signature", &hex(&sig))],
        None,
        BODY,
    );
    let path = dir.file("stale.json", &cap);
    let later = (TS + 3 * 86_400).to_string();
    let r = run(&[
        "doctor", "--json", "--secret", SECRET, "--at", &later, &path,
    ]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(v["matched"], false);
    assert_eq!(v["near_miss"], "stale-timestamp");
    assert_eq!(v["age_secs"], 259_200);
    assert_eq!(v["signed_content"], "timestamp.body");
    let e = v["explanation"].as_str().unwrap();
    assert!(e.contains("3 days old"), "{e}");
    // Human output says the same.
    let r = run(&["doctor", "--secret", SECRET, "--at", &later, &path]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("3 days old"), "{}", r.stdout);
}

#[test]
fn explains_a_body_that_differs_from_the_signed_bytes() {
    let dir = TempDir::new("doctor-body");
    let sign = |b: &[u8]| hex(&hmac256(SECRET.as_bytes(), &[b]));
    let mut with_nl = BODY.to_vec();
    with_nl.push(b'\n');
    let python = r#"{"event": "lead.captured", "data": {"name": "Zo\u00eb", "n": 1}}"#.as_bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(BODY).unwrap();
    let gz = gz.finish().unwrap();
    let sig_plain = sign(BODY);
    let sig = |v: &str| vec![("X-Signature".to_owned(), v.to_owned())];
    let mut gz_headers = sig(&sig_plain);
    gz_headers.push(("Content-Encoding".into(), "gzip".into()));
    let cases: Vec<BodyCase> = vec![
        // Captured with a newline an editor added; signed without.
        (
            "newline added",
            sig(&sig_plain),
            with_nl.clone(),
            "trailing-newline-added",
        ),
        // Signed with a newline the capture lost.
        (
            "newline lost",
            sig(&sign(&with_nl)),
            BODY.to_vec(),
            "trailing-newline-missing",
        ),
        // Signed as Python's json.dumps wrote it, captured re-serialised compactly.
        (
            "re-serialised",
            sig(&sign(python)),
            BODY.to_vec(),
            "re-serialised-json",
        ),
        // Signed compact with raw UTF-8 (`JSON.stringify`), captured as Python's json.dumps
        // re-wrote it, `\u00eb` escape included.
        (
            "python capture",
            sig(&sig_plain),
            python.to_vec(),
            "re-serialised-json",
        ),
        // Captured gzip-compressed, signed decompressed.
        ("compressed", gz_headers, gz, "compressed"),
    ];
    for (case, headers, body, variant) in cases {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (code, v) = doctor(&dir, &capture(&h, None, &body), &["--secret", SECRET]);
        assert_eq!(code, 1, "{case}: {v:#}");
        assert_eq!(v["matched"], false, "{case}");
        assert_eq!(v["near_miss"], "body-differs", "{case}: {v:#}");
        assert_eq!(v["body_variant"], variant, "{case}");
        assert!(
            v["explanation"]
                .as_str()
                .unwrap()
                .contains("differs from the signed bytes"),
            "{case}"
        );
        if case == "re-serialised" {
            assert_eq!(v["json_style"], "python");
        }
        if case == "python capture" {
            assert_eq!(v["json_style"], "compact", "{v:#}");
        }
    }
}

#[test]
fn explains_a_base64_looking_secret_used_raw() {
    let dir = TempDir::new("doctor-raw");
    let text = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
    let sig = hmac256(text.as_bytes(), &[BODY]);
    let cap = capture(&[("X-Signature", &hex(&sig))], None, BODY);
    let (code, v) = doctor(&dir, &cap, &["--secret", text]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["secret_encoding"], "raw");
    let e = v["explanation"].as_str().unwrap();
    assert!(e.contains("looks base64") && e.contains("used raw"), "{e}");
    // With the same secret decoded by the sender instead, doctor says the opposite.
    let decoded = chathooks_b64_decode(text);
    let sig = hmac256(&decoded, &[BODY]);
    let (_, v) = doctor(
        &dir,
        &capture(&[("X-Signature", &hex(&sig))], None, BODY),
        &["--secret", text],
    );
    assert_eq!(v["secret_encoding"], "base64");
}

fn chathooks_b64_decode(t: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(t).unwrap()
}

#[test]
fn explains_a_signature_of_another_length() {
    let dir = TempDir::new("doctor-len");
    let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(BODY);
    let sha1 = format!("sha1={}", hex(&m.finalize().into_bytes()));
    let mut m = <Hmac<sha2::Sha512> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(BODY);
    let sha512 = hex(&m.finalize().into_bytes());
    for (header, value, bytes, algo) in [
        ("X-Hub-Signature", sha1, 20, "SHA-1"),
        ("X-Signature", sha512, 64, "SHA-512"),
    ] {
        let (code, v) = doctor(
            &dir,
            &capture(&[(header, &value)], None, BODY),
            &["--secret", SECRET],
        );
        assert_eq!(code, 1, "{v:#}");
        assert_eq!(v["near_miss"], "signature-length");
        assert_eq!(v["signature_bytes"], bytes);
        assert_eq!(v["algorithm"], algo);
        assert_eq!(v["algorithm_confirmed"], true);
        assert!(v["explanation"].as_str().unwrap().contains(algo));
    }
}

#[test]
fn nothing_matches_with_a_wrong_secret() {
    let dir = TempDir::new("doctor-none");
    let sig = hmac256(b"the-real-secret-is-elsewhere", &[BODY]);
    let cap = capture(&[("X-Signature", &hex(&sig))], None, BODY);
    let (code, v) = doctor(&dir, &cap, &["--secret", SECRET]);
    assert_eq!(code, 1);
    assert_eq!(v["matched"], false);
    assert_eq!(v["near_miss"], Value::Null);
    assert!(v["explanation"]
        .as_str()
        .unwrap()
        .contains("Nothing matches"));
    // The same capture through stdin and as raw HTTP.
    let raw = format!(
        "POST /hook HTTP/1.1\r\nX-Signature: {}\r\nContent-Length: {}\r\n\r\n",
        hex(&hmac256(SECRET.as_bytes(), &[BODY])),
        BODY.len()
    );
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(BODY);
    let r = super::run_with(&["doctor", "--json", "--secret", SECRET, "-"], &bytes);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["signed_content"], "body");

    // SaleSmartly signed with another key: its 16-byte MD5 is not "a signature of another
    // length" but SaleSmartly's own, which no secret given reproduces.
    let ss = r#"{"event":"message","data":{"msg":"hi"}}"#.as_bytes();
    let md5_input =
        format!("the-real-key-0123456789&data={{\"msg\":\"hi\"}}&event=message&timestamp={TS}");
    let q = format!(
        "timestamp={TS}&signature={}",
        hex(&md5_of(md5_input.as_bytes()))
    );
    let (code, v) = doctor(&dir, &capture(&[], Some(&q), ss), &["--secret", SECRET]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["near_miss"], Value::Null, "{v:#}");
    assert!(
        v["explanation"]
            .as_str()
            .unwrap()
            .contains("SaleSmartly's MD5 signature"),
        "{v:#}"
    );
}

/// Decodes raw, as base64 and as hex: three keys, as the search builds them.
const TRICKY: &str = "00112233445566778899aabbccddeeff";

/// The key bytes of `TRICKY` in each decoding doctor reports.
fn tricky_keys() -> [(&'static str, Vec<u8>); 3] {
    [
        ("raw", TRICKY.as_bytes().to_vec()),
        ("base64", chathooks_b64_decode(TRICKY)),
        ("hex", hex::decode(TRICKY).unwrap()),
    ]
}

/// Every layout with every key decoding, from one set of headers in which several layouts
/// sign the same bytes (`{ts}.` for the timestamp header and for Stripe's `t=`): doctor hashes
/// each (key, prefix) once and must still name the layout and the key that signed.
#[test]
fn finds_each_layout_with_each_key_among_shared_prefixes() {
    let dir = TempDir::new("doctor-shared");
    let ts = TS.to_string();
    let ms = (TS * 1000 + 123).to_string();
    let wrong = hex(&[7u8; 32]);
    for (enc, key) in tricky_keys() {
        let mac = |parts: &[&[u8]]| hmac256(&key, parts);
        let cases: [(&str, String, String, &str, &str); 6] = [
            ("body", hex(&mac(&[BODY])), wrong.clone(), "body", ""),
            (
                "timestamp.body",
                format!("sha256={}", hex(&mac(&[ts.as_bytes(), b".", BODY]))),
                wrong.clone(),
                "timestamp.body",
                "X-Timestamp",
            ),
            (
                "milliseconds",
                hex(&mac(&[ms.as_bytes(), b".", BODY])),
                wrong.clone(),
                "timestamp.body",
                "X-Sent-At",
            ),
            (
                "id.timestamp.body",
                b64(&mac(&[b"evt_9.", ts.as_bytes(), b".", BODY])),
                wrong.clone(),
                "id.timestamp.body",
                "X-Timestamp",
            ),
            (
                "slack",
                format!("v0={}", hex(&mac(&[b"v0:", ts.as_bytes(), b":", BODY]))),
                wrong.clone(),
                "slack-v0",
                "X-Timestamp",
            ),
            (
                "stripe",
                wrong.clone(),
                hex(&mac(&[ts.as_bytes(), b".", BODY])),
                "stripe",
                "Stripe-Signature",
            ),
        ];
        for (case, x_sig, stripe_sig, content, ts_header) in cases {
            let stripe = format!("t={ts},v1={stripe_sig}");
            let headers = [
                ("X-Event-Id", "evt_9"),
                ("X-Timestamp", ts.as_str()),
                ("X-Sent-At", ms.as_str()),
                ("Stripe-Signature", stripe.as_str()),
                ("X-Signature", x_sig.as_str()),
            ];
            let (code, v) = doctor(&dir, &capture(&headers, None, BODY), &["--secret", TRICKY]);
            let case = format!("{enc} key, {case}");
            assert_eq!(code, 0, "{case}: {v:#}");
            assert_eq!(v["matched"], true, "{case}");
            assert_eq!(v["secret_encoding"], enc, "{case}: {v:#}");
            assert_eq!(v["signed_content"], content, "{case}: {v:#}");
            let want_header = if content == "stripe" {
                "Stripe-Signature"
            } else {
                "X-Signature"
            };
            assert_eq!(v["header"], want_header, "{case}");
            if ts_header.is_empty() {
                assert_eq!(v["timestamp_header"], Value::Null, "{case}");
            } else {
                assert_eq!(v["timestamp_header"], ts_header, "{case}: {v:#}");
            }
            if content == "id.timestamp.body" {
                assert_eq!(v["id_header"], "X-Event-Id", "{case}");
            }
        }
    }
}

/// One item of the large JSON body, in the style its separators and indentation give.
fn item(n: usize, text: &str, sep: (&str, &str), indent: Option<usize>) -> String {
    let (item_sep, key_sep) = sep;
    match indent {
        None => format!(
            r#"{{"type"{key_sep}"message.created"{item_sep}"data"{key_sep}{{"text"{key_sep}"{text}"{item_sep}"n"{key_sep}{n}}}}}"#
        ),
        Some(w) => {
            let (a, b, c) = (" ".repeat(w), " ".repeat(2 * w), " ".repeat(3 * w));
            format!(
                "{a}{{\n{b}\"type\": \"message.created\",\n{b}\"data\": {{\n{c}\"text\": \"{text}\",\n{c}\"n\": {n}\n{b}}}\n{a}}}"
            )
        }
    }
}

/// About 120 KB of JSON (several of the writer's 32 KiB chunks), item texts from `text(n)`.
fn large_body(
    text: impl Fn(usize) -> &'static str,
    sep: (&str, &str),
    indent: Option<usize>,
) -> Vec<u8> {
    let items: Vec<String> = (0..2000).map(|n| item(n, text(n), sep, indent)).collect();
    match indent {
        None => format!("[{}]", items.join(sep.0)),
        Some(_) => format!("[\n{}\n]", items.join(",\n")),
    }
    .into_bytes()
}

/// The same large body in each JSON style doctor knows, signed over the body or over
/// `{ts}.{body}`, with each key decoding in turn: the restyled bodies are written and hashed in
/// chunks, once for all (key, prefix) states, and each must still be found and named.
#[test]
fn finds_every_json_style_of_a_large_body() {
    let dir = TempDir::new("doctor-styles");
    let ts = TS.to_string();
    let utf8 = |_| "h\u{e9}llo";
    let escaped = |_| "h\\u00e9llo";
    // Captured with spaces everywhere: no style writes it this way.
    let captured = large_body(utf8, (" , ", " : "), None);
    let sorted = {
        let items: Vec<String> = (0..2000)
            .map(|n| format!(r#"{{"data":{{"n":{n},"text":"héllo"}},"type":"message.created"}}"#))
            .collect();
        format!("[{}]", items.join(",")).into_bytes()
    };
    let sorted_as = |text: &str, (item_sep, key_sep): (&str, &str)| {
        let items: Vec<String> = (0..2000)
            .map(|n| format!(r#"{{"data"{key_sep}{{"n"{key_sep}{n}{item_sep}"text"{key_sep}"{text}"}}{item_sep}"type"{key_sep}"message.created"}}"#))
            .collect();
        format!("[{}]", items.join(item_sep)).into_bytes()
    };
    let styles: [(&str, Vec<u8>); 11] = [
        ("compact", large_body(utf8, (",", ":"), None)),
        ("python", large_body(escaped, (", ", ": "), None)),
        ("spaced", large_body(utf8, (", ", ": "), None)),
        ("compactascii", large_body(escaped, (",", ":"), None)),
        ("pretty2", large_body(utf8, (",", ": "), Some(2))),
        ("pretty4", large_body(utf8, (",", ": "), Some(4))),
        ("sortedcompact", sorted),
        ("pretty2ascii", large_body(escaped, (",", ": "), Some(2))),
        ("pretty4ascii", large_body(escaped, (",", ": "), Some(4))),
        ("sortedcompactascii", sorted_as("h\\u00e9llo", (",", ":"))),
        ("sortedpython", sorted_as("h\\u00e9llo", (", ", ": "))),
    ];
    let keys = tricky_keys();
    for (i, (style, signed)) in styles.iter().enumerate() {
        let (enc, key) = &keys[i % 3];
        let timestamped = i % 2 == 1;
        let mac = if timestamped {
            hmac256(key, &[ts.as_bytes(), b".", signed])
        } else {
            hmac256(key, &[signed])
        };
        let sig = hex(&mac);
        let headers = [("X-Timestamp", ts.as_str()), ("X-Signature", sig.as_str())];
        let (code, v) = doctor(
            &dir,
            &capture(&headers, None, &captured),
            &["--secret", TRICKY],
        );
        assert_eq!(code, 1, "{style}: {v:#}");
        assert_eq!(v["near_miss"], "body-differs", "{style}: {v:#}");
        assert_eq!(v["body_variant"], "re-serialised-json", "{style}");
        assert_eq!(v["json_style"], *style, "{style}");
        assert_eq!(v["secret_encoding"], *enc, "{style}");
        let content = if timestamped {
            "timestamp.body"
        } else {
            "body"
        };
        assert_eq!(v["signed_content"], content, "{style}");
    }
}

/// A restyled body that equals the captured one for most of its length: hashing starts at the
/// first difference, from the captured bytes (late in the body, or past its end).
#[test]
fn finds_a_json_style_that_differs_late_or_only_at_the_end() {
    let dir = TempDir::new("doctor-late");
    let last = |n: usize| if n == 1999 { "h\u{e9}llo" } else { "hello" };
    let last_escaped = |n: usize| if n == 1999 { "h\\u00e9llo" } else { "hello" };
    // Captured compact with one non-ASCII character near the end; signed with it escaped.
    let captured = large_body(last, (",", ":"), None);
    let signed = large_body(last_escaped, (",", ":"), None);
    // Captured compact plus trailing spaces; signed without them (the compact style is a strict
    // prefix of the capture).
    let plain = large_body(|_| "hello", (",", ":"), None);
    let mut padded = plain.clone();
    padded.extend_from_slice(b"   ");
    for (case, captured, signed, style) in [
        ("late", captured, signed, "compactascii"),
        ("prefix", padded, plain, "compact"),
    ] {
        let sig = hex(&hmac256(SECRET.as_bytes(), &[&signed]));
        let (code, v) = doctor(
            &dir,
            &capture(&[("X-Signature", &sig)], None, &captured),
            &["--secret", SECRET],
        );
        assert_eq!(code, 1, "{case}: {v:#}");
        assert_eq!(v["body_variant"], "re-serialised-json", "{case}: {v:#}");
        assert_eq!(v["json_style"], style, "{case}");
    }
}

/// `sha256:<hex>` (a colon after the prefix) is found like `sha256=<hex>`, and the emitted
/// verifier takes it; before, doctor said no header held a 32-byte signature.
#[test]
fn finds_a_prefix_written_with_a_colon() {
    let dir = TempDir::new("doctor-colon");
    let sig = hex(&hmac256(SECRET.as_bytes(), &[BODY]));
    for (value, prefix) in [
        (format!("sha256:{sig}"), "sha256:"),
        (
            format!("hmac-sha256:{}", b64(&hmac256(SECRET.as_bytes(), &[BODY]))),
            "hmac-sha256:",
        ),
    ] {
        let (code, v) = doctor(
            &dir,
            &capture(&[("X-Signature", &value)], None, BODY),
            &["--secret", SECRET],
        );
        assert_eq!(code, 0, "{value}: {v:#}");
        assert_eq!(v["matched"], true, "{value}");
        assert_eq!(v["prefix"], prefix, "{value}");
        assert_eq!(v["confirmed"], true, "{value}: {v:#}");
        assert!(
            v["rust"]
                .as_str()
                .unwrap()
                .contains(&format!(".prefix({prefix:?})")),
            "{v:#}"
        );
    }
}

/// An unpadded base64url signature (`-` and `_`) is found and named as such. No built-in
/// verifier reads base64url, so doctor says that instead of emitting one that would reject it,
/// and no longer claims that no header holds a 32-byte signature.
#[test]
fn finds_an_unpadded_base64url_signature_and_says_no_verifier_reads_it() {
    use base64::Engine as _;
    let dir = TempDir::new("doctor-b64url");
    // A body whose MAC has both `-` and `_` in base64url, so it is not also standard base64.
    let (body, mac) = (0u32..)
        .map(|n| {
            let body = format!(r#"{{"event":"lead.captured","n":{n}}}"#).into_bytes();
            let mac = hmac256(SECRET.as_bytes(), &[&body]);
            (body, mac)
        })
        .find(|(_, mac)| {
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac);
            s.contains('-') && s.contains('_')
        })
        .unwrap();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac);
    let (code, v) = doctor(
        &dir,
        &capture(&[("X-Signature", &sig)], None, &body),
        &["--secret", SECRET],
    );
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["matched"], true, "{v:#}");
    assert_eq!(v["encoding"], "base64url");
    assert_eq!(v["header"], "X-Signature");
    assert_eq!(v["rust"], Value::Null, "no verifier to paste: {v:#}");
    assert_eq!(v["confirmed"], false);
    let explanation = v["explanation"].as_str().unwrap();
    assert!(explanation.contains("base64url"), "{explanation}");
    assert!(!explanation.contains("no header"), "{explanation}");
    // The human output does not point at a verifier "below" that is not printed.
    let path = dir.path().join("cap.json");
    let ts = TS.to_string();
    let r = run(&[
        "doctor",
        "--at",
        &ts,
        "--secret",
        SECRET,
        path.to_str().unwrap(),
    ]);
    assert!(
        r.stdout
            .starts_with("✓ match, but no built-in verifier takes it as sent"),
        "{}",
        r.stdout
    );
}

/// Python's default `json.dumps` (`ensure_ascii=True`: non-ASCII as lowercase `\uXXXX`, a
/// surrogate pair above the BMP) with `indent=2`, `indent=4`, `sort_keys=True` and sorted
/// compact separators, over a body with non-ASCII text: each is found as re-serialised JSON
/// and named. Before, doctor blamed the secret. The texts are what Python 3 writes.
#[test]
fn finds_pythons_ascii_escaped_styles_of_a_non_ascii_body() {
    let dir = TempDir::new("doctor-ascii-styles");
    let captured = r#"{"event":"lead.captured","data":{"name":"Zoë 😀","n":1}}"#;
    let cases = [
        (
            "pretty2ascii",
            "{\n  \"event\": \"lead.captured\",\n  \"data\": {\n    \"name\": \"Zo\\u00eb \\ud83d\\ude00\",\n    \"n\": 1\n  }\n}",
        ),
        (
            "pretty4ascii",
            "{\n    \"event\": \"lead.captured\",\n    \"data\": {\n        \"name\": \"Zo\\u00eb \\ud83d\\ude00\",\n        \"n\": 1\n    }\n}",
        ),
        (
            "sortedcompactascii",
            r#"{"data":{"n":1,"name":"Zo\u00eb \ud83d\ude00"},"event":"lead.captured"}"#,
        ),
        (
            "sortedpython",
            r#"{"data": {"n": 1, "name": "Zo\u00eb \ud83d\ude00"}, "event": "lead.captured"}"#,
        ),
    ];
    for (style, signed) in cases {
        let sig = hex(&hmac256(SECRET.as_bytes(), &[signed.as_bytes()]));
        let (code, v) = doctor(
            &dir,
            &capture(&[("X-Signature", &sig)], None, captured.as_bytes()),
            &["--secret", SECRET],
        );
        assert_eq!(code, 1, "{style}: {v:#}");
        assert_eq!(v["near_miss"], "body-differs", "{style}: {v:#}");
        assert_eq!(v["body_variant"], "re-serialised-json", "{style}");
        assert_eq!(v["json_style"], style, "{style}");
        assert!(
            v["explanation"]
                .as_str()
                .unwrap()
                .contains("non-ASCII escaped"),
            "{style}: {v:#}"
        );
    }
    // `sort_keys=True` of an ASCII-only body has no UTF-8 twin to stand in for it.
    let ascii = r#"{"event":"lead.captured","data":{"name":"Zoe","n":1}}"#;
    let signed = r#"{"data": {"n": 1, "name": "Zoe"}, "event": "lead.captured"}"#;
    let sig = hex(&hmac256(SECRET.as_bytes(), &[signed.as_bytes()]));
    let (code, v) = doctor(
        &dir,
        &capture(&[("X-Signature", &sig)], None, ascii.as_bytes()),
        &["--secret", SECRET],
    );
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["json_style"], "sortedpython", "{v:#}");
    // A capture that is ASCII only because Python escaped it, signed with the characters
    // (`ensure_ascii=False`): the UTF-8 style is not the same bytes as its escaping twin here.
    let escaped =
        r#"{"event": "lead.captured", "data": {"name": "Zo\u00eb \ud83d\ude00", "n": 1}}"#;
    let signed = "{\"event\": \"lead.captured\", \"data\": {\"name\": \"Zoë 😀\", \"n\": 1}}";
    let sig = hex(&hmac256(SECRET.as_bytes(), &[signed.as_bytes()]));
    let (code, v) = doctor(
        &dir,
        &capture(&[("X-Signature", &sig)], None, escaped.as_bytes()),
        &["--secret", SECRET],
    );
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["json_style"], "spaced", "{v:#}");
}
