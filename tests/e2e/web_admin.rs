//! The console's administration pages over plain HTTP (both backends): technicians created and edited on
//! `/console/technicians/…` and users on `/console/users/…`, with a cookie session and the CSRF token, checked
//! against what the JSON API and dispatch then do.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, booking, soon};
use crate::web::{LAT, LON, WebClient, offer_fixture};
use api::clock::Clock as _;

both_backends!(
    an_admin_creates_a_technician_on_the_console_who_is_listed_by_the_api_and_offered_a_job_near_home,
    bad_technician_input_re_renders_the_form_with_each_message_and_changes_nothing,
    a_sibling_dispatcher_gets_404_on_another_subtrees_technician_and_its_forms,
    a_user_created_on_the_console_signs_in_through_the_api_with_the_password_shown_once,
    deactivating_a_user_on_its_edit_page_stops_its_session_and_tokens_at_once,
    an_admin_removes_one_territory_on_the_organisation_page_and_a_stale_removal_changes_nothing,
);

/// A technician form with every field filled (a whole-day shift all week, so any window fits).
fn technician_form<'a>(org: &'a str, name: &'a str, skill: &'a str, lat: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("org_id", org),
        ("name", name),
        ("skills", skill),
        ("lat", lat),
        ("lon", "100"),
        ("timezone", ""),
        ("shift_start", "00:00"),
        ("shift_end", "23:59"),
        ("daily_capacity", "10"),
        ("max_travel_km", ""),
        ("active", "true"),
    ];
    f.extend(["1", "2", "3", "4", "5", "6", "7"].map(|d| ("days", d)));
    f
}

