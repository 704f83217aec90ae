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

/// The clock [`crate::Limiter::new`] uses: [`TscClock`] when the `tsc`
/// feature is on (the default), [`SystemClock`] otherwise.
#[cfg(feature = "tsc")]
pub type DefaultClock = TscClock;
/// The clock [`crate::Limiter::new`] uses: [`TscClock`] when the `tsc`
/// feature is on (the default), [`SystemClock`] otherwise.
#[cfg(not(feature = "tsc"))]
pub type DefaultClock = SystemClock;

/// Wall-clock time read from the processor's time-stamp counter (through
/// the `quanta` crate, as `governor` does): nanoseconds since the Unix
/// epoch for the price of a counter read and a multiply, where
/// [`SystemClock`] pays for `clock_gettime` (10-65 ns more per decision
/// on the 2-vCPU VM of `docs/performance.md`).
///
/// The counter is anchored to [`SystemClock`] when the clock is made and
/// again every `resync` interval (1 s by default), on the first read after
/// it: a step of the system clock (NTP) or the counter's own drift shows
/// within one interval, so calendar windows stay aligned to the wall clock.
/// A re-anchoring may move time back by the drift since the last one, which
/// the algorithms treat conservatively, as any time going backwards. Where
/// the processor has no usable invariant counter, `quanta` reads the OS
/// monotonic clock instead.
///
/// The first clock of a process calibrates the counter against the OS
/// clock (`quanta` caps this at 200 ms); later ones reuse it.
#[cfg(feature = "tsc")]
#[derive(Debug)]
pub struct TscClock {
    clock: quanta::Clock,
    /// The raw counter when the clock was made.
    start: u64,
    /// Wall-clock ns minus the counter's elapsed ns, at the last anchoring.
    offset: AtomicU64,
    /// Elapsed ns from which the next read anchors again.
    next_sync: AtomicU64,
    interval: u64,
}

#[cfg(feature = "tsc")]
impl Default for TscClock {
    fn default() -> Self {
        TscClock::new()
    }
}

#[cfg(feature = "tsc")]
impl TscClock {
    /// A clock anchored to the system clock every second.
    pub fn new() -> Self {
        TscClock::with_resync(std::time::Duration::from_secs(1))
    }

    /// A clock anchored to the system clock every `every` (at least 1 ms).
    pub fn with_resync(every: std::time::Duration) -> Self {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        let interval = u64::try_from(every.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1_000_000);
        let c = TscClock {
            clock,
            start,
            offset: AtomicU64::new(0),
            next_sync: AtomicU64::new(0),
            interval,
        };
        c.sync(c.elapsed());
        c
    }

    /// Counter ns since the clock was made.
    #[inline]
    fn elapsed(&self) -> u64 {
        self.clock.delta_as_nanos(self.start, self.clock.raw())
    }

    /// Anchors to the system clock at `elapsed`; returns the new offset.
    #[cold]
    #[inline(never)]
    fn sync(&self, elapsed: u64) -> u64 {
        // The counter read after the system clock: a thread descheduled
        // between the two reads anchors behind, not ahead (ahead, every
        // read until the next anchoring would be early: windows would roll
        // and buckets refill before their time).
        let wall = SystemClock.now();
        let offset = wall.saturating_sub(self.elapsed().max(elapsed));
        self.offset.store(offset, Ordering::Relaxed);
        self.next_sync
            .store(elapsed.saturating_add(self.interval), Ordering::Relaxed);
        offset
    }

    /// Moves the anchor by `ns` (for tests: the next re-anchoring must undo
    /// it).
    #[doc(hidden)]
    pub fn skew(&self, ns: i64) {
        let _ = self
            .offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add_signed(ns))
            });
    }
}

#[cfg(feature = "tsc")]
impl Clock for TscClock {
    #[inline]
    fn now(&self) -> u64 {
        let e = self.elapsed();
        let offset = if e >= self.next_sync.load(Ordering::Relaxed) {
            self.sync(e)
        } else {
            self.offset.load(Ordering::Relaxed)
        };
        offset.saturating_add(e)
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
