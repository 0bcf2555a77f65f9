//! The OpenAPI 3 document, generated from the handlers' annotations, and
//! the offline docs page (Swagger UI assets are embedded at build time).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// Sortie's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sortie API", description = "Field-service dispatch and on-site visit planning. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."),
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
        routes::customers::get_card, routes::customers::update_card,
        routes::day_plans::route, routes::day_plans::plan_org,
        routes::sync::register_device, routes::sync::pull, routes::sync::push, routes::sync::put_photo,
        routes::surveys::get_one, routes::surveys::answer, routes::surveys::get_settings, routes::surveys::put_settings,
        routes::scorecards::org_scorecard, routes::scorecards::technician_scorecard, routes::scorecards::service,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign in, tokens, passwords"),
        (name = "network", description = "Organisations, territories, agreements, technicians"),
        (name = "accounts", description = "Users"),
        (name = "requests", description = "Booking and tracking (customers)"),
        (name = "jobs", description = "The network's view of jobs"),
        (name = "customers", description = "Client cards"),
        (name = "planning", description = "Technicians' planned days"),
        (name = "sync", description = "Technicians' phones: devices, pull, push, photos"),
        (name = "quality", description = "Surveys, scorecards, the Service section"),
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