/// A new organisation under the vendor, in Krasnoyarsk's zone, as the admin through the API.
async fn new_org(app: &TestApp, admin: &str, name: &str) -> anyhow::Result<String> {
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post("/v1/orgs", admin, &json!({"parent_id": vendor, "name": name, "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    Ok(org.str("id"))
}

/// Books (as the demo customer) a job needing `skill` at the fixtures' point within the hour; returns its id.
async fn book_needing(app: &TestApp, skill: &str) -> anyhow::Result<String> {
    let customer = app.login("customer@demo.sortie").await?;
    let mut b = booking();
    b["window"] = soon(app.clock.now(), 1, 3);
    b["location"] = json!({"lat": LAT, "lon": LON});
    b["required_skills"] = json!([skill]);
    let r = app.book(&customer, &b, None).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    Ok(r.str("id"))
}

/// The technicians of an organisation as the API lists them.
async fn api_technicians(app: &TestApp, admin: &str, org: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let list = app.get(&format!("/v1/technicians?org_id={org}&limit=100"), admin).await?;
    anyhow::ensure!(list.status == StatusCode::OK, "{}", list.body);
    Ok(list.body["items"].as_array().cloned().unwrap_or_default())
}

/// The id in `/console/{what}/{id}/edit?saved=1`.
fn id_in(location: Option<&str>, what: &str) -> String {
    location
        .and_then(|l| l.strip_prefix(&format!("/console/{what}/")))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned()
}

async fn an_admin_creates_a_technician_on_the_console_who_is_listed_by_the_api_and_offered_a_job_near_home(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let org = new_org(&app, &admin, "Web Admin Partner").await?;
    let mut web = WebClient::new(&app);
    web.sign_in("admin@demo.sortie").await?;

    // Act
    let form = web.get("/console/technicians/new").await?;
    let created =
        web.post("/console/technicians/new", &technician_form(&org, "Pavel Formov", "webform", "60.05"), true).await?;
    let id = id_in(created.location.as_deref(), "technicians");
    let job = book_needing(&app, "webform").await?;

    // Assert
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Web Admin Partner") && form.body.contains("data-pick"), "organisations and the map");
    let ru = web.get_with("/console/technicians/new", &[("Accept-Language", "ru-RU,ru")]).await?;
    assert!(
        ru.body.contains("Новый мастер") && ru.body.contains("Визитов в день") && ru.body.contains(" Пн</label>"),
        "Russian labels"
    );
    for id in [
        "org_id",
        "name",
        "skills",
        "lat",
        "lon",
        "timezone",
        "shift_start",
        "shift_end",
        "daily_capacity",
        "max_travel_km",
    ] {
        assert!(form.body.contains(&format!("for=\"{id}\"")), "a label for {id}");
    }
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let listed = api_technicians(&app, &admin, &org).await?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let t = &listed[0];
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["name"], "Pavel Formov");
    assert_eq!(t["skills"], json!(["webform"]));
    assert_eq!(t["home_base"], json!({"lat": 60.05, "lon": 100.0}));
    assert_eq!(t["timezone"], "Asia/Krasnoyarsk", "an empty zone is the organisation's");
    assert_eq!(t["shift"], json!({"start": "00:00", "end": "23:59", "days": [1, 2, 3, 4, 5, 6, 7]}));
    assert_eq!(
        (t["daily_capacity"].as_i64(), t["active"].as_bool(), t["max_travel_km"].is_null()),
        (Some(10), Some(true), true)
    );
    let view = app.get(&format!("/v1/jobs/{job}"), &admin).await?;
    assert_eq!(view.body["offer"]["org_id"], org.as_str(), "offered to its organisation: {}", view.body);
    let ex = app.get(&format!("/v1/jobs/{job}/explanation"), &admin).await?;
    let chosen = ex.body["decisions"].as_array().and_then(|d| d.last()).map(|d| d["chosen"].clone());
    assert_eq!(chosen, Some(json!(id)), "dispatch chose the new technician near its home: {}", ex.body);

    // The edit page shows what was saved; switching it off there takes it out of dispatch at once.
    let edit = web.get(&format!("/console/technicians/{id}/edit?saved=1")).await?;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit.body.contains("value=\"Pavel Formov\"") && edit.body.contains("value=\"Asia/Krasnoyarsk\""));
    let mut off = technician_form(&org, "Pavel Formov Jr", "webform", "60.05");
    off.retain(|(k, _)| *k != "active");
    let saved = web.post(&format!("/console/technicians/{id}/edit"), &off, true).await?;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let t = app.get(&format!("/v1/technicians/{id}"), &admin).await?;
    assert_eq!((t.body["name"].as_str(), t.body["active"].as_bool()), (Some("Pavel Formov Jr"), Some(false)));
    let next = book_needing(&app, "webform").await?;
    let view = app.get(&format!("/v1/jobs/{next}"), &admin).await?;
    assert_eq!(view.body["status"], "unassignable", "nobody else has the skill: {}", view.body);
    Ok(())
}

async fn bad_technician_input_re_renders_the_form_with_each_message_and_changes_nothing(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let org = new_org(&app, &admin, "Web Bad Input").await?;
    let mut web = WebClient::new(&app);
    web.sign_in("admin@demo.sortie").await?;
    let mut bad = technician_form(&org, "  ", "Bad Skill!", "95");
    bad.retain(|(k, _)| *k != "daily_capacity");
    bad.push(("daily_capacity", "500"));

    // Act
    let refused = web.post("/console/technicians/new", &bad, true).await?;
    let api = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": org, "name": "Api", "home_base": {"lat": 95, "lon": 100},
                "shift": {"start": "09:00", "end": "18:00"}, "daily_capacity": 5}),
        )
        .await?;

    // Assert: every refused field has the API's message beside it, and what was typed is still there.
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    for message in [
        "must not be blank",
        "must be 1-64 characters",
        "must be between -90 and 90",
        "must be between 0 and 100 visits",
    ] {
        assert!(refused.body.contains(message), "{message} missing");
    }
    assert!(refused.body.contains("value=\"Bad Skill!\"") && refused.body.contains("value=\"95\""), "input kept");
    assert!(refused.body.contains("value=\"500\"") && refused.body.contains("aria-invalid=\"true\""));
    assert_eq!((api.status, api.field()), (StatusCode::UNPROCESSABLE_ENTITY, "home_base.lat"));
    assert!(
        api.body["error"]["message"].as_str().unwrap_or_default().contains("must be between -90 and 90"),
        "the same rule"
    );
    assert!(api_technicians(&app, &admin, &org).await?.is_empty(), "nothing was created");

    // An edit with a zone that does not exist changes nothing either.
    let created =
        web.post("/console/technicians/new", &technician_form(&org, "Vera Valid", "webbad", "60.1"), true).await?;
    let id = id_in(created.location.as_deref(), "technicians");
    let mut zone = technician_form(&org, "Vera Renamed", "webbad", "60.1");
    zone.retain(|(k, _)| *k != "timezone");
    zone.push(("timezone", "Mars/Olympus"));
    let edit = web.post(&format!("/console/technicians/{id}/edit"), &zone, true).await?;
    assert_eq!(edit.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", edit.body);
    assert!(edit.body.contains("is not an IANA time zone") && edit.body.contains("value=\"Vera Renamed\""));
    let t = app.get(&format!("/v1/technicians/{id}"), &admin).await?;
    assert_eq!((t.body["name"].as_str(), t.body["timezone"].as_str()), (Some("Vera Valid"), Some("Asia/Krasnoyarsk")));
    Ok(())
}

