//! rlc against the `governor` crate, side by side in one process.
//!
//! `cargo bench --bench vs_governor` runs every section (a few minutes on
//! 2 vCPU); `cargo bench --bench vs_governor -- single vendor` runs only the
//! named sections (`single`, `threads`, `vendor`, `memory`, `compile`).
//! Without `--bench` (as `cargo test --all-targets` runs it) a smoke pass with
//! tiny sizes checks that every section runs, that the governor composition
//! of the vendor policy (and its floor) matches exactly the rules rlc
//! matches, and that the single-rule limiters agree on every decision.
//!
//! Every limiter replays the same precomputed request arrays; the limiters of
//! a case run one after the other within each run (the order alternates), and
//! the table holds the median of the runs. See docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::too_many_arguments, clippy::type_complexity)]

use governor::clock::{Clock as GClock, FakeRelativeClock, QuantaClock, QuantaInstant, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use rlc::compile::Target;
use rlc::eval::Store;
use rlc::ir::MethodSet;
use rlc::{Limiter, ManualClock, Policy, Request, Source, SystemClock};
use smallvec::SmallVec;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hash::{BuildHasher, Hash, Hasher};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// A counting global allocator (switched on only in the memory section, so it
// costs one relaxed load per allocation elsewhere).

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);

fn note(delta: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// A global allocator is an unsafe trait: this bench binary opts out of the
// crate's `deny(unsafe_code)` here only. It forwards to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as i64));
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as i64 - layout.size() as i64);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated (net) while `f` runs, and its result.
fn allocated<T>(f: impl FnOnce() -> T) -> (i64, T) {
    LIVE.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    (LIVE.load(Ordering::SeqCst), r)
}

// ---------------------------------------------------------------------------
// Configuration.

struct Cfg {
    smoke: bool,
    /// Timed runs per case (the median is reported).
    runs: usize,
    /// Requests per pass for 1k and 100k keys.
    ops: usize,
    /// Requests per pass for 1M keys.
    ops_big: usize,
    runs_big: usize,
    key_counts: Vec<usize>,
    sections: Vec<String>,
}

impl Cfg {
    fn from_args() -> Cfg {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let bench = args.iter().any(|a| a == "--bench");
        let sections: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
        if bench {
            Cfg {
                smoke: false,
                runs: 7,
                ops: 1 << 19,
                ops_big: 1 << 19,
                runs_big: 5,
                key_counts: vec![1_000, 100_000, 1_000_000],
                sections,
            }
        } else {
            Cfg {
                smoke: true,
                runs: 1,
                ops: 20_000,
                ops_big: 20_000,
                runs_big: 1,
                key_counts: vec![1_000],
                sections,
            }
        }
    }

    /// `RLC_BENCH_KEYS=1000,100000` and `RLC_BENCH_RUNS=3` narrow a run
    /// (for profiling and quick looks; the documented run sets neither).
    fn with_env(mut self) -> Cfg {
        if let Ok(v) = std::env::var("RLC_BENCH_KEYS") {
            self.key_counts = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        }
        if let Some(r) = std::env::var("RLC_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            self.runs = r;
            self.runs_big = r;
        }
        self
    }

    fn wants(&self, s: &str) -> bool {
        self.sections.is_empty() || self.sections.iter().any(|x| x == s)
    }
}

// ---------------------------------------------------------------------------
// Fixed-seed randomness.

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// Zipf(s) over ranks 0..n by inversion of the cumulative distribution.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut SplitMix) -> usize {
        let u = rng.f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dist {
    Uniform,
    Zipf,
}

impl Dist {
    fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Zipf => "zipf1.0",
        }
    }
}

/// `len` key indices in `0..n`.
fn indices(n: usize, len: usize, dist: Dist, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix(seed);
    match dist {
        Dist::Uniform => (0..len).map(|_| rng.below(n) as u32).collect(),
        Dist::Zipf => {
            let z = Zipf::new(n, 1.0);
            // Rank r is key r; keys are scrambled ids, so their hashes are
            // unrelated to their rank.
            (0..len).map(|_| z.sample(&mut rng) as u32).collect()
        }
    }
}

// ---------------------------------------------------------------------------
// Keys.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyKind {
    /// u64 ids for governor, the same ids as numbers (`attr_u64`) for rlc.
    U64,
    /// `"apikey|ip"` strings for both.
    Str,
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            KeyKind::U64 => "u64",
            KeyKind::Str => "key|ip",
        }
    }
}

struct Keys {
    /// u64 keys: governor is keyed by the id, rlc by `attr_u64("key", id)`
    /// (the same key as its decimal text; `strs` holds that text).
    numeric: bool,
    ids: Vec<u64>,
    strs: Vec<String>,
    /// A hash of each key, computed ahead (for the floor).
    hashes: Vec<u64>,
}

fn ip_of(i: u64) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

impl Keys {
    fn new(kind: KeyKind, n: usize, seed: u64) -> Keys {
        let mut rng = SplitMix(seed);
        let ids: Vec<u64> = (0..n).map(|_| rng.next() % 1_000_000_000_000).collect();
        let strs: Vec<String> = match kind {
            KeyKind::U64 => ids.iter().map(|i| i.to_string()).collect(),
            KeyKind::Str => ids
                .iter()
                .enumerate()
                .map(|(i, id)| format!("key_prod_{id:016x}|{}", ip_of(i as u64)))
                .collect(),
        };
        let h = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let hashes = strs.iter().map(|s| h.hash_one(s)).collect();
        Keys {
            numeric: matches!(kind, KeyKind::U64),
            ids,
            strs,
            hashes,
        }
    }
}

// ---------------------------------------------------------------------------
// Clocks.

/// Virtual time: each chunk of requests is decided at one instant, and the
/// instant moves `DT` per request.
const CHUNK: usize = 1024;

/// The floor's clock: quanta's TSC reading, scaled to ns and offset to the
/// Unix epoch, the instructions governor runs per check. (rlc's rows use
/// `rlc::TscClock`, the clock `Limiter::new` ships with, which reads the
/// same counter.)
struct TscClock {
    clock: QuantaClock,
    start: QuantaInstant,
    base: u64,
}

impl TscClock {
    fn new() -> TscClock {
        let clock = QuantaClock::default();
        let start = GClock::now(&clock);
        TscClock {
            clock,
            start,
            base: SystemClock.now_ns(),
        }
    }
}

impl rlc::Clock for TscClock {
    #[inline]
    fn now(&self) -> u64 {
        self.base + u64::from(GClock::now(&self.clock).duration_since(self.start))
    }
}

trait NowNs {
    fn now_ns(&self) -> u64;
}

impl NowNs for SystemClock {
    fn now_ns(&self) -> u64 {
        rlc::Clock::now(self)
    }
}

// ---------------------------------------------------------------------------
// Limiters under test.

/// One limiter replaying key indices; returns how many were admitted.
trait Runner: Sync {
    fn name(&self) -> String;
    fn pass(&self, idx: &[u32], keys: &Keys) -> u64;
}

trait KeyPick: Hash + Eq + Clone + Send + Sync + 'static {
    fn pick(keys: &Keys, i: usize) -> &Self;
}

impl KeyPick for u64 {
    #[inline]
    fn pick(keys: &Keys, i: usize) -> &u64 {
        &keys.ids[i]
    }
}

impl KeyPick for String {
    #[inline]
    fn pick(keys: &Keys, i: usize) -> &String {
        &keys.strs[i]
    }
}

type GovLim<K, S, C> =
    RateLimiter<K, DashMapStateStore<K, S>, C, NoOpMiddleware<<C as GClock>::Instant>>;

/// A keyed governor limiter. `fake`: the clock is a `FakeRelativeClock`
/// moved once per chunk (virtual time, no clock read per check).
struct Gov<K: KeyPick, S: BuildHasher + Clone + Send + Sync, C: GClock + Send + Sync> {
    name: &'static str,
    lim: GovLim<K, S, C>,
    fake: Option<FakeRelativeClock>,
    dt: u64,
}

fn gov<K: KeyPick, S: BuildHasher + Clone + Default + Send + Sync>(
    name: &'static str,
    quota: Quota,
) -> Gov<K, S, QuantaClock> {
    Gov {
        name,
        lim: RateLimiter::new(
            quota,
            DashMapStateStore::with_hasher(S::default()),
            QuantaClock::default(),
        ),
        fake: None,
        dt: 0,
    }
}

