//! The conversation file format (`"version": 2`). Unknown fields are ignored so that a newer
//! charla's files still open (read-only: see the store); a missing optional field takes its
//! default. Version 2 added `parts` to messages; a version 1 file reads as one whose messages
//! have none, and is written as version 2 the next time it changes.

use crate::parts::Part;
use crate::provider::{ChatMessage, Role, Usage};
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub version: u32,
    pub id: String,
    pub title: String,
    pub created: String,
    pub updated: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The prompt-leak canary planted in this conversation's system prompt as sent (one per
    /// conversation, so the provider's prompt cache keeps working; never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// The JSON Schema every answer of this conversation must follow (`--schema`, `/schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// The tools this conversation offers the model (`ask --tools`, `/tools`, a preset's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// The MCP servers whose tools it offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<String>,
    /// The collection its questions are answered from (`ask --rag`, `/rag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<String>,
    /// For a replay: the id of the conversation whose questions were re-asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// For a fork: the conversation and message it was forked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
    /// The model to continue on before this conversation's next answer (a fork's `-m`);
    /// cleared when a turn starts (answers then say which model wrote them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Where this conversation was read from and what it held then (not saved).
    #[serde(skip)]
    pub origin: Origin,
}

/// What the store knows about the file a conversation came from: its path (saves and deletes
/// go there, never to a path made from the untrusted `id`) and the ids of the messages it held
/// when it was last read or written, so that a save can tell the turns another process appended
/// (merged in) from the ones this one removed.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub path: Option<std::path::PathBuf>,
    pub known: std::sync::Arc<std::collections::HashSet<String>>,
    /// The file's version when a newer charla wrote it: the conversation is read-only.
    pub newer_version: Option<u32>,
}

/// Origins are bookkeeping, not content: two conversations with the same content are equal.
impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique within the conversation and stable across saves (so concurrent writers can merge).
    /// Files written before ids existed get deterministic ones when read ([`Conversation::assign_ids`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub role: Role,
    /// The message's own words: what the user typed, what the model answered.
    pub content: String,
    /// Everything else it carries, in order: attached files and images, retrieved context,
    /// tool calls and results (see [`crate::parts`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// A few-shot example exchange (from a preset), sent before the real question.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub example: bool,
    /// What the injection scanner saw in this message's untrusted parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<crate::guard::Flag>,
    /// Present on assistant answers (not on examples).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

/// What charla recorded about one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// `provider/model` that wrote it.
    pub model: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasoning: String,
    #[serde(default)]
    pub usage: Usage,
    /// USD; null when the model's price is unknown.
    pub cost_usd: Option<f64>,
    #[serde(default)]
    pub usage_estimated: bool,
    /// When the request was sent (RFC 3339, UTC): the day and month spend caps count by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub ttft_ms: Option<u64>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The stream broke or was cancelled; `content` keeps the partial answer.
    #[serde(default)]
    pub interrupted: bool,
    /// The turn failed before the provider accepted the request (no key, connection refused,
    /// an HTTP error before the stream, cancelled before it started): zero tokens, $0.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer checked against the conversation's schema (finished answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<crate::schema::Check>,
    /// What the guards found in this answer (a system prompt leak).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<crate::guard::Flag>,
    /// Earlier answers to the same question (regenerated or edited), newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
    /// For an answer that used tools: each model step's usage and cost (`usage` and
    /// `cost_usd` are their sums; the last step is the one that answered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepCost>,
}

/// One model step of an answer that used tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCost {
    #[serde(default)]
    pub usage: Usage,
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// How long the model streamed this step (the answer's `duration_ms` also holds the
    /// tools' time and the approvals').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Another answer to the same question: regenerated (`/retry`), answered before the question
/// was edited (`/edit`), or another model's answer of a comparison. It keeps its whole record
/// (`model`, `usage`, `cost_usd`, timings, `error` … flattened beside `content`; older files
/// hold only `model` and `cost_usd`), and, when it was the conversation's path before another
/// answer was chosen, the turns that followed it: choosing it again brings them back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub content: String,
    /// The question it answered, when the question was edited afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    #[serde(flatten)]
    pub answer: Answer,
    /// The turns that followed this answer while it was the chosen one (a branch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub following: Vec<Message>,
}

