//! Reading an answer at a front end's pace (`provider::pace`), through the real HTTP client
//! against the fake server: nothing is lost or reordered, the tokens come in batches of a
//! frame, and the first token is never held back.

mod support;

use charla::provider::pace::Pace;
use charla::provider::stream::{self, Endpoint};
use charla::provider::{ChatMessage, ChatRequest, Kind, Role, StreamEvent};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn request() -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "go".into(),
            parts: vec![],
            fence: None,
        }],
        ..ChatRequest::default()
    }
}

/// The answer's text, its number of deltas, and in how many groups they came (a delta more
/// than a millisecond after the one before starts a group).
async fn collect(url: &str, pace: Option<Arc<Pace>>) -> (String, usize, usize) {
    let ep = Arc::new(Endpoint::new("p", Kind::Openai, format!("{url}/v1")));
    let mut rx = stream::spawn_paced(ep, request(), CancellationToken::new(), pace.clone());
    let frames = pace.map(|p| {
        // A screen drawing a frame every 40 ms.
        tokio::spawn(async move {
            loop {
                p.hold_until(tokio::time::Instant::now() + Duration::from_millis(40));
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    });
    let (mut text, mut deltas, mut groups) = (String::new(), 0, 0);
    let mut last: Option<std::time::Instant> = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            StreamEvent::TextDelta(t) => {
                text.push_str(&t);
                deltas += 1;
                let now = std::time::Instant::now();
                if last.is_none_or(|l| now - l > Duration::from_millis(1)) {
                    groups += 1;
                }
                last = Some(now);
            }
            StreamEvent::Finished { .. } => break,
            StreamEvent::Error(e) => panic!("stream failed: {e}"),
            _ => {}
        }
    }
    if let Some(f) = frames {
        f.abort();
    }
    (text, deltas, groups)
}

#[tokio::test(flavor = "current_thread")]
async fn a_paced_stream_gives_the_whole_answer_a_frame_at_a_time() {
    let server = support::fake_server::FakeServer::start();
    // 300 deltas, one every 2 ms: about 15 come during each 40 ms frame.
    let url = server.url("md=300,slow=2");
    let (plain, n, plain_groups) = collect(&url, None).await;
    let (paced, m, paced_groups) = collect(&url, Some(Arc::new(Pace::default()))).await;
    eprintln!("{n} deltas: {plain_groups} groups unpaced, {paced_groups} paced");
    assert_eq!(n, 300);
    assert_eq!(m, 300, "deltas lost or merged");
    assert_eq!(paced, plain, "the paced answer differs");
    assert!(
        paced_groups * 4 < m,
        "the paced stream was not read a frame at a time: {m} deltas came in {paced_groups} groups (unpaced: {plain_groups})"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_first_token_is_not_held_back() {
    let server = support::fake_server::FakeServer::start();
    let pace = Arc::new(Pace::default());
    // A hold that a frame set long ago would keep everything back for a minute.
    pace.hold_until(tokio::time::Instant::now() + Duration::from_secs(60));
    let ep = Arc::new(Endpoint::new(
        "p",
        Kind::Openai,
        format!("{}/v1", server.url("md=50,slow=5")),
    ));
    let mut rx = stream::spawn_paced(ep, request(), CancellationToken::new(), Some(pace.clone()));
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Some(StreamEvent::TextDelta(t)) => return t,
                Some(StreamEvent::Error(e)) => panic!("{e}"),
                Some(_) => {}
                None => panic!("no text"),
            }
        }
    })
    .await
    .expect("the first token waited for the pace");
    assert!(!first.is_empty());
}

/// A server faster than the frames (a flood) is read whole and in order: the waits end early
/// and then stop, and nothing is lost.
#[tokio::test(flavor = "current_thread")]
async fn a_flood_through_a_pace_loses_nothing() {
    let server = support::fake_server::FakeServer::start();
    let url = server.url("big=3000");
    let (plain, n, _) = collect(&url, None).await;
    let (paced, m, _) = collect(&url, Some(Arc::new(Pace::default()))).await;
    assert!(n >= 3000, "{n}");
    assert_eq!((m, paced), (n, plain));
}
