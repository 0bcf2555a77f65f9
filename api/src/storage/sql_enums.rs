//! `ToSql`/`FromSql` for the domain's TEXT enums (their stored word is
//! `as_str`/`parse`; the CHECK constraints in `migrations/*` list the same words).

use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::db::MultiBackend;
use crate::domain::*;

macro_rules! sql_text {
    ($($name:ident),+ $(,)?) => {$(
        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, MultiBackend>>::from_sql(bytes)?;
                $name::parse(&s).ok_or_else(|| format!("unknown {} `{s}` in the database", stringify!($name)).into())
            }
        }

        impl ToSql<Text, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                <str as ToSql<Text, MultiBackend>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, diesel::sqlite::Sqlite> for $name {
            fn from_sql(bytes: <diesel::sqlite::Sqlite as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, diesel::sqlite::Sqlite>>::from_sql(bytes)?;
                $name::parse(&s).ok_or_else(|| format!("unknown {} `{s}` in the database", stringify!($name)).into())
            }
        }

        impl FromSql<Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: <diesel::pg::Pg as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, diesel::pg::Pg>>::from_sql(bytes)?;
                $name::parse(&s).ok_or_else(|| format!("unknown {} `{s}` in the database", stringify!($name)).into())
            }
        }

        impl ToSql<Text, diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
                <str as ToSql<Text, diesel::sqlite::Sqlite>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
                <str as ToSql<Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }
    )+};
}

sql_text!(
    Role,
    JobKind,
    Priority,
    JobStatus,
    EventType,
    ChainRole,
    OfferStatus,
    ChangeEntity,
    ChangeOp,
    Stage,
    Verdict,
    Channel,
    OutboxStatus,
    Language,
    NotifyChannel,
    AuditAction
);
