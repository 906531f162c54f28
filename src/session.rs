//! The engine every front end drives: a conversation, the current model, the turn in flight,
//! costs and estimates. It performs no I/O: front ends start streams, feed their events to
//! [`Session::apply`], and save the conversation when [`Applied::TurnEnded`] comes back.

use crate::config::{Config, ModelRef};
use crate::conversation::{Answer, Conversation, Message};
use crate::pricing;
use crate::provider::{ChatRequest, ErrorKind, Kind, ProviderError, StreamEvent, Usage};
use crate::tokens::{self, Method};
use crate::util;
use std::sync::Arc;
use std::time::{Duration, Instant};

static NEXT_REQUEST_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The turn being streamed.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub request_id: u64,
    pub started: Instant,
    pub first_token: Option<Duration>,
    /// Index of the assistant message being written.
    pub index: usize,
    pub usage: Option<Usage>,
    /// The latest retry notice: (attempt, wait, reason, when it was announced).
    pub retry: Option<(u32, Duration, String, Instant)>,
    /// Set when the user cancelled; the stream's Cancelled error then ends the turn.
    pub cancelled: bool,
    /// When the request was sent (prices are effective-dated and may depend on the hour).
    pub sent_at: std::time::SystemTime,
    /// The provider accepted the request: the stream started, or anything of an answer came.
    pub accepted: bool,
    /// The spend cap this turn runs under, with its running cost.
    pub cap: Option<RunningCap>,
    /// Tool calls of this step, as they arrive.
    pub calls: Vec<crate::parts::ToolCall>,
    /// The model step this is (1 for the first request of a turn).
    pub step: u32,
    /// When the turn's first step was sent.
    pub turn_started: Instant,
    /// The step asked for tools: the turn waits for their results ([`Session::resume`]).
    pub awaiting_tools: bool,
}

/// A turn's running cost against the cap in force when it started: it stops the stream at the
/// cap (checked on every delta, so within one chunk).
#[derive(Debug, Clone)]
pub struct RunningCap {
    pub headroom: crate::spend::Headroom,
    /// USD per input / output token.
    pub input_rate: f64,
    pub output_rate: f64,
    pub input_tokens: u64,
    /// Output tokens so far: counted from the text, or the provider's running count if higher.
    pub output_tokens: u64,
    /// The `max_tokens` the cap set on the request (the answer could not cross it otherwise).
    pub max_tokens: Option<u32>,
}

/// What the model is told when a question carries retrieved passages.
pub const CITE: &str = "\n\nThe retrieved passages are numbered [1], [2], …: answer from them when they hold \
the answer, cite the ones you use as [n] after the sentence that uses them, and say so when \
they do not hold it.";

/// How a refusal under `injection = "block"` begins (the chat screen's next send confirms).
pub const INJECTION_BLOCKED: &str = "possible prompt injection, not sent";

/// A cap's bound on an answer below this many tokens is said when the request goes.
pub const NOTABLE_BOUND: u32 = 4096;

/// The shortest answer a cap may bound a request to; below it the request is refused.
pub const MIN_BOUNDED_ANSWER: u32 = 64;

impl RunningCap {
    pub fn cost(&self) -> f64 {
        self.input_tokens as f64 * self.input_rate + self.output_tokens as f64 * self.output_rate
    }
}

/// What applying an event changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Not for the turn in flight (a stale request id): ignored.
    Ignored,
    Updated,
    /// The turn ended (finished or interrupted): save the conversation.
    TurnEnded {
        interrupted: bool,
    },
    /// The running cost reached the spend cap: the turn ended (the partial answer kept,
    /// marked "budget reached"); the front end must cancel the stream, then save.
    CapReached,
    /// The model called tools ([`Session::pending_calls`]): the front end asks for approval
    /// where [`Session::grant`] says so, runs them, and hands the results to
    /// [`Session::resume`] (save first: the calls are in the conversation).
    ToolCalls,
}

/// Whether a call may run without a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    /// It may: how (`auto`, `always`, `session`, `flag`).
    Run(&'static str),
    /// Ask the person.
    Ask,
    /// Not a tool this conversation offers: it is answered with an error, never run.
    Unknown,
}

/// Estimated size and cost of the request that would be sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub input_tokens: u64,
    /// Input cost; None when the price is unknown (or not loaded yet: see `pricing_ready`).
    pub input_cost_usd: Option<f64>,
    /// The most the answer may cost: `max_tokens` (else what is left of the context window)
    /// at the output price. None when the price or the limit is unknown.
    pub worst_output_cost_usd: Option<f64>,
    /// The output tokens that worst case assumes.
    pub max_output_tokens: Option<u64>,
    pub context_window: Option<u64>,
    /// False while the price dataset is still being decoded (front ends that must not wait).
    pub pricing_ready: bool,
    /// A spend cap bounds the answer (`max_output_tokens` is what it leaves).
    pub capped: bool,
}

impl Estimate {
    /// Input plus the worst-case output, when both are known.
    pub fn worst_case_usd(&self) -> Option<f64> {
        Some(self.input_cost_usd? + self.worst_output_cost_usd?)
    }
}

pub struct Session {
    pub cfg: Arc<Config>,
    pub conv: Conversation,
    pub model: ModelRef,
    pub in_flight: Option<InFlight>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// May estimates load tiktoken (~200 ms, ~47 MB)? True for the CLI; the TUI says no and
    /// uses the approximation unless the tokenizer is already loaded.
    pub load_tokenizer: bool,
    /// Spend caps in force (see [`crate::spend`]).
    pub caps: crate::spend::Caps,
    /// `injection = "block"` is lifted for the next send (the user confirmed).
    pub injection_confirmed: bool,
    /// The injection mode for this session (`ask --injection`), over the config's.
    pub injection: Option<String>,
    /// The provider's exact count of the next request's input (`exact_estimates`); used
    /// instead of the local estimate by the spend caps, then cleared.
    pub exact_input: Option<u64>,
    /// The tools the model is offered in this conversation.
    pub tools: Vec<crate::tools::Offered>,
    /// Tools the person allowed for the rest of this session.
    pub session_allowed: std::collections::BTreeSet<String>,
    /// Tools allowed by a flag (`ask --approve NAME,…`); `approve_all` is `--yes`.
    pub flag_allowed: std::collections::BTreeSet<String>,
    pub approve_all: bool,
    /// Most model steps per answer (`max_steps`, default 10).
    pub max_steps: u32,
    /// The calls of the step that ended, waiting for approval and results.
    pending: Vec<crate::parts::ToolCall>,
    /// What ended the last turn that failed (a front end reports it).
    pub last_error: Option<ProviderError>,
}

impl Session {
    /// A new conversation, with the config's default system prompt if there is one.
    pub fn new(cfg: Arc<Config>, model: ModelRef) -> Self {
        let conv = new_conversation(&cfg);
        Self::with_conversation(cfg, conv, model)
    }

