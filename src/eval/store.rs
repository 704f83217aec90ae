//! Per-key counter state: a lock-free open-addressed table per counter group.
//!
//! In: a group, a 64-bit key hash and the time. Out: the key's state words
//! (`&[AtomicU64]`), which the evaluator updates with compare-and-swap.
//!
//! Layout: each entry is one tag word followed by the group's state words,
//! side by side, so that finding a key and reading its state touch the same
//! cache line. The tag packs a 40-bit fingerprint of the key hash with a
//! 24-bit "last touched" tick (2^30 ns, about 1.07 s); 0 means empty. A
//! table sized for `capacity` keys has `2 * capacity` entries (load at most
//! one half), so a bucket or fixed window costs 16 bytes per entry and 32
//! bytes per key of capacity. The table never locks and never moves entries:
//!
//! * a key's probe sequence is up to three windows of [`PROBE`] consecutive
//!   slots, at homes taken from its hash; most keys live in the first few
//!   slots of the first window, which a lookup reads inline (loads only
//!   for a key already touched in this tick, else one CAS that touches
//!   it), and the others let a table
//!   filled to its capacity find room for every key (with one window, about one key
//!   in three thousand would not; with two, about one in a few million);
//! * an empty slot is claimed with one CAS `0 -> tag`; slots only ever go
//!   from empty to claimed, so two threads creating the same key probe the
//!   same sequence and meet at the same slot;
//! * an entry untouched for longer than the group's horizon (its longest
//!   window or penalty, plus two ticks) holds state that every algorithm reads
//!   as fresh, so it can be handed to another key by one CAS on its tag, with
//!   no need to clear its words;
//! * a live entry is touched at most once per tick (one CAS), which also
//!   fences it against being reclaimed while in use; a touch never moves
//!   the tick back (a clock stepped back by up to about 13 days leaves the
//!   later tick), so an entry cannot look idle while its windows still run;
//! * a thread that loses the race for an expired entry (most often to
//!   another thread creating the same new key) probes once more before
//!   calling the store full.
//!
//! Known limit: `Limiter::settle` writes to the words a decision was given.
//! A request that outlasts its group's horizon without the key being
//! touched meanwhile may find the entry handed to another key; a refund is
//! then capped to nothing (buckets) or dropped (a window that moved on),
//! and an extra charge lands on the other key, which errs on the side of
//! rejecting.
//!
//! When the probe sequence holds neither the key, nor an empty slot, nor an
//! expired entry, the store is full for that key and [`Lookup::Full`] is
//! returned: the policy's `default overflow` decides (reject by default).
//! Keys already present are never evicted by new ones, so a flood of new
//! keys cannot make an existing key's limits forget state.
//!
//! Two distinct keys are confused only if their hashes agree on a home slot
//! and on the 40 fingerprint bits (the hasher is keyed per limiter).

use crate::compile::{DecisionTable, GroupId, TICK_SHIFT};
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots probed in each of a key's windows.
pub const PROBE: usize = 16;
/// Slots of a key's first window that [`MemoryStore::entry`] looks at
/// inline before calling the full probe: at load one half, most keys that
/// are not at their home are one to three slots past it.
const INLINE_SLOTS: usize = 4;
/// Windows of [`PROBE`] slots a key may live in, at homes taken from its
/// hash. The second and third are probed only when the first is full.
const WINDOWS: u32 = 3;
const TICK_BITS: u32 = 24;
const TICK_MASK: u64 = (1 << TICK_BITS) - 1;
const FP_MASK: u64 = (1 << (64 - TICK_BITS)) - 1;

/// The result of looking a key up.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// The key's state words.
    Found(&'a [AtomicU64]),
    /// The key has no state (only when not creating).
    Absent,
    /// No room for a new key.
    Full,
}

