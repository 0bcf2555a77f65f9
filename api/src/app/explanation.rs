//! Dispatch's explanation of a decision, stored as JSON with the job
//! (`dispatch`'s types carry no serde by design) and read back for
//! `GET /v1/jobs/{id}/explanation`.

use dispatch::decision::{ChoiceReason, Explanation, SubtreeReason};
use dispatch::eligibility::Exclusion;
use serde::Serialize;
use serde_json::{Value, json};

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::dispatch_cache::uuid_text;
use crate::storage::{offers, utc};

/// An exclusion reason: dispatch's stable code plus the id it names, if any.
pub(crate) fn exclusion_json(e: &Exclusion) -> Value {
    let mut v = json!({"code": e.code()});
    match e {
        Exclusion::OrgExcluded(org) => v["org_id"] = json!(uuid_text(org.0)),
        Exclusion::MissingSkill(s) => v["skill"] = json!(s.0),
        Exclusion::MissingParts(sku) => v["sku"] = json!(sku.0),
        _ => {}
    }
    v
}

/// A dispatch id, serialised as the stored text (a hyphenated UUID) without a `String` in between.
struct Id(u128);

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&uuid::Uuid::from_u128(self.0))
    }
}

/// The stored form of an explanation (read back as JSON: the field order does not matter).
#[derive(Serialize)]
struct Stored {
    subtree: StoredSubtree,
    looked_at: usize,
    excluded: usize,
    considered: Vec<StoredConsidered>,
    ranked: Vec<StoredRanked>,
    chosen: Option<Id>,
    reason: Value,
    /// The added travel dispatch compared, when it re-ranked by it (`dispatching::prefer_least_added_travel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    added_travel: Option<Value>,
}

#[derive(Serialize)]
struct StoredSubtree {
    root: Id,
    reason: &'static str,
}

#[derive(Serialize)]
struct StoredConsidered {
    technician_id: Id,
    org_id: Option<Id>,
    distance_m: f64,
    eligible: bool,
    exclusions: Vec<Value>,
}

#[derive(Serialize)]
struct StoredRanked {
    technician_id: Id,
    org_id: Id,
    distance_m: f64,
    quality: Option<f64>,
}

/// The explanation as stored (JSON text; dispatch's types carry no serde by design), serialised straight from
/// dispatch's (a decision stores one per booking). `added_travel`: what re-ranking by added travel compared,
/// which then gave the reason `least_added_travel`.
pub(crate) fn explanation_text(e: &Explanation, added_travel: Option<Value>) -> Result<String, ApiError> {
    let subtree_reason = match e.subtree.reason {
        SubtreeReason::ContractedPartner => "contracted_partner",
        SubtreeReason::ExclusiveTerritory => "exclusive_territory",
        SubtreeReason::WholeNetwork => "whole_network",
        SubtreeReason::Given => "escalation",
    };
    let reason = match e.reason {
        _ if added_travel.is_some() => json!({"code": "least_added_travel"}),
        ChoiceReason::Nearest => json!({"code": "nearest"}),
        ChoiceReason::TieBrokenById { tied_with } => {
            json!({"code": "tie_broken_by_id", "tied_with": uuid_text(tied_with.0)})
        }
        ChoiceReason::NearEqualBetterQuality { nearest, extra_m } => {
            json!({"code": "near_equal_better_quality", "nearest": uuid_text(nearest.0), "extra_m": extra_m.round()})
        }
        ChoiceReason::NobodyEligible => json!({"code": "nobody_eligible"}),
    };
    let stored = Stored {
        subtree: StoredSubtree { root: Id(e.subtree.root.0), reason: subtree_reason },
        looked_at: e.looked_at,
        excluded: e.excluded,
        considered: e
            .considered
            .iter()
            .map(|c| StoredConsidered {
                technician_id: Id(c.technician_id.0),
                org_id: c.org_id.map(|o| Id(o.0)),
                distance_m: c.distance_m.round(),
                eligible: c.exclusions.is_empty(),
                exclusions: c.exclusions.iter().map(exclusion_json).collect(),
            })
            .collect(),
        ranked: e
            .ranked
            .iter()
            .map(|c| StoredRanked {
                technician_id: Id(c.technician_id.0),
                org_id: Id(c.org_id.0),
                distance_m: c.distance_m.round(),
                quality: c.quality,
            })
            .collect(),
        chosen: e.chosen.map(|t| Id(t.0)),
        reason,
        added_travel,
    };
    Ok(serde_json::to_string(&stored)?)
}

/// The stored explanations of a job, oldest first.
pub fn explanations(conn: &mut DbConnection, job_id: &str) -> Result<Vec<Value>, ApiError> {
    offers::explanations(conn, job_id)?
        .into_iter()
        .map(|(at, data)| {
            let mut v: Value = serde_json::from_str(&data)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("at".into(), json!(utc(at)));
            }
            Ok(v)
        })
        .collect()
}
