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

// ---- push ------------------------------------------------------------------

/// `POST /v1/sync/push`: a batch of queued mutations, at most 500 (more answers 413 `batch_too_large`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    #[schema(min_length = 1)]
    pub device_id: String,
    /// In any order; processed in `seq` order, answered in the order sent.
    pub mutations: Vec<Mutation>,
    /// The phone's clock when it sent this push. The server measures the
    /// offset to its own clock and moves every phone timestamp of the push
    /// (`at`, `taken_at`) by it. Older apps omit it (no correction).
    pub sent_at: Option<DateTime<FixedOffset>>,
}

/// One queued mutation: `{seq, id, name, args}`; `args` depends on `name`.
///
/// A `name` the server does not know (a newer app) is not a 400: the mutation
/// is answered `rejected` with `unknown_mutation`; `args` that do not match
/// the name's schema are answered `malformed_args` (wrong shape) or
/// `invalid_args` (a value out of range). Neither is part of this contract.
#[derive(ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "name", mapping(
    ("job.set_status" = "#/components/schemas/SetStatusMutation"),
    ("job.add_note" = "#/components/schemas/AddNoteMutation"),
    ("job.set_checklist" = "#/components/schemas/SetChecklistMutation"),
    ("job.add_part" = "#/components/schemas/AddPartMutation"),
    ("job.attach_photo" = "#/components/schemas/AttachPhotoMutation"),
    ("job.sign" = "#/components/schemas/SignMutation"),
    ("position.ping" = "#/components/schemas/PositionPingMutation"),
)))]
pub enum Mutation {
    SetStatus(SetStatusMutation),
    AddNote(AddNoteMutation),
    SetChecklist(SetChecklistMutation),
    AddPart(AddPartMutation),
    AttachPhoto(AttachPhotoMutation),
    Sign(SignMutation),
    PositionPing(PositionPingMutation),
}

/// Declares the envelope of one mutation name: `{seq, id, name: <the name>, args: <Args>}`.
macro_rules! envelope {
    ($(#[$meta:meta])* $envelope:ident, $tag:ident = $name:tt, $args:ident) => {
        tag!($tag = $name);

        $(#[$meta])*
        #[derive(ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $envelope {
            /// Per-device sequence number: 1, 2, 3 … over the device's life, no holes.
            #[schema(minimum = 1, maximum = 9223372036854775807_u64)]
            pub seq: u64,
            /// Client-generated; the same mutation keeps it across retries.
            pub id: Uuid,
            #[schema(inline)]
            pub name: $tag,
            pub args: $args,
        }
    };
}

envelope!(
    /// `job.set_status`: the technician's step in the job lifecycle.
    SetStatusMutation, SetStatusName = "job.set_status", SetStatusArgs
);
envelope!(
    /// `job.add_note`: appends a note to the work report.
    AddNoteMutation, AddNoteName = "job.add_note", AddNoteArgs
);
envelope!(
    /// `job.set_checklist`: answers one checklist item (last writer wins).
    SetChecklistMutation, SetChecklistName = "job.set_checklist", SetChecklistArgs
);
envelope!(
    /// `job.add_part`: records a part used.
    AddPartMutation, AddPartName = "job.add_part", AddPartArgs
);
envelope!(
    /// `job.attach_photo`: attaches a photo (its bytes go to `PUT /v1/photos/{sha256}`, before or after).
    AttachPhotoMutation, AttachPhotoName = "job.attach_photo", AttachPhotoArgs
);
envelope!(
    /// `job.sign`: the customer's signature (an image uploaded like a photo).
    SignMutation, SignName = "job.sign", SignArgs
);
envelope!(
    /// `position.ping`: the technician's position (feeds dispatch).
    PositionPingMutation, PositionPingName = "position.ping", PositionPingArgs
);

/// A status a technician may set.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    EnRoute,
    OnSite,
    Completed,
    Incomplete,
}

/// `job.set_status` args. Allowed steps: `scheduled → en_route → on_site →
/// completed | incomplete`; anything else is rejected `invalid_transition`.
/// `reason` is required for `incomplete` and refused otherwise (`invalid_args`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatusArgs {
    pub job_id: Uuid,
    pub status: TargetStatus,
    pub reason: Option<IncompleteReason>,
    /// When it happened on the phone's clock (time on site); absent: when pushed.
    pub at: Option<DateTime<FixedOffset>>,
}

/// `job.add_note` args; `note_id` is client-generated, so a retry never adds the note twice.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNoteArgs {
    pub job_id: Uuid,
    pub note_id: Uuid,
    /// Not blank, at most 4000 characters, no control characters but newline and tab.
    #[schema(max_length = 4000, pattern = r"\S")]
    pub text: String,
}

/// `job.set_checklist` args.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChecklistArgs {
    pub job_id: Uuid,
    /// An item of the job kind's checklist (else rejected `unknown_checklist_item`); at most 200 characters.
    #[schema(max_length = 200, pattern = r"\S")]
    pub item: String,
    pub value: ChecklistValue,
}

