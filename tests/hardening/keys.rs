//! Finding 6: the dedupe-key encoding is injective (namespace, id source, id), and the
//! body-hash key is exactly the SHA-256 of the signed content.

use chathooks::idempotency::{IdSource, IdempotencyKey};
use chathooks::receiver::RawBody;
use chathooks::verify::HmacSha256;
use chathooks::{platform, Inbound, Received, Receiver, Secret, Verified};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// What a key says, read back: (namespace, tag, verbatim id or hashed hex, hashed?). If every
/// key decodes to the inputs that made it, no two inputs can share a key.
fn decode(key: &str) -> (String, String, String, bool) {
    let (ns, rest) = key.split_once('/').expect("a namespace, then `/`");
    let cut = rest.find([':', '#']).expect("a tag, then `:` or `#`");
    let (tag, id) = (&rest[..cut], &rest[cut + 1..]);
    (
        ns.to_owned(),
        tag.to_owned(),
        id.to_owned(),
        rest.as_bytes()[cut] == b'#',
    )
}

fn tag(source: IdSource) -> &'static str {
    match source {
        IdSource::SignedDelivery => "id",
        IdSource::Event => "ev",
        IdSource::Custom => "key",
        _ => unreachable!(),
    }
}

#[test]
fn the_review_collisions_are_gone() {
    let a = IdempotencyKey::new("sam", "tenant-42:e").unwrap();
    let b = IdempotencyKey::new("sam:tenant-42", "e").unwrap();
    assert_ne!(a, b);
    // A vendor event id that reads like a body hash cannot mark that body's key as done.
    let body = b"{}";
    let content = IdempotencyKey::content("sam", &Sha256::digest(body).into()).unwrap();
    let spoof = format!("sha256:{}", hex::encode(Sha256::digest(body)));
    for source in [IdSource::Event, IdSource::SignedDelivery, IdSource::Custom] {
        assert_ne!(
            IdempotencyKey::with_source("sam", source, &spoof).unwrap(),
            content
        );
    }
    // Nor can the same id from two sources share a key.
    assert_ne!(
        IdempotencyKey::with_source("sam", IdSource::Event, "x").unwrap(),
        IdempotencyKey::with_source("sam", IdSource::SignedDelivery, "x").unwrap()
    );
}

fn namespace() -> impl Strategy<Value = String> {
    "[a-z0-9_.:-]{1,12}"
}

fn id() -> impl Strategy<Value = String> {
    // Separators the old encoding confused, `#`, `/`, spaces, non-ASCII and long ids.
    prop_oneof![
        "[a-z:/#]{1,12}",
        "[ -~]{1,40}",
        "\\PC{1,8}",
        "[a-z]{199,202}",
    ]
}

fn source() -> impl Strategy<Value = IdSource> {
    prop_oneof![
        Just(IdSource::SignedDelivery),
        Just(IdSource::Event),
        Just(IdSource::Custom)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every key reads back as the namespace, the source's tag and the id (or its hash).
    #[test]
    fn keys_decode_to_their_inputs(ns in namespace(), src in source(), id in id()) {
        let key = IdempotencyKey::with_source(&ns, src, &id).unwrap();
        let (kns, ktag, kid, hashed) = decode(key.as_str());
        prop_assert_eq!(kns, ns);
        prop_assert_eq!(ktag, tag(src));
        if hashed {
            prop_assert_eq!(kid, hex::encode(Sha256::digest(id.as_bytes())));
        } else {
            prop_assert_eq!(kid, id);
        }
    }

    /// Moving a `:`-separated piece between namespace and id never keeps the key.
    #[test]
    fn splitting_one_string_two_ways_gives_two_keys(
        left in "[a-z]{1,6}", mid in "[a-z0-9-]{1,6}", right in "[a-z]{1,6}",
        src in source(),
    ) {
        let a = IdempotencyKey::with_source(&left, src, &format!("{mid}:{right}")).unwrap();
        let b = IdempotencyKey::with_source(&format!("{left}:{mid}"), src, &right).unwrap();
        prop_assert_ne!(a, b);
    }

    /// Two different inputs never share a key.
    #[test]
    fn different_inputs_different_keys(
        a in (namespace(), source(), id()), b in (namespace(), source(), id()),
    ) {
        prop_assume!(a != b);
        let ka = IdempotencyKey::with_source(&a.0, a.1, &a.2).unwrap();
        let kb = IdempotencyKey::with_source(&b.0, b.1, &b.2).unwrap();
        prop_assert_ne!(ka, kb);
    }
}

/// Test audit: the body-hash key is exactly `ns/sha256:<hex of SHA-256(body)>` (a constant
/// or truncated hash must fail), and two different id-less bodies are both Fresh.
#[tokio::test]
async fn body_hash_keys_are_exact_and_distinct() {
    let v = Verified::new("x", b"hello");
    assert_eq!(
        platform::dedupe_key("ns", &v, None).unwrap().as_str(),
        format!("ns/sha256:{}", hex::encode(Sha256::digest(b"hello")))
    );
    let github = || HmacSha256::github(Secret::raw("It's a Secret to Everybody").unwrap());
    let rx = Receiver::<RawBody>::builder(github()).build();
    for body in [&b"{\"a\":1}"[..], b"{\"a\":2}"] {
        let h = github().sign(std::time::SystemTime::now(), body);
        let Received::Fresh(d) = rx.receive(&Inbound::new(&h, body)).await.unwrap() else {
            panic!("each id-less body is its own delivery")
        };
        assert_eq!(
            d.key().as_str(),
            format!("raw/sha256:{}", hex::encode(Sha256::digest(body)))
        );
        d.complete().await.unwrap();
    }
}
