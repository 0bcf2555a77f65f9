//! Schemas of the phone-sync wire format (`/v1/devices`, `/v1/sync/pull`,
//! `/v1/sync/push`, `/v1/photos/{sha256}`).
//!
//! The wire types live in `mobile-sync`, which may not depend on utoipa
//! (STYLE.md), so this module describes them with doc-only mirrors: same field
//! names, optionality and enums as the serde types accept or write them
//! (`deny_unknown_fields` → `additionalProperties: false`; an `Option` field
//! that is always written is required and nullable; one skipped when `None`
//! is optional and not nullable). Nothing here is (de)serialised at run time;
//! the e2e test `openapi` validates real answers against these schemas, so a
//! drift in `mobile-sync` fails it.
//!
//! Two places are unions:
//! - a push's mutation is a `oneOf` with one branch per mutation `name` (an
//!   `enum` of one value), each branch fixing its `args` schema. The branches
//!   are mutually exclusive by `name`, so plain JSON Schema validation (which
//!   ignores OpenAPI's `discriminator`) picks exactly one; the `discriminator`
//!   is there for code generators.
//! - a pull's change is a `oneOf` by `(entity, op)`: an upsert of each entity
//!   carries its view in `data`, a delete carries no `data`.

#![allow(dead_code, clippy::large_enum_variant)] // Doc-only mirrors: never constructed.

use chrono::{DateTime, FixedOffset, Utc};
use utoipa::ToSchema;
use uuid::Uuid;

/// A one-value string enum (a `const` that every OpenAPI tool understands).
macro_rules! tag {
    ($(#[$meta:meta])* $name:ident = $text:tt) => {
        $(#[$meta])*
        #[derive(ToSchema)]
        pub enum $name {
            #[serde(rename = $text)]
            Tag,
        }
    };
}

// ---- devices -------------------------------------------------------------

/// What kind of phone.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

/// `POST /v1/devices`: registers a phone (or the web app) for the caller.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub platform: Platform,
    /// The FCM registration token, when the app has one (1–4096 characters).
    #[schema(min_length = 1, max_length = 4096)]
    pub push_token: Option<String>,
    /// The app's version, 1–50 characters (not blank).
    #[schema(min_length = 1, max_length = 50, example = "1.4.2")]
    pub app_version: String,
}

/// Answer to `POST /v1/devices`.
#[derive(ToSchema)]
pub struct DeviceRegistered {
    /// Sent with every pull and push of this device.
    pub device_id: String,
}

// ---- pull ------------------------------------------------------------------

/// `POST /v1/sync/pull`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    pub device_id: String,
    /// The `cursor` of the previous answer, as received (opaque). `null` or
    /// absent: everything from scratch (the phone replaces its copy).
    pub cursor: Option<String>,
    /// Change-log rows to read at most: default 200, clamped to 1–1000.
    pub limit: Option<u32>,
}

/// Answer to `POST /v1/sync/pull`. Within one answer each entity appears once, at its latest state.
#[derive(ToSchema)]
pub struct PullResponse {
    /// In server order of each entity's latest change; a `route` upsert comes last when any job changed.
    pub changes: Vec<Change>,
    /// Where the next pull continues (opaque; store it as is).
    pub cursor: String,
    /// More changes are waiting: pull again right away.
    pub has_more: bool,
    /// The cursor cannot be served: drop the local copy of server data (keep
    /// unsent mutations!) and pull again with `cursor: null`.
    pub reset_required: bool,
}

/// One entity's latest state, or its deletion.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Change {
    JobUpsert(JobUpsert),
    TechnicianUpsert(TechnicianUpsert),
    RouteUpsert(RouteUpsert),
    Delete(Delete),
}

tag!(EntityJob = "job");
tag!(EntityTechnician = "technician");
tag!(EntityRoute = "route");
tag!(OpUpsert = "upsert");
tag!(OpDelete = "delete");

/// What a change is about.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Job,
    Technician,
    Route,
}

/// An assigned job (new or changed) with its client-card subset, checklist and work report.
#[derive(ToSchema)]
pub struct JobUpsert {
    #[schema(inline)]
    pub entity: EntityJob,
    /// The job's id.
    pub id: String,
    #[schema(inline)]
    pub op: OpUpsert,
    pub data: SyncJobView,
}

/// The technician's own record.
#[derive(ToSchema)]
pub struct TechnicianUpsert {
    #[schema(inline)]
    pub entity: EntityTechnician,
    /// The technician's id.
    pub id: String,
    #[schema(inline)]
    pub op: OpUpsert,
    pub data: SyncTechnicianView,
}

/// The technician's route (one entity, id `current`).
#[derive(ToSchema)]
pub struct RouteUpsert {
    #[schema(inline)]
    pub entity: EntityRoute,
    #[schema(example = "current")]
    pub id: String,
    #[schema(inline)]
    pub op: OpUpsert,
    pub data: SyncRouteView,
}

/// The entity left the phone: a job reassigned, cancelled or closed (approved, returned …), or the technician removed.
#[derive(ToSchema)]
pub struct Delete {
    pub entity: Entity,
    pub id: String,
    #[schema(inline)]
    pub op: OpDelete,
}

/// Every job status (the same words as the rest of the API).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncJobStatus {
    New,
    Offered,
    Accepted,
    Scheduled,
    EnRoute,
    OnSite,
    Completed,
    InReview,
    Approved,
    Returned,
    Incomplete,
    Unassignable,
    Cancelled,
}

/// Why a visit could not finish.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    CustomerAbsent,
    PartMissing,
    SecondVisitNeeded,
}

/// A latitude/longitude pair (WGS 84 degrees).
#[derive(ToSchema)]
pub struct SyncLatLon {
    pub lat: f64,
    pub lon: f64,
}

