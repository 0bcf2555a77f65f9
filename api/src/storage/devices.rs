//! Devices' push tokens, as notifications use them: who to send to, the token
//! at send time, and forgetting tokens (FCM said unregistered, the token moved
//! to another user, the user signed out or was deactivated).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{sync_devices, users};
use crate::domain::Role;

/// Devices of a technician's phone(s) that have a push token.
pub fn push_devices_of_technician(conn: &mut DbConnection, technician_id: &str) -> QueryResult<Vec<String>> {
    crate::db::native::load(
        conn,
        sync_devices::table
            .filter(sync_devices::technician_id.eq(technician_id))
            .filter(sync_devices::push_token.is_not_null())
            .order(sync_devices::id.asc())
            .select(sync_devices::id),
    )
}

/// Devices with a push token of the active dispatchers of an organisation.
pub fn push_devices_of_dispatchers(conn: &mut DbConnection, org_id: &str) -> QueryResult<Vec<String>> {
    let dispatchers = users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::role.eq(Role::Dispatcher))
        .filter(users::active.eq(true))
        .select(users::id);
    let devices = sync_devices::table
        .filter(sync_devices::user_id.eq_any(dispatchers))
        .filter(sync_devices::push_token.is_not_null())
        .order(sync_devices::id.asc())
        .select(sync_devices::id);
    crate::db::native::load(conn, devices)
}

/// A device's current push token, if it still has one.
pub fn push_token(conn: &mut DbConnection, device_id: &str) -> QueryResult<Option<String>> {
    sync_devices::table
        .find(device_id)
        .select(sync_devices::push_token)
        .first::<Option<String>>(conn)
        .optional()
        .map(Option::flatten)
}

/// Forgets a token FCM reported as dead (only if the device still has that token).
pub fn drop_token(conn: &mut DbConnection, device_id: &str, token: &str) -> QueryResult<bool> {
    diesel::update(
        sync_devices::table.filter(sync_devices::id.eq(device_id)).filter(sync_devices::push_token.eq(token)),
    )
    .set(sync_devices::push_token.eq(None::<String>))
    .execute(conn)
    .map(|n| n > 0)
}

/// Takes a token away from every device registered with it before: the phone
/// registers again (as another user, or anew), and only its newest
/// registration gets pushes, so the previous user never sees the new one's.
pub fn release_token(conn: &mut DbConnection, token: &str) -> QueryResult<usize> {
    diesel::update(sync_devices::table.filter(sync_devices::push_token.eq(token)))
        .set(sync_devices::push_token.eq(None::<String>))
        .execute(conn)
}

/// Forgets every push token of a user (sign-out, deactivation).
pub fn drop_user_tokens(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::update(sync_devices::table.filter(sync_devices::user_id.eq(user_id)))
        .set(sync_devices::push_token.eq(None::<String>))
        .execute(conn)
}
