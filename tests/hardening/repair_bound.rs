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
