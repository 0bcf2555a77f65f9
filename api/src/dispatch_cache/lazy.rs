//! The technicians of one decision, resolved only when the nearest-first walk
//! reaches them: the shift in the technician's zone, and what its local day
//! already holds (booked visits plus pending offers' reservations). The cost
//! of a decision follows the technicians it looks at, not the size of the
//! network.
//!
//! What a day holds comes from one of two places ([`DayCounts`]): read by
//! index for that one technician and day (an accepting organisation's
//! fallback and alternatives), or, for dispatch's own decisions, what this
//! replica learned at its last check of that day under the technician's row
//! lock ([`LearnedDays`]); a day not checked recently counts as having room,
//! and the check under the row lock that follows every decision naming a
//! technician is what keeps capacity, so a decision reads nothing from the
//! database.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use dispatch::decision::Technicians;
use dispatch::eligibility;
use dispatch::model::{TechnicianId, TimeWindow};

use super::{DispatchCache, ShiftKey, TechRecord};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain;
use crate::storage::{db_time, offers};

/// How long what a check under the row lock found on a technician's day is
/// trusted by decisions. A day that filled up in another replica, or a place
/// freed by a decline, expiry or cancellation, is seen by this replica's
/// decisions at the latest this much later (the row-lock check is exact
/// whatever the memory says).
const LEARNED_FOR: Duration = Duration::from_secs(30);
/// Days remembered before those past `LEARNED_FOR` are forgotten.
const LEARNED_MAX: usize = 200_000;

/// What this replica's row-lock checks found on technicians' local days
/// (visits plus reservations), and when.
#[derive(Debug, Default)]
pub(crate) struct LearnedDays {
    days: Mutex<HashMap<(TechnicianId, NaiveDate), (usize, Instant)>>,
}

impl LearnedDays {
    /// What the day held at a recent check, if any.
    pub(crate) fn get(&self, id: TechnicianId, day: NaiveDate) -> Option<usize> {
        let days = self.days.lock().ok()?;
        days.get(&(id, day)).filter(|(_, at)| at.elapsed() < LEARNED_FOR).map(|(taken, _)| *taken)
    }

    /// Remembers what the day holds now.
    pub(crate) fn learned(&self, id: TechnicianId, day: NaiveDate, taken: usize) {
        let Ok(mut days) = self.days.lock() else { return };
        if days.len() >= LEARNED_MAX {
            days.retain(|_, (_, at)| at.elapsed() < LEARNED_FOR);
        }
        days.insert((id, day), (taken, Instant::now()));
    }
}

/// Where a decision's technicians' days come from (see the module).
pub(crate) enum DayCounts<'a> {
    /// Read by index, one query per technician reached that could take the job.
    Read(&'a mut DbConnection),
    /// What this replica learned; no query.
    Learned(&'a LearnedDays),
}

/// Adjusts (or, returning `false`, hides) a technician before dispatch sees it.
pub(crate) type Adjust<'a> = Box<dyn Fn(TechnicianId, &mut eligibility::Technician) -> bool + 'a>;

/// One decision's view of the cached technicians (see the module).
pub(crate) struct LazyTechnicians<'a> {
    cache: &'a DispatchCache,
    window: TimeWindow,
    now: DateTime<Utc>,
    days: RefCell<DayCounts<'a>>,
    /// What each technician's day held when first asked (a walk repeated after an escalation, or a caller
    /// asking again, reads a day once).
    taken: RefCell<HashMap<TechnicianId, usize>>,
    /// Each distinct shift (times, weekdays, zone) around the window, and its local day of the window start:
    /// resolved in the zone once per decision, not per technician (100,000 technicians share a few hundred).
    shifts: RefCell<HashMap<ShiftKey, (Vec<TimeWindow>, NaiveDate)>>,
    error: RefCell<Option<ApiError>>,
    adjust: Adjust<'a>,
}

impl std::fmt::Debug for LazyTechnicians<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyTechnicians").field("window", &self.window).finish_non_exhaustive()
    }
}

