#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| chathooks_fuzz::targets::receive(data));
