//! Use cases, one module per area: each takes the connection (the caller
//! owns the transaction), the caller and "now", and returns plain values
//! the HTTP layer renders.

pub mod quality;
pub mod scorecards;
pub mod surveys;