fn gov_fake<K: KeyPick, S: BuildHasher + Clone + Default + Send + Sync>(
    name: &'static str,
    quota: Quota,
    dt: u64,
) -> Gov<K, S, FakeRelativeClock> {
    let clock = FakeRelativeClock::default();
    clock.advance(Duration::from_secs(1));
    Gov {
        name,
        lim: RateLimiter::new(
            quota,
            DashMapStateStore::with_hasher(S::default()),
            clock.clone(),
        ),
        fake: Some(clock),
        dt,
    }
}

impl<K: KeyPick, S: BuildHasher + Clone + Send + Sync, C: GClock + Send + Sync> Runner
    for Gov<K, S, C>
where
    GovLim<K, S, C>: Sync,
{
    fn name(&self) -> String {
        self.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, idx: &[u32], keys: &Keys) -> u64 {
        let mut ok = 0u64;
        for chunk in idx.chunks(CHUNK) {
            if let Some(f) = &self.fake {
                f.advance(Duration::from_nanos(self.dt * chunk.len() as u64));
            }
            for &i in chunk {
                ok += self.lim.check_key(K::pick(keys, i as usize)).is_ok() as u64;
            }
        }
        ok
    }
}

const PATH: &str = "/v1/items";

/// An rlc limiter over one rule. `given`: `check_at` with virtual time;
/// otherwise `check`, which reads the limiter's clock.
struct Rlc<C: rlc::Clock> {
    name: &'static str,
    lim: Limiter<C>,
    given: bool,
    vnow: AtomicU64,
    dt: u64,
}

impl<C: rlc::Clock> Rlc<C> {
    fn new(
        name: &'static str,
        policy: &Policy,
        clock: C,
        capacity: usize,
        given: bool,
        dt: u64,
    ) -> Self {
        Rlc {
            name,
            lim: Limiter::with_capacity(policy.clone(), clock, capacity),
            given,
            vnow: AtomicU64::new(SystemClock.now_ns()),
            dt,
        }
    }
}

impl<C: rlc::Clock> Runner for Rlc<C> {
    fn name(&self) -> String {
        self.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, idx: &[u32], keys: &Keys) -> u64 {
        self.replay(idx, |i, now| match now {
            Some(now) => self.lim.check_at(&single_request(keys, i), now).allowed(),
            None => self.lim.check(&single_request(keys, i)).allowed(),
        })
    }
}

impl<C: rlc::Clock> Rlc<C> {
    /// Decides every key of `idx` with `check(key, now)`: `now` is virtual
    /// time when `given` (moved once per [`CHUNK`] requests), else `None`
    /// (the limiter reads its clock). The number admitted.
    #[inline(always)]
    fn replay(&self, idx: &[u32], mut check: impl FnMut(u32, Option<u64>) -> bool) -> u64 {
        let mut ok = 0u64;
        if self.given {
            let step = self.dt * CHUNK as u64;
            let mut now = self
                .vnow
                .fetch_add(step * (idx.len() / CHUNK + 1) as u64, Ordering::Relaxed);
            for chunk in idx.chunks(CHUNK) {
                now += step;
                for &i in chunk {
                    ok += check(i, Some(now)) as u64;
                }
            }
        } else {
            for &i in idx {
                ok += check(i, None) as u64;
            }
        }
        ok
    }
}

/// An rlc limiter over one rule, through the handle of its route
/// (`Limiter::keyed`, resolved once per pass): the key alone per request
/// and a verdict of a few words (`Keyed::verdict`), as governor's
/// `check_key` and its `Result`. `given`: virtual time, as [`Rlc`].
struct RlcKeyed<C: rlc::Clock>(Rlc<C>);

impl<C: rlc::Clock> Runner for RlcKeyed<C> {
    fn name(&self) -> String {
        self.0.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, idx: &[u32], keys: &Keys) -> u64 {
        let r = &self.0;
        let h = r
            .lim
            .keyed("GET", PATH)
            .expect("the single-rule policy routes GET to one keyed rule");
        r.replay(idx, |i, now| {
            let i = i as usize;
            let v = match (keys.numeric, now) {
                (true, Some(now)) => h.verdict_at(keys.ids[i], now),
                (true, None) => h.verdict(keys.ids[i]),
                (false, Some(now)) => h.verdict_at(&keys.strs[i], now),
                (false, None) => h.verdict(&keys.strs[i]),
            };
            v.allowed()
        })
    }
}

/// The single-rule request for key `i`: the id as a number for u64 keys,
/// the string otherwise.
#[inline]
fn single_request(keys: &Keys, i: u32) -> Request<'_> {
    let req = Request::new("GET", PATH);
    if keys.numeric {
        req.attr_u64("key", keys.ids[i as usize])
    } else {
        req.attr("key", &keys.strs[i as usize])
    }
}

/// The floor: a hash computed ahead, an open-addressed table of AtomicU64
/// pairs (tag, GCRA time) and one compare-and-swap, plus one clock read (or
/// virtual time). What the hardware allows for one keyed GCRA check.
struct Floor {
    name: &'static str,
    cells: Vec<AtomicU64>,
    mask: usize,
    t: u64,
    tau: u64,
    clock: Option<TscClock>,
    vnow: AtomicU64,
    dt: u64,
}

impl Floor {
    fn new(
        name: &'static str,
        n: usize,
        t: u64,
        tau: u64,
        clock: Option<TscClock>,
        dt: u64,
    ) -> Floor {
        let slots = (2 * n).next_power_of_two();
        Floor {
            name,
            cells: (0..2 * slots).map(|_| AtomicU64::new(0)).collect(),
            mask: slots - 1,
            t,
            tau,
            clock,
            vnow: AtomicU64::new(SystemClock.now_ns()),
            dt,
        }
    }

    #[inline]
    fn check(&self, h: u64, now: u64) -> bool {
        let tag = h | 1;
        let mut i = h as usize & self.mask;
        loop {
            let c = &self.cells[2 * i];
            let v = c.load(Ordering::Acquire);
            if v == tag {
                break;
            }
            if v == 0 {
                match c.compare_exchange(0, tag, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(x) if x == tag => break,
                    Err(_) => {}
                }
            }
            i = (i + 1) & self.mask;
        }
        let s = &self.cells[2 * i + 1];
        let mut cur = s.load(Ordering::Acquire);
        loop {
            let new = cur.max(now) + self.t;
            if new - now > self.tau {
                return false;
            }
            match s.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
    }
}

impl Runner for Floor {
    fn name(&self) -> String {
        self.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, idx: &[u32], keys: &Keys) -> u64 {
        let mut ok = 0u64;
        match &self.clock {
            None => {
                let step = self.dt * CHUNK as u64;
                let mut now = self
                    .vnow
                    .fetch_add(step * (idx.len() / CHUNK + 1) as u64, Ordering::Relaxed);
                for chunk in idx.chunks(CHUNK) {
                    now += step;
                    for &i in chunk {
                        ok += self.check(keys.hashes[i as usize], now) as u64;
                    }
                }
            }
            Some(c) => {
                for &i in idx {
                    let now = rlc::Clock::now(c);
                    ok += self.check(keys.hashes[i as usize], now) as u64;
                }
            }
        }
        ok
    }
}

// ---------------------------------------------------------------------------
// Measurement.

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Sample {
    ns_per_op: f64,
    admitted: f64,
}

/// `runs` alternating passes of every runner over `idx`; median ns/op.
fn measure(runners: &[&dyn Runner], idx: &[u32], keys: &Keys, runs: usize) -> Vec<Sample> {
    let mut times = vec![Vec::new(); runners.len()];
    let mut admitted = vec![0u64; runners.len()];
    for r in 0..runs {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..runners.len()).collect()
        } else {
            (0..runners.len()).rev().collect()
        };
        for j in order {
            let t = Instant::now();
            let a = black_box(runners[j].pass(black_box(idx), keys));
            let dt = t.elapsed();
            times[j].push(dt.as_nanos() as f64 / idx.len() as f64);
            admitted[j] += a;
        }
    }
    times
        .iter_mut()
        .zip(admitted)
        .map(|(t, a)| Sample {
            ns_per_op: median(t),
            admitted: a as f64 / (runs * idx.len()) as f64,
        })
        .collect()
}

