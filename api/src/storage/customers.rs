//! Client cards: a customer found by normalised phone, then e-mail, with the
//! addresses they booked at.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{customer_addresses, customers};

/// A client card row.
#[derive(Debug, Clone, Queryable)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub preferred_address_form: Option<String>,
    pub contracted_org_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Language of the texts sent to the customer (migration 000020_outbox).
    pub language: crate::domain::Language,
    /// Preferred channel for notifications.
    pub notify_channel: crate::domain::NotifyChannel,
    /// The customer asked to get no notifications.
    pub notify_opt_out: bool,
    /// When the person was erased on request (migration 000050_privacy).
    pub erased_at: Option<NaiveDateTime>,
}

/// A new client card.
#[derive(Debug, Insertable)]
#[diesel(table_name = customers, treat_none_as_default_value = false)]
pub struct NewCustomer<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub preferred_address_form: Option<&'a str>,
    pub contracted_org_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An address a customer booked at.
#[derive(Debug, Clone, Queryable)]
pub struct Address {
    pub id: String,
    pub customer_id: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub last_used_at: NaiveDateTime,
}

/// Inserts a card.
pub fn insert(conn: &mut DbConnection, customer: &NewCustomer<'_>) -> QueryResult<()> {
    diesel::insert_into(customers::table).values(customer).execute(conn).map(drop)
}

/// The card with this id.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Customer>> {
    crate::db::native::get_result(conn, customers::table.find(id).limit(1)).optional()
}

/// The card with this E.164 phone.
pub fn find_by_phone(conn: &mut DbConnection, phone: &str) -> QueryResult<Option<Customer>> {
    customers::table.filter(customers::phone.eq(phone)).first(conn).optional()
}

/// The oldest card with this (lower-cased) e-mail.
pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<Customer>> {
    customers::table.filter(customers::email.eq(email)).order(customers::created_at.asc()).first(conn).optional()
}

/// Fills contact fields the card lacks (never overwrites what the customer gave before).
pub fn complete_contact(
    conn: &mut DbConnection,
    card: &Customer,
    phone: Option<&str>,
    email: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if card.phone.is_none() && phone.is_some() {
        // The phone is unique; a card elsewhere may already own it.
        let taken = find_by_phone(conn, phone.unwrap_or_default())?.is_some();
        if !taken {
            diesel::update(customers::table.find(&card.id))
                .set((customers::phone.eq(phone), customers::updated_at.eq(now)))
                .execute(conn)?;
        }
    }
    if card.email.is_none() && email.is_some() {
        diesel::update(customers::table.find(&card.id))
            .set((customers::email.eq(email), customers::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Remembers an address, or refreshes its last use.
pub fn touch_address(
    conn: &mut DbConnection,
    customer_id: &str,
    address: &str,
    lat: f64,
    lon: f64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    // One statement whether or not the address is known (an upsert on the card's unique address).
    let changes =
        (customer_addresses::lat.eq(lat), customer_addresses::lon.eq(lon), customer_addresses::last_used_at.eq(now));
    let upsert = diesel::insert_into(customer_addresses::table)
        .values((
            customer_addresses::id.eq(super::new_id()),
            customer_addresses::customer_id.eq(customer_id),
            customer_addresses::address.eq(address),
            changes,
        ))
        .on_conflict((customer_addresses::customer_id, customer_addresses::address))
        .do_update()
        .set(changes);
    crate::db::native::execute(conn, upsert).map(drop)
}

/// A card's addresses, most recently used first.
pub fn addresses(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Vec<Address>> {
    customer_addresses::table
        .filter(customer_addresses::customer_id.eq(customer_id))
        .order(customer_addresses::last_used_at.desc())
        .load(conn)
}

/// Changes the given card fields (`contracted_org_id: Some(None)` clears it).
pub fn update(
    conn: &mut DbConnection,
    id: &str,
    name: Option<&str>,
    preferred_address_form: Option<&str>,
    contracted_org_id: Option<Option<&str>>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if let Some(name) = name {
        diesel::update(customers::table.find(id)).set(customers::name.eq(name)).execute(conn)?;
    }
    if let Some(form) = preferred_address_form {
        diesel::update(customers::table.find(id)).set(customers::preferred_address_form.eq(form)).execute(conn)?;
    }
    if let Some(org) = contracted_org_id {
        diesel::update(customers::table.find(id)).set(customers::contracted_org_id.eq(org)).execute(conn)?;
    }
    diesel::update(customers::table.find(id)).set(customers::updated_at.eq(now)).execute(conn)?;
    Ok(())
}

/// The card's notification settings to change (`None`: keep).
#[derive(Debug, Default, Clone, Copy)]
pub struct NotifySettings {
    pub language: Option<crate::domain::Language>,
    pub notify_channel: Option<crate::domain::NotifyChannel>,
    pub notify_opt_out: Option<bool>,
}

/// Changes the card's notification settings.
pub fn set_notify(conn: &mut DbConnection, id: &str, s: NotifySettings, now: NaiveDateTime) -> QueryResult<()> {
    if let Some(language) = s.language {
        diesel::update(customers::table.find(id)).set(customers::language.eq(language)).execute(conn)?;
    }
    if let Some(channel) = s.notify_channel {
        diesel::update(customers::table.find(id)).set(customers::notify_channel.eq(channel)).execute(conn)?;
    }
    if let Some(opt_out) = s.notify_opt_out {
        diesel::update(customers::table.find(id)).set(customers::notify_opt_out.eq(opt_out)).execute(conn)?;
    }
    diesel::update(customers::table.find(id)).set(customers::updated_at.eq(now)).execute(conn)?;
    Ok(())
}

/// How the customer likes to be addressed on site (what a phone shows), if known.
pub fn preferred_address_form(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Option<String>> {
    customers::table
        .find(customer_id)
        .select(customers::preferred_address_form)
        .first::<Option<String>>(conn)
        .optional()
        .map(Option::flatten)
}
