#![no_main]
//! See `charla::fuzzing::conversation_file` for the invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| charla::fuzzing::conversation_file(data));
