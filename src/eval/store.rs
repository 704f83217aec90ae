//! Per-key counter state: a lock-free open-addressed table per counter group.
//!
//! In: a group, a 64-bit key hash and the time. Out: the key's state words
//! (`&[AtomicU64]`), which the evaluator updates with compare-and-swap.
//!
//! Layout: each entry is one tag word followed by the group's state words.
//! The tag packs a 40-bit fingerprint of the key hash with a 24-bit "last
//! touched" tick (2^30 ns, about 1.07 s); 0 means empty. The table never
//! locks and never moves entries:
//!
//! * an empty slot is claimed with one CAS `0 -> tag`; slots only ever go
//!   from empty to claimed, so two threads creating the same key probe the
//!   same sequence and meet at the same slot;
//! * an entry untouched for longer than the group's horizon (its longest
//!   window or penalty, plus two ticks) holds state that every algorithm reads
//!   as fresh, so it can be handed to another key by one CAS on its tag, with
//!   no need to clear its words;
//! * a live entry is touched at most once per tick (one CAS), which also
//!   fences it against being reclaimed while in use.
//!
//! When the probe window (16 slots) holds neither the key, nor an empty
//! slot, nor an expired entry, the store is full for that key and
//! [`Lookup::Full`] is returned: the policy's `default overflow` decides
//! (reject by default). Keys already present are never evicted by new ones,
//! so a flood of new keys cannot make an existing key's limits forget state.
//!
//! Two distinct keys are confused only if their hashes agree on the home
//! slot and on the 40 fingerprint bits (the hasher is keyed per limiter).

use crate::compile::{DecisionTable, GroupId, TICK_SHIFT};
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots probed for one key.
pub const PROBE: usize = 16;
const TICK_BITS: u32 = 24;
const TICK_MASK: u64 = (1 << TICK_BITS) - 1;

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
    mask: usize,
    horizon_ticks: u64,
}

/// A bounded in-memory store: one table per counter group, each of a fixed
/// number of entries (a power of two), allocated up front.
pub struct MemoryStore {
    tables: Vec<Table>,
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
    /// (rounded up to a power of two, at least [`PROBE`]).
    pub fn new(table: &DecisionTable, capacity: usize) -> Self {
        let entries = capacity.clamp(PROBE, 1 << 30).next_power_of_two();
        let tables = table
            .groups
            .iter()
            .map(|g| {
                let stride = 1 + g.words as usize;
                let cells = (0..entries * stride).map(|_| AtomicU64::new(0)).collect();
                let horizon_ticks = (g.horizon_ns >> TICK_SHIFT) + 1;
                Table {
                    cells,
                    stride,
                    mask: entries - 1,
                    horizon_ticks,
                }
            })
            .collect();
        MemoryStore { tables }
    }

    /// Entries per group.
    pub fn capacity(&self) -> usize {
        self.tables.first().map_or(0, |t| t.mask + 1)
    }
}

fn tick(now: u64) -> u64 {
    (now >> TICK_SHIFT) & TICK_MASK
}

/// True when a tag touched at `touched` is idle for longer than `horizon`
/// ticks at `now`. A touch in the future (time went backwards) is live.
fn expired(touched: u64, now_tick: u64, horizon: u64) -> bool {
    let age = now_tick.wrapping_sub(touched) & TICK_MASK;
    horizon < (1 << (TICK_BITS - 1)) && age > horizon && age < (1 << (TICK_BITS - 1))
}

impl Store for MemoryStore {
    fn entry(&self, group: GroupId, hash: u64, now: u64, create: bool) -> Lookup<'_> {
        let Some(t) = self.tables.get(group.0 as usize) else {
            return Lookup::Absent;
        };
        // The fingerprint is the top 40 bits of the hash, never 0.
        let fp = (hash >> TICK_BITS) | 1;
        let now_tick = tick(now);
        let mine = (fp << TICK_BITS) | now_tick;
        let home = hash as usize;
        let words = |i: usize| &t.cells[i * t.stride + 1..(i + 1) * t.stride];
        let mut reclaim: Option<(usize, u64)> = None;
        for p in 0..PROBE {
            let i = (home.wrapping_add(p)) & t.mask;
            let tag_cell = &t.cells[i * t.stride];
            let mut tag = tag_cell.load(Ordering::Acquire);
            loop {
                if tag == 0 {
                    if !create {
                        return Lookup::Absent;
                    }
                    match tag_cell.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => return Lookup::Found(words(i)),
                        // Someone claimed it first: look at what they wrote.
                        Err(now_there) => tag = now_there,
                    }
                    continue;
                }
                if tag >> TICK_BITS == fp {
                    if tag & TICK_MASK != now_tick {
                        // Touch; losing this race means someone else touched.
                        let _ = tag_cell.compare_exchange(
                            tag,
                            mine,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                    }
                    return Lookup::Found(words(i));
                }
                if reclaim.is_none() && expired(tag & TICK_MASK, now_tick, t.horizon_ticks) {
                    reclaim = Some((i, tag));
                }
                break;
            }
        }
        if !create {
            return Lookup::Absent;
        }
        if let Some((i, old)) = reclaim {
            let tag_cell = &t.cells[i * t.stride];
            if tag_cell
                .compare_exchange(old, mine, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Lookup::Found(words(i));
            }
        }
        Lookup::Full
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
