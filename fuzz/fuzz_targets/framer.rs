#![no_main]
//! See `charla::fuzzing::framer` for the invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| charla::fuzzing::framer(data));