/// Total throughput (ops/s) of one thread on `a`, and of two threads on `a`
/// and `b` at once, `runs` alternating times each; medians.
fn measure_threads(
    runner: &dyn Runner,
    a: &[u32],
    b: &[u32],
    keys: &Keys,
    runs: usize,
) -> (f64, f64) {
    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..runs {
        for threads in [1usize, 2] {
            let barrier = Barrier::new(threads + 1);
            let elapsed = std::thread::scope(|s| {
                for t in 0..threads {
                    let idx = if t == 0 { a } else { b };
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        black_box(runner.pass(idx, keys));
                    });
                }
                barrier.wait();
                Instant::now()
            })
            .elapsed();
            let ops = (a.len() * threads) as f64;
            let rate = ops / elapsed.as_secs_f64();
            if threads == 1 {
                one.push(rate);
            } else {
                two.push(rate);
            }
        }
    }
    (median(&mut one), median(&mut two))
}

fn progress(section: &str, what: &str, since: Instant) {
    eprintln!(
        "[{section}] {what} ({:.1} s)",
        since.elapsed().as_secs_f64()
    );
}

/// Results kept for the closing summary of targets.
#[derive(Default)]
struct Summary {
    lines: Vec<String>,
}

// ---------------------------------------------------------------------------
// Section 1 and 3: one rule against one keyed governor quota, and the floor.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Load {
    /// 10M/1s: never exhausted here, every request admitted.
    Allow,
    /// 1/1h: after its first request every key is rejected.
    Deny,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Allow => "allow",
            Load::Deny => "deny",
        }
    }
    fn policy(self) -> Policy {
        let rate = match self {
            Load::Allow => "10_000_000/1s",
            Load::Deny => "1/1h",
        };
        Policy::from_str(
            "single.rl",
            &format!("input key\nANY /** by key: {rate} bucket\n"),
        )
        .unwrap()
    }
    fn quota(self) -> Quota {
        match self {
            Load::Allow => Quota::per_second(NonZeroU32::new(10_000_000).unwrap()),
            Load::Deny => Quota::per_hour(NonZeroU32::new(1).unwrap()),
        }
    }
    /// (emission interval, capacity) in ns, for the floor.
    fn gcra(self) -> (u64, u64) {
        match self {
            Load::Allow => (100, 1_000_000_000),
            Load::Deny => (3_600_000_000_000, 3_600_000_000_000),
        }
    }
}

/// Virtual ns per request in the single-rule section (about the real pace).
const DT_SINGLE: u64 = 10;

fn single_runners<K: KeyPick>(load: Load, n: usize) -> Vec<Box<dyn Runner>> {
    let policy = load.policy();
    let (t, tau) = load.gcra();
    vec![
        Box::new(gov::<K, std::hash::RandomState>("governor", load.quota())),
        Box::new(gov::<K, ahash::RandomState>("governor+ahash", load.quota())),
        Box::new(gov_fake::<K, std::hash::RandomState>(
            "governor fake-clock",
            load.quota(),
            DT_SINGLE,
        )),
        Box::new(Rlc::new(
            "rlc tsc",
            &policy,
            rlc::TscClock::new(),
            n,
            false,
            0,
        )),
        Box::new(Rlc::new(
            "rlc given",
            &policy,
            ManualClock::new(0),
            n,
            true,
            DT_SINGLE,
        )),
        Box::new(Rlc::new("rlc system", &policy, SystemClock, n, false, 0)),
        Box::new(Floor::new("floor tsc", n, t, tau, Some(TscClock::new()), 0)),
        Box::new(Floor::new("floor given", n, t, tau, None, DT_SINGLE)),
        Box::new(RlcKeyed(Rlc::new(
            "rlc keyed tsc",
            &policy,
            rlc::TscClock::new(),
            n,
            false,
            0,
        ))),
        Box::new(RlcKeyed(Rlc::new(
            "rlc keyed given",
            &policy,
            ManualClock::new(0),
            n,
            true,
            DT_SINGLE,
        ))),
    ]
}

fn section_single(cfg: &Cfg, summary: &mut Summary) {
    let start = Instant::now();
    println!("\n## 1. One rule vs one keyed governor quota (1 thread, ns per decision, median of runs)\n");
    println!(
        "| keys | n | dist | quota | governor | gov+ahash | gov fake-clock | rlc tsc | rlc given | rlc system | rlc keyed tsc | rlc keyed given | floor tsc | floor given | gov/rlc tsc | gov+ahash/rlc tsc | gov fake/rlc given | gov/rlc keyed tsc | gov+ahash/rlc keyed tsc | gov fake/rlc keyed given | rlc tsc/floor tsc | rlc keyed tsc/floor tsc | rlc keyed given/floor given | admitted rlc / gov |"
    );
    println!(
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for kind in [KeyKind::U64, KeyKind::Str] {
        for &n in &cfg.key_counts {
            let keys = Keys::new(kind, n, 0x5eed ^ n as u64);
            let (ops, runs) = if n >= 1_000_000 {
                (cfg.ops_big, cfg.runs_big)
            } else {
                (cfg.ops, cfg.runs)
            };
            for dist in [Dist::Uniform, Dist::Zipf] {
                let idx = indices(n, ops, dist, 0xd15 ^ n as u64);
                let all: Vec<u32> = (0..n as u32).collect();
                for load in [Load::Allow, Load::Deny] {
                    let runners = match kind {
                        KeyKind::U64 => single_runners::<u64>(load, n),
                        KeyKind::Str => single_runners::<String>(load, n),
                    };
                    let only = std::env::var("RLC_BENCH_ONLY").unwrap_or_default();
                    let refs: Vec<&dyn Runner> = runners
                        .iter()
                        .map(|b| &**b)
                        .filter(|r| only.is_empty() || r.name().contains(&only))
                        .collect();
                    if refs.len() != runners.len() {
                        let s = measure(&refs, &idx, &keys, runs);
                        for (r, x) in refs.iter().zip(&s) {
                            println!(
                                "| {} | {} | {} | {} | {} | {:.1} |",
                                kind.name(),
                                human(n),
                                dist.name(),
                                load.name(),
                                r.name(),
                                x.ns_per_op
                            );
                        }
                        continue;
                    }
                    // Warm up: every key once, then one pass (for few keys).
                    for r in &refs {
                        r.pass(&all, &keys);
                        if n < 1_000_000 {
                            r.pass(&idx, &keys);
                        }
                    }
                    let s = measure(&refs, &idx, &keys, runs);
                    let ns: Vec<f64> = s.iter().map(|x| x.ns_per_op).collect();
                    // Runner indices, in `single_runners` order.
                    let (gv, ga, gf, rt, rg, rs, ft, fg, kt, kg) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
                    let figures: Vec<String> = [gv, ga, gf, rt, rg, rs, kt, kg, ft, fg]
                        .iter()
                        .map(|&j| format!("{:.1}", ns[j]))
                        .collect();
                    let ratios: Vec<String> = [
                        (gv, rt),
                        (ga, rt),
                        (gf, rg),
                        (gv, kt),
                        (ga, kt),
                        (gf, kg),
                        (rt, ft),
                        (kt, ft),
                        (kg, fg),
                    ]
                    .iter()
                    .map(|&(a, b)| format!("{:.2}x", ns[a] / ns[b]))
                    .collect();
                    println!(
                        "| {} | {} | {} | {} | {} | {} | {:.0}% / {:.0}% |",
                        kind.name(),
                        human(n),
                        dist.name(),
                        load.name(),
                        figures.join(" | "),
                        ratios.join(" | "),
                        s[rt].admitted * 100.0,
                        s[gv].admitted * 100.0,
                    );
                    if n <= 100_000 && kind == KeyKind::U64 {
                        summary.lines.push(format!(
                            "single {} {} {} {}: gov/rlc tsc {:.2}x, gov/rlc keyed tsc {:.2}x (target >= 1.5), gov+ahash/rlc keyed tsc {:.2}x (>= 1.0), rlc keyed tsc/floor tsc {:.2}x (<= 1.5), rlc keyed given/floor given {:.2}x",
                            kind.name(), human(n), dist.name(), load.name(),
                            ns[gv] / ns[rt], ns[gv] / ns[kt], ns[ga] / ns[kt], ns[kt] / ns[ft], ns[kg] / ns[fg]
                        ));
                    }
                    progress(
                        "single",
                        &format!(
                            "{} {} {} {}",
                            kind.name(),
                            human(n),
                            dist.name(),
                            load.name()
                        ),
                        start,
                    );
                    if cfg.smoke {
                        smoke_agree(load, &keys, &idx);
                    }
                }
            }
        }
    }
}

/// In the smoke run: rlc and governor (fake clock, frozen) decide alike.
fn smoke_agree(load: Load, keys: &Keys, idx: &[u32]) {
    let policy = load.policy();
    let l = Limiter::with_capacity(policy, ManualClock::new(0), keys.strs.len());
    let clock = FakeRelativeClock::default();
    let g: GovLim<String, ahash::RandomState, FakeRelativeClock> = RateLimiter::new(
        load.quota(),
        DashMapStateStore::with_hasher(Default::default()),
        clock,
    );
    // The request the benchmark sends (a number for u64 keys) and the key's
    // text: the same key, so the same decisions.
    let text = Limiter::with_capacity(load.policy(), ManualClock::new(0), keys.strs.len());
    let by_handle = Limiter::with_capacity(load.policy(), ManualClock::new(0), keys.strs.len());
    let h = by_handle
        .keyed("GET", PATH)
        .expect("the single-rule policy routes GET to one keyed rule");
    let now = SystemClock.now_ns();
    for &i in idx.iter().take(5000) {
        let k = &keys.strs[i as usize];
        let a = l.check_at(&single_request(keys, i), now).allowed();
        let b = g.check_key(k).is_ok();
        assert_eq!(a, b, "rlc and governor disagree on key {k}");
        let c = text
            .check_at(&Request::new("GET", PATH).attr("key", k), now)
            .allowed();
        assert_eq!(a, c, "rlc by number and by text disagree on key {k}");
        let d = if keys.numeric {
            h.check_at(keys.ids[i as usize], now)
        } else {
            h.check_at(k, now)
        };
        assert_eq!(
            a,
            d.allowed(),
            "rlc and its keyed handle disagree on key {k}"
        );
    }
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Section 4: threads.

fn section_threads(cfg: &Cfg, summary: &mut Summary) {
    let start = Instant::now();
    println!("\n## 4. Threads: total throughput, 1 vs 2 threads (Mdecisions/s, median of runs)\n");
    println!("| keys | n | dist | limiter | 1 thread | 2 threads | scaling 2T/1T |");
    println!("|---|---:|---|---|---:|---:|---:|");
    let n = if cfg.smoke { 1_000 } else { 100_000 };
    let load = Load::Allow;
    for (kind, dist) in [
        (KeyKind::U64, Dist::Uniform),
        (KeyKind::U64, Dist::Zipf),
        (KeyKind::Str, Dist::Uniform),
    ] {
        let keys = Keys::new(kind, n, 0x7 ^ n as u64);
        let a = indices(n, cfg.ops, dist, 0xa);
        let b = indices(n, cfg.ops, dist, 0xb);
        let all: Vec<u32> = (0..n as u32).collect();
        let runners = match kind {
            KeyKind::U64 => single_runners::<u64>(load, n),
            KeyKind::Str => single_runners::<String>(load, n),
        };
        for r in &runners {
            let name = r.name();
            if name == "rlc system"
                || name == "floor given"
                || name == "governor fake-clock"
                || name == "rlc keyed given"
            {
                continue;
            }
            r.pass(&all, &keys);
            r.pass(&a, &keys);
            let (one, two) = measure_threads(&**r, &a, &b, &keys, cfg.runs);
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2}x |",
                kind.name(),
                human(n),
                dist.name(),
                name,
                one / 1e6,
                two / 1e6,
                two / one
            );
            if name.starts_with("rlc") && kind == KeyKind::U64 && dist == Dist::Uniform {
                summary.lines.push(format!(
                    "threads u64 {} uniform {name}: scaling {:.2}x (target >= 1.7)",
                    human(n),
                    two / one
                ));
            }
        }
        progress(
            "threads",
            &format!("{} {} {}", kind.name(), human(n), dist.name()),
            start,
        );
    }
}

