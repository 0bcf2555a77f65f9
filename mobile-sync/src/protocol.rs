//! Request and response bodies; their serde form is the wire format.
//!
//! Requests reject unknown fields (a typo is a 400, not silently ignored),
//! but every field added after the first app release is optional with a
//! default, so an older app that omits it keeps working. Responses may gain
//! fields; phones must ignore the ones they do not know.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lifecycle::{IncompleteReason, Status};

/// The most mutations one push may carry; more answers 413.
pub const MAX_BATCH: usize = 500;
/// The default and largest number of change-log rows one pull reads.
pub const DEFAULT_PULL_LIMIT: u32 = 200;
/// See [`DEFAULT_PULL_LIMIT`].
pub const MAX_PULL_LIMIT: u32 = 1000;

/// What kind of phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

impl Platform {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }
}

/// `POST /v1/devices`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub platform: Platform,
    #[serde(default)]
    pub push_token: Option<String>,
    pub app_version: String,
}

/// Answer to [`RegisterDevice`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRegistered {
    pub device_id: String,
}

/// `POST /v1/sync/pull`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    pub device_id: String,
    /// `null` (or absent): everything from scratch.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Change-log rows to read at most (default [`DEFAULT_PULL_LIMIT`], at most [`MAX_PULL_LIMIT`]).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// An assigned job with its client-card subset, checklist and work report ([`JobView`]).
    Job,
    /// The technician's own record: position, parts on hand, shift ([`TechnicianView`]).
    Technician,
    /// The technician's route: visits in order ([`RouteView`]).
    Route,
}

/// Upsert or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Upsert,
    Delete,
}

/// One entity's latest state (or its deletion) in a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub entity: Entity,
    pub id: String,
    pub op: Op,
    /// The entity's view on `upsert`; absent on `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Answer to [`PullRequest`]. Within one answer each entity appears once, at its latest state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Where the next pull continues.
    pub cursor: String,
    /// More changes are waiting: pull again right away.
    pub has_more: bool,
    /// The cursor cannot be served: drop the local copy of server data (keep
    /// unsent mutations!) and pull again with `cursor: null`.
    pub reset_required: bool,
}

/// One queued mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Per-device sequence, from 1, without holes.
    pub seq: u64,
    /// Client-generated id; the same mutation keeps it across retries.
    pub id: uuid::Uuid,
    pub name: String,
    #[serde(default)]
    pub args: Value,
}

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub device_id: String,
    pub mutations: Vec<Envelope>,
    /// The phone's clock when it sent this push; phone timestamps are
    /// corrected by the offset to the server's clock. Older apps omit it.
    #[serde(default)]
    pub sent_at: Option<DateTime<FixedOffset>>,
}

/// What happened to one mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Applied,
    Duplicate,
    Rejected,
}

/// One entry of [`PushResponse::results`], in the order the mutations were sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutationResult {
    pub seq: u64,
    pub id: uuid::Uuid,
    pub status: ResultStatus,
    /// A stable snake_case code when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail of `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The current state of what the mutation touched, when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
}

/// Answer to [`PushRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
    /// The measured offset (server minus phone), when the phone sent its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<i64>,
}

/// A latitude/longitude pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// A time window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The client-card subset a technician needs on site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactView {
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub preferred_address_form: Option<String>,
}

/// A part the job needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartQty {
    pub sku: String,
    pub qty: u32,
}

/// One checklist item: its template label and the current answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub item: String,
    pub label: String,
    pub value: Option<Value>,
}

/// A note in the work report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteView {
    pub note_id: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// A part used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartUseView {
    pub part_use_id: String,
    pub sku: String,
    pub qty: u32,
    pub serial: Option<String>,
}

/// A photo's metadata; `uploaded` once its bytes arrived at `PUT /v1/photos/{sha256}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoView {
    pub photo_id: String,
    pub sha256: String,
    pub taken_at: DateTime<Utc>,
    pub uploaded: bool,
}

/// The customer's signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureView {
    pub signer_name: String,
    pub image_sha256: String,
}

/// One visit on site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitView {
    pub visit: u32,
    pub arrived_at: DateTime<Utc>,
    pub departed_at: Option<DateTime<Utc>>,
    /// `completed` or `incomplete` once the visit ended.
    pub outcome: Option<Status>,
    pub reason: Option<IncompleteReason>,
}

/// What the technician did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkReport {
    /// Completion locked it: no mutation changes it any more.
    pub locked: bool,
    pub notes: Vec<NoteView>,
    pub parts: Vec<PartUseView>,
    pub photos: Vec<PhotoView>,
    pub signature: Option<SignatureView>,
    pub visits: Vec<VisitView>,
    /// Sum over the visits that ended, from corrected phone times.
    pub time_on_site_secs: i64,
}

/// An assigned job as the phone sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub status: Status,
    pub priority: String,
    pub window: Window,
    pub location: LatLon,
    pub address: String,
    pub problem: String,
    pub required_skills: Vec<String>,
    pub parts: Vec<PartQty>,
    pub contact: ContactView,
    pub checklist: Vec<ChecklistItem>,
    pub report: WorkReport,
    /// Set when the vendor's review returned the work for rework: what to do
    /// again. Optional (added later): older apps ignore it, older servers omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rework: Option<Rework>,
}

/// The reviewer's reason for sending a job back for rework.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rework {
    /// What the reviewer asks to be done again.
    pub reason: String,
    /// The visit whose work was returned (the next arrival opens the one after it).
    pub visit: u32,
    pub returned_at: DateTime<Utc>,
}

/// The technician's own record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TechnicianView {
    pub id: String,
    pub name: String,
    pub position: Option<LatLon>,
    pub parts: Vec<PartQty>,
    pub timezone: String,
}

/// One stop of the route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteStop {
    pub job_id: String,
    pub window: Window,
    /// When the day planner expects the technician to arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_arrival: Option<DateTime<Utc>>,
    /// When the planner expects service to start (after waiting for the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_start: Option<DateTime<Utc>>,
}

/// The technician's open visits in the order to do them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteView {
    pub stops: Vec<RouteStop>,
}
