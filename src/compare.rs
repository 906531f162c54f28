//! Several models answering one question at once: one [`Session`] per model over a copy of
//! the conversation, each with its own request, retries, timeouts and cancellation (so a slow
//! or failing model holds back nobody). When they have ended, the answer chosen to continue
//! with goes into the conversation and the others are kept as its alternatives — every one of
//! them was paid for and counts in the conversation's total. No I/O: `charla compare` and the
//! chat screen's `/compare` stream the requests [`Compare::begin`] returns and feed the events
//! to [`Compare::apply`].

use crate::config::ModelRef;
use crate::conversation::{Answer, Message};
use crate::parts::Part;
use crate::provider::{ChatRequest, ProviderError, StreamEvent};
use crate::session::{Applied, Session};

/// A request to stream for pane `pane`.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub pane: usize,
    pub request_id: u64,
    pub provider: String,
    pub request: ChatRequest,
}

pub struct Compare {
    /// One per model, in the order given; each conversation is the base's plus the question
    /// and that model's answer.
    pub panes: Vec<Session>,
    /// The index of the question in every pane's conversation (the answer follows it).
    pub question: usize,
}

/// Most models one comparison asks at once.
pub const MAX_MODELS: usize = 6;

impl Compare {
    /// Asks `text` (with `parts`) of every model in `models`, each in a session of its own
    /// over `base`'s conversation. The spend caps are shared: each answer may take an n-th of
    /// what is left. Nothing changes in `base`. Err: why it cannot be asked (naming the model).
    pub fn begin(
        base: &mut Session,
        models: &[ModelRef],
        text: &str,
        parts: Vec<Part>,
        max_tokens: Option<u32>,
    ) -> Result<(Compare, Vec<Start>), ProviderError> {
        if models.len() < 2 || models.len() > MAX_MODELS {
            return Err(ProviderError::new(
                crate::provider::ErrorKind::Config,
                format!(
                    "a comparison takes 2 to {MAX_MODELS} models (got {})",
                    models.len()
                ),
            ));
        }
        // One canary for the conversation, whichever answer is kept.
        if base
            .conv
            .system_prompt
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
            && base.conv.canary.is_none()
            && base.cfg.file.canary != Some(false)
        {
            base.conv.canary = Some(crate::guard::new_canary());
        }
        let caps = base
            .caps
            .shared(&base.conv, &crate::util::today(), models.len());
        let mut panes = Vec::with_capacity(models.len());
        let mut starts = Vec::with_capacity(models.len());
        let question = base.conv.messages.len();
        for (i, m) in models.iter().enumerate() {
            let mut s = Session::with_conversation(base.cfg.clone(), base.conv.clone(), m.clone());
            s.caps = caps.clone();
            s.temperature = base.temperature;
            if max_tokens.is_some() {
                s.max_tokens = max_tokens;
            }
            s.load_tokenizer = base.load_tokenizer;
            s.injection = base.injection.clone();
            s.injection_confirmed = base.injection_confirmed;
            let (request_id, request, _) = s
                .begin_with(text, parts.clone())
                .map_err(|(e, _)| ProviderError::new(e.kind, format!("{m}: {}", e.message)))?;
            starts.push(Start {
                pane: i,
                request_id,
                provider: m.provider.clone(),
                request,
            });
            panes.push(s);
        }
        Ok((Compare { panes, question }, starts))
    }

    /// The pane whose request `request_id` is.
    pub fn pane_of(&self, request_id: u64) -> Option<usize> {
        self.panes.iter().position(|s| {
            s.in_flight
                .as_ref()
                .is_some_and(|f| f.request_id == request_id)
        })
    }

    /// Applies a stream event to the pane it belongs to: (pane, what changed), or None when
    /// it is no pane's.
    pub fn apply(&mut self, request_id: u64, ev: StreamEvent) -> Option<(usize, Applied)> {
        let i = self.pane_of(request_id)?;
        Some((i, self.panes[i].apply(request_id, ev)))
    }

    /// Cancels pane `i`'s answer (what it wrote is kept, marked interrupted).
    pub fn cancel(&mut self, i: usize) -> Applied {
        self.panes
            .get_mut(i)
            .map_or(Applied::Ignored, |s| s.cancel())
    }

    /// Cancels every answer still streaming.
    pub fn cancel_all(&mut self) {
        for s in &mut self.panes {
            if s.is_streaming() {
                s.cancel();
            }
        }
    }

    /// Every pane has ended.
    pub fn done(&self) -> bool {
        self.panes.iter().all(|s| !s.is_streaming())
    }

    pub fn streaming(&self) -> usize {
        self.panes.iter().filter(|s| s.is_streaming()).count()
    }

    /// Pane `i`'s answer (as written so far).
    pub fn answer(&self, i: usize) -> Option<&Message> {
        self.panes.get(i)?.conv.messages.get(self.question + 1)
    }

    /// The first pane that answered without an error, for a default choice.
    pub fn first_answered(&self) -> Option<usize> {
        (0..self.panes.len()).find(|&i| {
            self.answer(i)
                .and_then(|m| m.answer.as_ref())
                .is_some_and(|a| a.error.is_none() && !a.interrupted)
        })
    }

