//! Structured answers through the real binary: each wire format carries the schema in its own
//! form, every answer is validated, a non-conforming one is re-asked with the errors, and the
//! exit code says how it ended.

mod support;

use support::Home;

const FILM: &str = "title, year int, genres: the film's genres";

fn body(o: &str, end: &str) -> serde_json::Value {
    support::last_request(o, |r| r.path.contains(end)).json()
}

#[test]
fn each_provider_gets_the_schema_in_its_own_form() {
    let o = "echo,film=0,t=forms";
    let h = Home::new(o);
    for (model, end) in [
        ("openai/gpt-4o-mini", "/chat/completions"),
        ("anthropic/claude-haiku-4-5", "/messages"),
        ("anthropic/claude-3-5-haiku-20241022", "/messages"),
        ("gemini/gemini-2.5-flash", ":streamGenerateContent"),
        ("ollama/llama3.2", "/api/chat"),
    ] {
        let r = h.run(&["ask", "-m", model, "--schema", FILM, "--no-save", "Alien?"]);
        assert_eq!(r.code, 0, "{model}: {}", r.stderr);
        assert_eq!(
            r.stdout.trim(),
            r#"{"genres":"Sci-Fi","title":"Alien","year":1979}"#,
            "{model}: the JSON alone"
        );
        let b = body(o, end);
        let year = match model {
            m if m.starts_with("openai") => {
                assert_eq!(b["response_format"]["type"], "json_schema");
                b["response_format"]["json_schema"]["schema"]["properties"]["year"].clone()
            }
            "anthropic/claude-haiku-4-5" => {
                let req = support::last_request(o, |r| r.path.ends_with("/messages"));
                assert_eq!(
                    req.header("anthropic-beta"),
                    Some("structured-outputs-2025-11-13")
                );
                b["output_format"]["schema"]["properties"]["year"].clone()
            }
            m if m.starts_with("anthropic") => {
                // No structured outputs on this model: asked in the system prompt.
                let sys = b["system"].as_str().expect("system");
                assert!(sys.contains("Answer with JSON only"), "{sys}");
                assert!(b.get("output_format").is_none());
                serde_json::json!({"type": "integer"})
            }
            m if m.starts_with("gemini") => {
                assert_eq!(
                    b["generationConfig"]["responseMimeType"],
                    "application/json"
                );
                b["generationConfig"]["responseSchema"]["properties"]["year"].clone()
            }
            _ => b["format"]["properties"]["year"].clone(),
        };
        assert_eq!(year["type"], "integer", "{model}: {b}");
    }
}

#[test]
fn a_non_conforming_answer_is_re_asked_with_the_errors_then_passes_or_fails() {
    // The first answer breaks the schema, the second conforms.
    let o = "echo,film=1,t=retry";
    let h = Home::new(o);
    let r = h.run(&[
        "ask",
        "--json",
        "-m",
        "openai/gpt-4o-mini",
        "--schema",
        FILM,
        "Alien?",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let checks = r.of_type("schema");
    assert_eq!(checks.len(), 2, "{}", r.stdout);
    assert_eq!(checks[0]["valid"], false);
    let errors: Vec<&str> = checks[0]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(errors.iter().any(|e| e.starts_with("/year:")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("genres")), "{errors:?}");
    assert_eq!(checks[1]["valid"], true);
    // The re-ask carried the errors.
    let b = body(o, "/chat/completions");
    let last = b["messages"].as_array().expect("m").last().expect("last")["content"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(
        last.contains("does not conform") && last.contains("/year"),
        "{last}"
    );
    let saved = h.saved();
    assert_eq!(saved[0]["messages"][1]["schema"]["valid"], false);
    assert_eq!(saved[0]["messages"][3]["schema"]["valid"], true);
    assert!(
        saved[0]["schema"]["properties"]["year"].is_object(),
        "kept with the conversation"
    );

    // Never conforming within the retries: exit 5, the answer printed as it is.
    let o = "echo,film=9,t=fail";
    let h = Home::new(o);
    let r = h.run(&[
        "ask",
        "-m",
        "openai/gpt-4o-mini",
        "--schema",
        FILM,
        "--schema-retries",
        "2",
        "Alien?",
    ]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stdout.contains("Here it is:"), "{}", r.stdout);
    assert!(r.stderr.contains("schema: /year:"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("asking again").count(), 2, "{}", r.stderr);
    // --schema-multi wants a list; a bad --schema is refused before sending.
    let r = h.run(&["ask", "--schema", "title, year list", "q"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the types are str, int, float, bool"),
        "{}",
        r.stderr
    );
    let r = h.run(&[
        "ask",
        "-m",
        "openai/gpt-4o-mini",
        "--schema",
        FILM,
        "--schema-multi",
        "--no-save",
        "--schema-retries",
        "0",
        "q",
    ]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let b = body(o, "/chat/completions");
    assert_eq!(
        b["response_format"]["json_schema"]["schema"]["properties"]["items"]["type"],
        "array"
    );
}