/// A time window.
#[derive(ToSchema)]
pub struct SyncWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A part and a quantity.
#[derive(ToSchema)]
pub struct SyncPartQty {
    pub sku: String,
    pub qty: u32,
}

/// The client-card subset a technician needs on site.
#[derive(ToSchema)]
pub struct SyncContact {
    pub name: String,
    pub phone: String,
    /// How the customer likes to be addressed, if the card says.
    #[schema(required = true)]
    pub preferred_address_form: Option<String>,
}

/// A checklist answer: a boolean, a number or a string (at most 4000 characters).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ChecklistValue {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// One checklist item of the job kind's template, with the current answer.
#[derive(ToSchema)]
pub struct SyncChecklistItem {
    /// The item's code (what `job.set_checklist` names).
    pub item: String,
    pub label: String,
    /// `null` until answered.
    #[schema(required = true)]
    pub value: Option<ChecklistValue>,
}

/// A note of the work report.
#[derive(ToSchema)]
pub struct SyncNote {
    pub note_id: String,
    pub text: String,
    /// When the server received it.
    pub at: DateTime<Utc>,
}

/// A part used.
#[derive(ToSchema)]
pub struct SyncPartUse {
    pub part_use_id: String,
    pub sku: String,
    pub qty: u32,
    #[schema(required = true)]
    pub serial: Option<String>,
}

/// A photo's metadata; `uploaded` once its bytes arrived at `PUT /v1/photos/{sha256}`.
#[derive(ToSchema)]
pub struct SyncPhoto {
    pub photo_id: String,
    pub sha256: String,
    /// Corrected to server time.
    pub taken_at: DateTime<Utc>,
    pub uploaded: bool,
}

/// The customer's signature.
#[derive(ToSchema)]
pub struct SyncSignature {
    pub signer_name: String,
    pub image_sha256: String,
}

/// One visit on site (from `on_site` to `completed` or `incomplete`).
#[derive(ToSchema)]
pub struct SyncVisit {
    /// 1 for the first visit, 2 for a second one …
    pub visit: u32,
    pub arrived_at: DateTime<Utc>,
    #[schema(required = true)]
    pub departed_at: Option<DateTime<Utc>>,
    /// `completed` or `incomplete` once the visit ended, else `null`.
    #[schema(required = true)]
    pub outcome: Option<SyncJobStatus>,
    /// Set when the outcome is `incomplete`.
    #[schema(required = true)]
    pub reason: Option<IncompleteReason>,
}

/// What the technician did.
#[derive(ToSchema)]
pub struct SyncWorkReport {
    /// Completion (or a closed job) locked it: report mutations are rejected `report_locked` / `job_not_active`.
    pub locked: bool,
    pub notes: Vec<SyncNote>,
    pub parts: Vec<SyncPartUse>,
    pub photos: Vec<SyncPhoto>,
    #[schema(required = true)]
    pub signature: Option<SyncSignature>,
    pub visits: Vec<SyncVisit>,
    /// Sum over the visits that ended, from corrected phone times.
    pub time_on_site_secs: i64,
}

/// Kinds of job.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncJobKind {
    HomeVisit,
    PartsReplacement,
}

/// Priorities.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncPriority {
    Low,
    Normal,
    High,
    Urgent,
}

/// An assigned job as the phone sees it (`data` of a `job` upsert).
#[derive(ToSchema)]
pub struct SyncJobView {
    pub id: String,
    pub kind: SyncJobKind,
    /// One of `scheduled, en_route, on_site, completed, in_review, incomplete` while on the phone.
    pub status: SyncJobStatus,
    pub priority: SyncPriority,
    pub window: SyncWindow,
    pub location: SyncLatLon,
    pub address: String,
    pub problem: String,
    pub required_skills: Vec<String>,
    /// Parts the job needs.
    pub parts: Vec<SyncPartQty>,
    pub contact: SyncContact,
    /// The job kind's checklist template with the answers so far.
    pub checklist: Vec<SyncChecklistItem>,
    pub report: SyncWorkReport,
    /// Present while the job is being done again after the vendor's review returned it (absent otherwise,
    /// and from servers before it was added).
    pub rework: Option<SyncRework>,
}

/// The reviewer's reason for sending a job back for rework.
#[derive(ToSchema)]
pub struct SyncRework {
    /// What the reviewer asks to be done again.
    pub reason: String,
    /// The visit whose work was returned; the next arrival opens the one after it.
    pub visit: u32,
    pub returned_at: DateTime<Utc>,
}

/// The technician's own record (`data` of a `technician` upsert).
#[derive(ToSchema)]
pub struct SyncTechnicianView {
    pub id: String,
    pub name: String,
    /// The last known position, if any.
    #[schema(required = true)]
    pub position: Option<SyncLatLon>,
    /// Parts on hand.
    pub parts: Vec<SyncPartQty>,
    /// IANA time zone of the technician's day.
    pub timezone: String,
}

/// One stop of the route.
#[derive(ToSchema)]
pub struct SyncRouteStop {
    pub job_id: String,
    pub window: SyncWindow,
    /// When the day planner expects the technician to arrive (absent before the planner placed the visit).
    #[schema(nullable = false)]
    pub planned_arrival: Option<DateTime<Utc>>,
    /// When the planner expects service to start (after waiting for the window).
    #[schema(nullable = false)]
    pub planned_start: Option<DateTime<Utc>>,
}

/// The technician's open visits (scheduled, en route, on site) in the order to do them (`data` of a `route` upsert).
#[derive(ToSchema)]
pub struct SyncRouteView {
    pub stops: Vec<SyncRouteStop>,
}

mod push;
pub use push::*;
