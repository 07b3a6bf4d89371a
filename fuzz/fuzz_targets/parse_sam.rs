#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| chathooks_fuzz::targets::parse_sam(data));
