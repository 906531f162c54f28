//! Every transcript, split into two reads at every byte position (and into three reads around
//! every multi-byte character), decodes to exactly the events of the unsplit body: SSE framing,
//! CRLF, UTF-8 and the BOM guard hold at any boundary.

use charla::provider::{Kind, StreamEvent};

const FIXTURES: &[(&str, Kind, &[u8])] = &[
    (
        "openai",
        Kind::Openai,
        include_bytes!("fixtures/wire/openai_chat_stream.txt"),
    ),
    (
        "openrouter",
        Kind::Openai,
        include_bytes!("fixtures/wire/openrouter_stream.txt"),
    ),
    (
        "anthropic",
        Kind::Anthropic,
        include_bytes!("fixtures/wire/anthropic_messages_stream.txt"),
    ),
    (
        "anthropic-error",
        Kind::Anthropic,
        include_bytes!("fixtures/wire/anthropic_error_midstream.txt"),
    ),
    (
        "gemini",
        Kind::Gemini,
        include_bytes!("fixtures/wire/gemini_stream.txt"),
    ),
    (
        "ollama",
        Kind::Ollama,
        include_bytes!("fixtures/wire/ollama_chat.ndjson"),
    ),
];

async fn decode(kind: Kind, chunks: Vec<Vec<u8>>) -> Vec<StreamEvent> {
    // The fuzz targets' decoding, so the two never drift apart.
    charla::fuzzing::decoded(kind, chunks)
}

#[tokio::test]
async fn every_two_read_split_decodes_the_same() {
    for (name, kind, body) in FIXTURES {
        let whole = decode(*kind, vec![body.to_vec()]).await;
        assert!(
            whole.iter().any(|e| matches!(e, StreamEvent::TextDelta(_))),
            "{name} has text"
        );
        for i in 1..body.len() {
            let got = decode(*kind, vec![body[..i].to_vec(), body[i..].to_vec()]).await;
            assert_eq!(got, whole, "{name} split at byte {i}");
        }
        // With a BOM in front, split inside the BOM too.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(body);
        for i in 1..6 {
            let got = decode(*kind, vec![bom[..i].to_vec(), bom[i..].to_vec()]).await;
            assert_eq!(got, whole, "{name} with BOM split at {i}");
        }
    }
}

#[tokio::test]
async fn three_read_splits_inside_every_multibyte_character() {
    for (name, kind, body) in FIXTURES {
        let whole = decode(*kind, vec![body.to_vec()]).await;
        let starts: Vec<usize> = (0..body.len()).filter(|&i| body[i] >= 0xC0).collect();
        for s in starts {
            let len = if body[s] >= 0xF0 {
                4
            } else if body[s] >= 0xE0 {
                3
            } else {
                2
            };
            for a in s + 1..s + len {
                for b in a + 1..=(s + len).min(body.len() - 1) {
                    let chunks = vec![body[..a].to_vec(), body[a..b].to_vec(), body[b..].to_vec()];
                    assert_eq!(
                        decode(*kind, chunks).await,
                        whole,
                        "{name} split at {a} and {b}"
                    );
                }
            }
        }
    }
}
