#![no_main]
//! See `charla::fuzzing::markdown` for the invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| charla::fuzzing::markdown(data));