/// Where counter state lives. The in-memory [`MemoryStore`] is the one
/// shipped; a shared store for a fleet (Redis) would implement the same
/// contract: words that support load, compare-and-swap and fetch-max.
pub trait Store: Send + Sync {
    /// The state words of `hash` in `group`, creating them if `create`.
    fn entry(&self, group: GroupId, hash: u64, now: u64, create: bool) -> Lookup<'_>;
    /// A hint that [`Store::entry`] will soon be called for `hash` in
    /// `group`: a store may start fetching the key's state so that the
    /// lookups of one request wait on memory together rather than one after
    /// the other. Changes nothing; the default does nothing.
    #[inline]
    fn prefetch(&self, group: GroupId, hash: u64) {
        let _ = (group, hash);
    }
    /// Keys tracked now (for reports; may be approximate under concurrency).
    fn len(&self) -> usize;
    /// Bytes of state allocated.
    fn bytes(&self) -> usize;
    /// True when no key is tracked.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Table {
    cells: Box<[AtomicU64]>,
    stride: usize,
    slots: usize,
    horizon_ticks: u64,
    /// Offsets in an entry of words that must be 0 before it is reused
    /// (concurrency counts: requests still in flight hold the entry).
    live: Vec<usize>,
}

/// A bounded in-memory store: one table per counter group, each of
/// `2 * capacity` entries, allocated up front.
pub struct MemoryStore {
    tables: Vec<Table>,
    capacity: usize,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("groups", &self.tables.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl MemoryStore {
    /// A store for `table`'s groups, with room for `capacity` keys per group
    /// (at least [`PROBE`], at most 2^30): `2 * capacity` entries each.
    pub fn new(table: &DecisionTable, capacity: usize) -> Self {
        let capacity = capacity.clamp(PROBE, 1 << 30);
        let slots = 2 * capacity;
        let tables = table
            .groups
            .iter()
            .map(|g| {
                let stride = 1 + g.words as usize;
                let mut cells = Vec::new();
                cells.resize_with(slots * stride, || AtomicU64::new(0));
                let horizon_ticks = (g.horizon_ns >> TICK_SHIFT) + 1;
                Table {
                    cells: cells.into_boxed_slice(),
                    stride,
                    slots,
                    horizon_ticks,
                    live: g.live_words.iter().map(|w| *w as usize + 1).collect(),
                }
            })
            .collect();
        MemoryStore { tables, capacity }
    }

    /// Keys per group it was sized for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries per group (twice the capacity).
    pub fn slots(&self) -> usize {
        self.tables.first().map_or(0, |t| t.slots)
    }
}

/// `x` scaled from `0..2^64` to `0..n`.
#[inline(always)]
fn scale(x: u64, n: usize) -> usize {
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// The first slot of a key's window `w` (1 or 2).
#[inline]
fn other_home(hash: u64, w: u32, slots: usize) -> usize {
    let mixed = hash
        .rotate_left(21 * w)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    scale(mixed.wrapping_mul(0xBF58_476D_1CE4_E5B9), slots)
}

#[inline(always)]
fn tick(now: u64) -> u64 {
    (now >> TICK_SHIFT) & TICK_MASK
}

/// Ticks a tag may be ahead of the clock and still be taken for time that
/// went back (2^20 ticks, about 13 days), rather than for a tick that
/// wrapped around (2^24 ticks, about 208 days).
const BACK_TICKS: u64 = 1 << 20;

/// True when a touch at `now_tick` should write its tick over `touched`:
/// not when the tag is already ahead, which is the clock going back (an NTP
/// step). Writing the older tick would make the entry look idle early and
/// let another key reclaim it while this one still counts in it.
#[inline]
fn moves_forward(touched: u64, now_tick: u64) -> bool {
    let ahead = touched.wrapping_sub(now_tick) & TICK_MASK;
    ahead == 0 || ahead >= BACK_TICKS
}

/// Touches the entry of a key whose fingerprint `tag` (just loaded from
/// `cell`) carries: writes `mine` (the key's fingerprint and the current
/// tick) unless the tag already has that tick or is ahead of it (the clock
/// went back). `Err` holds what the cell held when the write lost a race.
#[inline]
fn touch(cell: &AtomicU64, tag: u64, mine: u64) -> Result<(), u64> {
    let (touched, now_tick) = (tag & TICK_MASK, mine & TICK_MASK);
    if touched == now_tick || !moves_forward(touched, now_tick) {
        return Ok(());
    }
    cell.compare_exchange(tag, mine, Ordering::AcqRel, Ordering::Acquire)
        .map(|_| ())
}

/// True when a tag touched at `touched` is idle for longer than `horizon`
/// ticks at `now`. A touch in the future (time went backwards) is live.
fn expired(touched: u64, now_tick: u64, horizon: u64) -> bool {
    let age = now_tick.wrapping_sub(touched) & TICK_MASK;
    horizon < (1 << (TICK_BITS - 1)) && age > horizon && age < (1 << (TICK_BITS - 1))
}

impl Store for MemoryStore {
    #[inline]
    fn entry(&self, group: GroupId, hash: u64, now: u64, create: bool) -> Lookup<'_> {
        let Some(t) = self.tables.get(group.0 as usize) else {
            return Lookup::Absent;
        };
        // The common case, inlined: the key in the first few slots of its
        // first window; loads only when it was already touched in this
        // tick, else one CAS to touch it, as `probe` does. The scan stops
        // where `probe` would decide otherwise: at an empty slot (the key
        // is absent, or is created there), or at a touch that lost a race.
        let fp = (hash & FP_MASK) | 1;
        let mine = (fp << TICK_BITS) | tick(now);
        let home = scale(hash, t.slots);
        for j in 0..INLINE_SLOTS {
            let mut i = home + j;
            if i >= t.slots {
                i -= t.slots;
            }
            let at = i * t.stride;
            let Some(tag_cell) = t.cells.get(at) else {
                break;
            };
            let tag = tag_cell.load(Ordering::Acquire);
            if tag >> TICK_BITS == fp {
                if touch(tag_cell, tag, mine).is_ok() {
                    if let Some(words) = t.cells.get(at + 1..at + t.stride) {
                        return Lookup::Found(words);
                    }
                }
                break;
            }
            if tag == 0 {
                break;
            }
        }
        t.entry(hash, now, create)
    }

    /// Loads the first and last word of the key's home entry, whose value
    /// is thrown away: the loads of several keys are independent of each
    /// other, so the processor overlaps their cache and TLB misses, and the
    /// lookups that follow find the lines in cache. (A load, not a prefetch
    /// instruction, which needs `unsafe`; the library forbids it.)
    #[inline]
    fn prefetch(&self, group: GroupId, hash: u64) {
        let Some(t) = self.tables.get(group.0 as usize) else {
            return;
        };
        let at = scale(hash, t.slots) * t.stride;
        let first = t.cells.get(at).map_or(0, |c| c.load(Ordering::Relaxed));
        let last = t
            .cells
            .get(at + t.stride - 1)
            .map_or(0, |c| c.load(Ordering::Relaxed));
        std::hint::black_box(first ^ last);
    }

    fn len(&self) -> usize {
        self.tables
            .iter()
            .map(|t| {
                t.cells
                    .iter()
                    .step_by(t.stride)
                    .filter(|c| c.load(Ordering::Relaxed) != 0)
                    .count()
            })
            .sum()
    }

    fn bytes(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.cells.len() * std::mem::size_of::<AtomicU64>())
            .sum()
    }
}

impl Table {
    /// [`Store::entry`] in one group's table: the whole probe.
    #[inline(never)]
    fn entry(&self, hash: u64, now: u64, create: bool) -> Lookup<'_> {
        // `None`: another thread took the expired entry this one meant to
        // reclaim, most often for the same new key, which a second probe
        // finds (or another entry to reclaim). A store that is really full
        // is probed once.
        self.probe(hash, now, create)
            .or_else(|| self.probe(hash, now, create))
            .unwrap_or(Lookup::Full)
    }