async fn a_sibling_dispatcher_gets_404_on_another_subtrees_technician_and_its_forms(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webadmscope").await?;
    let mut own = WebClient::new(&app);
    own.sign_in(&f.dispatcher_email).await?;
    let mut sibling = WebClient::new(&app);
    sibling.sign_in("dispatcher@ural.demo.sortie").await?;
    let edit = format!("/console/technicians/{}/edit", f.technician);

    // Act
    let theirs = sibling.get(&edit).await?;
    let their_save = sibling.post(&edit, &technician_form(&f.org, "Taken Over", "webadmscope", "60.05"), true).await?;
    let their_create = sibling
        .post("/console/technicians/new", &technician_form(&f.org, "Planted", "webadmscope", "60.05"), true)
        .await?;
    let their_form = sibling.get("/console/technicians/new").await?;
    let mine = own.get(&edit).await?;
    let admin_role = own
        .post(
            "/console/users/new",
            &[("email", "boss@web.example"), ("role", "admin"), ("org_id", f.org.as_str())],
            true,
        )
        .await?;

    // Assert
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(!theirs.body.contains("Olga Webova"), "nothing of the technician leaks");
    assert_eq!(their_save.status, StatusCode::NOT_FOUND);
    assert_eq!(their_create.status, StatusCode::NOT_FOUND, "an organisation outside its subtree");
    assert!(!their_form.body.contains(&f.org), "the form offers only its own subtree");
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("value=\"Olga Webova\""));
    let t = app.get(&format!("/v1/technicians/{}", f.technician), &f.admin).await?;
    assert_eq!(t.body["name"], "Olga Webova", "unchanged");
    assert_eq!(api_technicians(&app, &f.admin, &f.org).await?.len(), 1, "nothing planted");
    assert_eq!(admin_role.status, StatusCode::FORBIDDEN, "a dispatcher creates no administrators");
    Ok(())
}

/// The password on the page that answered a new user.
fn shown_password(body: &str) -> String {
    body.split("id=\"new-password\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or_default().to_owned()
}

async fn a_user_created_on_the_console_signs_in_through_the_api_with_the_password_shown_once(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webnewuser").await?;
    let mut admin = WebClient::new(&app);
    admin.sign_in("admin@demo.sortie").await?;
    let mut dispatcher = WebClient::new(&app);
    dispatcher.sign_in(&f.dispatcher_email).await?;
    let petr = app
        .post(
            "/v1/technicians",
            &f.admin,
            &json!({"org_id": f.org, "name": "Petr Loginless", "home_base": {"lat": LAT, "lon": LON},
                "shift": {"start": "09:00", "end": "18:00"}, "daily_capacity": 5}),
        )
        .await?
        .str("id");

    // Act
    let form = admin.get("/console/users/new").await?;
    let created = admin
        .post(
            "/console/users/new",
            &[
                ("email", "New.Dispatcher@Web.Example"),
                ("name", "Nina"),
                ("role", "dispatcher"),
                ("org_id", f.org.as_str()),
            ],
            true,
        )
        .await?;
    let again = admin
        .post(
            "/console/users/new",
            &[("email", "new.dispatcher@web.example"), ("role", "dispatcher"), ("org_id", f.org.as_str())],
            true,
        )
        .await?;
    let login_form = dispatcher.get(&format!("/console/users/new?technician_id={petr}")).await?;
    let tech_login = dispatcher
        .post(
            "/console/users/new",
            &[("email", "petr@web.example"), ("role", "technician"), ("technician_id", petr.as_str())],
            true,
        )
        .await?;
    let second_login = dispatcher
        .post(
            "/console/users/new",
            &[("email", "olga2@web.example"), ("role", "technician"), ("technician_id", f.technician.as_str())],
            true,
        )
        .await?;
    let bad_email = admin
        .post("/console/users/new", &[("email", "not-an-address"), ("name", "Kept Name"), ("role", "reviewer")], true)
        .await?;

    // Assert
    assert!(form.body.contains("value=\"admin\"") && form.body.contains("Web webnewuser"), "roles and organisations");
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    let password = shown_password(&created.body);
    assert_eq!(password.chars().count(), 20, "{}", created.body);
    let token = app.login_with("new.dispatcher@web.example", &password).await?;
    let me = app.get("/v1/users/me", &token).await?;
    assert_eq!(
        (me.body["role"].as_str(), me.body["org_id"].as_str(), me.body["name"].as_str()),
        (Some("dispatcher"), Some(f.org.as_str()), Some("Nina"))
    );
    let id = me.str("id");
    let edit = admin.get(&format!("/console/users/{id}/edit")).await?;
    assert!(!edit.body.contains(&password), "shown once, never again");
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already exists"), "the e-mail is taken");
    assert!(
        login_form.body.contains("value=\"technician\" selected")
            || login_form.body.contains("selected value=\"technician\"")
    );
    assert_eq!(
        tech_login.status,
        StatusCode::CREATED,
        "a dispatcher makes its technician's login: {}",
        tech_login.body
    );
    let tech = app.login_with("petr@web.example", &shown_password(&tech_login.body)).await?;
    assert_eq!(app.get("/v1/users/me", &tech).await?.body["technician_id"], petr.as_str());
    assert_eq!(second_login.status, StatusCode::UNPROCESSABLE_ENTITY, "Olga has a login already");
    assert!(second_login.body.contains("already exists"));
    assert_eq!(bad_email.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_email.body.contains("must be an e-mail address") && bad_email.body.contains("value=\"Kept Name\""));
    Ok(())
}

async fn deactivating_a_user_on_its_edit_page_stops_its_session_and_tokens_at_once(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: the fixture's dispatcher signed in on the web and through the API.
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webdeact").await?;
    let login = app
        .call(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": f.dispatcher_email, "password": crate::web::WEB_PASSWORD})),
        )
        .await?;
    let (access, refresh) = (login.str("access_token"), login.str("refresh_token"));
    let id = app.get("/v1/users/me", &access).await?.str("id");
    let mut session = WebClient::new(&app);
    session.sign_in(&f.dispatcher_email).await?;
    let mut admin = WebClient::new(&app);
    admin.sign_in("admin@demo.sortie").await?;

    // Act
    let blank =
        admin.post(&format!("/console/users/{id}/edit"), &[("name", "\u{202E}evil"), ("active", "true")], true).await?;
    let off = admin.post(&format!("/console/users/{id}/edit"), &[("name", "Dina Dispatcher")], true).await?;

    // Assert
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY, "the API's name rule");
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    assert_eq!(app.get("/v1/users/me", &access).await?.status, StatusCode::UNAUTHORIZED, "the access token is dead");
    let refreshed =
        app.call(reqwest::Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh}))).await?;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED, "so is the refresh token");
    let page = session.get("/console/jobs").await?;
    assert_eq!(page.location.as_deref(), Some("/login?next=/console/jobs"), "the web session ended");
    let user = app.get(&format!("/v1/users/{id}"), &f.admin).await?;
    assert_eq!((user.body["name"].as_str(), user.body["active"].as_bool()), (Some("Dina Dispatcher"), Some(false)));
    let edit = admin.get(&format!("/console/users/{id}/edit")).await?;
    assert!(edit.body.contains("value=\"Dina Dispatcher\"") && !edit.body.contains("checked"), "shown inactive");
    Ok(())
}

