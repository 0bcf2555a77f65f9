//! Typed ids. Every id is a UUID v4 stored as text; a typed id says which
//! table it points into, so a job id cannot be passed where a technician's is
//! expected. `dispatch` works with their 128 bits ([`JobId::bits`] and friends).

use crate::domain::Invalid;

/// A stored id that is not a UUID (corrupt data, not a client error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored {what} id `{text}` is not a UUID")]
pub struct BadId {
    pub what: &'static str,
    pub text: String,
}

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_v4() -> $name {
                $name(uuid::Uuid::new_v4())
            }

            /// An id from a request; errors name `field`.
            pub fn parse(field: &str, text: &str) -> Result<$name, Invalid> {
                uuid::Uuid::parse_str(text)
                    .map($name)
                    .map_err(|_| Invalid::new(field, concat!("is not a ", $what, " id")))
            }

            /// An id read from the database.
            pub fn from_stored(text: &str) -> Result<$name, BadId> {
                uuid::Uuid::parse_str(text).map($name).map_err(|_| BadId { what: $what, text: text.to_owned() })
            }

            /// The 128 bits `dispatch` works with.
            pub fn bits(self) -> u128 {
                self.0.as_u128()
            }

            /// Back from `dispatch`'s bits.
            pub fn from_bits(bits: u128) -> $name {
                $name(uuid::Uuid::from_u128(bits))
            }

            /// The stored text (hyphenated lower-case UUID).
            pub fn text(self) -> String {
                self.0.to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// A job (= a customer's request).
    JobId, "job"
);
typed_id!(
    /// An organisation of the network.
    OrgId, "organisation"
);
typed_id!(
    /// A technician.
    TechnicianId, "technician"
);
typed_id!(
    /// A user account.
    UserId, "user"
);
typed_id!(
    /// A client card.
    CustomerId, "customer"
);

impl From<OrgId> for dispatch::model::OrgId {
    fn from(id: OrgId) -> dispatch::model::OrgId {
        dispatch::model::OrgId(id.bits())
    }
}

impl From<dispatch::model::OrgId> for OrgId {
    fn from(id: dispatch::model::OrgId) -> OrgId {
        OrgId::from_bits(id.0)
    }
}

impl From<TechnicianId> for dispatch::model::TechnicianId {
    fn from(id: TechnicianId) -> dispatch::model::TechnicianId {
        dispatch::model::TechnicianId(id.bits())
    }
}

impl From<dispatch::model::TechnicianId> for TechnicianId {
    fn from(id: dispatch::model::TechnicianId) -> TechnicianId {
        TechnicianId::from_bits(id.0)
    }
}
