//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the offline docs page (Swagger UI assets are embedded at build time).
//!
//! # Layout
//! - this file: [`ApiDoc`], the paths, tags and modifiers.
//! - [`sync`]: the phone-sync wire format (`mobile-sync`'s serde types, described here because
//!   `mobile-sync` may not depend on utoipa), with each mutation's `args`.
//! - [`errors`]: the error object and the modifier that attaches it to every error response.
//! - [`views`]: answers built as JSON on the spot (health, readiness, dispatch explanations).
//!
//! `docs/sync-protocol.md` explains the sync protocol in prose.

pub mod errors;
pub mod sync;
pub mod views;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;
use errors::ErrorResponses;

/// Sortie's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sortie API", description = "Field-service dispatch and on-site visit planning. Every error is `{\"error\": {\"code\", \"message\", \"field\"?}}` (the `Error` schema). The phone-sync protocol (devices, pull, push, photos) is explained with a worked offline session in `docs/sync-protocol.md`."),
    paths(
        routes::ops::healthz, routes::ops::readyz, routes::ops::metrics,
        routes::auth::login, routes::auth::refresh, routes::auth::logout, routes::auth::change_password,
        routes::orgs::create, routes::orgs::list, routes::orgs::get_one, routes::orgs::update,
        routes::orgs::put_territories, routes::orgs::get_territories, routes::orgs::put_agreement, routes::orgs::get_agreement,
        routes::technicians::create, routes::technicians::list, routes::technicians::get_one, routes::technicians::update,
        routes::users::create, routes::users::me, routes::users::list, routes::users::get_one, routes::users::update,
        routes::requests::book, routes::requests::get_one, routes::requests::cancel, routes::requests::reschedule,
        routes::track::track,
        routes::jobs::list, routes::jobs::get_one, routes::jobs::events, routes::jobs::cancel,
        routes::offers::accept, routes::offers::decline, routes::offers::subcontract, routes::offers::reassign,
        routes::offers::explanation, routes::offers::position,
        routes::offers::offer, routes::offers::assign, routes::offers::redispatch,
        routes::reviews::list, routes::reviews::review_job, routes::reviews::get_photo,
        routes::customers::get_card, routes::customers::own_card, routes::customers::update_card, routes::customers::update_own_card,
        routes::day_plans::route, routes::day_plans::plan_org,
        routes::sync::register_device, routes::sync::pull, routes::sync::push, routes::sync::put_photo,
        routes::surveys::get_one, routes::surveys::answer, routes::surveys::get_settings, routes::surveys::put_settings,
        routes::scorecards::org_scorecard, routes::scorecards::technician_scorecard, routes::scorecards::service,
        routes::outbox::list, routes::outbox::retry,
        routes::privacy::current_consent_text, routes::privacy::export, routes::privacy::export_own,
        routes::privacy::erase, routes::privacy::list_audit,
    ),
    components(schemas(
        errors::Error,
        sync::RegisterDevice, sync::DeviceRegistered, sync::PullRequest, sync::PullResponse, sync::Change,
        sync::PushRequest, sync::Mutation, sync::PushResponse, sync::MutationResult, sync::RejectReason,
        sync::SetStatusArgs, sync::AddNoteArgs, sync::SetChecklistArgs, sync::AddPartArgs, sync::AttachPhotoArgs,
        sync::SignArgs, sync::PositionPingArgs, sync::PhotoStored, sync::SyncRework,
        views::Health, views::Ready, views::Explanation,
    )),
    modifiers(&BearerAuth, &ErrorResponses, &GeoJsonCoordinates),
    tags(
        (name = "auth", description = "Sign in, tokens, passwords"),
        (name = "network", description = "Organisations, territories, agreements, technicians"),
        (name = "accounts", description = "Users"),
        (name = "requests", description = "Booking and tracking (customers)"),
        (name = "jobs", description = "The network's view of jobs"),
        (name = "reviews", description = "The vendor's quality review of work reports"),
        (name = "customers", description = "Client cards, consents, a person's export and erasure, the audit log"),
        (name = "planning", description = "Technicians' planned days"),
        (name = "sync", description = "Phones (technicians, dispatchers, customers' apps): devices, pull, push, photos"),
        (name = "quality", description = "Surveys, scorecards, the Service section"),
        (name = "outbox", description = "Notifications: what is waiting, sent, failed or skipped (admin)"),
        (name = "ops", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// `Geometry.coordinates` is read as raw JSON (its shape depends on `type`):
/// describe it as GeoJSON does instead of as a bare object.
struct GeoJsonCoordinates;

impl Modify for GeoJsonCoordinates {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else { return };
        let Some(RefOr::T(Schema::Object(geometry))) = components.schemas.get_mut("Geometry") else { return };
        // The schema says this much; the handler validates the rest (422).
        // Polygon: rings → positions → numbers; MultiPolygon: polygons → rings → positions.
        let third = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Number, Type::Array]));
        let coordinates = ArrayBuilder::new()
            .items(ArrayBuilder::new().items(ArrayBuilder::new().items(third)))
            .description(Some(
                "RFC 7946 coordinates of `[lon, lat]` positions. `Polygon`: a list of linear rings (the first the \
                 outer boundary; each closed, first position = last); `MultiPolygon`: a list of polygons.",
            ))
            .build();
        geometry.properties.insert("coordinates".into(), RefOr::T(Schema::Array(coordinates)));
        if let Some(RefOr::T(Schema::Object(kind))) = geometry.properties.get_mut("type") {
            kind.enum_values = Some(vec!["Polygon".into(), "MultiPolygon".into()]);
        }
    }
}
