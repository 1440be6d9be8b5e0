//! Random jitter for backoff, shared by the S3 retries and the credential refresher.
//!
//! Jitter needs no cryptographic quality, only spread: retries of many readers (or of many
//! mounts started together) must not arrive at the same instant. A per-thread xorshift
//! generator seeded from the clock and the pid does that without a dependency.

use std::cell::Cell;

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    (nanos ^ (std::process::id() as u64) << 32) | 1
}

/// A number in [0, 1).
pub fn random_unit() -> f64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn units_stay_in_range_and_vary() {
        let draws: Vec<f64> = (0..1000).map(|_| super::random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
