//! Use cases, one module per area. Each is a plain function taking a
//! connection (inside the caller's transaction) and "now"; none knows HTTP.

pub mod accounts;
pub mod audit;
pub mod booking;
pub mod capacity;
pub mod consent;
pub mod customers;
pub mod dispatching;
pub mod explanation;
pub mod network;
pub mod notify;
pub mod offers;
pub mod planning;
pub mod privacy;
pub mod quality;
pub mod retention;
pub mod review;
pub mod scorecards;
pub mod sessions;
pub mod surveys;
pub mod sweep;
pub mod sync;
pub mod vendor_queue;
pub mod web_sessions;