    /// One probe of the key's windows; `None` when it lost the race for the
    /// entry it would reclaim.
    fn probe(&self, hash: u64, now: u64, create: bool) -> Option<Lookup<'_>> {
        let t = self;
        // The first home comes from the hash's high bits, the fingerprint
        // from its low 40 bits (never 0).
        let fp = (hash & FP_MASK) | 1;
        let now_tick = tick(now);
        let mine = (fp << TICK_BITS) | now_tick;
        let words = |i: usize| &t.cells[i * t.stride + 1..(i + 1) * t.stride];
        // (The first slots of the first window were read inline by
        // `MemoryStore::entry` before this is called.)
        let home = scale(hash, t.slots);
        let mut reclaim: Option<(usize, u64)> = None;
        for window in 0..WINDOWS {
            let home = if window == 0 {
                home
            } else {
                other_home(hash, window, t.slots)
            };
            for p in 0..PROBE {
                let mut i = home + p;
                if i >= t.slots {
                    i -= t.slots;
                }
                let tag_cell = &t.cells[i * t.stride];
                let mut tag = tag_cell.load(Ordering::Acquire);
                loop {
                    if tag == 0 {
                        if !create {
                            return Some(Lookup::Absent);
                        }
                        match tag_cell.compare_exchange(
                            0,
                            mine,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => return Some(Lookup::Found(words(i))),
                            // Someone claimed it first: look at what they wrote.
                            Err(now_there) => tag = now_there,
                        }
                        continue;
                    }
                    if tag >> TICK_BITS == fp {
                        // Losing the touch's race means someone else
                        // touched, or reclaimed the entry for another key:
                        // look at what is there now.
                        if let Err(now_there) = touch(tag_cell, tag, mine) {
                            tag = now_there;
                            continue;
                        }
                        return Some(Lookup::Found(words(i)));
                    }
                    if reclaim.is_none()
                        && expired(tag & TICK_MASK, now_tick, t.horizon_ticks)
                        && t.live
                            .iter()
                            .all(|w| t.cells[i * t.stride + w].load(Ordering::Acquire) == 0)
                    {
                        reclaim = Some((i, tag));
                    }
                    break;
                }
            }
        }
        if !create {
            return Some(Lookup::Absent);
        }
        match reclaim {
            Some((i, old)) => t.cells[i * t.stride]
                .compare_exchange(old, mine, Ordering::AcqRel, Ordering::Acquire)
                .ok()
                .map(|_| Lookup::Found(words(i))),
            None => Some(Lookup::Full),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const T: u64 = 1_700_000_000 * S;

    fn store(text: &str) -> MemoryStore {
        let policy = crate::Policy::from_str("s.rl", text).unwrap();
        MemoryStore::new(&policy.table(), PROBE)
    }

    /// The tick in a key's tag (the key sits at its first home here).
    fn touched(s: &MemoryStore, hash: u64) -> u64 {
        let t = &s.tables[0];
        t.cells[scale(hash, t.slots) * t.stride].load(Ordering::Relaxed) & TICK_MASK
    }

    #[test]
    fn a_touch_never_moves_a_tag_back() {
        let s = store("input k\nGET /x by k: 1/1h fixed\n");
        let h = 0x1234_5678_9abc_def1;
        assert!(matches!(s.entry(GroupId(0), h, T, true), Lookup::Found(_)));
        assert_eq!(touched(&s, h), tick(T));
        // The clock steps back two hours (NTP): the tag keeps its later
        // tick, so the entry does not look idle an hour early, when the
        // key's window is still running and another key could reclaim it.
        assert!(matches!(
            s.entry(GroupId(0), h, T - 7200 * S, true),
            Lookup::Found(_)
        ));
        assert_eq!(touched(&s, h), tick(T));
        assert!(!expired(
            touched(&s, h),
            tick(T - 3600 * S + 10 * S),
            s.tables[0].horizon_ticks
        ));
        // Forward, it moves as before.
        assert!(matches!(
            s.entry(GroupId(0), h, T + 10 * S, true),
            Lookup::Found(_)
        ));
        assert_eq!(touched(&s, h), tick(T + 10 * S));
        // Idle 150 days: the 24-bit tick wrapped past half its range, so
        // the tag reads as far ahead, more than a clock step would be; the
        // touch writes the current tick.
        let later = T + 150 * 86_400 * S;
        assert!(matches!(
            s.entry(GroupId(0), h, later, true),
            Lookup::Found(_)
        ));
        assert_eq!(touched(&s, h), tick(later));
    }

    #[test]
    fn the_inline_scan_finds_what_the_probe_finds() {
        // A table filled to its capacity (load one half): many keys sit a
        // few slots past their home. The inline scan of `entry` must give
        // each key the words the full probe gives it, and a key never seen
        // must not be found by it.
        let s = store("input k\nGET /x by k: 1/1h fixed\n");
        let hashes: Vec<u64> = (1..=PROBE as u64)
            .map(|i| {
                // SplitMix64's finaliser: hashes that land unevenly.
                let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            })
            .collect();
        let mut displaced = 0;
        for &h in &hashes {
            let Lookup::Found(w) = s.entry(GroupId(0), h, T, true) else {
                panic!("room for every key up to the capacity");
            };
            let t = &s.tables[0];
            displaced +=
                usize::from(w.as_ptr() != t.cells[scale(h, t.slots) * t.stride + 1..].as_ptr());
        }
        assert!(displaced > 0, "the test needs keys away from their home");
        for &h in &hashes {
            let (Lookup::Found(a), Some(Lookup::Found(b))) = (
                s.entry(GroupId(0), h, T, false),
                s.tables[0].probe(h, T, false),
            ) else {
                panic!("every key is found both ways");
            };
            assert_eq!(a.as_ptr(), b.as_ptr());
        }
        assert!(matches!(
            s.entry(GroupId(0), 0xdead_beef_0000_0001, T, false),
            Lookup::Absent
        ));
        // Two ticks later every key is touched where it lives, home or not:
        // the same words, its tag at the new tick.
        let later = T + 2 * (1 << TICK_SHIFT);
        let t = &s.tables[0];
        for &h in &hashes {
            let Lookup::Found(before) = t.probe(h, T, false).unwrap() else {
                panic!("present");
            };
            let Lookup::Found(w) = s.entry(GroupId(0), h, later, false) else {
                panic!("still present");
            };
            assert_eq!(w.as_ptr(), before.as_ptr());
            let at = (w.as_ptr() as usize - t.cells.as_ptr() as usize) / 8 - 1;
            assert_eq!(t.cells[at].load(Ordering::Relaxed) & TICK_MASK, tick(later));
        }
    }

    #[test]
    fn a_prefetch_changes_nothing() {
        // Sliding windows: entries of ten words, the last slot's entry ends
        // the table. Nothing is claimed or written, an unknown group is
        // ignored, and a key prefetched is then found where `entry` puts it.
        let s = store("input k\nGET /x by k: 5/10s sliding\n");
        for h in [0, 1, u64::MAX, u64::MAX / 3, 0x8000_0000_0000_0000] {
            s.prefetch(GroupId(0), h);
            s.prefetch(GroupId(7), h);
        }
        assert_eq!(s.len(), 0);
        assert!(s.tables[0]
            .cells
            .iter()
            .all(|c| c.load(Ordering::Relaxed) == 0));
        s.prefetch(GroupId(0), u64::MAX);
        assert!(matches!(s.entry(GroupId(0), u64::MAX, T, true), Lookup::Found(w) if w.len() == 9));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_concurrency_limit_takes_one_word() {
        // Its algorithm defaults to `sliding`, whose ring it never reads.
        let s = store("input k\nGET /x by k: 2 concurrent\n");
        assert_eq!(s.tables[0].stride, 2, "one tag and one count");
        assert_eq!(s.tables[0].live, vec![1]);
    }
}
