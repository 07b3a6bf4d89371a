//! Finding 3: `lenient::repair` keeps at most `MAX_REPAIR_FIXES` fixes and gives up past them,
//! instead of one `Fix` per input byte (61 MiB peak for a 1 MiB input in the review).

use chathooks::lenient::{repair, RepairError, MAX_REPAIR_FIXES, MAX_REPAIR_INPUT};

#[test]
fn inputs_needing_a_fix_per_byte_are_refused() {
    // `[1 1 1 …]`: a missing comma between every pair of elements; `]]]…`: an unmatched closer
    // per byte. Both near the input limit.
    let n = MAX_REPAIR_INPUT / 2 - 2;
    let commas = format!("[{}]", "1 ".repeat(n));
    let closers = format!("[]{}", "]".repeat(MAX_REPAIR_INPUT - 2));
    for input in [commas.as_bytes(), closers.as_bytes()] {
        match repair(input) {
            Err(RepairError::TooManyFixes { offset }) => assert!(offset < input.len()),
            other => panic!(
                "expected TooManyFixes, got {:?}",
                other.map(|r| r.fixes.len())
            ),
        }
    }
}

#[test]
fn up_to_the_limit_is_still_repaired() {
    let at_limit = format!("[{}1]", "1 ".repeat(MAX_REPAIR_FIXES));
    let r = repair(at_limit.as_bytes()).unwrap();
    assert_eq!(r.fixes.len(), MAX_REPAIR_FIXES);
    let over = format!("[{}1]", "1 ".repeat(MAX_REPAIR_FIXES + 1));
    assert!(matches!(
        repair(over.as_bytes()),
        Err(RepairError::TooManyFixes { .. })
    ));
    // The error converts to a 422 like every repair failure.
    let err: chathooks::ParseError = repair(over.as_bytes()).unwrap_err().into();
    assert_eq!(chathooks::Error::from(err).status(), 422);
}

/// A receiver allowed to repair says so when repair gives up: its 422 names the failure at the
/// path and why repair refused, not only the original syntax error.
#[tokio::test]
async fn a_receiver_says_when_repair_gave_up() {
    use chathooks::platform::sam::SamEvent;
    use chathooks::verify::Unverified;
    use chathooks::{Inbound, Receiver};

    let receiver = Receiver::<SamEvent>::builder(Unverified)
        .repair(true)
        .build();
    // One more key than fixes allowed: a missing comma between each pair, one too many.
    let missing_commas: String = (0..MAX_REPAIR_FIXES + 2)
        .map(|i| format!("\"k{i}\":1 "))
        .collect();
    let body = format!(r#"{{"event":"lead.captured","data":{{{missing_commas}}}}}"#);
    let headers = chathooks::http::HeaderMap::new();
    let err = match receiver
        .receive(&Inbound::new(&headers, body.as_bytes()))
        .await
    {
        Err(err) => err,
        Ok(chathooks::Received::Fresh(d)) => panic!(
            "a body past the repair bound was accepted with {} fixes",
            d.repairs().len()
        ),
        Ok(_) => panic!("duplicate"),
    };
    assert_eq!(err.status(), 422);
    let text = err.to_string();
    assert!(
        text.contains("repair gave up: more than 1024 fixes needed"),
        "{text}"
    );
    // One that repairs within the bound is still accepted, with its fixes.
    let body = br#"{"event":"lead.captured","data":{"a":1 "b":2}}"#;
    match receiver.receive(&Inbound::new(&headers, body)).await {
        Ok(chathooks::Received::Fresh(d)) => assert_eq!(d.repairs().len(), 1),
        other => panic!("expected a repaired delivery, got {other:?}"),
    }
}
