//! Issue #11: the holes a security review found, each with a scenario that
//! failed before its fix, and the limits a production service needs.

mod cards;
mod demo;
mod input;
mod limits;
mod outage;
mod photos;
mod reassign;
mod retention;
mod tokens;
