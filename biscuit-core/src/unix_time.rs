//! Unix seconds, `SystemTime` and RFC 3339: the one conversion the whole
//! project uses.
//!
//! **One range.** Every conversion saturates into `[0, MAX_UNIX]`, that is
//! from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z: a time before 1970
//! becomes 0, a time after year 9999 becomes [`MAX_UNIX`]. So arithmetic on
//! unix seconds never overflows, every unix time converts back to a
//! `SystemTime`, and every time can be written in RFC 3339.
//!
//! **One text form.** [`format_rfc3339`] writes UTC to the second
//! (`2026-11-22T10:00:00Z`); [`parse_time_or_duration`] reads RFC 3339 or a
//! duration (`10m`, `2h 30m`), with the direction of the duration stated by
//! the caller ([`DurationMeans`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest unix time used anywhere: 9999-12-31T23:59:59Z.
pub const MAX_UNIX: u64 = 253_402_300_799;

/// Unix seconds of `at`, saturated into `[0, MAX_UNIX]` (see the module
/// documentation).
pub fn to_unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_UNIX)
}

/// The `SystemTime` of unix seconds `seconds`, saturated at [`MAX_UNIX`].
pub fn from_unix(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.min(MAX_UNIX))
}

/// `at` in RFC 3339, UTC, to the second (`2026-11-22T10:00:00Z`), after
/// saturating it like [`to_unix`].
pub fn format_rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(from_unix(to_unix(at))).to_string()
}

/// Parses an RFC 3339 time (`2026-11-22T10:00:00Z`; a missing offset
/// means UTC), within 1970 to year 9999.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimeParseError> {
    let at = humantime::parse_rfc3339_weak(text.trim()).map_err(|_| TimeParseError::Invalid)?;
    in_range(at)
}

/// What a duration given instead of a time means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationMeans {
    /// That long before now (`--since 10m`: ten minutes ago).
    Ago,
    /// That long after now (`--expires 1h`: in an hour).
    FromNow,
}

/// Why [`parse_time_or_duration`] refused its input. The input is not
/// echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeParseError {
    /// Neither an RFC 3339 time nor a duration.
    #[error("expected an RFC 3339 time (2026-11-22T10:00:00Z) or a duration (10m, 2h)")]
    Invalid,
    /// A time or duration outside 1970 to year 9999.
    #[error("time out of range (1970 to year 9999)")]
    OutOfRange,
}

/// Parses an RFC 3339 time (`2026-11-22T10:00:00Z`; a missing offset means
/// UTC), or a duration (`10m`, `2h 30m`) counted from `now` in the direction
/// `means` says. The result is within `[0, MAX_UNIX]`: a duration reaching
/// outside it is refused with [`TimeParseError::OutOfRange`].
pub fn parse_time_or_duration(
    text: &str,
    now: SystemTime,
    means: DurationMeans,
) -> Result<SystemTime, TimeParseError> {
    if let Ok(at) = parse_rfc3339(text) {
        return Ok(at);
    }
    let duration = humantime::parse_duration(text.trim()).map_err(|_| TimeParseError::Invalid)?;
    let at = match means {
        DurationMeans::Ago => now.checked_sub(duration),
        DurationMeans::FromNow => now.checked_add(duration),
    };
    in_range(at.ok_or(TimeParseError::OutOfRange)?)
}

fn in_range(at: SystemTime) -> Result<SystemTime, TimeParseError> {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() <= MAX_UNIX => Ok(at),
        _ => Err(TimeParseError::OutOfRange),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conversions_saturate_into_one_range() {
        assert_eq!(to_unix(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(to_unix(from_unix(1_700_000_000)), 1_700_000_000);
        assert_eq!(to_unix(from_unix(u64::MAX)), MAX_UNIX);
        assert_eq!(format_rfc3339(from_unix(u64::MAX)), "9999-12-31T23:59:59Z");
        assert_eq!(
            format_rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn durations_go_the_way_the_caller_says() {
        let now = from_unix(1_700_000_000);
        let ago = parse_time_or_duration("10m", now, DurationMeans::Ago).unwrap();
        let ahead = parse_time_or_duration(" 10m ", now, DurationMeans::FromNow).unwrap();
        assert_eq!(to_unix(ago), 1_700_000_000 - 600);
        assert_eq!(to_unix(ahead), 1_700_000_000 + 600);
        let at = parse_time_or_duration("2026-11-22T10:00:00Z", now, DurationMeans::Ago).unwrap();
        assert_eq!(format_rfc3339(at), "2026-11-22T10:00:00Z");
        assert_eq!(
            parse_time_or_duration("soon", now, DurationMeans::Ago),
            Err(TimeParseError::Invalid)
        );
        assert_eq!(
            parse_time_or_duration("100years", from_unix(0), DurationMeans::Ago),
            Err(TimeParseError::OutOfRange)
        );
    }
}
