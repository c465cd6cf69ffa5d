//! What one plugin call may use. The defaults suit the mock and real providers we ship: the
//! largest legitimate call (a 10 000-resource batch) uses a few MiB and well under a second.

use std::time::Duration;

/// Per-call limits, applied to each store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a single instance may grow to. 128 MiB leaves room for a componentize-py
    /// guest (its interpreter alone takes ~40 MiB) while a runaway allocation stops long before
    /// it can hurt the host.
    pub memory_bytes: usize,
    /// Wall time a single call may run guest code. Ten seconds covers a slow upstream API
    /// page; a guest stuck in a loop is stopped at that point.
    pub call_deadline: Duration,
    /// Calls of one provider instance in flight at once. Four lets a few accounts collect in
    /// parallel while a slow upstream cannot take every worker.
    pub max_concurrent_calls: usize,
    /// Items (projects, resources, samples, mixes) one call may return. Bytes are already
    /// bounded by the memory limit (a result is built in guest memory first); this bounds what
    /// a result costs the host downstream. 100 000 is ten times the largest inventory we test.
    pub max_result_items: usize,
    /// The most one resource of this provider can plausibly draw, in watts. A reading above
    /// it, or an energy counter that grew faster, is refused rather than counted: one absurd
    /// value would otherwise dwarf a fleet's real total for ever. 100 kW is ten of the largest
    /// GPU servers; a provider whose "resource" is a whole site raises it.
    pub max_power_watts: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        memory_bytes: 128 << 20,
        call_deadline: Duration::from_secs(10),
        max_concurrent_calls: 4,
        max_result_items: 100_000,
        max_power_watts: 100_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// How often the epoch advances. Deadlines are rounded up to this granularity; 10 ms costs
/// nothing measurable and keeps a 10 ms deadline meaningful.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Limits {
    /// The call deadline in epoch ticks, at least one.
    pub fn deadline_ticks(&self) -> u64 {
        let ticks = self
            .call_deadline
            .as_nanos()
            .div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_whole_ticks() {
        let limits = Limits {
            call_deadline: Duration::from_millis(25),
            ..Limits::default()
        };
        assert_eq!(limits.deadline_ticks(), 3);
        let tiny = Limits {
            call_deadline: Duration::from_micros(1),
            ..Limits::default()
        };
        assert_eq!(tiny.deadline_ticks(), 1);
    }
}
