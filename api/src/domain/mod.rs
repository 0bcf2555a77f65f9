//! Domain vocabulary shared by storage and routes: states as enums (stored
//! as TEXT with CHECK constraints), validated values parsed once at the edge.

mod enums;
pub mod sla;
pub mod validate;

pub use enums::*;
