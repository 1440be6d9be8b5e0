//! Failures logged once per backoff step: a long outage costs a few log lines, not one
//! per failed request.
//!
//! Why: while Cognito refuses or S3 is down, every `ls`, `stat` and read fails the same
//! way. Issue 14 measured 5.1 MiB of log in 150 s from exactly that. The errors the kernel
//! gets stay the same; only the log is thinned.
//!
//! Subtleties:
//! 1. Failures are grouped by *kind* (what went wrong: no credentials, S3 unavailable, ...),
//!    not by their text, which carries counters and "retry in 7 s" and so never repeats.
//! 2. The quiet window after a logged failure doubles while failures of that kind keep
//!    coming (1 s, 2 s, 4 s, ... up to five minutes), like the refresher's backoff; a kind
//!    that stayed quiet for a whole window starts again at one second.
//! 3. The line that ends a quiet window says how many similar failures it stood for, so
//!    nothing is hidden without a count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The first quiet window.
const FIRST_WINDOW: Duration = Duration::from_secs(1);
/// The longest quiet window.
const LONGEST_WINDOW: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
struct Window {
    /// Until when failures of this kind are only counted.
    until: Instant,
    length: Duration,
    suppressed: u64,
}

/// Decides which failures are logged.
#[derive(Debug, Default)]
pub struct Quiet {
    windows: Mutex<HashMap<&'static str, Window>>,
}

impl Quiet {
    /// Whether a failure of `kind` at `now` is logged; if so, how many similar failures
    /// were left out since the last line of that kind.
    pub fn admit(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut windows = self.windows.lock();
        let Some(w) = windows.get_mut(kind) else {
            windows.insert(kind, Window::open(now, FIRST_WINDOW));
            return Some(0);
        };
        if now < w.until {
            w.suppressed += 1;
            return None;
        }
        let left_out = w.suppressed;
        // A window with repeats doubles; one that passed quietly starts over.
        let length = match left_out {
            0 if now >= w.until + w.length => FIRST_WINDOW,
            _ => (w.length * 2).min(LONGEST_WINDOW),
        };
        *w = Window::open(now, length);
        Some(left_out)
    }
}

impl Window {
    fn open(now: Instant, length: Duration) -> Window {
        Window {
            until: now + length,
            length,
            suppressed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits one failure every `step` for `total`; returns the times logged and the counts.
    fn run(q: &Quiet, t0: Instant, step: Duration, total: Duration) -> Vec<(Duration, u64)> {
        let mut logged = Vec::new();
        let mut t = Duration::ZERO;
        while t < total {
            if let Some(n) = q.admit("k", t0 + t) {
                logged.push((t, n));
            }
            t += step;
        }
        logged
    }

    #[test]
    fn a_steady_stream_of_failures_is_logged_on_a_doubling_schedule() {
        let q = Quiet::default();
        // 100 failures a second for ten minutes: 60,000 failures.
        let logged = run(
            &q,
            Instant::now(),
            Duration::from_millis(10),
            Duration::from_secs(600),
        );
        let secs: Vec<u64> = logged.iter().map(|(t, _)| t.as_secs()).collect();
        assert_eq!(secs, [0, 1, 3, 7, 15, 31, 63, 127, 255, 511]);
        // Each line after the first counts the failures it stood for; none go uncounted.
        let counted: u64 = logged.iter().map(|(_, n)| n + 1).sum();
        let (last, _) = logged.last().unwrap();
        assert_eq!(counted, last.as_millis() as u64 / 10 + 1);
    }

    #[test]
    fn kinds_are_independent_and_a_quiet_spell_starts_over() {
        let q = Quiet::default();
        let t0 = Instant::now();
        assert_eq!(q.admit("a", t0), Some(0));
        assert_eq!(q.admit("b", t0), Some(0), "another kind has its own window");
        assert_eq!(q.admit("a", t0 + Duration::from_millis(500)), None);
        assert_eq!(q.admit("a", t0 + Duration::from_secs(1)), Some(1));
        // The window is now 2 s; after 2 s + 2 s without a failure it starts over at 1 s.
        assert_eq!(q.admit("a", t0 + Duration::from_secs(5)), Some(0));
        assert_eq!(q.admit("a", t0 + Duration::from_millis(5500)), None);
        assert_eq!(q.admit("a", t0 + Duration::from_secs(6)), Some(1));
    }
}
