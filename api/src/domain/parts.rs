//! Parts: what a job needs, what an organisation or a technician holds.

use crate::domain::{Invalid, validate};

/// A part (SKU) and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartQty {
    pub sku: String,
    pub qty: u32,
}

/// Validates a parts list (codes, quantities, no duplicates).
pub fn validate_parts(field: &str, parts: &[PartQty]) -> Result<(), Invalid> {
    if parts.len() > validate::MAX_LIST_ITEMS {
        return Err(Invalid::new(field, "too many parts"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, p) in parts.iter().enumerate() {
        validate::code(&format!("{field}[{i}].sku"), &p.sku)?;
        if p.qty == 0 || p.qty > 100_000 {
            return Err(Invalid::new(format!("{field}[{i}].qty"), "must be between 1 and 100000"));
        }
        if !seen.insert(&p.sku) {
            return Err(Invalid::new(format!("{field}[{i}].sku"), "is listed twice"));
        }
    }
    Ok(())
}

impl From<&PartQty> for dispatch::model::PartQty {
    fn from(p: &PartQty) -> dispatch::model::PartQty {
        dispatch::model::PartQty { sku: dispatch::model::Sku(p.sku.clone()), qty: p.qty }
    }
}