/// A square territory of `d` degrees around (lat, lon).
fn square(lat: f64, lon: f64, d: f64) -> serde_json::Value {
    json!({"geometry": {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
        [lon - d, lat + d], [lon - d, lat - d]]]}, "exclusive": false})
}

async fn an_admin_removes_one_territory_on_the_organisation_page_and_a_stale_removal_changes_nothing(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: two territories, put through the API.
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let org = new_org(&app, &admin, "Web Territories").await?;
    let body = json!([square(LAT, LON, 0.5), square(LAT + 3.0, LON, 0.5)]);
    let put = app.call(reqwest::Method::PUT, &format!("/v1/orgs/{org}/territories"), Some(&admin), Some(&body)).await?;
    assert!(put.status.is_success(), "{}", put.body);
    let mut web = WebClient::new(&app);
    web.sign_in("admin@demo.sortie").await?;
    let page = web.get(&format!("/console/orgs/{org}")).await?;
    let ids: Vec<String> = page
        .body
        .split("name=\"remove\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();

    // Act
    let removed = web.post(&format!("/console/orgs/{org}/territories"), &[("remove", ids[0].as_str())], true).await?;
    let stale = web.post(&format!("/console/orgs/{org}/territories"), &[("remove", ids[1].as_str())], true).await?;

    // Assert
    assert_eq!(ids.len(), 2, "a remove button per territory");
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert_eq!(stale.status, StatusCode::CONFLICT, "the list changed since that page was drawn");
    let left = app.get(&format!("/v1/orgs/{org}/territories"), &admin).await?;
    let left = left.body.as_array().cloned().unwrap_or_default();
    assert_eq!(left.len(), 1, "{left:?}");
    let kept = left[0]["geometry"]["coordinates"][0][0][1].as_f64().unwrap_or_default();
    assert!([LAT - 0.5, LAT + 2.5].iter().any(|l| (kept - l).abs() < 1e-9), "one of the two is left untouched: {kept}");
    let after = web.get(&format!("/console/orgs/{org}")).await?;
    assert_eq!(after.body.matches("name=\"remove\"").count(), 1);
    Ok(())
}
