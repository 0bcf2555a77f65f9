//! The JSON text columns' stored forms and their conversions to the domain's
//! value types. These are storage's own row types: the wire types in
//! `routes` may change without touching what the database holds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{self, Absence, PartQty, PerPriority, Shift};

/// A stored column that does not read as its domain type.
#[derive(Debug, thiserror::Error)]
pub enum BadColumn {
    #[error("stored JSON did not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored value is invalid: {0}")]
    Invalid(#[from] domain::Invalid),
}

#[derive(Serialize, Deserialize)]
struct StoredShift {
    start: String,
    end: String,
    #[serde(default = "domain::shift::every_day")]
    days: Vec<u8>,
}

/// `technicians.shift`.
pub fn shift(text: &str) -> Result<Shift, BadColumn> {
    let s: StoredShift = serde_json::from_str(text)?;
    Ok(Shift::parse(&s.start, &s.end, s.days)?)
}

/// `technicians.shift` from a shift.
pub fn shift_text(s: &Shift) -> Result<String, serde_json::Error> {
    serde_json::to_string(&StoredShift {
        start: domain::shift::hh_mm(s.start),
        end: domain::shift::hh_mm(s.end),
        days: s.days.clone(),
    })
}

#[derive(Serialize, Deserialize)]
struct StoredAbsence {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(default)]
    reason: Option<String>,
}

/// `technicians.absences`.
pub fn absences(text: &str) -> Result<Vec<Absence>, BadColumn> {
    let list: Vec<StoredAbsence> = serde_json::from_str(text)?;
    Ok(list.into_iter().map(|a| Absence { from: a.from, to: a.to, reason: a.reason }).collect())
}

/// `technicians.absences` from a list.
pub fn absences_text(list: &[Absence]) -> Result<String, serde_json::Error> {
    let stored: Vec<StoredAbsence> =
        list.iter().map(|a| StoredAbsence { from: a.from, to: a.to, reason: a.reason.clone() }).collect();
    serde_json::to_string(&stored)
}

#[derive(Serialize, Deserialize)]
struct StoredPart {
    sku: String,
    qty: u32,
}

/// A parts column (`jobs.parts`, `technicians.parts`, `organisations.parts`).
pub fn parts(text: &str) -> Result<Vec<PartQty>, BadColumn> {
    let list: Vec<StoredPart> = serde_json::from_str(text)?;
    Ok(list.into_iter().map(|p| PartQty { sku: p.sku, qty: p.qty }).collect())
}

/// A parts column from a list.
pub fn parts_text(list: &[PartQty]) -> Result<String, serde_json::Error> {
    let stored: Vec<StoredPart> = list.iter().map(|p| StoredPart { sku: p.sku.clone(), qty: p.qty }).collect();
    serde_json::to_string(&stored)
}

#[derive(Serialize, Deserialize)]
struct StoredPerPriority {
    low: u32,
    normal: u32,
    high: u32,
    urgent: u32,
}

/// `service_agreements.accept_within_min` / `arrive_within_min`.
pub fn per_priority(text: &str) -> Result<PerPriority, BadColumn> {
    let p: StoredPerPriority = serde_json::from_str(text)?;
    Ok(PerPriority { low: p.low, normal: p.normal, high: p.high, urgent: p.urgent })
}

/// A per-priority column from minutes.
pub fn per_priority_text(p: &PerPriority) -> Result<String, serde_json::Error> {
    serde_json::to_string(&StoredPerPriority { low: p.low, normal: p.normal, high: p.high, urgent: p.urgent })
}

/// A list of codes (`skills`, `required_skills`).
pub fn codes(text: &str) -> Result<Vec<String>, BadColumn> {
    Ok(serde_json::from_str(text)?)
}

/// A codes column from a list.
pub fn codes_text(list: &[String]) -> Result<String, serde_json::Error> {
    serde_json::to_string(list)
}

impl From<BadColumn> for crate::app_error::ApiError {
    fn from(e: BadColumn) -> crate::app_error::ApiError {
        crate::app_error::ApiError::Unexpected(anyhow::Error::new(e))
    }
}