/// Where a forked conversation came from: the conversation and the last message it kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkedFrom {
    pub id: String,
    pub message: String,
    /// How many turns (questions with their answers) the fork kept.
    #[serde(default)]
    pub turns: usize,
}

impl Answer {
    pub fn new(model: impl Into<String>) -> Self {
        Answer {
            model: model.into(),
            reasoning: String::new(),
            usage: Usage::default(),
            cost_usd: None,
            usage_estimated: false,
            sent_at: None,
            ttft_ms: None,
            duration_ms: None,
            finish_reason: None,
            interrupted: false,
            not_accepted: false,
            error: None,
            guards: vec![],
            schema: None,
            alternatives: vec![],
            steps: vec![],
        }
    }

    /// Output tokens per second over the streaming part of the turn.
    pub fn tokens_per_sec(&self) -> Option<f64> {
        // With tools, over the model's own streaming time, not the tools' or the approvals'.
        let dur = if self.steps.is_empty() {
            self.duration_ms? as f64 / 1000.0
        } else {
            self.steps
                .iter()
                .map(|s| s.duration_ms.map(|d| d as f64 / 1000.0))
                .sum::<Option<f64>>()?
        };
        let streaming = dur - self.ttft_ms.unwrap_or(0) as f64 / 1000.0;
        (streaming > 0.05 && self.usage.output_tokens > 0)
            .then(|| self.usage.output_tokens as f64 / streaming)
    }
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            id: crate::util::new_message_id(),
            role: Role::User,
            content: text.into(),
            parts: vec![],
            example: false,
            flags: vec![],
            answer: None,
        }
    }
    /// A user message with attachments (sent before the words).
    pub fn user_with(text: impl Into<String>, parts: Vec<Part>) -> Self {
        Message {
            parts,
            ..Message::user(text)
        }
    }
    pub fn example(role: Role, text: impl Into<String>) -> Self {
        Message {
            id: crate::util::new_message_id(),
            role,
            content: text.into(),
            parts: vec![],
            example: true,
            flags: vec![],
            answer: None,
        }
    }
    /// This answer and the ones it replaced, as the alternatives of the answer replacing it.
    /// `question` is set when the question was edited too.
    pub fn into_alternatives(self, question: Option<String>) -> Vec<Alternative> {
        let Some(mut a) = self.answer else {
            return vec![];
        };
        let mut alts = std::mem::take(&mut a.alternatives);
        alts.push(Alternative {
            content: self.content,
            question,
            parts: self.parts,
            answer: a,
            following: vec![],
        });
        alts
    }

    pub fn assistant(model: impl Into<String>) -> Self {
        Message {
            id: crate::util::new_message_id(),
            role: Role::Assistant,
            content: String::new(),
            parts: vec![],
            example: false,
            flags: vec![],
            answer: Some(Answer::new(model)),
        }
    }
}

/// Per-conversation running totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub usage: Usage,
    pub cost_usd: f64,
    /// Answers whose price is unknown (their tokens are counted, their cost is not).
    pub unpriced_turns: usize,
    pub estimated_turns: usize,
    pub turns: usize,
}

impl Totals {
    /// Counts an answer kept aside (an alternative, a compared answer not chosen yet): its
    /// tokens and cost, not a turn. One still streaming, or never accepted, has no price to miss.
    pub fn add_aside(&mut self, a: &Answer) {
        self.usage.add(&a.usage);
        match a.cost_usd {
            Some(c) => self.cost_usd += c,
            None if a.not_accepted || a.duration_ms.is_none() => {}
            None => self.unpriced_turns += 1,
        }
    }
}

