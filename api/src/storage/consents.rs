//! Consents given with bookings: append-only rows (triggers refuse UPDATE and
//! DELETE), one per booking that carried a `consent`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::consents;
use crate::domain::Language;

/// A consent as stored.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = consents, treat_none_as_default_value = false)]
pub struct Consent {
    pub id: String,
    pub customer_id: String,
    pub job_id: Option<String>,
    /// The login that recorded it: the customer itself, or a dispatcher booking on its behalf.
    pub recorded_by: String,
    /// The version of the consent text (`app::consent::TEXTS`).
    pub text_version: String,
    pub language: Language,
    /// Processing of personal data for the visit.
    pub personal_data: bool,
    /// Service notifications by e-mail / SMS.
    pub notifications: bool,
    pub marketing: bool,
    pub given_at: NaiveDateTime,
}

/// Appends a consent (in the booking's transaction).
pub fn insert(conn: &mut DbConnection, consent: &Consent) -> QueryResult<()> {
    diesel::insert_into(consents::table).values(consent).execute(conn).map(drop)
}

/// A card's consents, oldest first.
pub fn of_customer(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Vec<Consent>> {
    consents::table
        .filter(consents::customer_id.eq(customer_id))
        .order((consents::given_at.asc(), consents::id.asc()))
        .load(conn)
}

/// The consent recorded with a job's booking, if any.
pub fn of_job(conn: &mut DbConnection, job_id: &str) -> QueryResult<Option<Consent>> {
    consents::table.filter(consents::job_id.eq(job_id)).first(conn).optional()
}
