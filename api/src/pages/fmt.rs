//! How times, windows and form values look on the pages.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset as _, TimeZone as _, Utc};

use crate::error::ApiError;
use crate::routes::jobs::LocalWindow;

/// `05.12.2026 10:00`.
pub fn local(t: DateTime<FixedOffset>) -> String {
    t.format("%d.%m.%Y %H:%M").to_string()
}

/// `05.12.2026 10:00–14:00 (UTC+03:00)`; the end's date only when it differs.
pub fn window(w: &LocalWindow) -> String {
    let end = if w.end.date_naive() == w.start.date_naive() { w.end.format("%H:%M").to_string() } else { local(w.end) };
    format!("{}–{end} (UTC{})", local(w.start), w.start.format("%:z"))
}

/// A UTC time in an offset of `minutes` east.
pub fn in_offset(t: DateTime<Utc>, minutes: i32) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(minutes * 60).unwrap_or(Utc.fix());
    t.with_timezone(&offset)
}

/// The value of a `datetime-local` input (`2026-12-05T10:00`).
pub fn input_value(t: DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// A `datetime-local` value typed in a browser `minutes` east of UTC, as UTC; errors name `field`.
pub fn parse_input(field: &str, value: &str, minutes: i32) -> Result<DateTime<Utc>, ApiError> {
    let naive = NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| ApiError::invalid(field, "expected a date and time"))?;
    let offset = FixedOffset::east_opt(minutes * 60).ok_or_else(|| ApiError::invalid("tz_offset", "out of range"))?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::invalid(field, "expected a date and time"))
}

/// The browser's offset from the form (`tz_offset`, minutes east); Moscow's when absent or absurd.
pub fn offset_or_moscow(value: Option<&str>) -> i32 {
    value.and_then(|v| v.trim().parse::<i32>().ok()).filter(|m| m.abs() <= 14 * 60).unwrap_or(180)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_local_time_is_read_in_the_browsers_offset() {
        let t = parse_input("window_start", "2026-12-06T10:00", 180).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-06T07:00:00+00:00");
        assert!(parse_input("window_start", "tomorrow", 180).is_err());
        assert_eq!(offset_or_moscow(Some("420")), 420);
        assert_eq!(offset_or_moscow(Some("99999")), 180);
        assert_eq!(offset_or_moscow(None), 180);
    }
}
