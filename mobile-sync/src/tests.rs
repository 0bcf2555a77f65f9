use chrono::{DateTime, Duration, FixedOffset, TimeZone as _, Utc};
use serde_json::json;

use crate::clock::ClockOffset;
use crate::cursor::{Cursor, CursorError};
use crate::lifecycle::{Status, TargetStatus, technician_transition};
use crate::merge::{Stamped, merge_lww};
use crate::mutation::Mutation;
use crate::protocol::{PullRequest, PushRequest};
use crate::seq::{Gap, Step, plan_batch};

const JOB: &str = "7f1c1c0e-3d0b-4a39-9a51-5d4b3c2a1f00";
const ID: &str = "0b9e4c55-5d43-4f6f-8f0c-1b2a3c4d5e6f";
const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[track_caller]
fn check_rejects(name: &str, args: serde_json::Value, code: &str) {
    match Mutation::parse(name, &args) {
        Err(e) => assert_eq!(e.code(), code, "{e}"),
        Ok(m) => panic!("{name} {args} parsed as {m:?}"),
    }
}

#[test]
fn cursors_round_trip_and_refuse_garbage() -> Result<(), CursorError> {
    let c = Cursor::at(987_654, 42);
    assert_eq!(Cursor::decode(&c.encode())?, c);
    assert_eq!(Cursor::decode(&Cursor::start().encode())?, Cursor::start());
    assert_eq!(Cursor::decode("nope"), Err(CursorError::Malformed));
    assert_eq!(Cursor::decode("c1.zz"), Err(CursorError::Malformed));
    assert_eq!(Cursor::decode("c1.7b7d"), Err(CursorError::Malformed));
    let v2 = Cursor { v: 2, tx: 0, seq: 1 }.encode();
    assert_eq!(Cursor::decode(&v2), Err(CursorError::Version(2)));
    assert!(Cursor::at(1, 5) > Cursor::at(0, 900), "ordered by transaction first");
    Ok(())
}

