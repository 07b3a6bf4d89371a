//! Tests for the examples (filled in below).
