//! Schemas of answers that handlers build as JSON on the spot (no serde
//! type to derive from): health, readiness, and dispatch's explanation.

#![allow(dead_code)] // Doc-only mirrors: never constructed.

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /readyz`.
#[derive(ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: String,
}

/// `GET /v1/jobs/{id}/explanation`: every dispatch decision about the job, latest last.
#[derive(ToSchema)]
pub struct Explanation {
    pub job_id: String,
    pub decisions: Vec<Decision>,
}

/// Which subtree dispatch searched, and why.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubtreeReason {
    ContractedPartner,
    ExclusiveTerritory,
    WholeNetwork,
    /// Widened to the parent's subtree after nobody was eligible below.
    Escalation,
}

/// The searched subtree.
#[derive(ToSchema)]
pub struct Subtree {
    /// The subtree's root organisation.
    pub root: String,
    pub reason: SubtreeReason,
}

/// One dispatch decision.
#[derive(ToSchema)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub subtree: Subtree,
    /// Technicians looked at, nearest first.
    pub looked_at: u64,
    /// How many of those were excluded.
    pub excluded: u64,
    pub considered: Vec<Considered>,
    /// The eligible ones in ranking order.
    pub ranked: Vec<Ranked>,
    /// The chosen technician, `null` when nobody was eligible.
    #[schema(required = true)]
    pub chosen: Option<String>,
    pub reason: ChoiceReason,
    /// When the day planner compared the added travel of the near-equal candidates.
    #[schema(nullable = false)]
    pub added_travel: Option<Vec<AddedTravel>>,
}

/// A technician dispatch looked at.
#[derive(ToSchema)]
pub struct Considered {
    pub technician_id: String,
    #[schema(required = true)]
    pub org_id: Option<String>,
    /// Great-circle distance, metres.
    pub distance_m: f64,
    pub eligible: bool,
    /// Why not eligible; empty when eligible.
    pub exclusions: Vec<Exclusion>,
}

/// Why a technician was excluded.
#[derive(ToSchema)]
pub struct Exclusion {
    /// `unknown`, `inactive`, `outside_subtree`, `org_excluded`, `org_does_not_cover`, `missing_skill`,
    /// `off_shift`, `absent`, `at_capacity`, `missing_parts`.
    #[schema(example = "missing_skill")]
    pub code: String,
    /// With `org_excluded`.
    #[schema(nullable = false)]
    pub org_id: Option<String>,
    /// With `missing_skill`.
    #[schema(nullable = false)]
    pub skill: Option<String>,
    /// With `missing_parts`.
    #[schema(nullable = false)]
    pub sku: Option<String>,
}

/// An eligible technician in ranking order.
#[derive(ToSchema)]
pub struct Ranked {
    pub technician_id: String,
    pub org_id: String,
    pub distance_m: f64,
    /// Quality score 0–1 from the technician's scorecard, when there is one.
    #[schema(required = true)]
    pub quality: Option<f64>,
}

/// Why the chosen one.
#[derive(ToSchema)]
pub struct ChoiceReason {
    /// `nearest`, `tie_broken_by_id`, `near_equal_better_quality`, `least_added_travel`, `nobody_eligible`.
    #[schema(example = "nearest")]
    pub code: String,
    /// With `tie_broken_by_id`: the technician tied with.
    #[schema(nullable = false)]
    pub tied_with: Option<String>,
    /// With `near_equal_better_quality`: the nearest technician, passed over.
    #[schema(nullable = false)]
    pub nearest: Option<String>,
    /// With `near_equal_better_quality`: the extra distance accepted, metres.
    #[schema(nullable = false)]
    pub extra_m: Option<f64>,
}

/// A candidate's added travel if the visit joined its day.
#[derive(ToSchema)]
pub struct AddedTravel {
    pub technician_id: String,
    pub added_m: f64,
}
