//! Opt-in repair of malformed JSON (being written; see issue 3).

use std::fmt;

/// Largest input [`repair`] accepts, in bytes.
pub const MAX_REPAIR_INPUT: usize = 1024 * 1024;

/// The repaired document and the list of fixes applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repaired {
    /// The repaired JSON bytes.
    pub bytes: Vec<u8>,
    /// Every change made, in input order.
    pub fixes: Vec<Fix>,
}

/// One change made by [`repair`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fix {
    /// Byte offset in the input where the fix applies.
    pub offset: usize,
    /// What was changed.
    pub kind: FixKind,
}

/// The kinds of defects [`repair`] fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FixKind {
    /// A comma was missing between two members or elements.
    InsertedComma,
}

/// Why [`repair`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepairError {
    /// The input is larger than [`MAX_REPAIR_INPUT`].
    TooLarge,
}

impl fmt::Display for RepairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("input too large to repair")
    }
}

impl std::error::Error for RepairError {}

/// Repair malformed JSON (placeholder until issue 3 lands: only validates the size).
pub fn repair(input: &[u8]) -> Result<Repaired, RepairError> {
    if input.len() > MAX_REPAIR_INPUT {
        return Err(RepairError::TooLarge);
    }
    Ok(Repaired {
        bytes: input.to_vec(),
        fixes: Vec::new(),
    })
}
