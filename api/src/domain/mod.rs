//! The domain: value types and their validation, and the job lifecycle.
//! No HTTP, no queries: routes and storage convert to and from these.
//!
//! - [`enums`](self): states stored as TEXT with CHECK constraints (`JobStatus`, `Role`, `ChangeEntity`, …).
//! - [`lifecycle`]: the one table of legal job transitions and who may make each.
//! - [`shift`]: shifts, absences and time-zone resolution (a bad stored zone is an error).
//! - [`position`], [`parts`], [`agreement`]: positions, parts lists, minutes per priority.
//! - [`ids`]: typed ids; [`caller`]: who asks and what they may see; [`validate`]: value checks.

pub mod agreement;
pub mod caller;
mod enums;
mod error;
pub mod ids;
pub mod lifecycle;
pub mod notification;
pub mod parts;
pub mod position;
pub mod shift;
pub mod sla;
pub mod validate;

pub use agreement::PerPriority;
pub use caller::{Caller, JobScope};
pub use enums::*;
pub use error::{Invalid, Invalids};
pub use ids::{CustomerId, JobId, OrgId, TechnicianId, UserId};
pub use parts::PartQty;
pub use position::Position;
pub use shift::{Absence, LocalShift, Shift};