impl Conversation {
    pub fn new(id: String, now: String) -> Self {
        Conversation {
            version: VERSION,
            id,
            title: String::new(),
            created: now.clone(),
            updated: now,
            system_prompt: None,
            preset: None,
            canary: None,
            schema: None,
            tools: vec![],
            mcp: vec![],
            rag: None,
            replay_of: None,
            forked_from: None,
            model: None,
            messages: vec![],
            origin: Origin::default(),
        }
    }

    /// Gives every message without an id one derived from its place and content, so that two
    /// processes reading the same old file agree on them.
    pub fn assign_ids(&mut self) {
        for (i, m) in self.messages.iter_mut().enumerate() {
            if m.id.is_empty() {
                let mut h = crate::util::Fnv::default();
                h.write(m.content.as_bytes());
                h.write(&[m.role as u8, m.example as u8]);
                m.id = format!("v1-{i}-{:016x}", h.finish());
            }
        }
    }

    /// Ids of the messages, as the store remembers them.
    pub fn message_ids(&self) -> std::collections::HashSet<String> {
        self.messages.iter().map(|m| m.id.clone()).collect()
    }

    /// A new conversation with this one's setup (system prompt, preset, examples) and no
    /// turns, linked to it as a replay.
    pub fn replay_copy(&self) -> Conversation {
        let mut c = Conversation::new(crate::util::new_id(), crate::util::now_rfc3339());
        c.system_prompt = self.system_prompt.clone();
        c.preset = self.preset.clone();
        c.replay_of = Some(self.id.clone());
        c.schema = self.schema.clone();
        c.tools = self.tools.clone();
        c.mcp = self.mcp.clone();
        c.rag = self.rag.clone();
        c.title = format!("{} (replay)", self.title);
        c.messages = self
            .messages
            .iter()
            .filter(|m| m.example)
            .cloned()
            .map(|mut m| {
                m.id = crate::util::new_message_id();
                m
            })
            .collect();
        c
    }

    /// Sets the title from the first real user line if none was set.
    pub fn ensure_title(&mut self) {
        if !self.title.is_empty() {
            return;
        }
        if let Some(m) = self
            .messages
            .iter()
            .find(|m| m.role == Role::User && !m.example)
        {
            let line = m
                .content
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            let mut t: String = line.chars().take(80).collect();
            if t.len() < line.len() {
                t.push('…');
            }
            self.title = t;
        }
    }

    pub fn answers(&self) -> impl Iterator<Item = &Answer> {
        self.messages.iter().filter_map(|m| m.answer.as_ref())
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        // An answer still streaming (no duration yet) is not a turn yet. A fork's inherited
        // answers are turns of it, but were paid for in the conversation it came from.
        let inherited = self.inherited();
        for (i, m) in self.messages.iter().enumerate() {
            let Some(a) = m.answer.as_ref().filter(|a| a.duration_ms.is_some()) else {
                continue;
            };
            t.turns += 1;
            if i < inherited {
                continue;
            }
            t.usage.add(&a.usage);
            match a.cost_usd {
                Some(c) => t.cost_usd += c,
                None => t.unpriced_turns += 1,
            }
            if a.usage_estimated {
                t.estimated_turns += 1;
            }
        }
        // Every answer was paid for, the ones kept as alternatives too (and their branches).
        for_each_alternative(&self.messages[inherited..], &mut |a| t.add_aside(a));
        t
    }

    /// How many of the first messages a fork took from its origin (0 for others): their cost
    /// was spent, and is counted, in the origin.
    pub fn inherited(&self) -> usize {
        self.forked_from
            .as_ref()
            .and_then(|f| self.messages.iter().position(|m| m.id == f.message))
            .map_or(0, |i| i + 1)
    }

    /// Calls `f` with (when it was sent, its cost) for every answer paid for in this
    /// conversation: its own (the one being written too: its finished steps), the ones kept as
    /// alternatives and their branches. A fork's inherited turns count in its origin.
    pub fn for_each_paid(&self, mut f: impl FnMut(Option<&str>, Option<f64>)) {
        let own = &self.messages[self.inherited()..];
        for a in own.iter().filter_map(|m| m.answer.as_ref()) {
            f(a.sent_at.as_deref(), a.cost_usd);
        }
        for_each_alternative(own, &mut |a| f(a.sent_at.as_deref(), a.cost_usd));
    }