// ---------------------------------------------------------------------------
// Section 2: the Basis Theory policy against a composition of governors.

/// Routes of the request mix: (method, path, weight). The governor side
/// receives the route as an index, as a web framework's router hands it
/// over; rlc parses the path itself.
const ROUTES: [(&str, &str, u32); 9] = [
    ("POST", "/tokens", 30),
    ("GET", "/tokens", 15),
    ("POST", "/tokens/search", 10),
    ("PATCH", "/tokens/tok_8f14e45fceea167a", 10),
    ("DELETE", "/tokens/tok_8f14e45fceea167a", 5),
    ("POST", "/tokenize", 10),
    ("GET", "/account-updater/jobs/job_42", 5),
    ("POST", "/proxy", 10),
    ("GET", "/applications/app_1", 5),
];

struct Client {
    key: String,
    ip: String,
    tenant: &'static str,
    app_type: &'static str,
    proxy_key: String,
    host: String,
}

fn clients(n: usize) -> Vec<Client> {
    let mut rng = SplitMix(0xc11e);
    (0..n)
        .map(|i| {
            let id = rng.next();
            let (key, tenant) = match i % 10 {
                0..=5 => (format!("key_prod_{id:016x}"), "production"),
                6..=8 => (format!("key_test_{id:016x}"), "test"),
                _ => (format!("legacy{id:016x}"), "production"),
            };
            let app_type = match (i / 10) % 10 {
                0..=5 => "private",
                6..=8 => "public",
                _ => "management",
            };
            Client {
                key,
                ip: ip_of(i as u64),
                tenant,
                app_type,
                proxy_key: format!("pk_{id:012x}"),
                host: format!("c{i}.vault.example.com"),
            }
        })
        .collect()
}

/// One request of the mix.
#[derive(Clone, Copy)]
struct VReq {
    route: u8,
    /// 0: an API request with key, ip, tenant, app_type; 1: an
    /// unauthenticated proxy request (proxy_key, ip); 2: a custom-hostname
    /// request (host, ip).
    kind: u8,
    client: u32,
}

fn vendor_requests(n: usize, len: usize, dist: Dist, seed: u64) -> Vec<VReq> {
    let who = indices(n, len, dist, seed);
    let mut rng = SplitMix(seed ^ 0xfeed);
    let total: u32 = ROUTES.iter().map(|r| r.2).sum();
    who.into_iter()
        .map(|client| {
            let mut x = rng.below(total as usize) as u32;
            let mut route = 0;
            for (i, r) in ROUTES.iter().enumerate() {
                if x < r.2 {
                    route = i;
                    break;
                }
                x -= r.2;
            }
            let kind = match rng.below(100) {
                0..=89 => 0,
                90..=96 => 1,
                _ => 2,
            };
            VReq {
                route: route as u8,
                kind,
                client,
            }
        })
        .collect()
}

#[inline]
fn vendor_request<'a>(r: &VReq, cs: &'a [Client]) -> Request<'a> {
    let (m, p, _) = ROUTES[r.route as usize];
    let c = &cs[r.client as usize];
    // In place (`push`): the by-value `.attr` moves the whole request on
    // each call, about 300 instructions for these four.
    let mut req = Request::new(m, p);
    req.push("ip", &c.ip);
    match r.kind {
        0 => req
            .push("key", &c.key)
            .push("tenant", c.tenant)
            .push("app_type", c.app_type),
        1 => req.push("proxy_key", &c.proxy_key),
        _ => req.push("host", &c.host),
    };
    req
}

/// The rules of policies/basis-theory.rl, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum BtRule {
    TestTenant,
    TokensSearch,
    TokensList,
    TokensCreate,
    TokensUpdate,
    TokensDelete,
    AccountUpdater,
    PrivateAppKey,
    PrivateAppIp,
    PublicApp,
    ManagementApp,
    ProxyKeyIp,
    ProxyHostIp,
    IpGlobal,
    LegacyKey,
}

