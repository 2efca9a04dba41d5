//! Conversions between `SystemTime` and the unix seconds used on the wire.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix seconds of `t`; times before 1970 count as 0.
pub(crate) fn to_unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `SystemTime` of unix seconds `secs` (saturating far in the future).
pub(crate) fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 1000))
}

/// `secs` rounded down to a whole minute.
pub(crate) const fn floor_minute(secs: u64) -> u64 {
    secs - secs % 60
}

/// `secs` rounded up to a whole minute (saturating).
pub(crate) const fn ceil_minute(secs: u64) -> u64 {
    secs.saturating_add((60 - secs % 60) % 60)
}

/// Largest unix time accepted anywhere (year 9999), so arithmetic never
/// overflows and every time converts to a `SystemTime`.
pub(crate) const MAX_UNIX: u64 = 253_402_300_799;