#[test]
fn the_lifecycle_allows_only_the_technicians_path() {
    use Status::*;
    use TargetStatus as T;
    let allowed = [(Scheduled, T::EnRoute), (EnRoute, T::OnSite), (OnSite, T::Completed), (OnSite, T::Incomplete)];
    let all = [
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
    ];
    for from in all {
        for to in [T::EnRoute, T::OnSite, T::Completed, T::Incomplete] {
            assert_eq!(technician_transition(from, to).is_ok(), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
        }
    }
}

#[test]
fn every_mutation_parses_with_its_documented_args() -> Result<(), crate::mutation::MutationError> {
    let at = "2026-11-26T10:00:00+03:00";
    for (name, args) in [
        ("job.set_status", json!({"job_id": JOB, "status": "en_route"})),
        ("job.set_status", json!({"job_id": JOB, "status": "incomplete", "reason": "part_missing", "at": at})),
        ("job.add_note", json!({"job_id": JOB, "note_id": ID, "text": "Replaced the fuse"})),
        ("job.set_checklist", json!({"job_id": JOB, "item": "power_ok", "value": true})),
        ("job.add_part", json!({"job_id": JOB, "part_use_id": ID, "sku": "fuse-5a", "qty": 2})),
        ("job.add_part", json!({"job_id": JOB, "part_use_id": ID, "sku": "psu", "qty": 1, "serial": "SN-1"})),
        ("job.attach_photo", json!({"job_id": JOB, "photo_id": ID, "sha256": SHA, "taken_at": at})),
        ("job.sign", json!({"job_id": JOB, "signer_name": "Ivan", "image_sha256": SHA})),
        ("position.ping", json!({"lat": 55.7, "lon": 37.6, "accuracy_m": 12.5, "at": at})),
    ] {
        let m = Mutation::parse(name, &args)?;
        assert_eq!(m.job_id().is_none(), name == "position.ping");
    }
    Ok(())
}

#[test]
fn bad_mutations_are_named_by_a_stable_reason() {
    check_rejects("job.teleport", json!({}), "unknown_mutation");
    check_rejects("job.add_note", json!({"job_id": JOB, "note_id": ID}), "malformed_args");
    check_rejects("job.add_note", json!({"job_id": JOB, "note_id": ID, "text": "x", "color": "red"}), "malformed_args");
    check_rejects("job.add_note", json!([1, 2]), "malformed_args");
    check_rejects("job.add_note", json!({"job_id": "not-a-uuid", "note_id": ID, "text": "x"}), "malformed_args");
    check_rejects("job.add_note", json!({"job_id": JOB, "note_id": ID, "text": "  "}), "invalid_args");
    check_rejects("job.set_status", json!({"job_id": JOB, "status": "approved"}), "malformed_args");
    check_rejects("job.set_status", json!({"job_id": JOB, "status": "incomplete"}), "invalid_args");
    check_rejects(
        "job.set_status",
        json!({"job_id": JOB, "status": "on_site", "reason": "part_missing"}),
        "invalid_args",
    );
    check_rejects("job.add_part", json!({"job_id": JOB, "part_use_id": ID, "sku": "x", "qty": 0}), "invalid_args");
    check_rejects(
        "job.add_part",
        json!({"job_id": JOB, "part_use_id": ID, "sku": "Fuse 5A", "qty": 1}),
        "invalid_args",
    );
    check_rejects(
        "job.attach_photo",
        json!({"job_id": JOB, "photo_id": ID, "sha256": "ABC", "taken_at": "2026-11-26T10:00:00Z"}),
        "invalid_args",
    );
    check_rejects("job.set_checklist", json!({"job_id": JOB, "item": "x", "value": {"a": 1}}), "invalid_args");
    check_rejects(
        "position.ping",
        json!({"lat": 91.0, "lon": 0.0, "accuracy_m": 1.0, "at": "2026-11-26T10:00:00Z"}),
        "invalid_args",
    );
}

#[test]
fn a_batch_is_applied_in_seq_order_retries_are_replayed_and_gaps_refused() -> Result<(), Gap> {
    // Sent reordered, with a retry of 3 and a duplicate of 6.
    let plan = plan_batch(3, &[5, 3, 4, 6, 6])?;
    assert_eq!(
        plan.steps,
        vec![(1, Step::Replay), (2, Step::Apply), (0, Step::Apply), (3, Step::Apply), (4, Step::Replay)]
    );
    assert_eq!(plan_batch(3, &[4, 6]), Err(Gap { expected_seq: 5 }));
    assert_eq!(plan_batch(0, &[2]), Err(Gap { expected_seq: 1 }));
    assert_eq!(plan_batch(9, &[1, 2]).map(|p| p.steps.len()), Ok(2), "all retries");
    assert_eq!(plan_batch(0, &[]).map(|p| p.steps.len()), Ok(0));
    Ok(())
}

#[test]
fn the_later_write_by_server_order_wins_whatever_the_values() {
    let a = Stamped { value: "yes", order: 7 };
    let b = Stamped { value: "no", order: 9 };
    assert_eq!(merge_lww(Some(a.clone()), b.clone()), b);
    assert_eq!(merge_lww(Some(b.clone()), a.clone()), b, "an older write arriving late loses");
    assert_eq!(merge_lww(None, a.clone()), a);
}

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn phone_times_are_corrected_by_the_offset_measured_at_the_push() {
    let server_now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single().unwrap_or_default();
    // The phone's clock is three hours fast and reports in another zone.
    let offset = ClockOffset::measure(server_now, Some(t("2026-11-26T18:00:00+03:00")));
    assert_eq!(offset.millis(), -3 * 3600 * 1000);
    assert_eq!(offset.correct(t("2026-11-26T17:30:00+03:00")), server_now - Duration::minutes(30));
    // Never after the push.
    assert_eq!(offset.correct(t("2026-11-26T19:00:00+03:00")), server_now);
    // An older app that sends no clock: no correction.
    let none = ClockOffset::measure(server_now, None);
    assert_eq!(none.correct(t("2026-11-26T11:00:00Z")), server_now - Duration::hours(1));
    assert_eq!(none.correct_or_now(None), server_now);
}

#[test]
fn requests_refuse_unknown_fields_but_accept_an_older_app_omitting_optional_ones() {
    let old: Result<PushRequest, _> = serde_json::from_value(
        json!({"device_id": "d", "mutations": [{"seq": 1, "id": ID, "name": "job.add_note", "args": {}}]}),
    );
    assert!(old.is_ok_and(|p| p.sent_at.is_none()));
    let pull: Result<PullRequest, _> = serde_json::from_value(json!({"device_id": "d"}));
    assert!(pull.is_ok_and(|p| p.cursor.is_none() && p.limit.is_none()));
    let typo: Result<PullRequest, _> = serde_json::from_value(json!({"device_id": "d", "cursr": null}));
    assert!(typo.is_err());
}
