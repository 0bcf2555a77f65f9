//! Plain data shared by the dispatch modules: ids, positions, skills, parts and time windows.
//!
//! Ids are 128-bit so `api` can map its UUIDs losslessly (`Uuid::as_u128` / `Uuid::from_u128`); their order is
//! the UUIDs' byte order, so "ties break by technician id" means the same thing on both sides.

use std::fmt;

use chrono::{DateTime, Utc};

/// A technician's id (a UUID as `u128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TechnicianId(pub u128);

/// An organisation's id (a UUID as `u128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OrgId(pub u128);

/// A skill code such as `pos_terminal` (validated by `api` before it gets here).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillCode(pub String);

/// A part's stock-keeping unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(pub String);

/// A quantity of one part: needed by a job, on a technician's van or in an organisation's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartQty {
    /// Which part.
    pub sku: Sku,
    /// How many.
    pub qty: u32,
}

/// A position in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

/// A half-open UTC interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeWindow {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// First instant after the window.
    pub end: DateTime<Utc>,
}

impl LatLon {
    /// A position from latitude and longitude in degrees.
    pub fn new(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }
}

impl TimeWindow {
    /// True when the window contains no instant.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The common part of two windows, if any.
    pub fn intersection(&self, other: &TimeWindow) -> Option<TimeWindow> {
        let w = TimeWindow { start: self.start.max(other.start), end: self.end.min(other.end) };
        (!w.is_empty()).then_some(w)
    }
}

/// Formats a `u128` the way a hyphenated UUID is written, so ids read the same in logs on both sides.
fn fmt_uuid(v: u128, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let h = format!("{v:032x}");
    write!(f, "{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl fmt::Display for TechnicianId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_uuid(self.0, f)
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_uuid(self.0, f)
    }
}

impl fmt::Display for SkillCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SkillCode {
    fn from(s: &str) -> SkillCode {
        SkillCode(s.to_owned())
    }
}

impl From<&str> for Sku {
    fn from(s: &str) -> Sku {
        Sku(s.to_owned())
    }
}
