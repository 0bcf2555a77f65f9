//! The technicians of one decision, resolved only when the nearest-first walk
//! reaches them: the shift in the technician's zone, and what its local day
//! already holds (booked visits plus pending offers' reservations), read by
//! index for that one technician and day. The cost of a decision follows the
//! technicians it looks at, not the size of the network.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dispatch::decision::Technicians;
use dispatch::eligibility;
use dispatch::model::{TechnicianId, TimeWindow};

use super::{DispatchCache, TechRecord};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain;
use crate::storage::{db_time, offers};

/// Adjusts (or, returning `false`, hides) a technician before dispatch sees it.
pub(crate) type Adjust<'a> = Box<dyn Fn(TechnicianId, &mut eligibility::Technician) -> bool + 'a>;

/// One decision's view of the cached technicians (see the module).
pub(crate) struct LazyTechnicians<'a> {
    cache: &'a DispatchCache,
    window: TimeWindow,
    now: DateTime<Utc>,
    conn: RefCell<&'a mut DbConnection>,
    memo: RefCell<HashMap<TechnicianId, Option<eligibility::Technician>>>,
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
        conn: &'a mut DbConnection,
        window: TimeWindow,
        now: DateTime<Utc>,
        adjust: Adjust<'a>,
    ) -> LazyTechnicians<'a> {
        LazyTechnicians {
            cache,
            window,
            now,
            conn: RefCell::new(conn),
            memo: RefCell::default(),
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

    /// Visits and reservations on the technician's local day of the window start.
    fn taken_on_day(&self, id: TechnicianId, record: &TechRecord) -> Result<usize, ApiError> {
        let (from, to) = record.shift.day_bounds(record.shift.local_date(self.window.start));
        let text = domain::TechnicianId::from(id).text();
        let mut conn = self.conn.borrow_mut();
        Ok(offers::taken_count(&mut conn, &text, db_time(from), db_time(to), db_time(self.now))?)
    }

    fn resolve(&self, id: TechnicianId) -> Option<eligibility::Technician> {
        let record = self.cache.techs.get(&id)?;
        let mut tech =
            record.for_window(id, &self.window, &self.cache.net, 0, self.cache.scorecards.get(&id).copied());
        // Inactive, off shift or absent excludes it anyway: its day is read only when it could take the job
        // (so such a technician's explanation does not say whether its day is also full).
        let available = eligibility::availability(&self.window, &tech.shifts, &tech.absences);
        if record.active && available == eligibility::Availability::Available {
            let taken = self.taken_on_day(id, record).unwrap_or_else(|e| {
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
        if let Some(known) = self.memo.borrow().get(&id) {
            return known.clone().map(Cow::Owned);
        }
        let tech = self.resolve(id);
        self.memo.borrow_mut().insert(id, tech.clone());
        tech.map(Cow::Owned)
    }
}
