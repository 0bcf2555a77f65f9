//! Schemas of `/v1/sync/push` (each mutation's arguments, results and
//! reason codes) and of photo uploads; see the parent module for how the
//! doc-only mirrors relate to `mobile-sync`.

use super::*;

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
