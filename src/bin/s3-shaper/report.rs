//! The exit report: the shaper's own CPU time and what it relayed, as one JSON line.
//!
//! The benchmark prints the proxy's CPU beside every figure (it samples `/proc/PID/stat`
//! around each run); this report is the whole run's total, from `getrusage`, for a caller
//! that only has the process's end.

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::relay::Stats;

/// User and system CPU time of this process so far.
pub fn own_cpu() -> io::Result<(Duration, Duration)> {
    // SAFETY: `rusage` is plain data, so all-zero bytes are a valid value; getrusage only
    // writes into the struct we pass, which lives for the whole call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok((time(usage.ru_utime), time(usage.ru_stime)))
}

/// The report line.
pub fn line(stats: &Stats, (user, sys): (Duration, Duration)) -> String {
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "{{\"cpu_user_secs\":{:.3},\"cpu_sys_secs\":{:.3},\"connections\":{},\
         \"requests\":{{\"list\":{},\"read\":{},\"other\":{}}},\
         \"bytes_to_upstream\":{},\"bytes_to_clients\":{}}}",
        user.as_secs_f64(),
        sys.as_secs_f64(),
        n(&stats.connections),
        n(&stats.lists),
        n(&stats.reads),
        n(&stats.others),
        n(&stats.bytes_to_upstream),
        n(&stats.bytes_to_clients),
    )
}

/// Writes the report to `file`, or to standard error without one.
pub fn write(stats: &Stats, file: Option<&Path>) -> io::Result<()> {
    let text = line(stats, own_cpu()?);
    match file {
        Some(path) => std::fs::write(path, text + "\n"),
        None => {
            eprintln!("{text}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_json_with_every_counter() {
        let stats = Stats::default();
        stats.reads.store(3, Ordering::Relaxed);
        stats.bytes_to_clients.store(1 << 20, Ordering::Relaxed);
        let text = line(
            &stats,
            (Duration::from_millis(1500), Duration::from_micros(250)),
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["cpu_user_secs"], 1.5);
        assert_eq!(v["cpu_sys_secs"], 0.0);
        assert_eq!(v["requests"]["read"], 3);
        assert_eq!(v["requests"]["list"], 0);
        assert_eq!(v["bytes_to_clients"], 1 << 20);
    }

    #[test]
    fn own_cpu_grows_with_work() {
        let (u0, s0) = own_cpu().unwrap();
        let mut x = 0u64;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let (u1, s1) = own_cpu().unwrap();
        assert!(u1 + s1 > u0 + s0, "{x}");
    }
}
