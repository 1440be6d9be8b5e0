//! A per-connection, per-direction bandwidth cap.
//!
//! Modelled as the link itself rather than as a bucket of tokens: the pacer keeps the instant
//! at which the link will have sent everything admitted so far (`free_at`, the virtual
//! scheduling form of a token bucket). A slice of `n` bytes occupies the link for `n / rate`
//! after that instant (or after now, if the link went idle), and is released `LEAD` before
//! the link would have finished sending it.
//!
//! Why a lead, and why this one: tokio's timers have millisecond resolution, so a wake-up is
//! up to a millisecond late. Without a lead every late wake-up would be link time lost, and a
//! 90 MiB/s cap would deliver less. With a lead of one millisecond, a late wake-up still
//! finds the link busy and nothing is lost; the price is that a transfer may finish up to
//! `LEAD` early, which is what "burst" means here: about 92 KiB at 90 MiB/s, so a 1 MiB read
//! (11.1 ms at the cap) takes at least 10.1 ms. Slices are at most `LEAD` worth of bytes, so
//! a large write is spread over the link's time instead of leaving in one lump.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

/// How far ahead of the link a slice may be released; see the module doc.
pub const LEAD: Duration = Duration::from_millis(1);
/// Slices are never smaller than this, so a very low cap does not mean tiny writes.
const MIN_SLICE: usize = 16 * 1024;

#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: f64,
    free_at: Instant,
}

impl Pacer {
    /// A cap of `bytes_per_sec` (which must be above zero).
    pub fn new(bytes_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            free_at: Instant::now(),
        }
    }

    /// The largest slice to admit at once.
    pub fn slice(&self) -> usize {
        ((self.bytes_per_sec * LEAD.as_secs_f64()) as usize).max(MIN_SLICE)
    }

    /// Waits until `n` more bytes may be sent.
    pub async fn admit(&mut self, n: usize) {
        let now = Instant::now();
        let start = self.free_at.max(now);
        self.free_at = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec);
        let release = self.free_at.checked_sub(LEAD).unwrap_or(now);
        if release > now {
            sleep_until(release).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Admits `total` bytes in slices; returns the (paused-clock) time it took.
    async fn send(pacer: &mut Pacer, total: usize) -> Duration {
        let t0 = Instant::now();
        let mut left = total;
        while left > 0 {
            let n = left.min(pacer.slice());
            pacer.admit(n).await;
            left -= n;
        }
        t0.elapsed()
    }

    // Under tokio's paused clock no real time passes and every timer fires exactly when the
    // runtime is otherwise idle, so an upper bound is as sound here as a lower one.
    #[tokio::test(start_paused = true)]
    async fn eight_mib_at_16_mib_per_sec_takes_half_a_second_less_the_lead() {
        let mut pacer = Pacer::new(16 * MIB);
        let took = send(&mut pacer, 8 * MIB as usize).await;
        assert!(took >= Duration::from_millis(499), "{took:?}");
        assert!(took <= Duration::from_millis(502), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_1_mib_read_at_90_mib_per_sec_beats_the_cap_by_the_lead_at_most() {
        let mut pacer = Pacer::new(90 * MIB);
        let ideal = Duration::from_secs_f64(1.0 / 90.0);
        let took = send(&mut pacer, MIB as usize).await;
        assert!(took + LEAD >= ideal, "{took:?}");
        assert!(took <= ideal + LEAD, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_link_saves_no_credit() {
        let mut pacer = Pacer::new(16 * MIB);
        send(&mut pacer, MIB as usize).await;
        tokio::time::advance(Duration::from_secs(10)).await;
        let took = send(&mut pacer, MIB as usize).await;
        assert!(took >= Duration::from_millis(61), "{took:?}");
    }

    #[test]
    fn slices_are_a_lead_of_bytes_but_never_tiny() {
        let fast = Pacer::new(1024 * MIB).slice();
        assert!((1_073_000..=1_073_742).contains(&fast), "{fast}");
        assert_eq!(Pacer::new(MIB).slice(), MIN_SLICE);
    }
}
