//! Evaluating a request whose keys are already known allocates nothing: a
//! counting global allocator watches the hot path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlc::{Limiter, ManualClock, Policy, Request};
use std::alloc::{GlobalAlloc, Layout, System};

struct Counting;

thread_local! {
    // Only allocations of the thread under test count: tests run in parallel.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static ALLOCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY is not needed: `GlobalAlloc` is an unsafe trait, so this test binary
// opts out of the crate's `forbid(unsafe_code)` lint locally.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const S: u64 = 1_000_000_000;

fn count_allocs(f: impl FnOnce()) -> usize {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(|a| a.get())
}

#[test]
fn known_keys_do_not_allocate() {
    for file in [
        "policies/basis-theory.rl",
        "policies/mangopay.rl",
        "policies/finch.rl",
        "policies/basiq.rl",
    ] {
        let policy = Policy::from_file(file).unwrap();
        let l = Limiter::with_capacity(policy, ManualClock::new(0), 256);
        let reqs = [
            Request::new("POST", "/tokens")
                .attr("key", "key_test_1")
                .attr("ip", "10.0.0.1")
                .attr("tenant", "test")
                .attr("app_type", "public"),
            Request::new("GET", "/anything").attr("client", "c1"),
            Request::new("GET", "/employer/company")
                .attr("client_id", "c1")
                .attr("ip", "10.0.0.1"),
            Request::new("POST", "/users/u1/income")
                .attr("app", "a1")
                .attr("env", "production"),
        ];
        let t0 = 1_700_000_000 * S;
        // Warm up: create the keys (and let regexes build their caches).
        for r in &reqs {
            l.check_at(r, t0);
        }
        let n = count_allocs(|| {
            for i in 0..2_000u64 {
                for r in &reqs {
                    let d = l.check_at(r, t0 + i * 1_000_000);
                    std::hint::black_box(d.allowed());
                }
            }
        });
        assert_eq!(n, 0, "{file}: {n} allocations on the hot path");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // The test above can fail: rendering headers allocates, and is counted.
    let policy = Policy::from_file("policies/bindbee.rl").unwrap();
    let l = Limiter::with_capacity(policy, ManualClock::new(0), 64);
    let r = Request::new("GET", "/x")
        .attr("connector", "c")
        .attr("api_key", "k");
    l.check_at(&r, S);
    let n = count_allocs(|| {
        let d = l.check_at(&r, S);
        std::hint::black_box(d.headers());
    });
    assert!(n > 0);
}
