//! The mutation catalogue (DESIGN.md, sync mutation names) and argument validation.
//!
//! `args` always carry the ids they touch; appended items (notes, part uses,
//! photos) are keyed by client-generated ids so a retry never duplicates them.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::lifecycle::{IncompleteReason, TargetStatus};

/// Longest note text, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;
/// Longest short text (checklist item, sku, serial, signer name), in characters.
pub const MAX_SHORT_CHARS: usize = 200;
/// Most units of one part use.
pub const MAX_QTY: u32 = 1000;

/// Every mutation name, as pushed.
pub const NAMES: &[&str] = &[
    "job.set_status",
    "job.add_note",
    "job.set_checklist",
    "job.add_part",
    "job.attach_photo",
    "job.sign",
    "position.ping",
];

/// A validated mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    SetStatus(SetStatus),
    AddNote(AddNote),
    SetChecklist(SetChecklist),
    AddPart(AddPart),
    AttachPhoto(AttachPhoto),
    Sign(Sign),
    PositionPing(PositionPing),
}

/// `job.set_status {job_id, status, reason?, at?}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    pub job_id: Uuid,
    pub status: TargetStatus,
    /// Required for `incomplete`, refused otherwise.
    #[serde(default)]
    pub reason: Option<IncompleteReason>,
    /// When it happened on the phone's clock (time on site); absent: when pushed.
    #[serde(default)]
    pub at: Option<DateTime<FixedOffset>>,
}

/// `job.add_note {job_id, note_id, text}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    pub job_id: Uuid,
    pub note_id: Uuid,
    pub text: String,
}

/// `job.set_checklist {job_id, item, value}`: `value` is a boolean, number or string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetChecklist {
    pub job_id: Uuid,
    pub item: String,
    pub value: Value,
}

/// `job.add_part {job_id, part_use_id, sku, qty, serial?}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPart {
    pub job_id: Uuid,
    pub part_use_id: Uuid,
    pub sku: String,
    pub qty: u32,
    #[serde(default)]
    pub serial: Option<String>,
}

/// `job.attach_photo {job_id, photo_id, sha256, taken_at}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachPhoto {
    pub job_id: Uuid,
    pub photo_id: Uuid,
    pub sha256: String,
    pub taken_at: DateTime<FixedOffset>,
}

/// `job.sign {job_id, signer_name, image_sha256}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sign {
    pub job_id: Uuid,
    pub signer_name: String,
    pub image_sha256: String,
}

/// `position.ping {lat, lon, accuracy_m, at}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionPing {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    pub at: DateTime<FixedOffset>,
}

/// Why a mutation cannot even be read; the push answers it `rejected` with [`MutationError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    #[error("unknown mutation `{0}`")]
    UnknownName(String),
    #[error("malformed args: {0}")]
    MalformedArgs(String),
    #[error("invalid `{field}`: {message}")]
    Invalid { field: &'static str, message: String },
}

impl MutationError {
    /// The stable `reason` code.
    pub fn code(&self) -> &'static str {
        match self {
            MutationError::UnknownName(_) => "unknown_mutation",
            MutationError::MalformedArgs(_) => "malformed_args",
            MutationError::Invalid { .. } => "invalid_args",
        }
    }
}

fn args<T: DeserializeOwned>(value: &Value) -> Result<T, MutationError> {
    if !value.is_object() {
        return Err(MutationError::MalformedArgs("args must be an object".into()));
    }
    T::deserialize(value).map_err(|e| MutationError::MalformedArgs(e.to_string()))
}

fn invalid(field: &'static str, message: impl Into<String>) -> MutationError {
    MutationError::Invalid { field, message: message.into() }
}

fn text(field: &'static str, value: &str, max_chars: usize) -> Result<(), MutationError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(invalid(field, format!("at most {max_chars} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(field, "control characters are not allowed"));
    }
    // Bidirectional embeddings, overrides and isolates reorder how a note is displayed.
    if value.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')) {
        return Err(invalid(field, "bidirectional override or isolate characters are not allowed"));
    }
    Ok(())
}

