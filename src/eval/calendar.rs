//! UTC calendar arithmetic for `mo` windows (Howard Hinnant's civil-date
//! algorithms), on nanoseconds since the Unix epoch.

use crate::ir::DAY;

/// (year, month 1..=12) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m as u32)
}

/// Days since 1970-01-01 of the first day of (year, month).
fn days_from_civil(y: i64, m: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Months since January 1970 of the instant `ns`.
pub fn month_index(ns: u64) -> u64 {
    let (y, m) = civil_from_days((ns / DAY) as i64);
    ((y - 1970) * 12 + i64::from(m) - 1).max(0) as u64
}

/// The instant (ns) at which month `index` (since January 1970) starts,
/// saturating at `u64::MAX`.
pub fn month_start(index: u64) -> u64 {
    // u64 nanoseconds end in July 2554 (month 7014): any later month starts
    // past the end, and its year would overflow the day arithmetic.
    if index > 12 * 600 {
        return u64::MAX;
    }
    let y = 1970 + (index / 12) as i64;
    let m = (index % 12) as u32 + 1;
    let days = days_from_civil(y, m);
    u64::try_from(days).map_or(0, |d| d.saturating_mul(DAY))
}

/// The window of `months` calendar months that holds `ns`: its index and end.
pub fn month_window(ns: u64, months: u32) -> (u64, u64) {
    let months = u64::from(months.max(1));
    let k = month_index(ns) / months;
    (k, month_start((k + 1).saturating_mul(months)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_month_boundaries() {
        // 2024-02-01T00:00:00Z = 1706745600; 2024-03-01 = 1709251200 (leap year).
        let feb = 1_706_745_600u64 * 1_000_000_000;
        let mar = 1_709_251_200u64 * 1_000_000_000;
        assert_eq!(month_index(feb), (2024 - 1970) * 12 + 1);
        assert_eq!(month_index(feb - 1), (2024 - 1970) * 12);
        assert_eq!(month_start(month_index(feb)), feb);
        assert_eq!(month_window(feb + 5, 1).1, mar);
        assert_eq!(month_window(mar - 1, 1).1, mar);
        assert_eq!(month_index(0), 0);
    }

    #[test]
    fn round_trips_every_month_for_a_century() {
        for k in 0..1200u64 {
            let s = month_start(k);
            assert_eq!(month_index(s), k);
            if k > 0 {
                assert_eq!(month_index(s - 1), k - 1);
            }
        }
    }
}