impl BtRule {
    const ALL: [BtRule; 15] = [
        BtRule::TestTenant,
        BtRule::TokensSearch,
        BtRule::TokensList,
        BtRule::TokensCreate,
        BtRule::TokensUpdate,
        BtRule::TokensDelete,
        BtRule::AccountUpdater,
        BtRule::PrivateAppKey,
        BtRule::PrivateAppIp,
        BtRule::PublicApp,
        BtRule::ManagementApp,
        BtRule::ProxyKeyIp,
        BtRule::ProxyHostIp,
        BtRule::IpGlobal,
        BtRule::LegacyKey,
    ];

    /// (rule id in the policy, key group index).
    fn id(self) -> (&'static str, usize) {
        match self {
            BtRule::TestTenant => ("test_tenant", 0),
            BtRule::TokensSearch => ("tokens_search", 0),
            BtRule::TokensList => ("tokens_list", 0),
            BtRule::TokensCreate => ("tokens_create", 0),
            BtRule::TokensUpdate => ("tokens_update", 0),
            BtRule::TokensDelete => ("tokens_delete", 0),
            BtRule::AccountUpdater => ("account_updater", 0),
            BtRule::PrivateAppKey => ("private_app", 0),
            BtRule::PrivateAppIp => ("private_app", 1),
            BtRule::PublicApp => ("public_app", 0),
            BtRule::ManagementApp => ("management_app", 0),
            BtRule::ProxyKeyIp => ("proxy_key_ip", 0),
            BtRule::ProxyHostIp => ("proxy_host_ip", 0),
            BtRule::IpGlobal => ("ip_global", 0),
            BtRule::LegacyKey => ("legacy_key", 0),
        }
    }

    /// N per W as a GCRA quota of burst N (governor has no sliding window).
    fn quota(self) -> Quota {
        let (n, secs) = self.rate();
        Quota::with_period(Duration::from_secs(secs) / n)
            .unwrap()
            .allow_burst(NonZeroU32::new(n).unwrap())
    }

    /// The rule's N per W seconds.
    fn rate(self) -> (u32, u64) {
        match self {
            BtRule::TestTenant | BtRule::TokensSearch => (50, 10),
            BtRule::TokensList => (100, 10),
            BtRule::TokensCreate | BtRule::TokensUpdate | BtRule::TokensDelete => (200, 10),
            BtRule::AccountUpdater => (10, 10),
            BtRule::PrivateAppKey | BtRule::PrivateAppIp => (2000, 10),
            BtRule::PublicApp => (50, 60),
            BtRule::ManagementApp => (200, 60),
            BtRule::ProxyKeyIp | BtRule::ProxyHostIp => (50, 10),
            BtRule::IpGlobal => (2000, 10),
            BtRule::LegacyKey => (100, 60),
        }
    }

    /// The rule's GCRA emission interval and capacity, ns.
    fn gcra(self) -> (u64, u64) {
        let (n, secs) = self.rate();
        let w = secs * 1_000_000_000;
        (w / u64::from(n), w)
    }
}

/// Which rules of basis-theory.rl a request matches, and the key each one
/// counts under, written the way a governor user writes it: composite keys
/// as `format!("{key}|{ip}")`. Calls `f(rule, key)` for each.
#[inline]
fn bt_visit(r: &VReq, cs: &[Client], mut f: impl FnMut(BtRule, &String)) {
    let c = &cs[r.client as usize];
    let ip = &c.ip;
    match r.kind {
        0 => {
            let key = &c.key;
            let kip = format!("{key}|{ip}");
            if c.tenant == "test" {
                f(BtRule::TestTenant, &kip);
            }
            match r.route {
                0 | 5 => f(BtRule::TokensCreate, &kip),
                1 => f(BtRule::TokensList, &kip),
                2 => f(BtRule::TokensSearch, &kip),
                3 => f(BtRule::TokensUpdate, &kip),
                4 => f(BtRule::TokensDelete, &kip),
                6 => f(BtRule::AccountUpdater, &kip),
                _ => {}
            }
            match c.app_type {
                "private" => {
                    f(BtRule::PrivateAppKey, key);
                    f(BtRule::PrivateAppIp, ip);
                }
                "public" => f(BtRule::PublicApp, &kip),
                _ => f(BtRule::ManagementApp, key),
            }
            f(BtRule::IpGlobal, ip);
            if !key.contains("_prod_") && !key.contains("_test_") {
                f(BtRule::LegacyKey, &kip);
            }
        }
        1 => {
            f(BtRule::ProxyKeyIp, &format!("{}|{ip}", c.proxy_key));
            f(BtRule::IpGlobal, ip);
        }
        _ => {
            f(BtRule::ProxyHostIp, &format!("{}|{ip}", c.host));
            f(BtRule::IpGlobal, ip);
        }
    }
}

/// What rlc's table says the request matches: (rule id, key group) pairs.
fn rlc_matches(policy: &Policy, req: &Request<'_>) -> Vec<(String, usize)> {
    let t = policy.table();
    let mut values: Vec<Option<&str>> = vec![None; t.inputs.len()];
    for (k, v) in req.attrs() {
        if let Some(i) = t.inputs.iter().position(|n| n == k) {
            values[i] = Some(v);
        }
    }
    let segs: SmallVec<[&str; 16]> = req.path().split('/').filter(|s| !s.is_empty()).collect();
    let mut out: SmallVec<[Target; 16]> = SmallVec::new();
    t.routes
        .lookup(MethodSet::bit(req.method()).unwrap(), &segs, &mut out);
    let mut m = Vec::new();
    for target in out {
        let Target::Rule(ri) = target else { continue };
        let rule = &t.rules[ri as usize];
        if !rule.cond.as_ref().is_none_or(|c| c.eval(&values)) {
            continue;
        }
        for (gi, g) in rule.groups.iter().enumerate() {
            if t.groups[g.0 as usize]
                .attrs
                .iter()
                .all(|&a| values[a].is_some())
            {
                m.push((rule.id.clone(), gi));
            }
        }
    }
    m.sort();
    m
}

/// A client as the vendor floor sees it: its keys hashed ahead (as the
/// single-rule floor's are) and the facts its rules test, as flags.
#[derive(Clone, Copy)]
struct FloorClient {
    /// Hashes of key, ip, `key|ip`, `proxy_key|ip`, `host|ip`.
    h: [u64; 5],
    test: bool,
    /// 0 private, 1 public, 2 management.
    app: u8,
    legacy: bool,
}

fn floor_clients(cs: &[Client]) -> Vec<FloorClient> {
    let rs = ahash::RandomState::with_seeds(5, 6, 7, 8);
    cs.iter()
        .map(|c| FloorClient {
            h: [
                rs.hash_one(&c.key),
                rs.hash_one(&c.ip),
                rs.hash_one(format!("{}|{}", c.key, c.ip)),
                rs.hash_one(format!("{}|{}", c.proxy_key, c.ip)),
                rs.hash_one(format!("{}|{}", c.host, c.ip)),
            ],
            test: c.tenant == "test",
            app: match c.app_type {
                "private" => 0,
                "public" => 1,
                _ => 2,
            },
            legacy: !c.key.contains("_prod_") && !c.key.contains("_test_"),
        })
        .collect()
}

/// A request's [`FloorClient`] read from its strings when it arrives, as a
/// limiter must: the keys its kind uses hashed (a pair hashed as
/// `a|b` without building the string), and the facts its rules test. The
/// `floor 80 B + req` column: what reading the benchmark's own request data
/// (100k clients' strings, mostly out of cache) adds to the memory floor.
#[inline]
fn floor_client_now(r: &VReq, c: &Client, rs: &ahash::RandomState) -> FloorClient {
    let pair = |a: &str, b: &str| {
        let mut h = rs.build_hasher();
        h.write(a.as_bytes());
        h.write_u8(b'|');
        h.write(b.as_bytes());
        h.finish()
    };
    let mut h = [0, rs.hash_one(&c.ip), 0, 0, 0];
    let mut fc = FloorClient {
        h,
        test: false,
        app: 0,
        legacy: false,
    };
    match r.kind {
        0 => {
            h[0] = rs.hash_one(&c.key);
            h[2] = pair(&c.key, &c.ip);
            fc.test = c.tenant == "test";
            fc.app = match c.app_type {
                "private" => 0,
                "public" => 1,
                _ => 2,
            };
            fc.legacy = !c.key.contains("_prod_") && !c.key.contains("_test_");
        }
        1 => h[3] = pair(&c.proxy_key, &c.ip),
        _ => h[4] = pair(&c.host, &c.ip),
    }
    fc.h = h;
    fc
}