/// Whether `s` is a SHA-256 in lower-case hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Mutation {
    /// Reads and validates a mutation by name.
    pub fn parse(name: &str, value: &Value) -> Result<Mutation, MutationError> {
        let m = match name {
            "job.set_status" => Mutation::SetStatus(args(value)?),
            "job.add_note" => Mutation::AddNote(args(value)?),
            "job.set_checklist" => Mutation::SetChecklist(args(value)?),
            "job.add_part" => Mutation::AddPart(args(value)?),
            "job.attach_photo" => Mutation::AttachPhoto(args(value)?),
            "job.sign" => Mutation::Sign(args(value)?),
            "position.ping" => Mutation::PositionPing(args(value)?),
            other => return Err(MutationError::UnknownName(other.chars().take(100).collect())),
        };
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), MutationError> {
        match self {
            Mutation::SetStatus(s) => match (s.status, s.reason) {
                (TargetStatus::Incomplete, None) => Err(invalid(
                    "reason",
                    "required for `incomplete`: customer_absent, part_missing or second_visit_needed",
                )),
                (TargetStatus::Incomplete, Some(_)) | (_, None) => Ok(()),
                (_, Some(_)) => Err(invalid("reason", "only `incomplete` takes a reason")),
            },
            Mutation::AddNote(n) => text("text", &n.text, MAX_NOTE_CHARS),
            Mutation::SetChecklist(c) => {
                text("item", &c.item, MAX_SHORT_CHARS)?;
                match &c.value {
                    Value::Bool(_) | Value::Number(_) => Ok(()),
                    Value::String(s) if s.chars().count() <= MAX_NOTE_CHARS => Ok(()),
                    _ => Err(invalid("value", "a boolean, a number or a string")),
                }
            }
            Mutation::AddPart(p) => {
                // The same part codes as the network's stock (`a-z 0-9 _ - .`, at most 64).
                let sku_ok = !p.sku.is_empty()
                    && p.sku.len() <= 64
                    && p.sku.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
                if !sku_ok {
                    return Err(invalid("sku", "1-64 characters of a-z, 0-9, '_', '-', '.'"));
                }
                if p.qty == 0 || p.qty > MAX_QTY {
                    return Err(invalid("qty", format!("between 1 and {MAX_QTY}")));
                }
                if let Some(serial) = &p.serial {
                    text("serial", serial, MAX_SHORT_CHARS)?;
                }
                Ok(())
            }
            Mutation::AttachPhoto(p) => {
                if is_sha256_hex(&p.sha256) {
                    Ok(())
                } else {
                    Err(invalid("sha256", "64 lower-case hex digits"))
                }
            }
            Mutation::Sign(s) => {
                text("signer_name", &s.signer_name, MAX_SHORT_CHARS)?;
                if is_sha256_hex(&s.image_sha256) {
                    Ok(())
                } else {
                    Err(invalid("image_sha256", "64 lower-case hex digits"))
                }
            }
            Mutation::PositionPing(p) => {
                if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
                    return Err(invalid("lat", "between -90 and 90"));
                }
                if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
                    return Err(invalid("lon", "between -180 and 180"));
                }
                if !(p.accuracy_m.is_finite() && (0.0..=100_000.0).contains(&p.accuracy_m)) {
                    return Err(invalid("accuracy_m", "between 0 and 100000"));
                }
                Ok(())
            }
        }
    }

    /// The job a mutation touches (all but `position.ping`).
    pub fn job_id(&self) -> Option<Uuid> {
        match self {
            Mutation::SetStatus(m) => Some(m.job_id),
            Mutation::AddNote(m) => Some(m.job_id),
            Mutation::SetChecklist(m) => Some(m.job_id),
            Mutation::AddPart(m) => Some(m.job_id),
            Mutation::AttachPhoto(m) => Some(m.job_id),
            Mutation::Sign(m) => Some(m.job_id),
            Mutation::PositionPing(_) => None,
        }
    }
}
