//! Timestamp parsing and tolerance checks with checked arithmetic.
//!
//! Attacker-controlled values (`-1`, `i64::MIN`, `u64::MAX`, 40 digits, `1e9`, milliseconds) must
//! produce a clear error and never panic or wrap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Name;
use crate::Error;

/// Seconds since the epoch at or above which a "seconds" timestamp is taken to be milliseconds
/// (10^11 s is the year 5138; 10^11 ms is March 1973).
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

/// Parse decimal unix seconds. Only ASCII digits are accepted (no sign, no spaces, no exponent).
pub(crate) fn parse_seconds(text: &str, name: &Name) -> Result<u64, Error> {
    let secs = parse_digits(text, name)?;
    if secs >= MILLIS_THRESHOLD {
        return Err(Error::InvalidTimestamp {
            name: name.clone(),
            reason: "value is too large for seconds (milliseconds?)",
        });
    }
    Ok(secs)
}

/// Parse decimal unix time in seconds or milliseconds (told apart by magnitude); returns seconds.
pub(crate) fn parse_seconds_or_millis(text: &str, name: &Name) -> Result<u64, Error> {
    let v = parse_digits(text, name)?;
    Ok(if v >= MILLIS_THRESHOLD { v / 1000 } else { v })
}

fn parse_digits(text: &str, name: &Name) -> Result<u64, Error> {
    let bad = |reason| Error::InvalidTimestamp {
        name: name.clone(),
        reason,
    };
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if text.starts_with('-') {
        return Err(bad("negative"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not decimal digits"));
    }
    text.parse::<u64>().map_err(|_| bad("out of range"))
}

/// Seconds since the epoch of `now`; a clock before 1970 counts as 0.
pub(crate) fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `SystemTime` for unix seconds (always representable: `secs` is bounded by the parsers).
pub(crate) fn to_system_time(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Check `ts` against `now` in both directions.
pub(crate) fn check_tolerance(ts: u64, now: SystemTime, tolerance: Duration) -> Result<(), Error> {
    let now = unix_secs(now);
    let tol = tolerance.as_secs();
    if let Some(age) = now.checked_sub(ts) {
        if age > tol {
            return Err(Error::TimestampTooOld {
                age_secs: age,
                tolerance_secs: tol,
            });
        }
    } else {
        let ahead = ts - now; // ts > now here
        if ahead > tol {
            return Err(Error::TimestampInFuture {
                ahead_secs: ahead,
                tolerance_secs: tol,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> Name {
        "t".into()
    }

    #[test]
    fn hostile_values_are_errors() {
        for bad in [
            "",
            "-1",
            "-9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999",
            "1e9",
            " 1",
            "+1",
            "1.5",
            "１２",
            "1700000000000",
        ] {
            assert!(parse_seconds(bad, &n()).is_err(), "{bad:?}");
        }
        assert_eq!(parse_seconds("1700000000", &n()).unwrap(), 1_700_000_000);
        assert_eq!(
            parse_seconds_or_millis("1700000000123", &n()).unwrap(),
            1_700_000_000
        );
    }

    #[test]
    fn tolerance_both_directions_at_the_edges() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let tol = Duration::from_secs(300);
        assert!(check_tolerance(1_000_000 - 300, now, tol).is_ok());
        assert!(check_tolerance(1_000_000 + 300, now, tol).is_ok());
        assert!(matches!(
            check_tolerance(1_000_000 - 301, now, tol),
            Err(Error::TimestampTooOld { age_secs: 301, .. })
        ));
        assert!(matches!(
            check_tolerance(1_000_000 + 301, now, tol),
            Err(Error::TimestampInFuture {
                ahead_secs: 301,
                ..
            })
        ));
        assert!(check_tolerance(u64::MAX, now, tol).is_err());
        assert!(check_tolerance(0, now, tol).is_err());
        assert!(check_tolerance(0, UNIX_EPOCH - Duration::from_secs(5), tol).is_ok());
        assert!(check_tolerance(u64::MAX, now, Duration::MAX).is_ok());
    }
}