    /// Makes alternative `k` of the answer at `i` the conversation's path from there on: the
    /// answer it replaces, with the turns that followed it, becomes an alternative (so nothing
    /// is lost, and choosing it again brings them back). A different question (an edit) comes
    /// back with it. Returns false when there is no such alternative.
    pub fn choose_alternative(&mut self, i: usize, k: usize) -> bool {
        let Some(m) = self.messages.get(i) else {
            return false;
        };
        if m.answer.as_ref().is_none_or(|a| k >= a.alternatives.len()) {
            return false;
        }
        let following: Vec<Message> = self.messages.split_off(i + 1);
        let mut cur = self.messages.pop().expect("message i");
        let mut alts = cur
            .answer
            .as_mut()
            .map(|a| std::mem::take(&mut a.alternatives))
            .unwrap_or_default();
        let chosen = alts.remove(k);
        // The question each answer answered: the chosen one's, if it was edited since.
        let q = i
            .checked_sub(1)
            .and_then(|qi| self.messages.get_mut(qi))
            .filter(|q| q.role == Role::User);
        let mut cur_question = None;
        if let (Some(q), Some(theirs)) = (q, chosen.question.clone()) {
            let ours = std::mem::replace(&mut q.content, theirs);
            for a in alts.iter_mut().filter(|a| a.question.is_none()) {
                a.question = Some(ours.clone());
            }
            cur_question = Some(ours);
        }
        let Alternative {
            content,
            parts,
            answer: mut chosen_answer,
            following: chosen_following,
            ..
        } = chosen;
        let mut rest = cur.into_alternatives(cur_question);
        if let Some(last) = rest.last_mut() {
            last.following = following;
        }
        alts.extend(rest);
        chosen_answer.alternatives = alts;
        self.messages.push(Message {
            id: crate::util::new_message_id(),
            role: Role::Assistant,
            content,
            parts,
            example: false,
            flags: vec![],
            answer: Some(chosen_answer),
        });
        self.messages.extend(chosen_following);
        true
    }

    /// A new conversation with this one's setup and its messages up to and including message
    /// `upto`, linked to it (`forked_from`), continuing on `model` when given.
    pub fn fork(&self, upto: usize, model: Option<String>) -> Conversation {
        let mut c = Conversation::new(crate::util::new_id(), crate::util::now_rfc3339());
        c.system_prompt = self.system_prompt.clone();
        c.preset = self.preset.clone();
        c.schema = self.schema.clone();
        c.tools = self.tools.clone();
        c.mcp = self.mcp.clone();
        c.rag = self.rag.clone();
        c.model = model;
        let upto = upto.min(self.messages.len().saturating_sub(1));
        c.messages = self.messages.iter().take(upto + 1).cloned().collect();
        let turns = c
            .messages
            .iter()
            .filter(|m| m.role == Role::User && !m.example)
            .count();
        c.forked_from = self.messages.get(upto).map(|m| ForkedFrom {
            id: self.id.clone(),
            message: m.id.clone(),
            turns,
        });
        c.title = if self.title.is_empty() {
            String::new()
        } else {
            format!("{} (fork)", self.title)
        };
        c
    }

