#![no_main]
//! Every provider decoder (the last byte picks which); see `charla::fuzzing::decoder`.
use charla::provider::Kind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_last() else {
        return;
    };
    let kind = [Kind::Openai, Kind::Anthropic, Kind::Gemini, Kind::Ollama][k as usize % 4];
    charla::fuzzing::decoder(kind, rest);
});
