//! The web pages served beside the API on the same port (issue #12):
//! customers book, track and rate visits; dispatchers work their board;
//! reviewers their queue. Server-rendered HTML (maud) with htmx for live
//! parts; every asset is embedded (`assets`). Handlers call the same use
//! cases and scoped queries as the JSON API, so scope and rules are one.

pub mod assets;
pub mod auth;
pub mod board;
pub mod customer;
pub mod fmt;
pub mod i18n;
pub mod job;
pub mod orgs;
pub mod page;
pub mod reviews;
pub mod service;
pub mod survey;
pub mod tech_app;
pub mod technicians;
pub mod users;

use actix_web::web;

/// Registers every page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::serve)
        .service(auth::root)
        .service(auth::console_home)
        .service(auth::login_form)
        .service(auth::login)
        .service(auth::logout)
        .service(auth::switch_lang)
        .service(customer::book_form)
        .service(customer::book)
        .service(customer::track)
        .service(customer::track_fragment)
        .service(customer::cancel)
        .service(customer::reschedule)
        .service(survey::survey)
        .service(survey::answer_survey)
        .service(board::page)
        .service(board::fragment)
        .service(job::page)
        .service(job::accept)
        .service(job::decline)
        .service(job::subcontract)
        .service(reviews::page)
        .service(reviews::verdict)
        .service(reviews::photo)
        .service(technicians::page)
        // `/new` before `/{id}`: actix matches in registration order.
        .service(technicians::new_form)
        .service(technicians::create)
        .service(technicians::edit_form)
        .service(technicians::save)
        .service(technicians::day)
        .service(orgs::tree)
        .service(orgs::one)
        .service(orgs::save)
        .service(orgs::save_agreement)
        .service(service::page)
        .service(users::page)
        .service(users::new_form)
        .service(users::create)
        .service(users::edit_form)
        .service(users::save)
        .service(users::set_active)
        .service(tech_app::bare)
        .service(tech_app::shell)
        .service(tech_app::manifest)
        .service(tech_app::service_worker)
        .service(tech_app::file);
}