    /// The index of the last message of the first `turns` turns (a turn: a real question and
    /// what answered it), for `charla fork --at N`.
    pub fn turn_end(&self, turns: usize) -> Option<usize> {
        let qs: Vec<usize> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == Role::User && !m.example)
            .map(|(i, _)| i)
            .collect();
        if turns == 0 || turns > qs.len() {
            return None;
        }
        Some(match qs.get(turns) {
            Some(&next) => next - 1,
            None => self.messages.len() - 1,
        })
    }

    /// The model to continue on: a fork's chosen one until its first answer, else the model
    /// of the last answer.
    pub fn continue_model(&self) -> Option<String> {
        self.model
            .clone()
            .or_else(|| self.answers().last().map(|a| a.model.clone()))
    }

    /// Distinct models that answered, in order of first use.
    pub fn models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in self.answers() {
            if !out.contains(&a.model) {
                out.push(a.model.clone());
            }
        }
        out
    }

    /// The history as sent to a provider: examples and turns, skipping empty answers. Image
    /// parts carry no bytes yet: see [`Conversation::load_images`].
    pub fn history(&self) -> Vec<ChatMessage> {
        self.messages
            .iter()
            .filter(|m| !m.is_empty_answer())
            .map(|m| ChatMessage {
                role: m.role,
                content: m.content.clone(),
                parts: m.parts.clone(),
                fence: None,
            })
            .collect()
    }

    /// Real (non-example) user questions, in order, with their attachments.
    pub fn question_messages(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.role == Role::User && !m.example)
            .collect()
    }

    /// The words of the real user questions, in order.
    pub fn questions(&self) -> Vec<&str> {
        self.question_messages()
            .into_iter()
            .map(|m| m.content.as_str())
            .collect()
    }

    /// Why this conversation may not change, if it may not (a newer charla wrote it).
    pub fn read_only(&self) -> Option<String> {
        self.origin.newer_version.map(|v| {
            format!(
                "this conversation was written by a newer charla (file version {v}; this one \
                 knows {VERSION}): it is open read-only, so nothing in it is lost"
            )
        })
    }

    /// Every image part, for loading their bytes or listing them.
    pub fn images_mut(&mut self) -> impl Iterator<Item = &mut crate::parts::ImagePart> {
        self.messages.iter_mut().flat_map(|m| {
            m.parts.iter_mut().filter_map(|p| match p {
                Part::Image(i) => Some(i),
                _ => None,
            })
        })
    }
}

/// Calls `f` on every alternative's answer in `messages`, and in the branches they keep.
fn for_each_alternative(messages: &[Message], f: &mut impl FnMut(&Answer)) {
    for m in messages {
        let Some(a) = &m.answer else { continue };
        for alt in &a.alternatives {
            f(&alt.answer);
            for_each_alternative(&alt.following, f);
            // A branch's own answers (not alternatives): counted too.
            for fa in alt.following.iter().filter_map(|m| m.answer.as_ref()) {
                if fa.duration_ms.is_some() {
                    f(fa);
                }
            }
        }
    }
}

impl Message {
    /// An answer with nothing in it (interrupted before any text): not sent.
    pub fn is_empty_answer(&self) -> bool {
        self.role == Role::Assistant && self.content.trim().is_empty() && self.parts.is_empty()
    }