/// [`bt_visit`] for the floor: the same (rule, key) pairs, keys as their
/// precomputed hashes. Returns how many of `out` it filled.
#[inline]
fn bt_floor_touches(r: &VReq, c: &FloorClient, out: &mut [(BtRule, u64); 8]) -> usize {
    let [key, ip, kip, pip, hip] = c.h;
    let mut n = 0;
    let mut push = |rule, h| {
        out[n] = (rule, h);
        n += 1;
    };
    match r.kind {
        0 => {
            if c.test {
                push(BtRule::TestTenant, kip);
            }
            match r.route {
                0 | 5 => push(BtRule::TokensCreate, kip),
                1 => push(BtRule::TokensList, kip),
                2 => push(BtRule::TokensSearch, kip),
                3 => push(BtRule::TokensUpdate, kip),
                4 => push(BtRule::TokensDelete, kip),
                6 => push(BtRule::AccountUpdater, kip),
                _ => {}
            }
            match c.app {
                0 => {
                    push(BtRule::PrivateAppKey, key);
                    push(BtRule::PrivateAppIp, ip);
                }
                1 => push(BtRule::PublicApp, kip),
                _ => push(BtRule::ManagementApp, key),
            }
            push(BtRule::IpGlobal, ip);
            if c.legacy {
                push(BtRule::LegacyKey, kip);
            }
        }
        1 => {
            push(BtRule::ProxyKeyIp, pip);
            push(BtRule::IpGlobal, ip);
        }
        _ => {
            push(BtRule::ProxyHostIp, hip);
            push(BtRule::IpGlobal, ip);
        }
    }
    n
}

/// The vendor policy's floor: per (rule, key group) an open-addressed table
/// of `2n` entries of `stride` words (a tag, then a GCRA time; 2 words is
/// governor's state, 10 is rlc's sliding entry), the request's keys hashed
/// ahead, every entry's first and last word loaded before any is used (as
/// rlc prefetches), then one tag probe per (rule, key), every rule's GCRA
/// judged, and one CAS each only when all admit (rlc's all-or-nothing). No
/// routing, no key hashing, no conditions, no sliding arithmetic, no
/// per-tick touch of the tag: a bound of what the memory allows for this
/// policy's touches in that layout, not rlc's own minimum.
struct VendorFloor {
    name: &'static str,
    tables: Vec<Vec<AtomicU64>>,
    stride: usize,
    slots: usize,
    gcra: Vec<(u64, u64)>,
    fc: Vec<FloorClient>,
    /// Read each request's strings when it arrives ([`floor_client_now`])
    /// instead of `fc`.
    from_request: bool,
    rs: ahash::RandomState,
    vnow: AtomicU64,
    dt: u64,
}

impl VendorFloor {
    fn new(name: &'static str, n: usize, stride: usize, cs: &[Client], dt: u64) -> VendorFloor {
        let slots = 2 * n;
        VendorFloor {
            name,
            tables: BtRule::ALL
                .iter()
                .map(|_| (0..slots * stride).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            stride,
            slots,
            gcra: BtRule::ALL.iter().map(|r| r.gcra()).collect(),
            fc: floor_clients(cs),
            from_request: false,
            rs: ahash::RandomState::with_seeds(1, 2, 3, 4),
            vnow: AtomicU64::new(SystemClock.now_ns()),
            dt,
        }
    }

    /// A key's first slot: the hash scaled to the table, as rlc's store does.
    #[inline]
    fn home(&self, h: u64) -> usize {
        ((u128::from(h) * self.slots as u128) >> 64) as usize
    }

    /// The GCRA word of `h` in `table` (claiming a slot for a new key).
    #[inline]
    fn state<'t>(&self, table: &'t [AtomicU64], h: u64) -> &'t AtomicU64 {
        let tag = h | 1;
        let mut i = self.home(h);
        loop {
            let c = &table[i * self.stride];
            let v = c.load(Ordering::Acquire);
            let claimed = v == 0
                && c.compare_exchange(0, tag, Ordering::AcqRel, Ordering::Acquire)
                    .map_or_else(|x| x == tag, |_| true);
            if v == tag || claimed {
                return &table[i * self.stride + 1];
            }
            i += 1;
            if i == self.slots {
                i = 0;
            }
        }
    }
}

impl VRunner for VendorFloor {
    fn name(&self) -> String {
        self.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, v: &VendorRuns<'_>) -> u64 {
        let step = self.dt * CHUNK as u64;
        let mut now = self
            .vnow
            .fetch_add(step * (v.reqs.len() / CHUNK + 1) as u64, Ordering::Relaxed);
        let mut ok = 0u64;
        let mut touches = [(BtRule::IpGlobal, 0u64); 8];
        for chunk in v.reqs.chunks(CHUNK) {
            now += step;
            for r in chunk {
                let fc = if self.from_request {
                    floor_client_now(r, &v.clients[r.client as usize], &self.rs)
                } else {
                    self.fc[r.client as usize]
                };
                let n = bt_floor_touches(r, &fc, &mut touches);
                for &(rule, h) in &touches[..n] {
                    let table = &self.tables[rule as usize];
                    let at = self.home(h) * self.stride;
                    black_box(
                        table[at].load(Ordering::Relaxed)
                            ^ table[at + self.stride - 1].load(Ordering::Relaxed),
                    );
                }
                // Judge every rule, then write only if all admit.
                let mut judged = [(None::<&AtomicU64>, 0u64, 0u64); 8];
                let mut all = true;
                for (j, &(rule, h)) in touches[..n].iter().enumerate() {
                    let (t, tau) = self.gcra[rule as usize];
                    let s = self.state(&self.tables[rule as usize], h);
                    let cur = s.load(Ordering::Acquire);
                    let new = cur.max(now) + t;
                    all &= new - now <= tau;
                    judged[j] = (Some(s), cur, new);
                }
                if all {
                    for &(s, cur, new) in &judged[..n] {
                        if let Some(s) = s {
                            all &= s
                                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
                                .is_ok();
                        }
                    }
                }
                ok += all as u64;
            }
        }
        ok
    }
}

struct GovVendor<S: BuildHasher + Clone + Send + Sync, C: GClock + Send + Sync> {
    name: &'static str,
    lims: Vec<GovLim<String, S, C>>,
    fake: Option<FakeRelativeClock>,
    dt: u64,
}

struct VendorRuns<'a> {
    reqs: &'a [VReq],
    clients: &'a [Client],
}

