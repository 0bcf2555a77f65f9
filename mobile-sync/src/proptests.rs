//! Property tests of the mutation decoder: whatever a phone sends, `Mutation::parse` answers a mutation or
//! one of the documented reject codes, never a panic; valid mutations read back exactly what was sent.

use chrono::{DateTime, FixedOffset, TimeZone as _};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::lifecycle::{IncompleteReason, TargetStatus};
use crate::mutation::{
    AddNote, AddPart, AttachPhoto, Mutation, NAMES, PositionPing, SetChecklist, SetStatus, Sign,
};
use crate::protocol::PushRequest;

/// The reject codes docs/sync-protocol.md lists for a mutation that cannot be read.
const DECODER_CODES: &[&str] = &["unknown_mutation", "malformed_args", "invalid_args"];

/// Any JSON value, nested a few levels, with strings that include odd characters.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[0-9a-f-]{36}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("job_id".to_owned()),
                    Just("status".to_owned()),
                    Just("text".to_owned()),
                    Just("lat".to_owned()),
                    Just("qty".to_owned()),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(NAMES).prop_map(str::to_owned), ".{0,30}"]
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn time() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (0i64..4_000_000_000, -12i32..=14).prop_filter_map("a representable time", |(secs, h)| {
        FixedOffset::east_opt(h * 3600).and_then(|z| z.timestamp_opt(secs, 0).single())
    })
}

/// Text a phone may send: up to `max` characters, never blank (the decoder refuses whitespace-only text).
fn text(max: usize) -> impl Strategy<Value = String> {
    let rest = max - 1;
    proptest::string::string_regex(&format!("[A-Za-zА-Яа-я0-9 .,!?-]{{0,{rest}}}[A-Za-zА-Яа-я0-9.,!?-]"))
        .unwrap_or_else(|_| unreachable!())
}

fn sha() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

/// A valid mutation: its name, its args as a phone sends them, and what the decoder must read.
fn valid_mutation() -> impl Strategy<Value = (&'static str, Value, Mutation)> {
    let statuses = prop::sample::select(vec![TargetStatus::EnRoute, TargetStatus::OnSite, TargetStatus::Completed]);
    let reasons = prop::sample::select(vec![
        (IncompleteReason::CustomerAbsent, "customer_absent"),
        (IncompleteReason::PartMissing, "part_missing"),
        (IncompleteReason::SecondVisitNeeded, "second_visit_needed"),
    ]);
    let wire = |s: TargetStatus| match s {
        TargetStatus::EnRoute => "en_route",
        TargetStatus::OnSite => "on_site",
        TargetStatus::Completed => "completed",
        TargetStatus::Incomplete => "incomplete",
    };
    prop_oneof![
        (uuid(), statuses, prop::option::of(time())).prop_map(move |(job_id, status, at)| {
            let mut args = json!({"job_id": job_id, "status": wire(status)});
            if let Some(at) = at {
                args["at"] = json!(at.to_rfc3339());
            }
            ("job.set_status", args, Mutation::SetStatus(SetStatus { job_id, status, reason: None, at }))
        }),
        (uuid(), reasons).prop_map(|(job_id, (reason, code))| {
            let args = json!({"job_id": job_id, "status": "incomplete", "reason": code});
            let m = SetStatus { job_id, status: TargetStatus::Incomplete, reason: Some(reason), at: None };
            ("job.set_status", args, Mutation::SetStatus(m))
        }),
        (uuid(), uuid(), text(300)).prop_map(|(job_id, note_id, text)| {
            let args = json!({"job_id": job_id, "note_id": note_id, "text": text});
            ("job.add_note", args, Mutation::AddNote(AddNote { job_id, note_id, text }))
        }),
        (uuid(), text(50), prop_oneof![any::<bool>().prop_map(Value::Bool), any::<i32>().prop_map(|n| json!(n)), text(50).prop_map(Value::String)])
            .prop_map(|(job_id, item, value)| {
                let args = json!({"job_id": job_id, "item": item, "value": value});
                ("job.set_checklist", args, Mutation::SetChecklist(SetChecklist { job_id, item, value }))
            }),
        (uuid(), uuid(), "[a-z0-9_.-]{1,64}", 1u32..=1000, prop::option::of(text(40))).prop_map(
            |(job_id, part_use_id, sku, qty, serial)| {
                let mut args = json!({"job_id": job_id, "part_use_id": part_use_id, "sku": sku, "qty": qty});
                if let Some(s) = &serial {
                    args["serial"] = json!(s);
                }
                ("job.add_part", args, Mutation::AddPart(AddPart { job_id, part_use_id, sku, qty, serial }))
            }
        ),
        (uuid(), uuid(), sha(), time()).prop_map(|(job_id, photo_id, sha256, taken_at)| {
            let args = json!({"job_id": job_id, "photo_id": photo_id, "sha256": sha256, "taken_at": taken_at.to_rfc3339()});
            ("job.attach_photo", args, Mutation::AttachPhoto(AttachPhoto { job_id, photo_id, sha256, taken_at }))
        }),
        (uuid(), text(100), sha()).prop_map(|(job_id, signer_name, image_sha256)| {
            let args = json!({"job_id": job_id, "signer_name": signer_name, "image_sha256": image_sha256});
            ("job.sign", args, Mutation::Sign(Sign { job_id, signer_name, image_sha256 }))
        }),
        (-90.0f64..=90.0, -180.0f64..=180.0, 0.0f64..=100_000.0, time()).prop_map(|(lat, lon, accuracy_m, at)| {
            let args = json!({"lat": lat, "lon": lon, "accuracy_m": accuracy_m, "at": at.to_rfc3339()});
            ("position.ping", args, Mutation::PositionPing(PositionPing { lat, lon, accuracy_m, at }))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_name_and_args_decode_or_answer_a_documented_reject_code(name in name(), args in any_json()) {
        match Mutation::parse(&name, &args) {
            Ok(m) => prop_assert!(NAMES.contains(&name.as_str()), "{name} decoded as {m:?}"),
            Err(e) => {
                prop_assert!(DECODER_CODES.contains(&e.code()), "{e} has code {}", e.code());
                if !NAMES.contains(&name.as_str()) {
                    prop_assert_eq!(e.code(), "unknown_mutation");
                }
            }
        }
    }

    #[test]
    fn a_valid_mutation_reads_back_exactly_what_was_sent((name, args, expected) in valid_mutation()) {
        prop_assert_eq!(Mutation::parse(name, &args), Ok(expected));
    }

    #[test]
    fn an_unknown_field_is_refused_and_a_replaced_field_reads_or_answers_a_documented_code(
        (name, args, _) in valid_mutation(),
        spoil in any_json(),
        extra in "[a-z]{1,8}",
    ) {
        // An unknown field is refused (the args deny unknown fields) …
        let mut with_extra = args.clone();
        with_extra[format!("x_{extra}")] = spoil.clone();
        prop_assert!(Mutation::parse(name, &with_extra).is_err(), "{with_extra} was accepted");
        // … and a known field replaced by anything either still reads or is refused with a documented code.
        let key = args.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
        let mut replaced = args;
        replaced[&key] = spoil;
        if let Err(e) = Mutation::parse(name, &replaced) {
            prop_assert!(DECODER_CODES.contains(&e.code()));
        }
    }

    #[test]
    fn any_push_body_deserializes_or_fails_without_panicking(body in any_json()) {
        let _ = serde_json::from_value::<PushRequest>(body);
    }
}
