//! The three algorithms as pure functions from (state word(s), now, cost) to
//! a verdict, so that they can be tested against reference models without
//! atomics. The store applies a verdict with compare-and-swap.
//!
//! All times are nanoseconds since the Unix epoch; all state is `u64` and
//! `0` means "never used", which every algorithm reads as a fresh key.
//!
//! * **bucket** (GCRA). State: the theoretical arrival time `tat`. With
//!   emission interval `T = W/N` and capacity `tau = B*T`, a request of cost
//!   `c` at `now` is admitted iff `max(tat, now) + c*T - now <= tau`; then
//!   `tat = max(tat, now) + c*T`. This is the textbook virtual-scheduling
//!   GCRA, identical to a token bucket of capacity B refilled at N per W.
//! * **fixed**. State: `v = k*stride + used`, where `k` is the index of the
//!   aligned window and `stride >= N`. A value below `k*stride` belongs to an
//!   older window and reads as 0 used; so the window rolls over without a
//!   second word or a reset.
//! * **sliding**. State: a head word `(granule, count)` for the current
//!   granule (`g = ceil(W/8)`) and a ring of 8 words `(granule, count)` for
//!   the 8 granules before it. A request in granule `k` counts granules
//!   `k-8 ..= k`, which covers every interval of length W ending now: so
//!   no interval of length W ever holds more than N admitted requests. The
//!   price is under-admission by at most one granule: the lookback is between
//!   W and W + W/8. Counts are 24 bits, granule indices 40 bits.

use crate::compile::SLIDING_GRANULES;

/// What one window says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admit, writing `new`.
    Admit(u64),
    /// Reject; retry after this many ns (`None`: the cost exceeds the limit
    /// and no wait helps).
    Reject(Option<u64>),
}

/// The figures a window reports for headers and `explain`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WindowReport {
    /// N.
    pub limit: u64,
    /// Used, including the request if it was admitted.
    pub used: u64,
    /// N minus used.
    pub remaining: u64,
    /// When the count is back to zero (ns since the epoch).
    pub reset_ns: u64,
    /// W in ns.
    pub window_ns: u64,
}

impl WindowReport {
    /// These figures as a rejection reports them: nothing remaining, and the
    /// reset when the request would be admitted, `now + retry`
    /// (docs/semantics.md; for a sliding window that is sooner than the
    /// count's return to zero, for a bucket sooner than its full refill).
    pub(crate) fn as_rejected(&mut self, now: u64, retry: Option<u64>) {
        self.remaining = 0;
        if let Some(r) = retry {
            self.reset_ns = now.saturating_add(r);
        }
    }
}

/// GCRA. `t` is the emission interval, `tau` the capacity in ns, `limit` N.
#[inline]
pub fn bucket(
    tat: u64,
    now: u64,
    cost: u64,
    t: u64,
    tau: u64,
    limit: u64,
) -> (Verdict, WindowReport) {
    // Compiled tables never pass 0; a direct call may.
    let t = t.max(1);
    let base = tat.max(now);
    let add = cost.saturating_mul(t);
    let new = base.saturating_add(add);
    let wait = new - now;
    let window_ns = t.saturating_mul(limit);
    // A debt reaching the end of u64 nanoseconds (year 2554) cannot be
    // written: saturating would let every later request in. Nothing more is
    // admitted then, and no wait helps.
    let saturated = add > 0 && new == u64::MAX;
    if wait <= tau && !saturated {
        let remaining = ((tau - wait) / t).min(limit);
        let r = WindowReport {
            limit,
            used: limit - remaining,
            remaining,
            reset_ns: new,
            window_ns,
        };
        (Verdict::Admit(new), r)
    } else {
        let held = base - now;
        let remaining = (tau.saturating_sub(held) / t).min(limit);
        let r = WindowReport {
            limit,
            used: limit - remaining,
            remaining,
            reset_ns: base,
            window_ns,
        };
        let retry = if add > tau || saturated {
            None
        } else {
            Some(wait - tau)
        };
        (Verdict::Reject(retry), r)
    }
}

