//! The tool calls of the step in flight, in the chat screen: which wait for a person's
//! decision (the approval dialog), which run, and their results. State and operations only:
//! `app.rs` routes messages here, `view/overlay.rs` draws the dialog, the loop runs the
//! effects (reviews and runs on the tools layer).

use crate::parts::{ToolCall, ToolResult};
use crate::session::{Grant, Session};
use crate::tools::{Decision, Offered};

/// Where a call stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Waits for the person.
    Ask,
    /// Allowed: runs with the batch.
    Run,
    /// Answered without running (denied, or not a tool of this conversation).
    Done(ToolResult),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub call: ToolCall,
    /// What the dialog shows: the diff, the full command, the arguments (None until read).
    pub review: Option<String>,
    pub outcome: Outcome,
}

/// One step's calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Tells this batch's results from a cancelled one's.
    pub id: u64,
    pub slots: Vec<Slot>,
    /// The allowed calls are running.
    pub running: bool,
    /// A denial's reason being typed (the dialog's `r`).
    pub reason: Option<String>,
    /// Lines the dialog's review is scrolled down.
    pub scroll: usize,
}

static NEXT_BATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Batch {
    /// The session's pending calls, each decided where the session can decide it.
    pub fn new(session: &Session) -> Batch {
        let slots = session
            .pending_calls()
            .iter()
            .map(|c| {
                let mut call = c.clone();
                let outcome = match session.grant(c) {
                    Grant::Run(how) => {
                        call.approval = Some(how.into());
                        Outcome::Run
                    }
                    Grant::Ask => Outcome::Ask,
                    Grant::Unknown => {
                        call.approval = Some("denied".into());
                        Outcome::Done(ToolResult::error(
                            c,
                            format!("there is no tool named {} here", c.name),
                        ))
                    }
                };
                Slot {
                    call,
                    review: None,
                    outcome,
                }
            })
            .collect();
        Batch {
            id: NEXT_BATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            slots,
            running: false,
            reason: None,
            scroll: 0,
        }
    }

    /// The calls the dialog will ask about (their reviews are read first).
    pub fn to_review(&self) -> Vec<ToolCall> {
        self.slots
            .iter()
            .filter(|s| s.outcome == Outcome::Ask)
            .map(|s| s.call.clone())
            .collect()
    }

    pub fn reviewed(&mut self, reviews: Vec<(String, String)>) {
        for (id, text) in reviews {
            if let Some(s) = self.slots.iter_mut().find(|s| s.call.id == id) {
                s.review = Some(text);
            }
        }
    }

    /// The call the dialog asks about now.
    pub fn asking(&self) -> Option<&Slot> {
        self.slots.iter().find(|s| s.outcome == Outcome::Ask)
    }

    /// How many calls still wait for a decision.
    pub fn waiting(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.outcome == Outcome::Ask)
            .count()
    }

    /// Applies the person's decision to the call asked about. A call allowed for the session
    /// (or always) lets the other waiting calls of that tool through too. Returns the tool to
    /// save as always allowed.
    pub fn decide(&mut self, d: Decision, session: &mut Session) -> Option<String> {
        self.scroll = 0;
        self.reason = None;
        let slot = self.slots.iter_mut().find(|s| s.outcome == Outcome::Ask)?;
        let name = slot.call.name.clone();
        slot.call.approval = Some(d.label().into());
        slot.outcome = match &d {
            Decision::Deny(reason) => Outcome::Done(ToolResult::error(
                &slot.call,
                crate::tools::denied_text(reason.as_deref()),
            )),
            _ => Outcome::Run,
        };
        if matches!(d, Decision::Session | Decision::Always) {
            session.session_allowed.insert(name.clone());
            for s in self
                .slots
                .iter_mut()
                .filter(|s| s.outcome == Outcome::Ask && s.call.name == name)
            {
                s.call.approval = Some("session".into());
                s.outcome = Outcome::Run;
            }
        }
        (d == Decision::Always).then_some(name)
    }

    /// Every call is decided.
    pub fn ready(&self) -> bool {
        self.waiting() == 0
    }

    /// The allowed calls, with their tools, to run.
    pub fn to_run(&self, session: &Session) -> Vec<(Offered, ToolCall)> {
        self.slots
            .iter()
            .filter(|s| s.outcome == Outcome::Run)
            .filter_map(|s| Some((session.offered(&s.call.name)?.clone(), s.call.clone())))
            .collect()
    }

    /// The calls with their approvals and one result per call, in the calls' order: `ran`
    /// holds the results of the calls that ran, in order.
    pub fn finish(self, ran: Vec<ToolResult>) -> (Vec<ToolCall>, Vec<ToolResult>) {
        let mut ran = ran.into_iter();
        let mut calls = Vec::new();
        let mut results = Vec::new();
        for s in self.slots {
            let r = match s.outcome {
                Outcome::Done(r) => r,
                _ => ran
                    .next()
                    .unwrap_or_else(|| ToolResult::error(&s.call, "not run")),
            };
            calls.push(s.call);
            results.push(r);
        }
        (calls, results)
    }

    /// What the transcript says of a call still in this batch.
    pub fn status(&self, call_id: &str) -> Option<&'static str> {
        let s = self.slots.iter().find(|s| s.call.id == call_id)?;
        Some(match (&s.outcome, self.running) {
            (Outcome::Ask, _) => "waiting for your approval",
            (Outcome::Run, true) => "running… (Esc cancels)",
            (Outcome::Run, false) => "allowed",
            (Outcome::Done(_), _) => "denied",
        })
    }
}
