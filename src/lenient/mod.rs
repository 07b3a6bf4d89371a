//! Tolerant parsing of messy vendor data: serde helpers and opt-in JSON repair.
//!
//! Vendors send numbers as strings, `"Yes"` for booleans, JSON encoded inside strings, `""` or
//! `0` for "not set", and sometimes JSON that is not well-formed at all. The helpers here accept
//! all of that where it is unambiguous and keep the original text where a conversion would lose
//! information. [`repair`] is opt-in and reports every change it makes.

mod repair;

pub use self::repair::{repair, Fix, FixKind, RepairError, Repaired, MAX_REPAIR_INPUT};
pub use self::repair::{MAX_REPAIR_DEPTH, MAX_REPAIR_FIXES, WRAPPER_KEY};

pub mod de;
mod timestamp;

pub use self::timestamp::{local_date_time, timestamp, Timestamp};