/// Fixed window `k` ending at `end`. `limit` is this request's N (may be a
/// derived limit), `stride` the constant bound of N.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn fixed(
    v: u64,
    now: u64,
    cost: u64,
    k: u64,
    end: u64,
    window_ns: u64,
    limit: u64,
    stride: u64,
) -> (Verdict, WindowReport) {
    let base = k.saturating_mul(stride);
    let cur = v.max(base);
    let used = cur - base;
    let mut r = WindowReport {
        limit,
        used: used.min(limit),
        remaining: limit.saturating_sub(used),
        reset_ns: end,
        window_ns,
    };
    // In the last window before the end of u64 nanoseconds (year 2554),
    // `(k + 1) * stride` may not fit: what does not fit is not admitted.
    match (used.checked_add(cost), cur.checked_add(cost)) {
        (Some(after), Some(new)) if after <= limit => {
            r.used = after;
            r.remaining = limit - after;
            (Verdict::Admit(new), r)
        }
        _ => {
            // A derived limit below `stride` may grow: wait for the window's
            // end at least. Only a cost above every possible limit never fits.
            // The last window before the end of u64 nanoseconds has no end.
            let retry = if cost > stride || end <= now {
                None
            } else {
                Some(end - now)
            };
            (Verdict::Reject(retry), r)
        }
    }
}

/// A concurrency limit: `v` requests in flight, at most `limit`. No time
/// frees a slot, a finishing request does: a rejection has no retry time.
pub fn concurrent(v: u64, now: u64, cost: u64, limit: u64) -> (Verdict, WindowReport) {
    let mut r = WindowReport {
        limit,
        used: v.min(limit),
        remaining: limit.saturating_sub(v),
        reset_ns: now,
        window_ns: 0,
    };
    match v.checked_add(cost) {
        Some(after) if after <= limit => {
            r.used = after;
            r.remaining = limit - after;
            (Verdict::Admit(after), r)
        }
        _ => (Verdict::Reject(None), r),
    }
}

/// Bits of a sliding word's count.
pub const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const INDEX_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;

/// Packs a granule index and a count.
pub fn pack(index: u64, count: u64) -> u64 {
    ((index & INDEX_MASK) << COUNT_BITS) | (count & COUNT_MASK)
}

/// Unpacks a granule index and a count.
pub fn unpack(w: u64) -> (u64, u64) {
    (w >> COUNT_BITS, w & COUNT_MASK)
}

/// The outcome of a sliding check: the verdict, the head to write, and the
/// ring slot to publish the old head into first when the granule rolled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingStep {
    /// Admit (with the new head) or reject.
    pub verdict: Verdict,
    /// `(ring slot, value)` to `fetch_max` before writing the head.
    pub roll: Option<(usize, u64)>,
    /// The granule the request was counted in.
    pub granule: u64,
}

