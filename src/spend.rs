//! Spend caps that hold: per conversation (`max_cost_per_session`, `/budget`), per request
//! (`ask --max-cost`), and per UTC day and month across every conversation
//! (`max_cost_per_day`, `max_cost_per_month`, from the saved history). A request whose worst
//! case would cross the tightest cap is refused before it is sent; a stream whose running cost
//! reaches it is stopped (see `Session::apply`). Pure but for [`history_spend`].

use crate::conversation::{Conversation, Store};
use crate::util::dollars;

/// The caps in force for a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caps {
    /// The whole conversation's spend (its earlier turns count).
    pub conversation: Option<f64>,
    /// One request (`ask --max-cost`).
    pub request: Option<f64>,
    pub day: Option<Cap>,
    pub month: Option<Cap>,
}

/// A cap across conversations, with what the other conversations spent in its period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cap {
    pub limit: f64,
    pub spent_elsewhere: f64,
}

/// How much may still be spent, and under which cap.
#[derive(Debug, Clone, PartialEq)]
pub struct Headroom {
    pub left: f64,
    pub limit: f64,
    pub spent: f64,
    /// "the conversation's $0.50 budget", "today's $2.00 cap (max_cost_per_day)", …
    pub what: String,
}

impl Caps {
    pub fn is_empty(&self) -> bool {
        self.conversation.is_none()
            && self.request.is_none()
            && self.day.is_none()
            && self.month.is_none()
    }

    /// These caps for another conversation (the TUI opening one): the day and month caps
    /// keep counting everything spent, so what `old` spent moves to "elsewhere" and what
    /// `new` spent (already counted there) moves out of it.
    pub fn carried(&self, old: &Conversation, new: &Conversation, today: &str) -> Caps {
        let month = &today[..today.len().min(7)];
        let mv = |c: Option<Cap>, period: &str| {
            c.map(|c| Cap {
                limit: c.limit,
                spent_elsewhere: c.spent_elsewhere + spent_in(old, period) - spent_in(new, period),
            })
        };
        Caps {
            conversation: self.conversation,
            request: self.request,
            day: mv(self.day, today),
            month: mv(self.month, month),
        }
    }

    /// These caps for one of `n` answers written at once to `conv` (a comparison): each may
    /// take an n-th of what every cap has left, so that together they hold to it.
    pub fn shared(&self, conv: &Conversation, today: &str, n: usize) -> Caps {
        let n = n.max(1) as f64;
        let month = &today[..today.len().min(7)];
        let part = |limit: f64, spent: f64| spent + (limit - spent).max(0.0) / n;
        let period = |c: Option<Cap>, prefix: &str| {
            c.map(|c| {
                let spent = c.spent_elsewhere + spent_in(conv, prefix);
                Cap {
                    limit: part(c.limit, spent),
                    spent_elsewhere: c.spent_elsewhere,
                }
            })
        };
        Caps {
            conversation: self.conversation.map(|l| part(l, conv.totals().cost_usd)),
            request: self.request.map(|l| l / n),
            day: period(self.day, today),
            month: period(self.month, month),
        }
    }

    /// The tightest cap for the next request of `conv`, `today` being `YYYY-MM-DD` (UTC).
    pub fn headroom(&self, conv: &Conversation, today: &str) -> Option<Headroom> {
        let mut all: Vec<Headroom> = Vec::new();
        let mk = |limit: f64, spent: f64, what: String| Headroom {
            left: limit - spent,
            limit,
            spent,
            what,
        };
        // What the answer being written already spent (the finished steps of a turn that
        // uses tools): the turn's later requests are held to the same caps.
        let writing: f64 = conv
            .answers()
            .filter(|a| a.duration_ms.is_none())
            .filter_map(|a| a.cost_usd)
            .sum();
        if let Some(l) = self.conversation {
            all.push(mk(
                l,
                conv.totals().cost_usd + writing,
                format!("the conversation's {} budget", dollars(l)),
            ));
        }
        if let Some(l) = self.request {
            all.push(mk(
                l,
                writing,
                format!("the request's {} cap (--max-cost)", dollars(l)),
            ));
        }
        if let Some(c) = self.day {
            all.push(mk(
                c.limit,
                c.spent_elsewhere + spent_in(conv, today),
                format!("today's {} cap (max_cost_per_day, UTC)", dollars(c.limit)),
            ));
        }
        if let Some(c) = self.month {
            all.push(mk(
                c.limit,
                c.spent_elsewhere + spent_in(conv, &today[..today.len().min(7)]),
                format!(
                    "this month's {} cap (max_cost_per_month, UTC)",
                    dollars(c.limit)
                ),
            ));
        }
        all.into_iter().min_by(|a, b| a.left.total_cmp(&b.left))
    }
}

/// When an answer was sent, for the period caps: its `sent_at`, else (files from before it
/// was recorded) the conversation's last update, which errs toward counting it.
fn answer_time<'a>(sent_at: Option<&'a str>, conv_updated: &'a str) -> &'a str {
    sent_at.unwrap_or(conv_updated)
}

/// What `conv`'s answers sent in the period `prefix` (`YYYY-MM-DD` or `YYYY-MM`) cost.
pub fn spent_in(conv: &Conversation, prefix: &str) -> f64 {
    // Alternatives were paid for too (a retry, a comparison's other answers).
    let mut sum = 0.0;
    conv.for_each_paid(|sent_at, cost| {
        if answer_time(sent_at, &conv.updated).starts_with(prefix) {
            sum += cost.unwrap_or(0.0);
        }
    });
    sum
}