    pub fn with_conversation(cfg: Arc<Config>, conv: Conversation, model: ModelRef) -> Self {
        let max_tokens = cfg.max_tokens(&model.provider);
        let temperature = cfg.file.temperature;
        let max_steps = cfg_max_steps(&cfg);
        Session {
            cfg,
            conv,
            model,
            in_flight: None,
            load_tokenizer: true,
            max_tokens,
            temperature,
            caps: crate::spend::Caps::default(),
            injection_confirmed: false,
            injection: None,
            exact_input: None,
            tools: Vec::new(),
            session_allowed: Default::default(),
            flag_allowed: Default::default(),
            approve_all: false,
            max_steps,
            pending: Vec::new(),
            last_error: None,
        }
    }

    /// The calls the last step asked for (until [`Session::resume`]).
    pub fn pending_calls(&self) -> &[crate::parts::ToolCall] {
        &self.pending
    }

    /// The offered tool a call names.
    pub fn offered(&self, name: &str) -> Option<&crate::tools::Offered> {
        self.tools.iter().find(|o| o.spec.name == name)
    }

    /// Whether `call` may run without asking, and how that is recorded.
    pub fn grant(&self, call: &crate::parts::ToolCall) -> Grant {
        let Some(o) = self.offered(&call.name) else {
            return Grant::Unknown;
        };
        if let Some(l) = crate::tools::grant_label(o) {
            Grant::Run(l)
        } else if self.session_allowed.contains(&call.name) {
            Grant::Run("session")
        } else if self.approve_all || self.flag_allowed.contains(&call.name) {
            Grant::Run("flag")
        } else {
            Grant::Ask
        }
    }