/// Sliding window over `head` and `ring` (8 words), granule `g` ns.
#[inline]
pub fn sliding(
    head: u64,
    ring: &[u64],
    now: u64,
    cost: u64,
    g: u64,
    limit: u64,
) -> (SlidingStep, WindowReport) {
    let s = SLIDING_GRANULES;
    // Compiled tables never pass 0; a direct call may.
    let g = g.max(1);
    let k_now = now / g;
    let (hk, hc) = unpack(head);
    // Time that went backwards counts in the later granule: conservative.
    let (k, cur, roll) = if head == 0 {
        (k_now, 0, None)
    } else if k_now > hk {
        (k_now, 0, Some(((hk % s) as usize, head)))
    } else {
        (hk, hc, None)
    };
    // counts[d] = count of granule k - d, d in 1..=8.
    let mut counts = [0u64; SLIDING_GRANULES as usize + 1];
    for &w in ring {
        if w == 0 {
            continue;
        }
        let (ik, ic) = unpack(w);
        if ik < k && k - ik <= s {
            let d = (k - ik) as usize;
            counts[d] = counts[d].max(ic);
        }
    }
    if let Some((_, w)) = roll {
        let (ik, ic) = unpack(w);
        if k - ik <= s {
            let d = (k - ik) as usize;
            counts[d] = counts[d].max(ic);
        }
    }
    let older: u64 = counts[1..].iter().sum();
    let total = older + cur;
    let window_ns = g.saturating_mul(s);
    let reset_ns = k.saturating_add(s + 1).saturating_mul(g);
    let mut r = WindowReport {
        limit,
        used: total.min(limit),
        remaining: limit.saturating_sub(total),
        reset_ns,
        window_ns,
    };
    if total.saturating_add(cost) <= limit {
        r.used = total + cost;
        r.remaining = limit - r.used;
        let step = SlidingStep {
            verdict: Verdict::Admit(pack(k, cur + cost)),
            roll,
            granule: k,
        };
        return (step, r);
    }
    let retry = if cost > limit {
        None
    } else {
        // Granule k - 8 + (j - 1) leaves the lookback at (k + j) * g.
        let mut freed = 0;
        let mut at = None;
        for j in 1..=s {
            freed += counts[(s + 1 - j) as usize];
            if total - freed + cost <= limit {
                at = Some(j);
                break;
            }
        }
        let j = at.unwrap_or(s + 1);
        Some(
            k.saturating_add(j)
                .saturating_mul(g)
                .saturating_sub(now)
                .max(1),
        )
    };
    let step = SlidingStep {
        verdict: Verdict::Reject(retry),
        roll,
        granule: k,
    };
    (step, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn bucket_admits_burst_then_one_per_interval() {
        // 10 per 10 s: T = 1 s, capacity 10.
        let (t, tau) = (S, 10 * S);
        let mut tat = 0;
        let now = 1_000 * S;
        for i in 0..10 {
            match bucket(tat, now, 1, t, tau, 10).0 {
                Verdict::Admit(n) => tat = n,
                v => panic!("request {i} rejected: {v:?}"),
            }
        }
        assert_eq!(bucket(tat, now, 1, t, tau, 10).0, Verdict::Reject(Some(S)));
        assert!(matches!(
            bucket(tat, now + S, 1, t, tau, 10).0,
            Verdict::Admit(_)
        ));
        assert_eq!(bucket(tat, now, 11, t, tau, 10).0, Verdict::Reject(None));
    }

    #[test]
    fn fixed_rolls_over_without_reset() {
        let w = 60 * S;
        let now = 100 * w + 5 * S;
        let k = now / w;
        let end = (k + 1) * w;
        let mut v = 0;
        for _ in 0..3 {
            match fixed(v, now, 1, k, end, w, 3, 3).0 {
                Verdict::Admit(n) => v = n,
                x => panic!("{x:?}"),
            }
        }
        assert_eq!(
            fixed(v, now, 1, k, end, w, 3, 3).0,
            Verdict::Reject(Some(55 * S))
        );
        // Next window: the old value reads as zero used.
        assert!(matches!(
            fixed(v, end, 1, k + 1, end + w, w, 3, 3).0,
            Verdict::Admit(_)
        ));
    }

    #[test]
    fn sliding_counts_the_previous_granules() {
        let g = S; // W = 8 s
        let mut head = 0;
        let mut ring = [0u64; 8];
        let mut now = 1_000 * g;
        // 4 requests now, 4 one granule later: the 9th must wait until the
        // first granule leaves the lookback, 9 granules after it.
        for step in 0..2 {
            for _ in 0..4 {
                let (st, _) = sliding(head, &ring, now, 1, g, 8);
                if let Some((slot, w)) = st.roll {
                    ring[slot] = ring[slot].max(w);
                }
                match st.verdict {
                    Verdict::Admit(n) => head = n,
                    v => panic!("step {step}: {v:?}"),
                }
            }
            now += g;
        }
        now -= g;
        let (st, _) = sliding(head, &ring, now, 1, g, 8);
        assert_eq!(st.verdict, Verdict::Reject(Some(8 * g)));
    }
}