/// What every saved conversation but `except` spent today and this month (UTC). Reads the
/// conversation files (the cheap listing parse).
pub fn history_spend(store: &Store, today: &str, except: &str) -> (f64, f64) {
    let month = &today[..today.len().min(7)];
    let (mut day, mut mon) = (0.0, 0.0);
    for (id, updated, answers) in store.answer_costs() {
        if id == except {
            continue;
        }
        for (sent_at, cost) in answers {
            let t = answer_time(sent_at.as_deref(), &updated);
            if t.starts_with(today) {
                day += cost;
            }
            if t.starts_with(month) {
                mon += cost;
            }
        }
    }
    (day, mon)
}

/// The caps a config sets for `conv` (reads the history when a day or month cap is set).
pub fn caps_from_config(cfg: &crate::config::Config, conv: &Conversation) -> Caps {
    let f = &cfg.file;
    let mut caps = Caps {
        conversation: f.max_cost_per_session.filter(|b| *b > 0.0),
        ..Caps::default()
    };
    let day = f.max_cost_per_day.filter(|b| *b > 0.0);
    let month = f.max_cost_per_month.filter(|b| *b > 0.0);
    if day.is_some() || month.is_some() {
        let store = Store::new(cfg.paths.conversations_dir());
        let (d, m) = history_spend(&store, &crate::util::today(), &conv.id);
        caps.day = day.map(|limit| Cap {
            limit,
            spent_elsewhere: d,
        });
        caps.month = month.map(|limit| Cap {
            limit,
            spent_elsewhere: m,
        });
    }
    caps
}

/// The refusal of a request whose worst case (`worst`) would cross `h`.
pub fn refusal(worst: f64, h: &Headroom, bound: &str) -> String {
    if h.left <= 0.0 {
        return format!(
            "{} is spent ({} of {}): nothing more is sent; raise it to go on",
            h.what,
            dollars(h.spent),
            dollars(h.limit)
        );
    }
    format!(
        "this request could cost up to {} ({bound}), which would cross {} by {} ({} spent, {} left); \
         raise the cap, or bound the answer with max_tokens",
        dollars(worst),
        h.what,
        dollars(worst - h.left),
        dollars(h.spent),
        dollars(h.left)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Message;

    fn conv_with(costs: &[(Option<&str>, f64)], updated: &str) -> Conversation {
        let mut c = Conversation::new("c".into(), updated.into());
        for (at, cost) in costs {
            c.messages.push(Message::user("q"));
            let mut a = Message::assistant("openai/gpt-4o-mini");
            if let Some(x) = a.answer.as_mut() {
                x.cost_usd = Some(*cost);
                x.duration_ms = Some(1);
                x.sent_at = at.map(str::to_string);
            }
            c.messages.push(a);
        }
        c
    }

    #[test]
    fn a_period_counts_alternatives_and_the_answer_being_written() {
        let mut c = conv_with(
            &[(Some("2026-12-01T08:00:00Z"), 0.25)],
            "2026-12-01T09:00:00Z",
        );
        // A retried answer kept as an alternative was paid for too.
        let old = c.messages.pop().expect("answer");
        let mut new = Message::assistant("openai/gpt-4o");
        if let Some(a) = new.answer.as_mut() {
            a.cost_usd = Some(0.5);
            a.duration_ms = Some(1);
            a.sent_at = Some("2026-12-01T08:30:00Z".into());
            a.alternatives = old.into_alternatives(None);
        }
        c.messages.push(new);
        // An answer still being written (tool steps finished, no duration yet) counts its steps.
        c.messages.push(Message::user("q2"));
        let mut writing = Message::assistant("openai/gpt-4o");
        if let Some(a) = writing.answer.as_mut() {
            a.cost_usd = Some(0.125);
            a.sent_at = Some("2026-12-01T08:45:00Z".into());
        }
        c.messages.push(writing);
        assert_eq!(spent_in(&c, "2026-12-01"), 0.875);
    }

    #[test]
    fn the_tightest_cap_wins_and_periods_count_by_sent_time() {
        let c = conv_with(
            &[
                (Some("2026-11-30T23:59:00Z"), 0.5),
                (Some("2026-12-01T08:00:00Z"), 0.25),
                (None, 0.125), // no sent_at: the conversation's update time (today)
            ],
            "2026-12-01T09:00:00Z",
        );
        assert_eq!(spent_in(&c, "2026-12-01"), 0.375);
        assert_eq!(spent_in(&c, "2026-12"), 0.375);
        assert_eq!(spent_in(&c, "2026-11"), 0.5);
        let caps = Caps {
            conversation: Some(2.0),
            request: None,
            day: Some(Cap {
                limit: 1.0,
                spent_elsewhere: 0.5,
            }),
            month: Some(Cap {
                limit: 10.0,
                spent_elsewhere: 3.0,
            }),
        };
        let h = caps.headroom(&c, "2026-12-01").expect("capped");
        assert_eq!(h.left, 1.0 - 0.5 - 0.375);
        assert!(h.what.contains("today's $1.00 cap"), "{}", h.what);
        assert!(Caps::default().headroom(&c, "2026-12-01").is_none());
    }
}
