//! The dispatcher board's reads (web console): the open offers of one
//! organisation, soonest deadline first.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{jobs, offers};
use crate::domain::OfferStatus;
use crate::storage::jobs::Job;
use crate::storage::offers::Offer;

/// The pending offers to `org_id` with their jobs, soonest deadline first (index `offers_pending_org`).
pub fn open_offers(conn: &mut DbConnection, org_id: &str, limit: i64) -> QueryResult<Vec<(Offer, Job)>> {
    let open: Vec<Offer> = offers::table
        .filter(offers::org_id.eq(org_id))
        .filter(offers::status.eq(OfferStatus::Pending))
        .order((offers::deadline.asc(), offers::id.asc()))
        .limit(limit)
        .load(conn)?;
    let ids: Vec<&str> = open.iter().map(|o| o.job_id.as_str()).collect();
    let mut found: Vec<Job> = jobs::table.filter(jobs::id.eq_any(ids)).load(conn)?;
    Ok(open
        .into_iter()
        .filter_map(|o| {
            let at = found.iter().position(|j| j.id == o.job_id)?;
            Some((o, found.swap_remove(at)))
        })
        .collect())
}
