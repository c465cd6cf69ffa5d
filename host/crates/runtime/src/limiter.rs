//! The per-call resource limiter: caps linear memory, remembers the peak, and records a
//! denied growth so the failure is reported as "out of memory" rather than a bare trap.

use wasmtime::ResourceLimiter;

/// Table elements a guest may have; generous for any real program (function tables of
/// interpreters are in the thousands), small enough that a table bomb is stopped early.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

pub struct CallLimiter {
    memory_limit: usize,
    peak_bytes: usize,
    denied_bytes: Option<usize>,
}

impl CallLimiter {
    pub fn new(memory_limit: usize) -> Self {
        CallLimiter {
            memory_limit,
            peak_bytes: 0,
            denied_bytes: None,
        }
    }

    /// The largest linear memory this call grew to.
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes
    }

    /// The size a refused growth asked for, if one was refused.
    pub fn denied_bytes(&self) -> Option<usize> {
        self.denied_bytes
    }

    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.denied_bytes = Some(desired);
            // An error (not `Ok(false)`) traps right here: a guest allocator that ignores a
            // failed `memory.grow` cannot limp on and blame something else.
            return Err(wasmtime::Error::msg(format!(
                "memory limit reached: the guest asked for {desired} bytes, the limit is {}",
                self.memory_limit
            )));
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
