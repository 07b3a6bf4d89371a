//! [`Timestamp`]: a point in time as a vendor sent it, with the original kept.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserializer, Visitor};

use super::de::null_is_none;

/// Epoch values at or above this are milliseconds, not seconds (10^11 s is the year 5138).
const MILLIS_THRESHOLD: u64 = 100_000_000_000;
/// Epoch values at or above this are beyond milliseconds (year 5138 in ms); not interpreted.
const MILLIS_LIMIT: u64 = MILLIS_THRESHOLD * 1000;

/// A timestamp as sent, plus the instant it denotes when that is knowable.
///
/// Accepts epoch seconds or milliseconds (numbers or digit strings; told apart by magnitude),
/// fractional epoch seconds, ISO 8601 / RFC 3339 with an offset or `Z`, and ISO 8601 *without*
/// an offset (`"2024-07-11T16:30"`). A local time without offset or zone does not denote an
/// instant: `instant` is then `None` and the text stays in `original`, where
/// [`Timestamp::in_zone`] can resolve it once the zone is known.
///
/// ```
/// use chathooks::lenient::Timestamp;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let ms = Timestamp::parse("1720694558068");
/// assert_eq!(ms.instant, Some(UNIX_EPOCH + Duration::from_millis(1720694558068)));
/// let iso = Timestamp::parse("2024-07-11T11:00:00Z");
/// assert_eq!(iso.instant, Some(UNIX_EPOCH + Duration::from_secs(1720695600)));
/// let local = Timestamp::parse("2024-07-11T16:30");
/// assert_eq!(local.instant, None);
/// assert_eq!(local.in_zone("Asia/Calcutta"), iso.instant);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Timestamp {
    /// The instant, when the value carries enough information to know it.
    pub instant: Option<SystemTime>,
    /// The value exactly as sent (numbers as their decimal text).
    pub original: String,
}

impl Timestamp {
    /// Interpret text as sent by a vendor. Never fails: unknown formats keep only `original`.
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        let instant = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse::<u64>().ok().and_then(from_epoch_int)
        } else if let Ok(ts) = t.parse::<jiff::Timestamp>() {
            to_system_time(ts)
        } else {
            t.parse::<f64>().ok().and_then(from_epoch_float)
        };
        Timestamp {
            instant,
            original: text.to_owned(),
        }
    }

    /// The instant of a local date-time without offset (`original`, ISO 8601) in an IANA zone
    /// (`"Asia/Kolkata"`, legacy aliases such as `"Asia/Calcutta"` too), using the system's
    /// time-zone database, or the copy bundled into the crate where the system has none (or
    /// lacks the zone). `None` if either part is not understood.
    pub fn in_zone(&self, zone: &str) -> Option<SystemTime> {
        let dt: jiff::civil::DateTime = self.original.trim().parse().ok()?;
        civil_in_zone(dt, zone)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// The instant of a US-style date (`M/D/YYYY`) and 12-hour time (`hh:mm AM`/`PM`, or 24-hour
/// `HH:MM`) in an IANA zone, as SaleAssist's meeting objects carry them (`"7/11/2024"`,
/// `"04:30 PM"`, `"Asia/Calcutta"`). `None` when any part is not understood. Zones resolve
/// without a system time-zone database (scratch and distroless images): the IANA database is
/// bundled as the fallback.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let at = chathooks::lenient::local_date_time("7/11/2024", "04:30 PM", "Asia/Calcutta");
/// assert_eq!(at, Some(UNIX_EPOCH + Duration::from_secs(1720695600)));
/// ```
pub fn local_date_time(date: &str, time: &str, zone: &str) -> Option<SystemTime> {
    let mut d = date.trim().splitn(3, '/');
    let month: i8 = d.next()?.parse().ok()?;
    let day: i8 = d.next()?.parse().ok()?;
    let year: i16 = d.next()?.parse().ok()?;
    let time = time.trim();
    let (clock, meridiem) = match time.rsplit_once(' ') {
        Some((c, m)) => (c.trim(), Some(m.trim())),
        None => (time, None),
    };
    let (h, m) = clock.split_once(':')?;
    let mut hour: i8 = h.parse().ok()?;
    let minute: i8 = m.get(..2).unwrap_or(m).parse().ok()?;
    let is_12h = (1..=12).contains(&hour);
    match meridiem {
        None => {}
        Some(p) if p.eq_ignore_ascii_case("AM") && is_12h => hour %= 12,
        Some(p) if p.eq_ignore_ascii_case("PM") && is_12h => hour = hour % 12 + 12,
        Some(_) => return None,
    }
    let dt = jiff::civil::DateTime::new(year, month, day, hour, minute, 0, 0).ok()?;
    civil_in_zone(dt, zone)
}

fn civil_in_zone(dt: jiff::civil::DateTime, zone: &str) -> Option<SystemTime> {
    let tz = time_zone(zone.trim())?;
    let zoned = dt.to_zoned(tz).ok()?;
    to_system_time(zoned.timestamp())
}

/// The zone from the system's database (kept up to date by the OS), else from the copy bundled
/// into the binary: containers built `FROM scratch` or distroless have no `/usr/share/zoneinfo`,
/// and a trimmed one may lack the zone. jiff itself falls back to the bundle only when it finds
/// no system database at all, so a partial one needs this second look.
fn time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    static BUNDLED: std::sync::OnceLock<jiff::tz::TimeZoneDatabase> = std::sync::OnceLock::new();
    jiff::tz::db()
        .get(name)
        .or_else(|_| {
            BUNDLED
                .get_or_init(jiff::tz::TimeZoneDatabase::bundled)
                .get(name)
        })
        .ok()
}

