//! HTTP routes, one module per resource area.

pub mod auth;
pub mod customers;
pub mod day_plans;
pub mod jobs;
pub mod offers;
pub mod ops;
pub mod orgs;
pub mod outbox;
pub mod pagination;
pub mod privacy;
pub mod requests;
pub mod reviews;
pub mod scorecards;
pub mod surveys;
pub mod sync;
pub mod technicians;
pub mod track;
pub mod users;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::change_password)
        .service(orgs::create)
        .service(orgs::list)
        .service(orgs::get_one)
        .service(orgs::update)
        .service(orgs::put_territories)
        .service(orgs::get_territories)
        .service(orgs::put_agreement)
        .service(orgs::get_agreement)
        .service(technicians::create)
        .service(technicians::list)
        .service(technicians::get_one)
        .service(technicians::update)
        .service(users::create)
        .service(users::me)
        .service(users::list)
        .service(users::get_one)
        .service(users::update)
        .service(requests::book)
        .service(requests::get_one)
        .service(requests::cancel)
        .service(requests::reschedule)
        .service(track::track)
        .service(jobs::list)
        .service(jobs::get_one)
        .service(jobs::events)
        .service(jobs::cancel)
        .service(offers::accept)
        .service(offers::decline)
        .service(offers::subcontract)
        .service(offers::reassign)
        .service(offers::offer)
        .service(offers::assign)
        .service(offers::redispatch)
        .service(reviews::list)
        .service(reviews::review_job)
        .service(reviews::get_photo)
        .service(offers::explanation)
        .service(offers::position)
        .service(outbox::list)
        .service(outbox::retry)
        .service(customers::update_own_card)
        .service(customers::update_card)
        .service(day_plans::route)
        .service(day_plans::plan_org)
        .service(privacy::current_consent_text)
        .service(privacy::export_own)
        .service(privacy::export)
        .service(privacy::erase)
        .service(privacy::list_audit)
        .service(customers::own_card)
        .service(customers::get_card)
        .service(sync::register_device)
        .service(sync::pull)
        .service(sync::push)
        .service(sync::put_photo)
        .service(surveys::get_one)
        .service(surveys::answer)
        .service(surveys::get_settings)
        .service(surveys::put_settings)
        .service(scorecards::org_scorecard)
        .service(scorecards::technician_scorecard)
        .service(scorecards::service);
}
