//! Integration tests: one binary, one module per area.

mod vendor_saleassist;
mod vendor_salesmartly;
