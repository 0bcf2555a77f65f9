//! Working time: weekly shifts in local time, absences, and the one place
//! where a stored time zone is resolved. A zone the database holds that is not
//! an IANA name is an error ([`BadZone`]), never a silent UTC.

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, TimeZone as _, Utc};
use dispatch::model::TimeWindow;

use crate::domain::{Invalid, validate};

/// A weekly shift in the technician's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub start: NaiveTime,
    /// Earlier than `start` means the shift ends after midnight.
    pub end: NaiveTime,
    /// ISO weekdays worked, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
}

/// Every day of the week (the default of `Shift::days`).
pub fn every_day() -> Vec<u8> {
    (1..=7).collect()
}

impl Shift {
    /// A shift from "HH:MM" times; errors name `shift.start`, `shift.end`, `shift.days`.
    pub fn parse(start: &str, end: &str, days: Vec<u8>) -> Result<Shift, Invalid> {
        let start = validate::hh_mm("shift.start", start)?;
        let end = validate::hh_mm("shift.end", end)?;
        if start == end {
            return Err(Invalid::new("shift.end", "must differ from shift.start"));
        }
        if days.is_empty() || days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(Invalid::new("shift.days", "must list ISO weekdays 1 (Monday) to 7 (Sunday)"));
        }
        Ok(Shift { start, end, days })
    }

    /// Whether the shift starts on this local date.
    pub fn works_on(&self, date: NaiveDate) -> bool {
        let weekday = u8::try_from(date.weekday().number_from_monday()).unwrap_or(0);
        self.days.contains(&weekday)
    }
}

/// "HH:MM", the stored and wire form of a shift's times.
pub fn hh_mm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// A time the technician is away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: Option<String>,
}

/// Validates a list of absences (each ends after it starts; short reasons).
pub fn validate_absences(absences: &[Absence]) -> Result<(), Invalid> {
    if absences.len() > validate::MAX_LIST_ITEMS {
        return Err(Invalid::new("absences", "too many absences"));
    }
    for (i, a) in absences.iter().enumerate() {
        if a.to <= a.from {
            return Err(Invalid::new(format!("absences[{i}].to"), "must be after `from`"));
        }
        if let Some(r) = &a.reason {
            validate::text(&format!("absences[{i}].reason"), r, validate::MAX_NAME_CHARS)?;
        }
    }
    Ok(())
}

/// A time zone stored in the database that is not an IANA name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored time zone `{0}` is not an IANA time zone")]
pub struct BadZone(pub String);

/// Resolves a stored IANA zone name.
pub fn zone(stored: &str) -> Result<chrono_tz::Tz, BadZone> {
    stored.parse().map_err(|_| BadZone(stored.to_owned()))
}

/// A shift resolved in its time zone: local dates, day bounds and shift
/// intervals in UTC, for dispatch and for the day planner alike.
#[derive(Debug, Clone)]
pub struct LocalShift {
    pub shift: Shift,
    pub tz: chrono_tz::Tz,
}

impl LocalShift {
    /// The shift in the zone named `stored_zone`.
    pub fn new(shift: Shift, stored_zone: &str) -> Result<LocalShift, BadZone> {
        Ok(LocalShift { shift, tz: zone(stored_zone)? })
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        local_date(self.tz, at)
    }

    /// The UTC bounds of a local date (midnight to midnight).
    pub fn day_bounds(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        day_bounds(self.tz, date)
    }

    /// The shifts starting on these local dates (days off skipped), in UTC.
    pub fn intervals(&self, dates: impl IntoIterator<Item = NaiveDate>) -> Vec<TimeWindow> {
        let tz = self.tz;
        let dates = dates.into_iter().filter(|d| self.shift.works_on(*d));
        dispatch::eligibility::shift_intervals(self.shift.start, self.shift.end, dates, |local| {
            tz.from_local_datetime(&local).earliest().map(|d| d.with_timezone(&Utc))
        })
    }

    /// The shift on one local date, if the technician works that day.
    pub fn on(&self, date: NaiveDate) -> Option<TimeWindow> {
        self.intervals([date]).first().copied()
    }

    /// Every shift that may overlap `window`: from the local day before its
    /// start (a shift crossing midnight) to the local day of its end.
    pub fn around(&self, window: &TimeWindow) -> Vec<TimeWindow> {
        let first = self.local_date(window.start).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(window.end);
        self.intervals(first.iter_days().take_while(|d| *d <= last))
    }
}

/// The local calendar date of an instant in `tz`.
pub fn local_date(tz: chrono_tz::Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The UTC bounds of a local date in `tz` (a midnight that does not exist
/// locally is read as UTC midnight).
pub fn day_bounds(tz: chrono_tz::Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map_or_else(|| d.and_time(NaiveTime::MIN).and_utc(), |x| x.with_timezone(&Utc))
    };
    (at(date), at(date.succ_opt().unwrap_or(date)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_stored_zone_is_an_error_not_utc() {
        assert_eq!(zone("Mars/Olympus").err(), Some(BadZone("Mars/Olympus".into())));
        assert!(zone("Europe/Moscow").is_ok());
    }

    #[test]
    fn a_night_shift_ends_the_next_day() -> anyhow::Result<()> {
        let shift = Shift::parse("22:00", "06:00", every_day())?;
        let local = LocalShift::new(shift, "UTC")?;
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).ok_or_else(|| anyhow::anyhow!("date"))?;
        let w = local.on(date).ok_or_else(|| anyhow::anyhow!("no shift"))?;
        assert_eq!(w.end - w.start, chrono::Duration::hours(8));
        Ok(())
    }
}