fn to_system_time(ts: jiff::Timestamp) -> Option<SystemTime> {
    let secs = ts.as_second();
    let nanos = u32::try_from(ts.subsec_nanosecond()).ok()?;
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

fn from_epoch_int(v: u64) -> Option<SystemTime> {
    if v < MILLIS_THRESHOLD {
        UNIX_EPOCH.checked_add(Duration::from_secs(v))
    } else if v < MILLIS_LIMIT {
        UNIX_EPOCH.checked_add(Duration::from_millis(v))
    } else {
        None
    }
}

fn from_epoch_float(v: f64) -> Option<SystemTime> {
    if !(0.0..MILLIS_THRESHOLD as f64).contains(&v) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(v).ok()?)
}

/// `deserialize_with` for `Option<Timestamp>`: numbers or strings as [`Timestamp::parse`]
/// reads them; `0`, `""` and `null` read as `None` (vendors' "not set").
pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Timestamp>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a timestamp (epoch number, or date-time text)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            if t.is_empty() || t == "0" {
                return Ok(None);
            }
            Ok(Some(Timestamp::parse(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok((v != 0).then(|| Timestamp {
                instant: from_epoch_int(v),
                original: v.to_string(),
            }))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match u64::try_from(v) {
                Ok(u) => self.visit_u64(u),
                // Negative epochs are kept as text but not interpreted.
                Err(_) => Ok(Some(Timestamp {
                    instant: None,
                    original: v.to_string(),
                })),
            }
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok((v != 0.0).then(|| Timestamp {
                instant: from_epoch_float(v),
                original: v.to_string(),
            }))
        }
        null_is_none!('de);
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(s))
    }

    #[test]
    fn formats() {
        assert_eq!(Timestamp::parse("1720695600").instant, secs(1720695600));
        assert_eq!(Timestamp::parse("1720695600000").instant, secs(1720695600));
        assert_eq!(
            Timestamp::parse("2024-07-11T16:30:00+05:30").instant,
            secs(1720695600)
        );
        assert_eq!(
            Timestamp::parse("2024-07-11T11:00:00.000Z").instant,
            secs(1720695600)
        );
        assert!(Timestamp::parse("1720695600.5").instant.is_some());
        assert_eq!(Timestamp::parse("yesterday").instant, None);
        assert_eq!(Timestamp::parse("99999999999999999999").instant, None);
        assert_eq!(Timestamp::parse("-5").instant, None);
        assert_eq!(
            local_date_time("7/11/2024", "04:30 PM", "Asia/Calcutta"),
            secs(1720695600)
        );
        assert_eq!(
            local_date_time("7/11/2024", "12:05 AM", "UTC"),
            secs(1720656300)
        );
        assert_eq!(local_date_time("13/11/2024", "04:30 PM", "UTC"), None);
        assert_eq!(local_date_time("7/11/2024", "13:30 PM", "UTC"), None);
        assert_eq!(local_date_time("7/11/2024", "04:30 PM", "Mars/Base"), None);
        assert_eq!(local_date_time("", "", ""), None);
    }

    #[test]
    fn sentinels_are_none() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(default, deserialize_with = "timestamp")]
            t: Option<Timestamp>,
        }
        for body in [r#"{"t":0}"#, r#"{"t":""}"#, r#"{"t":null}"#, r#"{}"#] {
            let s: S = serde_json::from_str(body).unwrap();
            assert!(s.t.is_none(), "{body}");
        }
        let s: S = serde_json::from_str(r#"{"t":1720694558068}"#).unwrap();
        assert_eq!(s.t.unwrap().original, "1720694558068");
        let s: S = serde_json::from_str(r#"{"t":-1}"#).unwrap();
        assert_eq!(s.t.unwrap().instant, None);
        assert!(serde_json::from_str::<S>(r#"{"t":[1]}"#).is_err());
    }
}
