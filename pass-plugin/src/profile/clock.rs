//! The recorder's clock. Reading the monotonic clock costs about 25 ns here (a 2-core KVM
//! guest; two reads per interval were most of an interval's cost), the TSC about 10 ns.
//! The TSC is used where the kernel itself keeps time by it (its clocksource is `tsc`: the
//! kernel checked the counter is invariant and agrees across cores); elsewhere ticks are
//! the monotonic clock's nanoseconds. Ticks become nanoseconds when the profile stops, by
//! the two readings of both clocks taken at its start and its stop.

use std::sync::OnceLock;
use std::time::Instant;

/// Whether ticks are the TSC's, decided at the first `read` (before anything records).
static USE_TSC: OnceLock<bool> = OnceLock::new();
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Both clocks read together.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    pub ticks: u64,
    pub ns: u64,
}

/// The monotonic clock, in ns since the first reading in the process.
pub fn monotonic_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Now, in ticks (the hot path: what begin and end record).
#[inline]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if USE_TSC.get() == Some(&true) {
        // SAFETY: rdtsc has no preconditions on x86_64
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    monotonic_ns()
}

/// Decides the clock (once) and reads both; at a profile's start and stop.
pub fn read() -> Reading {
    USE_TSC.get_or_init(kernel_keeps_time_by_tsc);
    Reading {
        ticks: ticks(),
        ns: monotonic_ns(),
    }
}

/// `t` ticks in ns of the monotonic clock, by the readings `a` and `b` around it.
pub fn to_ns(t: u64, a: Reading, b: Reading) -> u64 {
    if USE_TSC.get() != Some(&true) || b.ticks <= a.ticks {
        return t;
    }
    let since = i128::from(t) - i128::from(a.ticks);
    let scaled = since * i128::from(b.ns - a.ns) / i128::from(b.ticks - a.ticks);
    (i128::from(a.ns) + scaled).max(0) as u64
}

fn kernel_keeps_time_by_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_to_the_monotonic_clock_between_two_readings() {
        let a = read();
        let t = ticks();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = read();
        let ns = to_ns(t, a, b);
        assert!(a.ns <= ns && ns <= b.ns, "{a:?} {ns} {b:?}");
        assert!(ns - a.ns < 5_000_000, "read right after a, not near b");
        assert_eq!(to_ns(b.ticks, a, b), b.ns);
    }
}
