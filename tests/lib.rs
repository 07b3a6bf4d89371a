//! Integration tests: one binary, one module per area.

mod vendor_buzzi;
mod vendor_conversalabs;
mod vendor_never_panic;
mod vendor_sam;
mod vendor_standard;
