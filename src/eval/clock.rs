//! Time sources. The evaluator reads time as nanoseconds since the Unix epoch
//! (UTC), which serves both window arithmetic and calendar alignment.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of the current time, in nanoseconds since the Unix epoch.
///
/// Time that goes backwards is allowed: the algorithms treat it
/// conservatively (they never admit extra requests because of it).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told, for tests and replay.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `ns`.
    pub fn new(ns: u64) -> Self {
        ManualClock(AtomicU64::new(ns))
    }

    /// Sets the time (it may go backwards).
    pub fn set(&self, ns: u64) {
        self.0.store(ns, Ordering::Relaxed);
    }

    /// Moves the time forward by `ns`, stopping at `u64::MAX` (a wrap
    /// would send it back to 1970).
    pub fn advance(&self, ns: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ns))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
