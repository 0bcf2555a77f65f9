//! The database schema, written by hand so one file serves both backends
//! (`migrations/sqlite` and `migrations/postgres` must match it).

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    /// Failed logins per (lower-cased) e-mail, shared by replicas (migration 000030).
    login_failures (email) {
        email -> Text,
        failures -> Integer,
        window_start -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    organisations (id) {
        id -> Text,
        parent_id -> Nullable<Text>,
        name -> Text,
        slug -> Text,
        level -> Integer,
        path -> Text,
        timezone -> Text,
        manual_routing -> Bool,
        parts -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        max_travel_km -> Nullable<Double>,
    }
}

diesel::table! {
    territories (id) {
        id -> Text,
        org_id -> Text,
        geometry -> Text,
        exclusive -> Bool,
        min_lon -> Double,
        min_lat -> Double,
        max_lon -> Double,
        max_lat -> Double,
        created_at -> Timestamp,
    }
}

diesel::table! {
    service_agreements (org_id) {
        org_id -> Text,
        accept_within_min -> Text,
        arrive_within_min -> Text,
        first_time_fix_target -> Double,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    technicians (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        skills -> Text,
        home_lat -> Double,
        home_lon -> Double,
        pos_lat -> Nullable<Double>,
        pos_lon -> Nullable<Double>,
        position_at -> Nullable<Timestamp>,
        shift -> Text,
        absences -> Text,
        timezone -> Text,
        daily_capacity -> Integer,
        parts -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        max_travel_km -> Nullable<Double>,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        preferred_address_form -> Nullable<Text>,
        contracted_org_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        language -> Text,
        notify_channel -> Text,
        notify_opt_out -> Bool,
        /// When the person was erased on request (migration 000050_privacy).
        erased_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    customer_addresses (id) {
        id -> Text,
        customer_id -> Text,
        address -> Text,
        lat -> Double,
        lon -> Double,
        last_used_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        name -> Nullable<Text>,
        org_id -> Nullable<Text>,
        technician_id -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        active -> Bool,
        password_changed_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        status -> Text,
        priority -> Text,
        customer_id -> Text,
        created_by -> Text,
        contractor_org_id -> Text,
        lat -> Double,
        lon -> Double,
        address -> Text,
        problem -> Text,
        required_skills -> Text,
        parts -> Text,
        window_start -> Timestamp,
        window_end -> Timestamp,
        contact_name -> Text,
        contact_phone -> Text,
        contact_email -> Nullable<Text>,
        tracking_token -> Text,
        technician_id -> Nullable<Text>,
        offer_org_id -> Nullable<Text>,
        offer_deadline -> Nullable<Timestamp>,
        eta_start -> Nullable<Timestamp>,
        eta_end -> Nullable<Timestamp>,
        visits -> Integer,
        version -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        first_on_site_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_orgs (job_id, org_id, role) {
        job_id -> Text,
        org_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    job_events (id) {
        id -> BigInt,
        job_id -> Text,
        at -> Timestamp,
        #[sql_name = "type"]
        event_type -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        data -> Text,
    }
}

diesel::table! {
    change_log (seq) {
        seq -> BigInt,
        entity -> Text,
        entity_id -> Text,
        technician_id -> Nullable<Text>,
        op -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        request_hash -> Text,
        job_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(territories -> organisations (org_id));
diesel::joinable!(technicians -> organisations (org_id));
diesel::joinable!(job_orgs -> jobs (job_id));
diesel::joinable!(job_orgs -> organisations (org_id));
diesel::joinable!(job_events -> jobs (job_id));
diesel::joinable!(jobs -> customers (customer_id));
diesel::joinable!(customer_addresses -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    organisations,
    territories,
    service_agreements,
    technicians,
    customers,
    customer_addresses,
    users,
    refresh_tokens,
    jobs,
    job_orgs,
    job_events,
    change_log,
    idempotency_keys,
    offers,
    job_explanations,
    sync_devices,
    sync_mutations,
    report_notes,
    report_checklist,
    report_parts,
    report_photos,
    report_signatures,
    report_visits,
    photo_blobs,
    route_stops,
    reviews,
);

diesel::table! {
    offers (id) {
        id -> Text,
        job_id -> Text,
        org_id -> Text,
        technician_id -> Nullable<Text>,
        status -> Text,
        deadline -> Timestamp,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        answered_by -> Nullable<Text>,
    }
}

diesel::table! {
    job_explanations (id) {
        id -> BigInt,
        job_id -> Text,
        at -> Timestamp,
        data -> Text,
    }
}

diesel::table! {
    route_stops (job_id) {
        job_id -> Text,
        technician_id -> Text,
        route_date -> Text,
        position -> Integer,
        planned_arrival -> Timestamp,
        planned_start -> Timestamp,
        planned_departure -> Timestamp,
        feasible -> Bool,
        travel_m -> Double,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(offers -> jobs (job_id));
diesel::joinable!(route_stops -> jobs (job_id));

diesel::table! {
    sync_devices (id) {
        id -> Text,
        user_id -> Text,
        technician_id -> Nullable<Text>,
        platform -> Text,
        push_token -> Nullable<Text>,
        app_version -> Text,
        last_seq -> BigInt,
        clock_offset_ms -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    sync_mutations (device_id, seq) {
        device_id -> Text,
        seq -> BigInt,
        mutation_id -> Text,
        claimed_id -> Nullable<Text>,
        name -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        message -> Nullable<Text>,
        current -> Nullable<Text>,
        processed_at -> Timestamp,
    }
}

diesel::table! {
    report_notes (id) {
        id -> Text,
        job_id -> Text,
        technician_id -> Text,
        text -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    report_checklist (job_id, item) {
        job_id -> Text,
        item -> Text,
        value -> Text,
        technician_id -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    report_parts (id) {
        id -> Text,
        job_id -> Text,
        technician_id -> Text,
        sku -> Text,
        qty -> Integer,
        serial -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    report_photos (id) {
        id -> Text,
        job_id -> Text,
        technician_id -> Text,
        sha256 -> Text,
        taken_at -> Timestamp,
        at -> Timestamp,
    }
}

diesel::table! {
    report_signatures (job_id) {
        job_id -> Text,
        technician_id -> Text,
        signer_name -> Text,
        image_sha256 -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    report_visits (job_id, visit) {
        job_id -> Text,
        visit -> Integer,
        technician_id -> Text,
        arrived_at -> Timestamp,
        departed_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    photo_blobs (sha256) {
        sha256 -> Text,
        content -> Binary,
        size_bytes -> BigInt,
        uploaded_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

// Quality loop: surveys and scorecard roll-ups (migration 2026-12-02-000010_quality).
diesel::table! {
    surveys (job_id) {
        job_id -> Text,
        token -> Text,
        technician_id -> Nullable<Text>,
        org_id -> Text,
        org_path -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        answered_day -> Nullable<Text>,
        nps -> Nullable<Integer>,
        csat -> Nullable<Integer>,
        ces -> Nullable<Integer>,
        comment -> Nullable<Text>,
    }
}

diesel::table! {
    scorecard_days (org_id, technician_id, day) {
        org_id -> Text,
        technician_id -> Text,
        day -> Text,
        org_path -> Text,
        jobs_completed -> BigInt,
        visits -> BigInt,
        first_time_fixed -> BigInt,
        reworked -> BigInt,
        incomplete -> BigInt,
        accept_met -> BigInt,
        accept_total -> BigInt,
        arrive_met -> BigInt,
        arrive_total -> BigInt,
        promoters -> BigInt,
        passives -> BigInt,
        detractors -> BigInt,
        csat_satisfied -> BigInt,
        csat_responses -> BigInt,
        ces_sum -> BigInt,
        ces_responses -> BigInt,
    }
}

diesel::table! {
    scorecard_jobs (job_id) {
        job_id -> Text,
        org_id -> Text,
        technician_id -> Text,
        day -> Text,
        rolled_up_at -> Timestamp,
    }
}

diesel::joinable!(surveys -> jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(surveys, jobs);
diesel::allow_tables_to_appear_in_same_query!(surveys, technicians);

diesel::table! {
    reviews (id) {
        id -> Text,
        job_id -> Text,
        visit -> Integer,
        verdict -> Text,
        reason -> Nullable<Text>,
        redispatch -> Bool,
        reviewer_user_id -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(reviews -> jobs (job_id));

diesel::table! {
    outbox (id) {
        id -> Text,
        channel -> Text,
        kind -> Text,
        recipient -> Text,
        job_id -> Nullable<Text>,
        payload -> Text,
        collapse_key -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(outbox -> jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(outbox, jobs);

// Migration 2026-12-05-000040_web: the web console's sessions.
diesel::table! {
    web_sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

// Migration 2026-12-05-000050_privacy: consents (append-only) and the audit log (append-only).
diesel::table! {
    consents (id) {
        id -> Text,
        customer_id -> Text,
        job_id -> Nullable<Text>,
        recorded_by -> Text,
        text_version -> Text,
        language -> Text,
        personal_data -> Bool,
        notifications -> Bool,
        marketing -> Bool,
        given_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_user_id -> Nullable<Text>,
        actor_role -> Text,
        action -> Text,
        subject_type -> Text,
        subject_id -> Text,
        customer_id -> Nullable<Text>,
        details -> Text,
    }
}