    /// The panes' answers as the conversation keeps them: pane `chosen`'s is the answer, the
    /// others (in pane order) its alternatives. Panes still streaming are cancelled first.
    pub fn finish(mut self, base: &mut Session, chosen: usize) {
        self.cancel_all();
        let chosen = chosen.min(self.panes.len().saturating_sub(1));
        let q = self.question;
        let mut question = None;
        let mut answers: Vec<Message> = Vec::new();
        for s in &mut self.panes {
            if question.is_none() {
                question = s.conv.messages.get(q).cloned();
            }
            if s.conv.canary.is_some() && base.conv.canary.is_none() {
                base.conv.canary = s.conv.canary.clone();
            }
            let a = s.conv.messages.get(q + 1).cloned().unwrap_or_else(|| {
                let mut m = Message::assistant(s.model.to_string());
                m.answer = Some(Answer {
                    interrupted: true,
                    error: Some("no answer".into()),
                    ..Answer::new(s.model.to_string())
                });
                m
            });
            answers.push(a);
        }
        let Some(question) = question else {
            return;
        };
        let mut main = answers.remove(chosen);
        let alts: Vec<_> = answers
            .into_iter()
            .flat_map(|m| m.into_alternatives(None))
            .collect();
        if let Some(a) = main.answer.as_mut() {
            a.alternatives = alts;
        }
        base.conv.messages.truncate(q);
        base.conv.messages.push(question);
        base.conv.messages.push(main);
        base.conv.ensure_title();
        base.conv.model = None;
        base.conv.updated = crate::util::now_rfc3339();
        base.set_model(self.panes.swap_remove(chosen).model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::provider::Usage;
    use std::sync::Arc;

    fn base() -> Session {
        let cfg = Arc::new(Config::builtin());
        let m = cfg.resolve_model("openai/gpt-5-mini").expect("model");
        Session::new(cfg, m)
    }

    fn models(s: &Session, names: &[&str]) -> Vec<ModelRef> {
        names
            .iter()
            .map(|n| s.cfg.resolve_model(n).expect("model"))
            .collect()
    }

    fn answer(c: &mut Compare, s: &Start, text: &str, out: u64) {
        c.apply(s.request_id, StreamEvent::TextDelta(text.into()));
        c.apply(
            s.request_id,
            StreamEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: out,
                ..Default::default()
            }),
        );
        c.apply(
            s.request_id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
        );
    }

    #[test]
    fn every_model_answers_and_the_others_are_kept_as_alternatives() {
        let mut b = base();
        let ms = models(
            &b,
            &[
                "openai/gpt-5-mini",
                "anthropic/claude-haiku-4-5",
                "gemini/gemini-2.5-flash",
            ],
        );
        let (mut c, starts) =
            Compare::begin(&mut b, &ms, "Explain CRDTs", vec![], None).expect("begin");
        assert_eq!(starts.len(), 3);
        assert!(b.conv.messages.is_empty(), "the base is untouched");
        // Each request is its model's, with the question.
        assert_eq!(starts[1].provider, "anthropic");
        assert_eq!(starts[2].request.model, "gemini-2.5-flash");
        assert!(starts.iter().all(|s| s.request.messages.len() == 1));
        // The fast one finishes while the others stream; a stale id is nobody's.
        answer(&mut c, &starts[2], "gemini says", 5);
        assert_eq!(c.streaming(), 2);
        assert!(
            c.apply(987_654, StreamEvent::TextDelta("x".into()))
                .is_none()
        );
        answer(&mut c, &starts[0], "openai says", 7);
        c.apply(
            starts[1].request_id,
            StreamEvent::Error(ProviderError::new(
                crate::provider::ErrorKind::RateLimited,
                "rate limited",
            )),
        );
        assert!(c.done());
        assert_eq!(c.first_answered(), Some(0));
        let costs: f64 = (0..3)
            .filter_map(|i| c.answer(i).and_then(|m| m.answer.as_ref()?.cost_usd))
            .sum();
        c.finish(&mut b, 2);
        let msgs = &b.conv.messages;
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].content, "Explain CRDTs");
        assert_eq!(msgs[1].content, "gemini says");
        let a = msgs[1].answer.as_ref().expect("answer");
        assert_eq!(a.model, "gemini/gemini-2.5-flash");
        let alts: Vec<&str> = a
            .alternatives
            .iter()
            .map(|x| x.answer.model.as_str())
            .collect();
        assert_eq!(alts, ["openai/gpt-5-mini", "anthropic/claude-haiku-4-5"]);
        assert!(a.alternatives[1].answer.error.is_some());
        assert_eq!(a.alternatives[0].answer.usage.output_tokens, 7);
        // The conversation continues on the chosen model, and every answer's cost counts.
        assert_eq!(b.model.to_string(), "gemini/gemini-2.5-flash");
        assert!((b.totals().cost_usd - costs).abs() < 1e-12, "{costs}");
        assert!(b.totals().cost_usd > a.cost_usd.unwrap_or(0.0));
    }

    #[test]
    fn a_spend_cap_is_shared_between_the_models() {
        let mut b = base();
        b.caps.conversation = Some(0.09);
        let ms = models(
            &b,
            &[
                "openai/gpt-5-mini",
                "anthropic/claude-haiku-4-5",
                "openai/gpt-4o",
            ],
        );
        let (c, _) = Compare::begin(&mut b, &ms, "hi", vec![], None).expect("begin");
        for p in &c.panes {
            let cap = p.caps.conversation.expect("cap");
            assert!(
                (cap - 0.03).abs() < 1e-12,
                "each answer gets a third: {cap}"
            );
        }
    }

    #[test]
    fn one_model_or_too_many_is_refused() {
        let mut b = base();
        let ms = models(&b, &["openai/gpt-5-mini"]);
        assert!(Compare::begin(&mut b, &ms, "hi", vec![], None).is_err());
        let many = vec![ms[0].clone(); MAX_MODELS + 1];
        assert!(Compare::begin(&mut b, &many, "hi", vec![], None).is_err());
    }
}
