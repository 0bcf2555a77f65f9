//! Statements run on the concrete connection behind a [`DbConnection`].
//!
//! diesel's `MultiConnection` wraps every statement in a serialising adapter
//! that renders the whole SQL text each time the statement is walked: to
//! collect its bind values, to ask whether it may be cached, and for the
//! statement cache's key. A prepared statement with a static query id needs
//! none of that text once it is cached, so on the hot paths (a booking ran
//! about twenty statements then) that rendering was about a tenth of the
//! server's CPU (a `perf` profile of the booking storm, issue #14). These functions
//! take the same diesel query and run it on the `PgConnection` or
//! `SqliteConnection` itself: the same SQL, the same statement cache (keyed by
//! the query's type), the same transaction (the `MultiConnection`'s
//! transaction manager is its inner connection's), the same instrumentation.
//!
//! A query qualifies when it type-checks for both backends: no boxed queries
//! (boxing fixes the backend) and values whose `ToSql`/`FromSql` exist for
//! `Pg` and `Sqlite` (the domain's enums have both, `storage::sql_enums`).

use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::{LoadQuery, RunQueryDsl};
use diesel::{PgConnection, QueryResult, SqliteConnection};

use super::DbConnection;

/// `query.execute(conn)` on the concrete connection: rows affected.
pub fn execute<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<usize>
where
    Q: ExecuteDsl<PgConnection> + ExecuteDsl<SqliteConnection>,
{
    match conn {
        DbConnection::Postgres(c) => ExecuteDsl::execute(query, c),
        DbConnection::Sqlite(c) => ExecuteDsl::execute(query, c),
    }
}

/// `query.load(conn)` on the concrete connection: every row.
pub fn load<'q, Q, U>(conn: &mut DbConnection, query: Q) -> QueryResult<Vec<U>>
where
    Q: LoadQuery<'q, PgConnection, U> + LoadQuery<'q, SqliteConnection, U>,
{
    match conn {
        DbConnection::Postgres(c) => RunQueryDsl::<PgConnection>::load(query, c),
        DbConnection::Sqlite(c) => RunQueryDsl::<SqliteConnection>::load(query, c),
    }
}

/// `query.get_result(conn)` on the concrete connection: the first row, `NotFound` without one (use
/// `OptionalExtension::optional` for an `Option`). A `RETURNING` insert or update, or a query limited to
/// one row.
pub fn get_result<'q, Q, U>(conn: &mut DbConnection, query: Q) -> QueryResult<U>
where
    Q: LoadQuery<'q, PgConnection, U> + LoadQuery<'q, SqliteConnection, U>,
{
    match conn {
        DbConnection::Postgres(c) => RunQueryDsl::<PgConnection>::get_result(query, c),
        DbConnection::Sqlite(c) => RunQueryDsl::<SqliteConnection>::get_result(query, c),
    }
}

/// Runs `$run` with `$values` bound to `$rows` (a slice of insertable rows) as a reference to a fixed-size
/// array when it holds one to six rows, else as the slice. diesel keeps the prepared statement of an insert
/// of an array (its type fixes the number of rows) in its statement cache, but prepares a slice's again on
/// every execution, which PostgreSQL then parses and plans again: a booking's chain links, events and
/// notifications are two to five rows.
macro_rules! with_fixed_rows {
    ($rows:expr, |$values:ident| $run:expr) => {{
        let rows = $rows;
        if let Ok($values) = <&[_; 1]>::try_from(rows) {
            $run
        } else if let Ok($values) = <&[_; 2]>::try_from(rows) {
            $run
        } else if let Ok($values) = <&[_; 3]>::try_from(rows) {
            $run
        } else if let Ok($values) = <&[_; 4]>::try_from(rows) {
            $run
        } else if let Ok($values) = <&[_; 5]>::try_from(rows) {
            $run
        } else if let Ok($values) = <&[_; 6]>::try_from(rows) {
            $run
        } else {
            let $values = rows;
            $run
        }
    }};
}
pub(crate) use with_fixed_rows;
