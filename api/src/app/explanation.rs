//! Dispatch's explanation of a decision, stored as JSON with the job
//! (`dispatch`'s types carry no serde by design) and read back for
//! `GET /v1/jobs/{id}/explanation`.

use dispatch::decision::{ChoiceReason, Explanation, SubtreeReason};
use dispatch::eligibility::Exclusion;
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

/// The explanation as JSON (dispatch's types carry no serde by design).
pub(crate) fn explanation_json(e: &Explanation) -> Value {
    let subtree_reason = match e.subtree.reason {
        SubtreeReason::ContractedPartner => "contracted_partner",
        SubtreeReason::ExclusiveTerritory => "exclusive_territory",
        SubtreeReason::WholeNetwork => "whole_network",
        SubtreeReason::Given => "escalation",
    };
    let reason = match e.reason {
        ChoiceReason::Nearest => json!({"code": "nearest"}),
        ChoiceReason::TieBrokenById { tied_with } => {
            json!({"code": "tie_broken_by_id", "tied_with": uuid_text(tied_with.0)})
        }
        ChoiceReason::NearEqualBetterQuality { nearest, extra_m } => {
            json!({"code": "near_equal_better_quality", "nearest": uuid_text(nearest.0), "extra_m": extra_m.round()})
        }
        ChoiceReason::NobodyEligible => json!({"code": "nobody_eligible"}),
    };
    json!({
        "subtree": {"root": uuid_text(e.subtree.root.0), "reason": subtree_reason},
        "looked_at": e.looked_at,
        "excluded": e.excluded,
        "considered": e.considered.iter().map(|c| json!({
            "technician_id": uuid_text(c.technician_id.0),
            "org_id": c.org_id.map(|o| uuid_text(o.0)),
            "distance_m": c.distance_m.round(),
            "eligible": c.exclusions.is_empty(),
            "exclusions": c.exclusions.iter().map(exclusion_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ranked": e.ranked.iter().map(|c| json!({
            "technician_id": uuid_text(c.technician_id.0),
            "org_id": uuid_text(c.org_id.0),
            "distance_m": c.distance_m.round(),
            "quality": c.quality,
        })).collect::<Vec<_>>(),
        "chosen": e.chosen.map(|t| uuid_text(t.0)),
        "reason": reason,
    })
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