    /// The message's text and the text of its parts, for search and token estimates.
    pub fn all_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            if let Some(t) = p.as_text() {
                s.push_str(&t);
                s.push('\n');
            }
        }
        s.push_str(&self.content);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(model: &str, text: &str, cost: f64) -> Message {
        let mut m = Message::assistant(model);
        m.content = text.into();
        if let Some(a) = m.answer.as_mut() {
            a.cost_usd = Some(cost);
            a.duration_ms = Some(10);
        }
        m
    }

    /// q1 a1 q2 a2 q3 a3, a2 with two alternatives.
    fn conv() -> Conversation {
        let mut c = Conversation::new("c1".into(), "2026-12-01T00:00:00Z".into());
        for (i, cost) in [(1, 0.1), (2, 0.2), (3, 0.3)] {
            c.messages.push(Message::user(format!("q{i}")));
            c.messages.push(answered("m/a", &format!("a{i}"), cost));
        }
        let alts = vec![
            answered("m/x", "x2", 0.01)
                .into_alternatives(None)
                .remove(0),
            answered("m/y", "y2", 0.02)
                .into_alternatives(None)
                .remove(0),
        ];
        c.messages[3].answer.as_mut().expect("a2").alternatives = alts;
        c
    }

    fn contents(c: &Conversation) -> Vec<&str> {
        c.messages.iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn choosing_an_alternative_keeps_the_branch_it_replaces() {
        let mut c = conv();
        let before = c.totals().cost_usd;
        assert!(
            (before - 0.63).abs() < 1e-12,
            "alternatives count: {before}"
        );
        assert!(c.choose_alternative(3, 0));
        assert_eq!(contents(&c), ["q1", "a1", "q2", "x2"]);
        let a = c.messages[3].answer.as_ref().expect("answer");
        assert_eq!(a.model, "m/x");
        // y2 stays; a2 is kept with the turn that followed it.
        assert_eq!(a.alternatives.len(), 2);
        assert_eq!(a.alternatives[1].content, "a2");
        assert_eq!(a.alternatives[1].following.len(), 2);
        assert!(
            (c.totals().cost_usd - before).abs() < 1e-12,
            "nothing lost, nothing counted twice"
        );
        // Choosing a2 again brings its turn back.
        assert!(c.choose_alternative(3, 1));
        assert_eq!(contents(&c), ["q1", "a1", "q2", "a2", "q3", "a3"]);
        assert!((c.totals().cost_usd - before).abs() < 1e-12);
        assert!(!c.choose_alternative(3, 9));
        assert!(!c.choose_alternative(0, 0));
    }

    #[test]
    fn an_edited_questions_answer_brings_its_question_back() {
        let mut c = conv();
        c.messages.truncate(4);
        let old = answered("m/a", "answer to the old question", 0.0);
        c.messages[3].answer.as_mut().expect("a2").alternatives =
            old.into_alternatives(Some("old q2".into()));
        assert!(c.choose_alternative(3, 0));
        assert_eq!(
            contents(&c),
            ["q1", "a1", "old q2", "answer to the old question"]
        );
        let alt = &c.messages[3].answer.as_ref().expect("a").alternatives[0];
        assert_eq!(alt.content, "a2");
        assert_eq!(alt.question.as_deref(), Some("q2"));
    }

    #[test]
    fn a_fork_keeps_the_first_turns_and_counts_only_its_own_spend() {
        let c = conv();
        let end = c.turn_end(2).expect("turn 2");
        assert_eq!(end, 3);
        assert_eq!(c.turn_end(3), Some(5));
        assert_eq!(c.turn_end(4), None);
        assert_eq!(c.turn_end(0), None);
        let mut f = c.fork(end, Some("m/z".into()));
        assert_ne!(f.id, c.id);
        assert_eq!(contents(&f), ["q1", "a1", "q2", "a2"]);
        let from = f.forked_from.clone().expect("link");
        assert_eq!((from.id.as_str(), from.turns), ("c1", 2));
        assert_eq!(from.message, c.messages[3].id);
        assert_eq!(f.continue_model().as_deref(), Some("m/z"));
        // The inherited answers were paid for in the origin.
        assert_eq!(f.inherited(), 4);
        assert_eq!(f.totals().cost_usd, 0.0);
        assert_eq!(f.totals().turns, 2);
        let mut paid = 0;
        f.for_each_paid(|_, _| paid += 1);
        assert_eq!(paid, 0, "nothing paid for in the fork yet");
        f.messages.push(Message::user("q3 on z"));
        f.messages.push(answered("m/z", "z3", 0.5));
        assert!((f.totals().cost_usd - 0.5).abs() < 1e-12);
        assert_eq!(f.continue_model().as_deref(), Some("m/z"));
    }

    #[test]
    fn an_alternative_of_an_older_file_reads_with_its_model_and_cost() {
        let json = r#"{"content":"old","model":"openai/gpt-4o","cost_usd":0.5,"question":"q?"}"#;
        let a: Alternative = serde_json::from_str(json).expect("parse");
        assert_eq!(a.answer.model, "openai/gpt-4o");
        assert_eq!(a.answer.cost_usd, Some(0.5));
        assert_eq!(a.question.as_deref(), Some("q?"));
        let back = serde_json::to_value(&a).expect("json");
        assert_eq!(back["model"], "openai/gpt-4o");
        assert!(back.get("following").is_none() && back.get("parts").is_none());
    }
}