trait VRunner: Sync {
    fn name(&self) -> String;
    fn pass(&self, v: &VendorRuns<'_>) -> u64;
}

fn gov_vendor<S: BuildHasher + Clone + Default + Send + Sync, C: GClock + Send + Sync + Clone>(
    name: &'static str,
    clock: C,
    fake: Option<FakeRelativeClock>,
    dt: u64,
) -> GovVendor<S, C> {
    GovVendor {
        name,
        lims: BtRule::ALL
            .iter()
            .map(|r| {
                RateLimiter::new(
                    r.quota(),
                    DashMapStateStore::with_hasher(S::default()),
                    clock.clone(),
                )
            })
            .collect(),
        fake,
        dt,
    }
}

impl<S: BuildHasher + Clone + Send + Sync, C: GClock + Send + Sync> VRunner for GovVendor<S, C>
where
    GovLim<String, S, C>: Sync,
{
    fn name(&self) -> String {
        self.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, v: &VendorRuns<'_>) -> u64 {
        let mut ok = 0u64;
        for chunk in v.reqs.chunks(CHUNK) {
            if let Some(f) = &self.fake {
                f.advance(Duration::from_nanos(self.dt * chunk.len() as u64));
            }
            for r in chunk {
                // Every matching rule is checked (no short cut), as rlc does.
                let mut all = true;
                bt_visit(r, v.clients, |rule, key| {
                    all &= self.lims[rule as usize].check_key(key).is_ok();
                });
                ok += all as u64;
            }
        }
        ok
    }
}

struct RlcVendor<C: rlc::Clock> {
    name: &'static str,
    lim: Limiter<C>,
    given: bool,
    vnow: AtomicU64,
    dt: u64,
}

impl<C: rlc::Clock> VRunner for RlcVendor<C> {
    fn name(&self) -> String {
        self.name.to_string()
    }
    #[inline(never)]
    fn pass(&self, v: &VendorRuns<'_>) -> u64 {
        let mut ok = 0u64;
        if self.given {
            let step = self.dt * CHUNK as u64;
            let mut now = self
                .vnow
                .fetch_add(step * (v.reqs.len() / CHUNK + 1) as u64, Ordering::Relaxed);
            for chunk in v.reqs.chunks(CHUNK) {
                now += step;
                for r in chunk {
                    let req = vendor_request(r, v.clients);
                    ok += self.lim.check_at(&req, now).allowed() as u64;
                }
            }
        } else {
            for r in v.reqs {
                let req = vendor_request(r, v.clients);
                ok += self.lim.check(&req).allowed() as u64;
            }
        }
        ok
    }
}

/// Virtual time per request in the vendor section: 100k requests/s.
const DT_VENDOR: u64 = 10_000;

fn section_vendor(cfg: &Cfg, summary: &mut Summary) {
    let start = Instant::now();
    let policy = Policy::from_file("policies/basis-theory.rl").unwrap();
    println!("\n## 2. policies/basis-theory.rl vs one governor per (rule, window) (1 thread, ns per decision, median of runs)\n");
    println!("| clients | dist | rules matched / req | rlc given | gov fake-clock | rlc tsc | governor | gov+ahash | floor 16 B | floor 80 B | floor 80 B + req | gov fake/rlc given | governor/rlc tsc | gov+ahash/rlc tsc | rlc given/floor 80 B | rlc given/floor 80 B + req | gov fake/floor 16 B | admitted rlc given / gov fake |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let counts: Vec<usize> = if cfg.smoke {
        vec![1_000]
    } else {
        vec![1_000, 100_000]
    };
    let ops = if cfg.smoke { 5_000 } else { cfg.ops / 2 };
    for &n in &counts {
        let cs = clients(n);
        for dist in [Dist::Uniform, Dist::Zipf] {
            let reqs = vendor_requests(n, ops, dist, 0xbeef ^ n as u64);
            // The composition must check exactly the rules rlc applies.
            let mut touches = 0usize;
            let check_every = if cfg.smoke { 1 } else { 97 };
            for (i, r) in reqs.iter().enumerate() {
                let mut g: Vec<(String, usize)> = Vec::new();
                bt_visit(r, &cs, |rule, _| {
                    let (id, gi) = rule.id();
                    g.push((id.to_string(), gi));
                });
                g.sort();
                touches += g.len();
                // The floor touches the same (rule, key group) pairs.
                if i % check_every == 0 {
                    let mut ft = [(BtRule::IpGlobal, 0u64); 8];
                    let fc = &floor_clients(std::slice::from_ref(&cs[r.client as usize]))[0];
                    let nf = bt_floor_touches(r, fc, &mut ft);
                    let mut f: Vec<(String, usize)> = ft[..nf]
                        .iter()
                        .map(|(rule, _)| {
                            let (id, gi) = rule.id();
                            (id.to_string(), gi)
                        })
                        .collect();
                    f.sort();
                    assert_eq!(f, g, "the floor and the composition differ on request {i}");
                }
                if i % check_every == 0 {
                    let m = rlc_matches(&policy, &vendor_request(r, &cs));
                    assert_eq!(g, m, "governor composition and rlc differ on request {i}");
                }
            }
            let all: Vec<VReq> = (0..n as u32)
                .map(|client| VReq {
                    route: 0,
                    kind: 0,
                    client,
                })
                .collect();
            let rlc_given = RlcVendor {
                name: "rlc given",
                lim: Limiter::with_capacity(policy.clone(), ManualClock::new(0), n),
                given: true,
                vnow: AtomicU64::new(SystemClock.now_ns()),
                dt: DT_VENDOR,
            };
            let rlc_tsc = RlcVendor {
                name: "rlc tsc",
                lim: Limiter::with_capacity(policy.clone(), rlc::TscClock::new(), n),
                given: false,
                vnow: AtomicU64::new(0),
                dt: 0,
            };
            let fake = FakeRelativeClock::default();
            fake.advance(Duration::from_secs(1));
            let g_fake = gov_vendor::<std::hash::RandomState, _>(
                "gov fake-clock",
                fake.clone(),
                Some(fake),
                DT_VENDOR,
            );
            let g = gov_vendor::<std::hash::RandomState, _>(
                "governor",
                QuantaClock::default(),
                None,
                0,
            );
            let g_ahash =
                gov_vendor::<ahash::RandomState, _>("gov+ahash", QuantaClock::default(), None, 0);
            let floor16 = VendorFloor::new("floor 16 B", n, 2, &cs, DT_VENDOR);
            let floor80 = VendorFloor::new("floor 80 B", n, 10, &cs, DT_VENDOR);
            let floor80_req = VendorFloor {
                from_request: true,
                ..VendorFloor::new("floor 80 B + req", n, 10, &cs, DT_VENDOR)
            };
            let runners: [&dyn VRunner; 8] = [
                &rlc_given,
                &g_fake,
                &rlc_tsc,
                &g,
                &g_ahash,
                &floor16,
                &floor80,
                &floor80_req,
            ];
            if n == counts[0] && dist == Dist::Uniform {
                let names: Vec<String> = runners.iter().map(|r| r.name()).collect();
                eprintln!("[vendor] limiters: {}", names.join(", "));
            }
            let warm = VendorRuns {
                reqs: &all,
                clients: &cs,
            };
            let runs_v = VendorRuns {
                reqs: &reqs,
                clients: &cs,
            };
            for r in runners {
                r.pass(&warm);
                r.pass(&runs_v);
            }
            let mut times = vec![Vec::new(); runners.len()];
            let mut admitted = vec![0u64; runners.len()];
            for run in 0..cfg.runs {
                let order: Vec<usize> = if run % 2 == 0 {
                    (0..runners.len()).collect()
                } else {
                    (0..runners.len()).rev().collect()
                };
                for j in order {
                    let t = Instant::now();
                    let a = black_box(runners[j].pass(&runs_v));
                    times[j].push(t.elapsed().as_nanos() as f64 / reqs.len() as f64);
                    admitted[j] += a;
                }
            }
            let ns: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
            let adm = |j: usize| admitted[j] as f64 * 100.0 / (cfg.runs * reqs.len()) as f64;
            println!(
                "| {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.0}% / {:.0}% |",
                human(n),
                dist.name(),
                touches as f64 / reqs.len() as f64,
                ns[0],
                ns[1],
                ns[2],
                ns[3],
                ns[4],
                ns[5],
                ns[6],
                ns[7],
                ns[1] / ns[0],
                ns[3] / ns[2],
                ns[4] / ns[2],
                ns[0] / ns[6],
                ns[0] / ns[7],
                ns[1] / ns[5],
                adm(0),
                adm(1)
            );
            if n >= 100_000 || cfg.smoke {
                summary.lines.push(format!(
                    "vendor {} {}: rlc given {:.1} ns (target <= 150), gov fake/rlc given {:.2}x (target >= 3), rlc tsc {:.1} ns, governor/rlc tsc {:.2}x; floor 16 B {:.1} ns, floor 80 B {:.1} ns, floor 80 B + req {:.1} ns",
                    human(n), dist.name(), ns[0], ns[1] / ns[0], ns[2], ns[3] / ns[2], ns[5], ns[6], ns[7]
                ));
            }
            progress(
                "vendor",
                &format!("{} clients {}", human(n), dist.name()),
                start,
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Section 5: memory.

fn section_memory(cfg: &Cfg, summary: &mut Summary) {
    let start = Instant::now();
    println!("\n## 5. Memory: bytes of state per (key, counter)\n");
    println!("| limiter | rule | capacity / keys | allocated at construction | allocated by inserting keys | bytes per slot | bytes per key (at capacity) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let n = if cfg.smoke { 1_000 } else { 100_000 };
    let keys = Keys::new(KeyKind::U64, n, 0x3e3);
    for (rule, text) in [
        ("bucket", "input key\nANY /** by key: 1000/1s bucket\n"),
        ("fixed", "input key\nANY /** by key: 1000/1s fixed\n"),
        ("sliding", "input key\nANY /** by key: 1000/1s sliding\n"),
        (
            "bucket+block",
            "input key\nANY /** by key: 1000/1s bucket block 10s\n",
        ),
    ] {
        let policy = Policy::from_str("mem.rl", text).unwrap();
        let (built, l) = allocated(|| Limiter::with_capacity(policy, ManualClock::new(0), n));
        let now = SystemClock.now_ns();
        let (grew, admitted) = allocated(|| {
            keys.strs
                .iter()
                .filter(|k| {
                    l.check_at(&Request::new("GET", PATH).attr("key", k), now)
                        .allowed()
                })
                .count()
        });
        if admitted != n {
            eprintln!(
                "[memory] {rule}: {} of {n} keys found no room",
                n - admitted
            );
        }
        let bytes = l.store().bytes();
        let slots = l.store().slots();
        println!(
            "| rlc | `{rule}` | {} / {} | {} | {} | {} | {:.1} |",
            human(l.store().capacity()),
            human(n),
            built,
            grew,
            bytes / slots,
            bytes as f64 / n as f64
        );
        summary.lines.push(format!(
            "memory rlc {rule}: {:.1} bytes per key at capacity (target <= 32 for bucket/fixed)",
            bytes as f64 / n as f64
        ));
    }
    {
        let policy = Policy::from_file("policies/basis-theory.rl").unwrap();
        let (built, l) = allocated(|| Limiter::with_capacity(policy, ManualClock::new(0), n));
        let groups = l.table().groups.len();
        println!(
            "| rlc | basis-theory.rl ({groups} counter groups) | {} / {} | {} | - | - | {:.1} (all groups) |",
            human(l.store().capacity()),
            human(n),
            built,
            l.store().bytes() as f64 / n as f64
        );
    }
    fn gov_growth<K: KeyPick, S: BuildHasher + Clone + Default + Send + Sync>(
        label: &str,
        keys: &Keys,
        key_heap: usize,
    ) {
        let n = keys.ids.len();
        let lim: GovLim<K, S, QuantaClock> = RateLimiter::new(
            Load::Allow.quota(),
            DashMapStateStore::with_hasher(S::default()),
            QuantaClock::default(),
        );
        let (grew, ()) = allocated(|| {
            for i in 0..n {
                black_box(lim.check_key(K::pick(keys, i)).is_ok());
            }
        });
        println!(
            "| {label} | keyed quota | - / {} | - | {} | - | {:.1} (of which key strings {:.1}) |",
            human(n),
            grew,
            grew as f64 / n as f64,
            key_heap as f64 / n as f64
        );
    }
    let skeys = Keys::new(KeyKind::Str, n, 0x3e4);
    let heap: usize = skeys.strs.iter().map(|s| s.len()).sum();
    gov_growth::<u64, std::hash::RandomState>("governor u64", &keys, 0);
    gov_growth::<u64, ahash::RandomState>("governor+ahash u64", &keys, 0);
    gov_growth::<String, std::hash::RandomState>("governor key|ip String", &skeys, heap);
    if !cfg.smoke {
        let big = Keys::new(KeyKind::U64, 1_000_000, 0x3e5);
        gov_growth::<u64, std::hash::RandomState>("governor u64", &big, 0);
    }
    let floor = Floor::new("floor", n, 1, 1, None, 0);
    println!(
        "| floor | - | {} slots / {} | {} | 0 | 16 | {:.1} |",
        human(floor.mask + 1),
        human(n),
        floor.cells.len() * 8,
        (floor.cells.len() * 8) as f64 / n as f64
    );
    progress("memory", "done", start);
}

// ---------------------------------------------------------------------------
// Section 6: compile time and route lookup.

fn generated(n: usize) -> String {
    let mut s = String::from("policy generated\ninput key\n");
    for i in 0..n {
        s.push_str(&format!("r{i}: GET /svc/r{i}/{{id}} by key: 100/1m\n"));
    }
    s
}

fn time_median<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(&mut v)
}

fn section_compile(cfg: &Cfg, summary: &mut Summary) {
    let start = Instant::now();
    println!("\n## 6. Compile (parse + check + compile, `rlc::compile_source`) and route lookup\n");
    println!("| policy | rules | compile (median) |");
    println!("|---|---:|---:|");
    let reps = if cfg.smoke { 1 } else { 21 };
    for v in ["basiq", "basis-theory", "bindbee", "finch", "mangopay"] {
        let path = format!("policies/{v}.rl");
        let src = Source::new(path.clone(), std::fs::read_to_string(&path).unwrap());
        let (table, _) = rlc::compile_source(&src);
        let rules = table.unwrap().rules.len();
        let t = time_median(reps, || rlc::compile_source(&src).0.is_some());
        println!("| {path} | {rules} | {:.0} µs |", t * 1e6);
    }
    let sizes: Vec<usize> = if cfg.smoke {
        vec![10, 100]
    } else {
        vec![10, 100, 1_000, 10_000]
    };
    let mut lookups = Vec::new();
    for &n in &sizes {
        let src = Source::new(format!("gen{n}.rl"), generated(n));
        let reps = if n >= 10_000 { 5 } else { reps.min(11) };
        let t = time_median(reps, || rlc::compile_source(&src).0.is_some());
        println!(
            "| generated `rN: GET /svc/rN/{{id}} by key: 100/1m` | {n} | {:.2} ms |",
            t * 1e3
        );
        if n == 10_000 {
            summary.lines.push(format!(
                "compile 10k rules: {:.1} ms (target < 50)",
                t * 1e3
            ));
        }
        // Route lookup and a whole decision, on a random rule's path.
        let policy = Policy::from_source(src).unwrap();
        let table = policy.table();
        let mut rng = SplitMix(n as u64);
        let paths: Vec<String> = (0..4096)
            .map(|_| format!("/svc/r{}/item{}", rng.below(n), rng.below(1000)))
            .collect();
        let bits = MethodSet::bit("GET").unwrap();
        let iters = if cfg.smoke { 1 } else { 200 };
        let lk = time_median(5, || {
            let mut hits = 0;
            for _ in 0..iters {
                for p in &paths {
                    let mut out: SmallVec<[Target; 16]> = SmallVec::new();
                    table.routes.lookup_path(bits, p, &mut out);
                    hits += out.len();
                }
            }
            hits
        }) / (iters * paths.len()) as f64;
        let l = Limiter::with_capacity(policy.clone(), ManualClock::new(0), 64);
        let now = SystemClock.now_ns();
        let dec = time_median(5, || {
            let mut ok = 0;
            for _ in 0..iters {
                for p in &paths {
                    ok += l
                        .check_at(&Request::new("GET", p).attr("key", "k1"), now)
                        .allowed() as usize;
                }
            }
            ok
        }) / (iters * paths.len()) as f64;
        lookups.push((n, lk * 1e9, dec * 1e9));
        progress("compile", &format!("{n} rules"), start);
    }
    println!(
        "\n| rules | route lookup (`RouteIndex::lookup_path`) | whole decision (`check_at`) |"
    );
    println!("|---:|---:|---:|");
    for (n, lk, dec) in &lookups {
        println!("| {n} | {lk:.1} ns | {dec:.1} ns |");
    }
    if let (Some(first), Some(last)) = (lookups.first(), lookups.last()) {
        summary.lines.push(format!(
            "route lookup: {:.1} ns at {} rules, {:.1} ns at {} rules (x{:.1} for x{} rules)",
            first.1,
            first.0,
            last.1,
            last.0,
            last.1 / first.1,
            last.0 / first.0
        ));
    }
}

// ---------------------------------------------------------------------------

fn main() {
    let cfg = Cfg::from_args().with_env();
    let start = Instant::now();
    println!(
        "# rlc vs governor ({})",
        if cfg.smoke { "smoke run" } else { "full run" }
    );
    let mut summary = Summary::default();
    if cfg.wants("single") {
        section_single(&cfg, &mut summary);
    }
    if cfg.wants("vendor") {
        section_vendor(&cfg, &mut summary);
    }
    if cfg.wants("threads") {
        section_threads(&cfg, &mut summary);
    }
    if cfg.wants("memory") {
        section_memory(&cfg, &mut summary);
    }
    if cfg.wants("compile") {
        section_compile(&cfg, &mut summary);
    }
    println!("\n## Targets\n");
    for l in &summary.lines {
        println!("* {l}");
    }
    eprintln!("total {:.1} s", start.elapsed().as_secs_f64());
}