    /// Whether the turn is waiting for tool results.
    pub fn awaiting_tools(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|f| f.awaiting_tools)
    }

    /// Hands back the pending calls (each with its `approval`) and their results (one per
    /// call; a denied or unknown call's says why), and starts the next model step. Err: the
    /// turn ended instead (the step limit, a spend cap); save then.
    pub fn resume(
        &mut self,
        calls: Vec<crate::parts::ToolCall>,
        results: Vec<crate::parts::ToolResult>,
    ) -> Result<(u64, ChatRequest), Applied> {
        let Some(f) = self.in_flight.as_ref().filter(|f| f.awaiting_tools) else {
            return Err(Applied::Ignored);
        };
        let idx = f.index;
        self.record_results(idx, calls, results);
        self.pending.clear();
        let Some(prior) = self.in_flight.take() else {
            return Err(Applied::Ignored);
        };
        // The cap holds across steps: each one is measured against what is left.
        if let Err(e) = self.running_cap("", &[]) {
            self.in_flight = Some(prior);
            self.end_turn(Instant::now(), None, Some(e));
            return Err(Applied::TurnEnded { interrupted: true });
        }
        Ok(self.start_step(Some(prior)))
    }

    /// Sets each call's approval on its part and adds the results after the calls.
    fn record_results(
        &mut self,
        idx: usize,
        calls: Vec<crate::parts::ToolCall>,
        results: Vec<crate::parts::ToolResult>,
    ) {
        let mode = self.injection_mode().to_string();
        let msg = &mut self.conv.messages[idx];
        for c in calls {
            for p in msg.parts.iter_mut() {
                if let crate::parts::Part::ToolCall(mine) = p
                    && mine.id == c.id
                {
                    mine.approval = c.approval.clone();
                }
            }
        }
        // Tool output is untrusted: likely injections are flagged on the answer (and, under
        // injection = "block", the output is not sent at all).
        for mut r in results {
            if mode != "off" {
                let flags = crate::guard::scan_parts(&[crate::parts::Part::ToolResult(r.clone())]);
                if mode == "block" && !flags.is_empty() {
                    r.text = format!(
                        "not sent: the output of this tool looks like a prompt injection ({}); injection = \"block\"",
                        flags
                            .iter()
                            .map(|f| f.detail.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    );
                    r.is_error = true;
                }
                msg.flags.extend(flags);
            }
            msg.parts.push(crate::parts::Part::ToolResult(r));
        }
    }

    pub fn kind(&self) -> Option<Kind> {
        self.cfg.provider(&self.model.provider).map(|p| p.kind)
    }

    pub fn is_streaming(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Switches the model for the next answers (earlier answers keep theirs).
    pub fn set_model(&mut self, model: ModelRef) {
        self.max_tokens = self.cfg.max_tokens(&model.provider).or(self.max_tokens);
        self.model = model;
    }

    /// The request for the conversation as it stands (history + system prompt).
    pub fn request(&self) -> ChatRequest {
        ChatRequest {
            model: self.model.model.clone(),
            system: self.conv.system_prompt.clone(),
            messages: self.conv.history(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            schema: self.conv.schema.clone(),
            tools: self.tools.iter().map(|o| o.spec.clone()).collect(),
        }
    }

    /// Adds the user's message and an empty answer, and returns the request to stream.
    pub fn begin(&mut self, user_text: &str) -> (u64, ChatRequest) {
        self.conv.messages.push(Message::user(user_text));
        self.conv.ensure_title();
        self.begin_answer()
    }

    /// Whether a message with `parts` may be sent to the current model now: the conversation
    /// is not read-only, and the model can see every image the request would carry (the
    /// whole history's, after a model switch too) within its provider's limits. Ok holds a
    /// warning to show (the model's vision is unknown). Checked before anything changes, so a
    /// refusal loses nothing.
    pub fn check_send(
        &self,
        text: &str,
        parts: &[crate::parts::Part],
    ) -> Result<Option<String>, ProviderError> {
        let local = |m: String| ProviderError::new(ErrorKind::Config, m);
        if let Some(why) = self.conv.read_only() {
            return Err(local(why));
        }
        // Every image the request would carry: the history's and the new ones.
        let all_parts = self
            .conv
            .messages
            .iter()
            .flat_map(|m| m.parts.iter())
            .chain(parts);
        let warning =
            crate::attach::check_request(&self.cfg, &self.model, all_parts).map_err(local)?;
        // Likely injections in untrusted content: warned about, or blocked until confirmed.
        let flags = crate::guard::scan_parts(parts);
        let mode = self.injection_mode();
        let injected = (!flags.is_empty() && mode != "off").then(|| {
            flags
                .iter()
                .map(|f| f.detail.clone())
                .collect::<Vec<_>>()
                .join("; ")
        });
        if mode == "block"
            && !self.injection_confirmed
            && let Some(d) = &injected
        {
            return Err(ProviderError::new(
                ErrorKind::Config,
                format!(
                    "{INJECTION_BLOCKED} ({d}); send again to confirm, or set injection = \"warn\""
                ),
            ));
        }
        let injected =
            injected.map(|d| format!("possible prompt injection ({d}): it goes labelled as data"));
        // Said only when the bound could cut a usual answer short.
        let bounded = self.running_cap(text, parts)?.and_then(|c| {
            c.max_tokens.filter(|n| *n < NOTABLE_BOUND).map(|n| {
                format!(
                    "{} bounds this answer at {n} tokens ({} left)",
                    c.headroom.what,
                    util::dollars(c.headroom.left)
                )
            })
        });
        let notes: Vec<String> = [warning, injected, bounded].into_iter().flatten().collect();
        Ok((!notes.is_empty()).then(|| notes.join(" · ")))
    }

    /// `off`, `warn` or `block`: `ask --injection`, else the config's `injection`, else warn.
    pub fn injection_mode(&self) -> &str {
        self.injection
            .as_deref()
            .or(self.cfg.file.injection.as_deref())
            .unwrap_or("warn")
    }

    /// The cap a request of `text` and `parts` would run under. When its worst case (input +
    /// `max_tokens`, else the rest of the context, at the output price) would cross the
    /// tightest cap, the answer is bounded with a `max_tokens` that fits what is left; the
    /// request is refused when not even a short answer fits, or when its price is unknown (a
    /// cap cannot hold then).
    fn running_cap(
        &self,
        text: &str,
        parts: &[crate::parts::Part],
    ) -> Result<Option<RunningCap>, crate::provider::ProviderError> {
        let Some(h) = self.caps.headroom(&self.conv, &util::today()) else {
            return Ok(None);
        };
        let refuse = |m: String| crate::provider::ProviderError::new(ErrorKind::Budget, m);
        let input = self.exact_input.unwrap_or_else(|| {
            self.history_tokens()
                + self.parts_tokens(parts)
                + if text.is_empty() {
                    0
                } else {
                    tokens::estimate(text, self.estimate_method_now()) + 4
                }
        });
        // A cap is checked against prices that are there: the dataset is decoded if need be.
        let facts = pricing::facts(
            &self.cfg,
            &self.model,
            input,
            std::time::SystemTime::now(),
            Some(pricing::db()),
        );
        let Some(r) = facts.rates else {
            return Err(refuse(format!(
                "the price of {} is unknown, so {} cannot hold: add a [[pricing]] entry for it, or lift the cap",
                self.model, h.what
            )));
        };
        // What costs nothing is never held back by a cap.
        if r.input == 0.0 && r.output == 0.0 {
            return Ok(None);
        }
        let per = |m: f64| m / 1_000_000.0;
        let max_out = self
            .max_tokens
            .map(u64::from)
            .or_else(|| facts.context.map(|c| c.saturating_sub(input)));
        let input_cost = input as f64 * per(r.input);
        let worst = max_out.map(|n| input_cost + n as f64 * per(r.output));
        let bound = match (self.max_tokens, max_out) {
            (Some(n), _) => format!("an answer of up to {n} tokens"),
            (None, Some(n)) => format!(
                "an answer as long as the context allows, {} tokens",
                util::thousands(n)
            ),
            (None, None) => "an answer of unknown length".into(),
        };
        let mut max_tokens = None;
        match worst {
            Some(w) if w <= h.left => {}
            _ if r.output == 0.0 && input_cost < h.left => {}
            _ => {
                // Bound the answer to what the cap leaves, if that is a useful answer.
                let room = ((h.left - input_cost) / per(r.output)).floor();
                if room >= MIN_BOUNDED_ANSWER as f64 {
                    max_tokens = Some(room.min(u32::MAX as f64) as u32);
                } else {
                    let w = worst.unwrap_or(f64::INFINITY);
                    return Err(refuse(crate::spend::refusal(w, &h, &bound)));
                }
            }
        }
        Ok(Some(RunningCap {
            headroom: h,
            input_rate: per(r.input),
            output_rate: per(r.output),
            input_tokens: input,
            output_tokens: 0,
            max_tokens,
        }))
    }

    /// [`Session::begin`] with attachments, checked first ([`Session::check_send`]). Returns
    /// the request and any warning; on Err (kind `Budget` for a spend cap, `Config` for the
    /// rest) nothing changed and the parts are handed back.
    #[allow(clippy::type_complexity)]
    pub fn begin_with(
        &mut self,
        user_text: &str,
        parts: Vec<crate::parts::Part>,
    ) -> Result<(u64, ChatRequest, Option<String>), (ProviderError, Vec<crate::parts::Part>)> {
        let warning = match self.check_send(user_text, &parts) {
            Ok(w) => w,
            Err(e) => return Err((e, parts)),
        };
        let mut m = Message::user_with(user_text, parts);
        if self.injection_mode() != "off" {
            m.flags = crate::guard::scan_parts(&m.parts);
        }
        self.injection_confirmed = false;
        self.conv.messages.push(m);
        self.conv.ensure_title();
        let (id, req) = self.begin_answer();
        Ok((id, req, warning))
    }

    /// Starts a new answer to the conversation as it stands (its last message must be the user's).
    pub fn begin_answer(&mut self) -> (u64, ChatRequest) {
        let mut answer = Message::assistant(self.model.to_string());
        if let Some(a) = answer.answer.as_mut() {
            a.sent_at = Some(util::now_rfc3339());
        }
        // From here the answers say which model the conversation continues on.
        self.conv.model = None;
        self.conv.messages.push(answer);
        self.start_step(None)
    }

    /// Sends the conversation as it stands for the answer being written (the last message):
    /// its first step, or the next one after `prior`'s tool calls.
    fn start_step(&mut self, prior: Option<InFlight>) -> (u64, ChatRequest) {
        let mut req = self.request();
        // The cap was checked (check_send) before the question was added; here it is
        // measured, so that the answer is bounded by it and the stream stops at it.
        let cap = self.running_cap("", &[]).ok().flatten();
        self.exact_input = None;
        if let Some(n) = cap.as_ref().and_then(|c| c.max_tokens) {
            req.max_tokens = Some(n);
        }
        // Untrusted content (files, passages, tool output, long pastes) is fenced with this
        // request's own delimiters, and the system prompt says what they mean.
        if req
            .messages
            .iter()
            .any(|m| m.parts.iter().any(|p| p.untrusted_source().is_some()))
        {
            let fence = std::sync::Arc::new(crate::guard::Fence {
                nonce: crate::guard::new_nonce(),
                spotlight: self.cfg.file.spotlight == Some(true),
            });
            for m in &mut req.messages {
                m.fence = Some(fence.clone());
            }
            let mut note = fence.note();
            if req.messages.iter().any(|m| {
                m.parts
                    .iter()
                    .any(|p| matches!(p, crate::parts::Part::Context(_)))
            }) {
                note.push_str(CITE);
            }
            req.system = Some(match req.system.take().filter(|s| !s.trim().is_empty()) {
                Some(s) => format!("{s}\n\n{note}"),
                None => note,
            });
        }
        // The canary goes into the system prompt as sent, never into the one shown.
        if self.cfg.file.canary != Some(false)
            && self
                .conv
                .system_prompt
                .as_deref()
                .is_some_and(|s| !s.trim().is_empty())
            && let Some(system) = req.system.as_deref()
        {
            let canary = self
                .conv
                .canary
                .get_or_insert_with(crate::guard::new_canary)
                .clone();
            req.system = Some(crate::guard::with_canary(system, &canary));
        }
        // Ids are unique across sessions, so a stream left over from a conversation the user
        // has since closed can never feed another one.
        let id = NEXT_REQUEST_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        self.in_flight = Some(InFlight {
            request_id: id,
            started: now,
            first_token: prior.as_ref().and_then(|p| p.first_token),
            index: self.conv.messages.len() - 1,
            usage: None,
            retry: None,
            cancelled: false,
            sent_at: std::time::SystemTime::now(),
            accepted: false,
            cap,
            calls: Vec::new(),
            step: prior.as_ref().map_or(1, |p| p.step + 1),
            turn_started: prior.as_ref().map_or(now, |p| p.turn_started),
            awaiting_tools: false,
        });
        (id, req)
    }

    /// Marks the turn as cancelled by the user; the partial answer is kept. Calls waiting
    /// for approval or running get a result saying they were cancelled.
    pub fn cancel(&mut self) -> Applied {
        if let Some(f) = self.in_flight.as_ref().filter(|f| f.awaiting_tools) {
            let idx = f.index;
            let calls = std::mem::take(&mut self.pending);
            let results = calls
                .iter()
                .map(|c| crate::parts::ToolResult::error(c, "cancelled by the user"))
                .collect();
            self.record_results(idx, vec![], results);
            self.end_turn(
                Instant::now(),
                None,
                Some(ProviderError::new(
                    ErrorKind::Cancelled,
                    "cancelled by the user",
                )),
            );
            return Applied::TurnEnded { interrupted: true };
        }
        match self.in_flight.as_ref().map(|f| f.request_id) {
            Some(id) => self.apply(
                id,
                StreamEvent::Error(ProviderError::new(
                    ErrorKind::Cancelled,
                    "cancelled by the user",
                )),
            ),
            None => Applied::Ignored,
        }
    }

    pub fn apply(&mut self, request_id: u64, ev: StreamEvent) -> Applied {
        self.apply_at(request_id, ev, Instant::now())
    }

    /// Applies one stream event at time `now` (tests pass their own clock).
    pub fn apply_at(&mut self, request_id: u64, ev: StreamEvent, now: Instant) -> Applied {
        let Some(f) = self
            .in_flight
            .as_mut()
            .filter(|f| f.request_id == request_id)
        else {
            return Applied::Ignored;
        };
        let idx = f.index;
        f.accepted |= matches!(
            ev,
            StreamEvent::Started
                | StreamEvent::TextDelta(_)
                | StreamEvent::ReasoningDelta(_)
                | StreamEvent::Usage(_)
                | StreamEvent::ToolCall(_)
                | StreamEvent::Finished { .. }
        );
        match ev {
            StreamEvent::Started => Applied::Updated,
            StreamEvent::Retry {
                attempt,
                wait,
                reason,
            } => {
                f.retry = Some((attempt, wait, reason, now));
                Applied::Updated
            }
            StreamEvent::TextDelta(t) => {
                f.first_token.get_or_insert_with(|| now - f.started);
                f.retry = None;
                let grew = self.delta_tokens(&t);
                self.conv.messages[idx].content.push_str(&t);
                self.charge(grew, None, now)
            }
            StreamEvent::ReasoningDelta(t) => {
                f.first_token.get_or_insert_with(|| now - f.started);
                f.retry = None;
                let grew = self.delta_tokens(&t);
                if let Some(a) = self.conv.messages[idx].answer.as_mut() {
                    a.reasoning.push_str(&t);
                }
                self.charge(grew, None, now)
            }
            StreamEvent::Usage(u) => {
                f.usage = Some(u);
                self.charge(0, Some(u), now)
            }
            StreamEvent::ToolCall(mut c) => {
                f.first_token.get_or_insert_with(|| now - f.started);
                f.retry = None;
                // A key the model repeats in its arguments is masked before anything shows
                // or saves them (as in its text).
                let raw = c.arguments.to_string();
                let masked = crate::redact::redact_known(&raw);
                if masked != raw {
                    c.arguments = serde_json::from_str(&masked)
                        .unwrap_or_else(|_| serde_json::json!({"masked": masked}));
                }
                f.calls.push(c.clone());
                let grew = self.delta_tokens(&c.arguments.to_string());
                self.charge(grew, None, now)
            }
            StreamEvent::Finished { reason } if !f.calls.is_empty() && self.tools.is_empty() => {
                // Calls of tools this conversation never offered (a server that calls anyway):
                // kept, answered as not run, and the answer ends here.
                let calls = std::mem::take(&mut f.calls);
                let results = calls
                    .iter()
                    .map(|c| {
                        crate::parts::ToolResult::error(
                            c,
                            "not run: this conversation offers no tools",
                        )
                    })
                    .collect();
                let msg = &mut self.conv.messages[idx];
                msg.parts
                    .extend(calls.into_iter().map(crate::parts::Part::ToolCall));
                self.record_results(idx, vec![], results);
                self.end_turn(now, Some(reason), None);
                Applied::TurnEnded { interrupted: false }
            }
            StreamEvent::Finished { reason } if !f.calls.is_empty() => self.end_step(now, reason),
            StreamEvent::Finished { reason } => {
                self.end_turn(now, Some(reason), None);
                Applied::TurnEnded { interrupted: false }
            }
            StreamEvent::Error(e) => {
                self.end_turn(now, None, Some(e));
                Applied::TurnEnded { interrupted: true }
            }
        }
    }

    /// Tokens of a delta, counted as the turn's estimate will count them (only under a cap).
    fn delta_tokens(&self, t: &str) -> u64 {
        match self.in_flight.as_ref().and_then(|f| f.cap.as_ref()) {
            Some(_) => tokens::estimate(t, self.estimate_method_now()),
            None => 0,
        }
    }

    /// Adds `grew` output tokens (and the provider's running counts) to the turn's running
    /// cost; at the cap, ends the turn ("budget reached") and asks the front end to stop the
    /// stream.
    fn charge(&mut self, grew: u64, usage: Option<Usage>, now: Instant) -> Applied {
        let Some(cap) = self.in_flight.as_mut().and_then(|f| f.cap.as_mut()) else {
            return Applied::Updated;
        };
        cap.output_tokens += grew;
        if let Some(u) = usage {
            cap.output_tokens = cap.output_tokens.max(u.output_tokens);
            cap.input_tokens = cap.input_tokens.max(u.input_tokens);
        }
        if cap.cost() < cap.headroom.left {
            return Applied::Updated;
        }
        let msg = format!(
            "the answer was stopped at about {} ({} left of {})",
            util::dollars(cap.cost()),
            util::dollars(cap.headroom.left),
            cap.headroom.what
        );
        // The turn is billed as counted here (the provider's own count, when higher, wins):
        // what stopped it is what the spend shows.
        let (inp, out) = (cap.input_tokens, cap.output_tokens);
        let Some(f) = self.in_flight.as_mut() else {
            return Applied::Updated;
        };
        let mut u = f.usage.unwrap_or_default();
        let ours = out > u.output_tokens || inp > u.input_tokens;
        u.output_tokens = u.output_tokens.max(out);
        u.input_tokens = u.input_tokens.max(inp);
        f.usage = Some(u);
        let index = f.index;
        self.end_turn(now, None, Some(ProviderError::new(ErrorKind::Budget, msg)));
        if ours && let Some(a) = self.conv.messages[index].answer.as_mut() {
            a.usage_estimated = true;
        }
        Applied::CapReached
    }

    fn estimate_method(&self) -> Method {
        match self.cfg.provider(&self.model.provider) {
            Some(p)
                if p.kind == Kind::Openai
                    && !p.is_local()
                    && !p.is_loopback()
                    && (self.load_tokenizer || tokens::is_warm()) =>
            {
                Method::Tiktoken
            }
            _ => Method::Approx,
        }
    }

    /// A step ended with tool calls: its cost is recorded, its words and calls become parts
    /// of the answer, and the turn waits for the tools (or ends at the step limit).
    fn end_step(&mut self, now: Instant, reason: String) -> Applied {
        let Some(f) = self.in_flight.as_ref() else {
            return Applied::Ignored;
        };
        let (step, _) = self.step_cost(f, now, false, Some(reason));
        let idx = f.index;
        let steps_done = f.step;
        let msg = &mut self.conv.messages[idx];
        let words = std::mem::take(&mut msg.content);
        if !words.trim().is_empty() {
            msg.parts.push(crate::parts::Part::Text {
                text: words,
                source: None,
            });
        }
        if let Some(a) = msg.answer.as_mut() {
            a.steps.push(step);
            sum_steps(a);
        }
        let Some(f) = self.in_flight.as_mut() else {
            return Applied::Ignored;
        };
        let calls = std::mem::take(&mut f.calls);
        // Events of the finished request are no longer this turn's.
        f.request_id = 0;
        f.awaiting_tools = true;
        f.usage = None;
        let msg = &mut self.conv.messages[idx];
        msg.parts
            .extend(calls.iter().cloned().map(crate::parts::Part::ToolCall));
        if steps_done >= self.max_steps {
            let results = calls
                .iter()
                .map(|c| {
                    crate::parts::ToolResult::error(c, "not run: the answer reached max_steps")
                })
                .collect();
            self.record_results(idx, vec![], results);
            let e = ProviderError::new(
                ErrorKind::StepLimit,
                format!(
                    "stopped after {steps_done} model steps (max_steps = {}): the model was still calling tools",
                    self.max_steps
                ),
            );
            self.end_turn(now, Some("max_steps".into()), Some(e));
            return Applied::TurnEnded { interrupted: true };
        }
        self.pending = calls;
        self.conv.updated = util::now_rfc3339();
        Applied::ToolCalls
    }

    /// The usage and cost of the step `f` (estimated where the provider reported none).
    fn step_cost(
        &self,
        f: &InFlight,
        now: Instant,
        failed: bool,
        reason: Option<String>,
    ) -> (crate::conversation::model::StepCost, pricing::Outcome) {
        let method = self.estimate_method();
        // A request the provider never accepted costs a known $0 with zero tokens.
        let outcome = if f.accepted || !failed {
            pricing::Outcome::Accepted
        } else {
            pricing::Outcome::NotAccepted
        };
        // Estimates only where needed: loading the tokenizer is not free.
        let (usage, estimated) = match f.usage {
            _ if outcome == pricing::Outcome::NotAccepted => (Usage::default(), false),
            // A broken stream may have reported only a start-of-message placeholder (Anthropic's
            // message_start says output_tokens: 1): what was received counts at least.
            Some(mut u) if failed => {
                let (output, reasoning) = self.received_tokens(f.index, method);
                let short = output > u.output_tokens;
                if short {
                    u.output_tokens = output;
                    u.reasoning_tokens = u.reasoning_tokens.max(reasoning);
                }
                (u, short)
            }
            Some(u) => (u, false),
            // No usage reported: estimate what was sent (the history before this answer, and
            // its earlier steps) and what came back (text and calls).
            None => {
                let (mut output, reasoning) = self.received_tokens(f.index, method);
                output += f
                    .calls
                    .iter()
                    .map(|c| tokens::estimate(&c.arguments.to_string(), method) + 8)
                    .sum::<u64>();
                let mut input = self.prompt_tokens(f.index, method);
                if f.step > 1 {
                    input += parts_tokens(
                        &self.conv.messages[f.index].parts,
                        self.kind().unwrap_or(Kind::Openai),
                        method,
                    );
                }
                let usage = Usage {
                    input_tokens: input,
                    output_tokens: output,
                    reasoning_tokens: reasoning,
                    ..Usage::default()
                };
                (usage, true)
            }
        };
        let cost = pricing::turn_cost(&self.cfg, &self.model, &usage, f.sent_at, outcome);
        (
            crate::conversation::model::StepCost {
                usage,
                cost_usd: cost,
                usage_estimated: estimated,
                finish_reason: reason,
                duration_ms: Some(now.saturating_duration_since(f.started).as_millis() as u64),
            },
            outcome,
        )
    }

    /// Ends the turn: its last step is priced (estimated where the provider reported no
    /// usage); an answer that used tools sums its steps. Guards and the schema check the
    /// final words.
    fn end_turn(&mut self, now: Instant, reason: Option<String>, err: Option<ProviderError>) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        self.last_error = err.clone();
        let tooled = f.awaiting_tools || f.step > 1;
        // A turn that ended while waiting for tools had its last step recorded already.
        let last =
            (!f.awaiting_tools).then(|| self.step_cost(&f, now, err.is_some(), reason.clone()));
        let checked = match (&self.conv.schema, &err) {
            (Some(s), None) => Some(crate::schema::check(
                &self.conv.messages[f.index].content,
                s,
            )),
            _ => None,
        };
        let guards = self.leak_flags(f.index);
        let msg = &mut self.conv.messages[f.index];
        if let Some(a) = msg.answer.as_mut() {
            match last {
                Some((step, outcome)) if !tooled => {
                    a.not_accepted = outcome == pricing::Outcome::NotAccepted;
                    a.usage = step.usage;
                    a.usage_estimated = step.usage_estimated;
                    a.cost_usd = step.cost_usd;
                }
                Some((step, _)) => {
                    a.steps.push(step);
                    sum_steps(a);
                }
                None => sum_steps(a),
            }
            a.ttft_ms = f.first_token.map(|d| d.as_millis() as u64);
            a.duration_ms = Some((now - f.turn_started).as_millis() as u64);
            a.finish_reason = reason;
            a.guards = guards;
            a.schema = checked;
            if let Some(e) = err {
                a.interrupted = true;
                a.error = Some(if e.kind == ErrorKind::Cancelled {
                    "cancelled".into()
                } else {
                    e.to_string()
                });
            }
        }
        self.pending.clear();
        self.conv.updated = util::now_rfc3339();
    }

    /// The system-prompt leaks in the answer at `index`.
    fn leak_flags(&self, index: usize) -> Vec<crate::guard::Flag> {
        let canary = self
            .conv
            .canary
            .as_deref()
            .filter(|_| self.cfg.file.canary != Some(false));
        match self.conv.system_prompt.as_deref() {
            Some(sys) if !sys.trim().is_empty() => crate::guard::leaks(
                &self.conv.messages[index].content,
                &canary.map_or_else(|| sys.to_string(), |c| crate::guard::with_canary(sys, c)),
                canary,
                self.cfg.file.leak_ngram.unwrap_or(8) as usize,
            ),
            _ => vec![],
        }
    }

    /// The running totals of this conversation (all models).
    pub fn totals(&self) -> crate::conversation::model::Totals {
        self.conv.totals()
    }

    /// The last answer, if any.
    pub fn last_answer(&self) -> Option<&Answer> {
        self.conv
            .messages
            .iter()
            .rev()
            .find_map(|m| m.answer.as_ref())
    }

    fn estimate_method_now(&self) -> Method {
        match self.estimate_method() {
            Method::Tiktoken if tokens::is_warm() => Method::Tiktoken,
            _ => Method::Approx,
        }
    }

    /// Estimated tokens of the system prompt and history (what every next request carries).
    pub fn history_tokens(&self) -> u64 {
        self.prompt_tokens(self.conv.messages.len(), self.estimate_method_now())
    }

    /// Estimated tokens of the system prompt and the history in `messages[..upto]` (as sent:
    /// empty answers are left out), 4 tokens of framing per message.
    fn prompt_tokens(&self, upto: usize, method: Method) -> u64 {
        let system = self
            .conv
            .system_prompt
            .as_deref()
            .map(|s| tokens::estimate(s, method) + 4)
            .unwrap_or(0);
        let kind = self.kind().unwrap_or(Kind::Openai);
        let history: u64 = self.conv.messages[..upto]
            .iter()
            .filter(|m| !m.is_empty_answer())
            .map(|m| {
                tokens::estimate(&m.content, method) + 4 + parts_tokens(&m.parts, kind, method)
            })
            .sum();
        system + history
    }

    /// Estimated tokens of attachments about to be sent with a draft.
    pub fn parts_tokens(&self, parts: &[crate::parts::Part]) -> u64 {
        parts_tokens(
            parts,
            self.kind().unwrap_or(Kind::Openai),
            self.estimate_method_now(),
        )
    }

    /// Estimated (output, reasoning) tokens of the answer at `index`, reasoning included in
    /// output as in [`Usage`].
    fn received_tokens(&self, index: usize, method: Method) -> (u64, u64) {
        let msg = &self.conv.messages[index];
        let reasoning = msg
            .answer
            .as_ref()
            .map(|a| tokens::estimate(&a.reasoning, method))
            .unwrap_or(0);
        (
            tokens::estimate(&msg.content, method) + reasoning,
            reasoning,
        )
    }

    /// Estimated input tokens and input cost of sending `draft` now. Uses the tokenizer only
    /// once it is warm (never blocks a UI on loading it).
    pub fn estimate(&self, draft: &str) -> Estimate {
        self.estimate_with(self.history_tokens(), draft)
    }

    /// [`Session::estimate`] of a draft with attachments.
    pub fn estimate_parts(&self, draft: &str, parts: &[crate::parts::Part]) -> Estimate {
        self.estimate_with(self.history_tokens() + self.parts_tokens(parts), draft)
    }

    /// Like [`Session::estimate`] with the history's tokens already counted (front ends cache them).
    /// Uses the price dataset only once it is decoded when the tokenizer may not load either
    /// (the TUI): it never waits.
    pub fn estimate_with(&self, history_tokens: u64, draft: &str) -> Estimate {
        let mut input = history_tokens;
        if !draft.is_empty() {
            input += tokens::estimate(draft, self.estimate_method_now()) + 4;
        }
        let db = if self.load_tokenizer {
            Some(pricing::db())
        } else {
            pricing::try_db()
        };
        let facts = pricing::facts(
            &self.cfg,
            &self.model,
            input,
            std::time::SystemTime::now(),
            db,
        );
        let price = |per_m: f64, n: u64| per_m * n as f64 / 1_000_000.0;
        let max_out = self
            .max_tokens
            .map(u64::from)
            .or_else(|| facts.context.map(|c| c.saturating_sub(input)));
        let mut e = Estimate {
            input_tokens: input,
            input_cost_usd: facts.rates.map(|r| price(r.input, input)),
            worst_output_cost_usd: facts
                .rates
                .and_then(|r| max_out.map(|n| price(r.output, n))),
            max_output_tokens: max_out,
            context_window: facts.context,
            pricing_ready: db.is_some(),
            capped: false,
        };
        // Under a spend cap the answer is bounded to what is left (see `running_cap`).
        if let (Some(h), Some(r), Some(inp), Some(w)) = (
            self.caps.headroom(&self.conv, &util::today()),
            facts.rates,
            e.input_cost_usd,
            e.worst_case_usd(),
        ) && w > h.left
            && r.output > 0.0
        {
            let room = ((h.left - inp).max(0.0) / price(r.output, 1)).floor() as u64;
            e.max_output_tokens = Some(room);
            e.worst_output_cost_usd = Some(price(r.output, room));
            e.capped = true;
        }
        e
    }
}

fn parts_tokens(parts: &[crate::parts::Part], kind: Kind, method: Method) -> u64 {
    parts
        .iter()
        .map(|p| crate::attach::part_tokens(p, kind, method))
        .sum()
}

/// An answer's usage and cost as the sums of its steps' (the cost is unknown if any step's is).
fn sum_steps(a: &mut Answer) {
    let mut u = Usage::default();
    let mut cost = Some(0.0);
    for s in &a.steps {
        u.add(&s.usage);
        cost = match (cost, s.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    a.usage = u;
    a.cost_usd = cost;
    a.usage_estimated = a.steps.iter().any(|s| s.usage_estimated);
    a.not_accepted = false;
}

fn cfg_max_steps(cfg: &Config) -> u32 {
    cfg.file.max_steps.unwrap_or(10).max(1)
}

/// An empty conversation carrying the config's default `system_prompt`.
pub fn new_conversation(cfg: &Config) -> Conversation {
    let mut c = Conversation::new(util::new_id(), util::now_rfc3339());
    c.system_prompt = cfg
        .file
        .system_prompt
        .clone()
        .filter(|s| !s.trim().is_empty());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(model: &str) -> Session {
        let cfg = Arc::new(Config::builtin());
        let m = cfg.resolve_model(model).expect("model");
        Session::new(cfg, m)
    }

    #[test]
    fn a_turn_accumulates_text_usage_and_cost() {
        let mut s = session("openai/gpt-5-mini");
        let (id, req) = s.begin("Why is the sky blue?");
        let t0 = s.in_flight.as_ref().expect("in flight").started;
        assert_eq!(req.messages.len(), 1);
        assert_eq!(s.apply_at(id, StreamEvent::Started, t0), Applied::Updated);
        s.apply_at(
            id,
            StreamEvent::TextDelta("Rayleigh".into()),
            t0 + Duration::from_millis(400),
        );
        s.apply_at(
            id,
            StreamEvent::TextDelta(" scattering.".into()),
            t0 + Duration::from_millis(500),
        );
        let u = Usage {
            input_tokens: 1187,
            output_tokens: 215,
            cached_input_tokens: 1024,
            reasoning_tokens: 192,
            ..Default::default()
        };
        s.apply_at(id, StreamEvent::Usage(u), t0 + Duration::from_millis(600));
        let end = s.apply_at(
            id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
            t0 + Duration::from_millis(1400),
        );
        assert_eq!(end, Applied::TurnEnded { interrupted: false });
        let a = s.last_answer().expect("answer");
        assert_eq!(s.conv.messages[1].content, "Rayleigh scattering.");
        assert_eq!(a.model, "openai/gpt-5-mini");
        assert_eq!(a.ttft_ms, Some(400));
        assert_eq!(a.duration_ms, Some(1400));
        assert!((a.cost_usd.unwrap_or(0.0) - 0.000_496_35).abs() < 1e-12);
        assert!(!a.usage_estimated);
        assert_eq!(s.conv.title, "Why is the sky blue?");
        // A stale request id is ignored.
        assert_eq!(
            s.apply(id, StreamEvent::TextDelta("late".into())),
            Applied::Ignored
        );
    }

    #[test]
    fn no_usage_is_estimated_and_unknown_price_is_none() {
        let mut s = session("openai/some-new-model");
        let (id, _) = s.begin("hello there");
        s.apply(id, StreamEvent::TextDelta("general kenobi".into()));
        s.apply(
            id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
        );
        let a = s.last_answer().expect("answer");
        assert!(a.usage_estimated);
        assert!(a.usage.output_tokens > 0);
        assert_eq!(a.cost_usd, None);
        assert_eq!(s.totals().unpriced_turns, 1);
    }

    #[test]
    fn cancel_keeps_partial_and_marks_interrupted() {
        let mut s = session("demo/charla-demo");
        let (id, _) = s.begin("q");
        s.apply(id, StreamEvent::TextDelta("partial".into()));
        assert_eq!(s.cancel(), Applied::TurnEnded { interrupted: true });
        let a = s.last_answer().expect("answer");
        assert!(a.interrupted);
        assert_eq!(a.error.as_deref(), Some("cancelled"));
        assert_eq!(s.conv.messages[1].content, "partial");
        assert_eq!(a.cost_usd, Some(0.0));
        assert!(!s.is_streaming());
    }

    #[test]
    fn a_broken_stream_counts_at_least_the_text_received() {
        let mut s = session("anthropic/claude-haiku-4-5");
        let (id, _) = s.begin("q");
        s.apply(
            id,
            StreamEvent::Usage(Usage {
                input_tokens: 25,
                output_tokens: 1,
                ..Default::default()
            }),
        );
        s.apply(id, StreamEvent::TextDelta("a".repeat(400)));
        s.apply(
            id,
            StreamEvent::Error(ProviderError::new(ErrorKind::Overloaded, "Overloaded")),
        );
        let a = s.last_answer().expect("answer");
        assert_eq!(a.usage.input_tokens, 25, "reported input kept");
        assert_eq!(
            a.usage.output_tokens, 100,
            "400 ASCII characters ≈ 100 tokens, not the placeholder 1"
        );
        assert!(a.usage_estimated);
        // 25 × $1 + 100 × $5 per 1M.
        assert!((a.cost_usd.unwrap_or(0.0) - 0.000_525).abs() < 1e-12);
    }

    #[test]
    fn switching_models_keeps_each_answers_model_and_sums_totals() {
        let mut s = session("openai/gpt-4o-mini");
        let (id, _) = s.begin("one");
        s.apply(
            id,
            StreamEvent::Usage(Usage {
                input_tokens: 1_000_000,
                output_tokens: 0,
                ..Default::default()
            }),
        );
        s.apply(
            id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
        );
        let m = s
            .cfg
            .resolve_model("anthropic/claude-haiku-4-5")
            .expect("m");
        s.set_model(m);
        let (id, req) = s.begin("two");
        assert_eq!(req.model, "claude-haiku-4-5");
        assert_eq!(
            req.messages.len(),
            2,
            "the empty first answer is left out of the history"
        );
        s.apply(
            id,
            StreamEvent::Usage(Usage {
                input_tokens: 0,
                output_tokens: 1_000_000,
                ..Default::default()
            }),
        );
        s.apply(
            id,
            StreamEvent::Finished {
                reason: "end_turn".into(),
            },
        );
        assert_eq!(
            s.conv.models(),
            vec!["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
        );
        let t = s.totals();
        assert!((t.cost_usd - (0.15 + 5.0)).abs() < 1e-9, "{}", t.cost_usd);
    }

    fn call(id: &str, name: &str) -> crate::parts::ToolCall {
        crate::parts::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: serde_json::json!({"path": "."}),
            signature: None,
            approval: None,
        }
    }

    fn ok(c: &crate::parts::ToolCall, text: &str) -> crate::parts::ToolResult {
        let mut r = crate::parts::ToolResult::error(c, text);
        r.is_error = false;
        r
    }

    fn usage(i: u64, o: u64) -> StreamEvent {
        StreamEvent::Usage(Usage {
            input_tokens: i,
            output_tokens: o,
            ..Default::default()
        })
    }

    fn finished(r: &str) -> StreamEvent {
        StreamEvent::Finished { reason: r.into() }
    }

    fn with_tools(model: &str) -> Session {
        let mut s = session(model);
        s.tools = crate::tools::resolve(&s.cfg, &["list_dir".into(), "current_time".into()])
            .expect("tools");
        s
    }

    #[test]
    fn a_tool_turn_records_each_steps_cost_and_sums_them() {
        let mut s = with_tools("openai/gpt-4o-mini");
        let (id, req) = s.begin("what is here?");
        assert_eq!(req.tools.len(), 2, "the tools are offered");
        s.apply(id, StreamEvent::TextDelta("Looking.".into()));
        s.apply(id, StreamEvent::ToolCall(call("c1", "list_dir")));
        s.apply(id, usage(1_000_000, 0));
        assert_eq!(s.apply(id, finished("tool_calls")), Applied::ToolCalls);
        assert!(s.awaiting_tools());
        assert_eq!(s.pending_calls().len(), 1);
        // Events of the finished request no longer count.
        assert_eq!(
            s.apply(id, StreamEvent::TextDelta("late".into())),
            Applied::Ignored
        );
        assert_eq!(s.grant(&s.pending_calls()[0].clone()), Grant::Ask);
        let mut c = s.pending_calls()[0].clone();
        c.approval = Some("once".into());
        let r = ok(&c, "README.md");
        let (id2, req2) = s.resume(vec![c], vec![r]).expect("next step");
        assert_ne!(id2, id);
        // The next request carries the answer so far: the words, the call, the result.
        let last = req2.messages.last().expect("answer");
        assert_eq!(last.role, crate::provider::Role::Assistant);
        assert!(last.has_tool_steps());
        assert!(
            req2.system
                .as_deref()
                .is_some_and(|sys| sys.contains("untrusted")),
            "tool output is fenced: {:?}",
            req2.system
        );
        s.apply(id2, StreamEvent::TextDelta("It holds a README.".into()));
        s.apply(id2, usage(0, 1_000_000));
        assert_eq!(
            s.apply(id2, finished("stop")),
            Applied::TurnEnded { interrupted: false }
        );
        let m = &s.conv.messages[1];
        assert_eq!(m.content, "It holds a README.");
        let kinds: Vec<&str> = m.parts.iter().map(|p| p.kind()).collect();
        assert_eq!(kinds, ["text", "tool_call", "tool_result"]);
        let a = m.answer.as_ref().expect("answer");
        assert_eq!(a.steps.len(), 2);
        assert!(
            a.steps.iter().all(|x| x.duration_ms.is_some()),
            "tok/s counts the model's streaming time, not the tools'"
        );
        assert_eq!(a.usage.input_tokens, 1_000_000);
        assert_eq!(a.usage.output_tokens, 1_000_000);
        // gpt-4o-mini: $0.15 in + $0.60 out per 1M.
        assert!(
            (a.cost_usd.unwrap_or(0.0) - 0.75).abs() < 1e-9,
            "{:?}",
            a.cost_usd
        );
        assert!(!a.interrupted);
    }

    #[test]
    fn grants_follow_auto_always_session_flag_then_ask() {
        let mut s = with_tools("openai/gpt-4o-mini");
        assert_eq!(s.grant(&call("1", "current_time")), Grant::Run("auto"));
        assert_eq!(s.grant(&call("2", "list_dir")), Grant::Ask);
        assert_eq!(s.grant(&call("3", "rm_rf")), Grant::Unknown);
        s.flag_allowed.insert("list_dir".into());
        assert_eq!(s.grant(&call("2", "list_dir")), Grant::Run("flag"));
        s.session_allowed.insert("list_dir".into());
        assert_eq!(s.grant(&call("2", "list_dir")), Grant::Run("session"));
    }

    #[test]
    fn the_step_limit_ends_the_turn_with_the_calls_answered() {
        let mut s = with_tools("openai/gpt-4o-mini");
        s.max_steps = 2;
        let (mut id, _) = s.begin("loop");
        for step in 1..=2 {
            s.apply(
                id,
                StreamEvent::ToolCall(call(&format!("c{step}"), "current_time")),
            );
            let applied = s.apply(id, finished("tool_calls"));
            if step == 2 {
                assert_eq!(applied, Applied::TurnEnded { interrupted: true });
                break;
            }
            let c = s.pending_calls()[0].clone();
            let r = ok(&c, "now");
            id = s.resume(vec![c], vec![r]).expect("step").0;
        }
        assert!(!s.is_streaming());
        assert_eq!(
            s.last_error.as_ref().map(|e| e.kind),
            Some(ErrorKind::StepLimit)
        );
        let m = &s.conv.messages[1];
        let results = m.parts.iter().filter(|p| p.kind() == "tool_result").count();
        assert_eq!(
            results, 2,
            "every call has a result, so the history stays valid"
        );
    }

    #[test]
    fn cancel_while_waiting_for_approval_keeps_the_calls_with_cancelled_results() {
        let mut s = with_tools("openai/gpt-4o-mini");
        let (id, _) = s.begin("x");
        s.apply(id, StreamEvent::ToolCall(call("c1", "list_dir")));
        s.apply(id, finished("tool_calls"));
        assert_eq!(s.cancel(), Applied::TurnEnded { interrupted: true });
        let m = &s.conv.messages[1];
        let a = m.answer.as_ref().expect("answer");
        assert!(a.interrupted);
        assert_eq!(a.error.as_deref(), Some("cancelled"));
        assert!(m.parts.iter().any(
            |p| matches!(p, crate::parts::Part::ToolResult(r) if r.text.contains("cancelled"))
        ));
        assert!(s.resume(vec![], vec![]).is_err(), "nothing waits any more");
    }

    #[test]
    fn a_spend_cap_holds_across_steps() {
        let mut s = with_tools("openai/gpt-4o-mini");
        s.caps.conversation = Some(0.10);
        let (id, _) = s.begin("x");
        s.apply(id, StreamEvent::ToolCall(call("c1", "list_dir")));
        // The first step left less of the cap than the shortest answer costs.
        s.apply(id, usage(666_600, 0));
        assert_eq!(s.apply(id, finished("tool_calls")), Applied::ToolCalls);
        let c = s.pending_calls()[0].clone();
        let r = ok(&c, "x");
        assert_eq!(
            s.resume(vec![c], vec![r]).err(),
            Some(Applied::TurnEnded { interrupted: true })
        );
        assert_eq!(
            s.last_error.as_ref().map(|e| e.kind),
            Some(ErrorKind::Budget)
        );
        assert!(!s.is_streaming());
    }

    #[test]
    fn estimate_before_sending() {
        let s = session("openai/gpt-4o-mini");
        let e = s.estimate("abcd abcd abcd abcd");
        assert!(e.input_tokens > 4);
        assert!(e.input_cost_usd.is_some_and(|c| c > 0.0));
        assert_eq!(e.context_window, Some(128_000));
    }
}