impl<'a> LazyTechnicians<'a> {
    pub(crate) fn new(
        cache: &'a DispatchCache,
        days: DayCounts<'a>,
        window: TimeWindow,
        now: DateTime<Utc>,
        adjust: Adjust<'a>,
    ) -> LazyTechnicians<'a> {
        LazyTechnicians {
            cache,
            window,
            now,
            days: RefCell::new(days),
            taken: RefCell::default(),
            shifts: RefCell::default(),
            error: RefCell::default(),
            adjust,
        }
    }

    /// The decision's result, unless reading a technician's day failed meanwhile.
    pub(crate) fn finish<T>(self, result: T) -> Result<T, ApiError> {
        match self.error.into_inner() {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// `f` of the technician's shifts around the window and its local day of the window start.
    fn with_shifts<T>(&self, record: &TechRecord, f: impl FnOnce(&[TimeWindow], NaiveDate) -> T) -> T {
        let key = record.shift_key();
        if let Some((shifts, day)) = self.shifts.borrow().get(&key) {
            return f(shifts, *day);
        }
        let resolved = (record.shift.around(&self.window), record.shift.local_date(self.window.start));
        let out = f(&resolved.0, resolved.1);
        self.shifts.borrow_mut().insert(key, resolved);
        out
    }

    /// Visits and reservations on the technician's local `day` (asked once per decision).
    fn taken_on_day(&self, id: TechnicianId, record: &TechRecord, day: NaiveDate) -> Result<usize, ApiError> {
        if let Some(taken) = self.taken.borrow().get(&id) {
            return Ok(*taken);
        }
        let taken = self.read_day(id, record, day)?;
        self.taken.borrow_mut().insert(id, taken);
        Ok(taken)
    }

    fn read_day(&self, id: TechnicianId, record: &TechRecord, day: NaiveDate) -> Result<usize, ApiError> {
        match &mut *self.days.borrow_mut() {
            DayCounts::Learned(learned) => Ok(learned.get(id, day).unwrap_or(0)),
            DayCounts::Read(conn) => {
                let (from, to) = record.shift.day_bounds(day);
                let text = domain::TechnicianId::from(id).text();
                Ok(offers::taken_count(conn, &text, db_time(from), db_time(to), db_time(self.now))?)
            }
        }
    }

    fn resolve(&self, id: TechnicianId) -> Option<eligibility::Technician> {
        let record = self.cache.techs.get(&id)?;
        let (shifts, available, day) = self.with_shifts(record, |shifts, day| {
            (shifts.to_vec(), eligibility::availability(&self.window, shifts, &record.absences), day)
        });
        let mut tech = record.for_window(id, shifts, &self.cache.net, 0, self.cache.scorecards.get(&id).copied());
        // Inactive, off shift or absent excludes it anyway: its day is read only when it could take the job
        // (so such a technician's explanation does not say whether its day is also full).
        if record.active && available == eligibility::Availability::Available {
            let taken = self.taken_on_day(id, record, day).unwrap_or_else(|e| {
                self.error.borrow_mut().get_or_insert(e);
                usize::MAX
            });
            tech.jobs_on_day = u32::try_from(taken).unwrap_or(u32::MAX);
        }
        (self.adjust)(id, &mut tech).then_some(tech)
    }
}

impl Technicians for LazyTechnicians<'_> {
    fn technician(&self, id: TechnicianId) -> Option<Cow<'_, eligibility::Technician>> {
        self.resolve(id).map(Cow::Owned)
    }

    /// Inactive, missing a skill, off shift or absent all window, or (by what this replica learned) with a
    /// full day: from the cached record, without building the technician or reading the database.
    fn surely_excluded(&self, id: TechnicianId, job: &eligibility::Job) -> bool {
        let Some(record) = self.cache.techs.get(&id) else { return true };
        if !record.active || job.required_skills.iter().any(|s| !record.skills.contains(s)) {
            return true;
        }
        let (available, day) = self.with_shifts(record, |shifts, day| {
            (eligibility::availability(&self.window, shifts, &record.absences), day)
        });
        if available != eligibility::Availability::Available {
            return true;
        }
        match &*self.days.borrow() {
            DayCounts::Learned(learned) => {
                learned.get(id, day).is_some_and(|taken| taken >= usize::try_from(record.daily_capacity).unwrap_or(0))
            }
            DayCounts::Read(_) => false,
        }
    }
}