/// `job.add_part` args; `part_use_id` is client-generated.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartArgs {
    pub job_id: Uuid,
    pub part_use_id: Uuid,
    /// A part code: 1–64 characters of `a-z 0-9 _ - .`.
    #[schema(pattern = r"^[a-z0-9_.\-]{1,64}$")]
    pub sku: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub qty: u32,
    /// Not blank, at most 200 characters.
    #[schema(max_length = 200, pattern = r"\S")]
    pub serial: Option<String>,
}

/// `job.attach_photo` args; `photo_id` is client-generated.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachPhotoArgs {
    pub job_id: Uuid,
    pub photo_id: Uuid,
    /// Lower-case hex SHA-256 of the image bytes.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// Phone clock; corrected by the push's clock offset.
    pub taken_at: DateTime<FixedOffset>,
}

/// `job.sign` args (a second signature replaces the first).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignArgs {
    pub job_id: Uuid,
    /// Not blank, at most 200 characters.
    #[schema(max_length = 200, pattern = r"\S")]
    pub signer_name: String,
    /// Lower-case hex SHA-256 of the signature image.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_sha256: String,
}

/// `position.ping` args.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionPingArgs {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    #[schema(minimum = 0, maximum = 100000)]
    pub accuracy_m: f64,
    /// Phone clock; corrected by the push's clock offset.
    pub at: DateTime<FixedOffset>,
}

/// Answer to `POST /v1/sync/push`.
#[derive(ToSchema)]
pub struct PushResponse {
    /// One per mutation, in the order sent.
    pub results: Vec<MutationResult>,
    /// The measured offset in milliseconds (server minus phone; positive: the
    /// phone is behind), present when the push carried `sent_at`.
    #[schema(nullable = false)]
    pub clock_offset_ms: Option<i64>,
}

/// What happened to one mutation: done (`applied` now, or `duplicate`: done before), or `rejected` with a reason.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum MutationResult {
    Done(MutationDone),
    Rejected(MutationRejected),
}

/// `applied` or `duplicate`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoneStatus {
    /// Applied by this push.
    Applied,
    /// Processed before (a retry, or the same mutation id under a new seq); applied once, not again.
    Duplicate,
}

tag!(RejectedStatus = "rejected");

/// A mutation that is done: drop it from the queue.
#[derive(ToSchema)]
pub struct MutationDone {
    pub seq: u64,
    pub id: Uuid,
    pub status: DoneStatus,
}

/// A mutation the server refused; drop it from the queue, show the reason, and adopt `current`.
/// Retrying it answers the same rejection.
#[derive(ToSchema)]
pub struct MutationRejected {
    pub seq: u64,
    pub id: Uuid,
    #[schema(inline)]
    pub status: RejectedStatus,
    pub reason: RejectReason,
    /// Human-readable detail (English; not for switching on).
    pub message: String,
    /// The current state of the job the mutation touched, where there is one.
    #[schema(nullable = false)]
    pub current: Option<MutationCurrent>,
}

/// Why a mutation was rejected: a stable code to switch on. Treat an unknown code like `invalid_args`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// `name` is not a mutation this server knows (a newer app).
    UnknownMutation,
    /// `args` is not an object or does not match the name's schema (missing, unknown or mistyped field).
    MalformedArgs,
    /// A value out of range (text blank or too long, bad sku, qty, hash, coordinate; `reason` with a status other than `incomplete` or missing for it).
    InvalidArgs,
    /// The job is not (any more) assigned to this technician: reassigned, or unknown. `current` is `{job_id, assigned: false}`.
    NotAssigned,
    /// The job was cancelled.
    JobCancelled,
    /// The status step is not allowed from the job's current status (also when another device set it first).
    InvalidTransition,
    /// `en_route` to a visit whose window is not on the technician's local today and starts more than 12 hours
    /// from now: nobody is on the way to a visit days away.
    NotToday,
    /// The work report is locked by completion (`completed`, `in_review`, `approved`).
    ReportLocked,
    /// The job is not in a status whose report may change (e.g. `incomplete`, `returned`).
    JobNotActive,
    /// `item` is not on the job kind's checklist.
    UnknownChecklistItem,
    /// The note, part use or photo id already belongs to another job.
    IdConflict,
    /// This `seq` was already used by another mutation id of this device.
    SeqReused,
    /// A retried `seq` the server has no record of.
    UnknownSeq,
    /// This mutation id was already used by another device.
    MutationIdReused,
}

/// The current state of the job a rejected mutation touched.
#[derive(ToSchema)]
pub struct MutationCurrent {
    pub job_id: String,
    /// Whether the job is still assigned to the caller; when `false`, the other fields are absent.
    pub assigned: bool,
    #[schema(nullable = false)]
    pub status: Option<SyncJobStatus>,
    /// Whether report mutations are refused in this status.
    #[schema(nullable = false)]
    pub report_locked: Option<bool>,
}

// ---- photos ----------------------------------------------------------------

/// Answer to `PUT /v1/photos/{sha256}`.
#[derive(ToSchema)]
pub struct PhotoStored {
    pub size_bytes: u64,
}
