//! The web pages over plain HTTP (both backends): sign-in cookies, CSRF,
//! scope (404 outside it), security headers, languages. The browser flows
//! are in `browser.rs`.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, booking, soon};
use api::clock::Clock as _;

both_backends!(
    signing_in_sets_a_session_cookie_that_leads_each_role_home_and_signing_out_ends_it,
    a_form_post_without_the_csrf_token_is_refused_and_changes_nothing,
    a_dispatcher_gets_404_for_a_job_of_another_subtree_and_sees_its_own,
    pages_send_security_headers_and_speak_the_browsers_language,
    a_customer_books_on_the_form_lands_on_tracking_and_can_cancel_there,
    a_dispatcher_declines_with_a_reason_and_subcontracts_from_the_job_page,
    an_admin_sets_an_agreement_on_the_organisation_page_and_a_dispatcher_may_only_read_it,
    deactivating_a_user_on_the_users_page_ends_its_web_session_at_once,
);

/// A browser without JavaScript: keeps cookies, follows no redirects.
pub struct WebClient {
    pub base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// A page as fetched.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first hidden input `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        self.body.split(&marker).nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default().to_owned()
    }
}

impl WebClient {
    pub fn new(app: &TestApp) -> WebClient {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        WebClient { base: app.base.clone(), client, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, res: reqwest::Response) -> anyhow::Result<Page> {
        for c in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = c.to_str()?;
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let status = res.status();
        let location = res.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        let headers = res.headers().clone();
        Ok(Page { status, location, headers, body: res.text().await? })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Page> {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Page> {
        let mut req = self.client.get(format!("{}{path}", self.base)).header("Cookie", self.cookie_header());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await?;
        self.read(res).await
    }

    /// Posts a form; the CSRF token is added unless `csrf` is false.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)], csrf: bool) -> anyhow::Result<Page> {
        let mut fields: Vec<(String, String)> = form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if csrf {
            fields.push(("csrf".into(), self.cookies.get("sortie_csrf").cloned().unwrap_or_default()));
        }
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .form(&fields)
            .send()
            .await?;
        self.read(res).await
    }

    /// Signs in through `/login` (the demo password, or the fixtures' for their users); returns where it led.
    pub async fn sign_in(&mut self, email: &str) -> anyhow::Result<String> {
        let password = if email.ends_with("@web.example") { WEB_PASSWORD } else { PASSWORD };
        self.get("/login").await?;
        let r = self.post("/login", &[("email", email), ("password", password)], true).await?;
        anyhow::ensure!(r.status == StatusCode::SEE_OTHER, "sign-in of {email}: {} {}", r.status, r.body);
        Ok(r.location.unwrap_or_default())
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }
}

/// An organisation of its own (a dispatcher and one technician with a skill nobody else has), so a
/// booking needing that skill is offered to it.
pub struct OfferFixture {
    pub org: String,
    pub dispatcher_email: String,
    pub technician: String,
    pub technician_email: String,
    pub admin: String,
}

/// The fixtures' users' password.
pub const WEB_PASSWORD: &str = "web-password";
pub const LAT: f64 = 60.0;
pub const LON: f64 = 100.0;

pub async fn offer_fixture(app: &TestApp, skill: &str) -> anyhow::Result<OfferFixture> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post(
            "/v1/orgs",
            &admin,
            &json!({"parent_id": vendor, "name": format!("Web {skill}"), "timezone": "Asia/Krasnoyarsk"}),
        )
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    let org = org.str("id");
    let t = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": org, "name": "Olga Webova", "skills": [skill], "home_base": {"lat": LAT + 0.05, "lon": LON},
                "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    let technician = t.str("id");
    let dispatcher_email = format!("dispatcher-{skill}@web.example");
    let d = app
        .post(
            "/v1/users",
            &admin,
            &json!({"email": dispatcher_email, "password": WEB_PASSWORD, "role": "dispatcher", "org_id": org}),
        )
        .await?;
    anyhow::ensure!(d.status == StatusCode::CREATED, "{}", d.body);
    let technician_email = format!("tech-{skill}@web.example");
    let u = app
        .post(
            "/v1/users",
            &admin,
            &json!({"email": technician_email, "password": WEB_PASSWORD, "role": "technician", "technician_id": technician}),
        )
        .await?;
    anyhow::ensure!(u.status == StatusCode::CREATED, "{}", u.body);
    Ok(OfferFixture { org, dispatcher_email, technician, technician_email, admin })
}

/// Books (as the demo customer, through the API) a job needing `skill`, with a window starting within the hour.
pub async fn offered_job(app: &TestApp, f: &OfferFixture, skill: &str) -> anyhow::Result<String> {
    let customer = app.login("customer@demo.sortie").await?;
    let mut b = booking();
    b["window"] = soon(app.clock.now(), 1, 3);
    b["location"] = json!({"lat": LAT, "lon": LON});
    b["required_skills"] = json!([skill]);
    let r = app.book(&customer, &b, None).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    let id = r.str("id");
    let job = app.get(&format!("/v1/jobs/{id}"), &f.admin).await?;
    anyhow::ensure!(job.body["offer"]["org_id"] == f.org.as_str(), "not offered to the fixture: {}", job.body);
    Ok(id)
}

async fn signing_in_sets_a_session_cookie_that_leads_each_role_home_and_signing_out_ends_it(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let mut anonymous = WebClient::new(&app);

    // Act / Assert: strangers go to sign-in, each role to its page.
    assert_eq!(anonymous.get("/").await?.location.as_deref(), Some("/login"));
    assert_eq!(anonymous.get("/console/jobs").await?.location.as_deref(), Some("/login?next=/console/jobs"));
    for (email, home) in [
        ("customer@demo.sortie", "/book"),
        ("reviewer@demo.sortie", "/console/reviews"),
        ("admin@demo.sortie", "/console/jobs"),
    ] {
        let mut web = WebClient::new(&app);
        assert_eq!(web.sign_in(email).await?, home, "{email}");
        let login = web.get("/login").await?;
        let set = login.headers.get_all("set-cookie").iter().count();
        assert_eq!(set, 0, "no new cookies once signed in");
        assert_eq!(web.get("/").await?.location.as_deref(), Some(home));
        assert_eq!(web.get(home).await?.status, StatusCode::OK, "{email} opens {home}");
        // Each role sees only its pages: the others answer 403 with a page saying so.
        for other in ["/book", "/console/jobs", "/console/reviews", "/console/orgs"] {
            let may = match email {
                "customer@demo.sortie" => other == "/book",
                "reviewer@demo.sortie" => other == "/console/reviews",
                _ => true,
            };
            let r = web.get(other).await?;
            let expected = if may { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(r.status, expected, "{email} on {other}");
        }
    }
    let mut web = WebClient::new(&app);
    web.get("/login").await?;
    let r = web.post("/login", &[("email", "customer@demo.sortie"), ("password", PASSWORD)], true).await?;
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("sortie_session="));
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: not Secure ({cookie})");
    let wrong =
        WebClient::new(&app).post("/login", &[("email", "customer@demo.sortie"), ("password", "nope")], false).await?;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "no CSRF cookie, no sign-in");
    let mut bad = WebClient::new(&app);
    bad.get("/login").await?;
    let wrong = bad.post("/login", &[("email", "customer@demo.sortie"), ("password", "nope")], true).await?;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!bad.has_cookie("sortie_session"));
    // Signing out ends the session: the old cookie no longer opens the page.
    let out = web.post("/logout", &[], true).await?;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(web.get("/book").await?.location.as_deref(), Some("/login?next=/book"));
    // The board's htmx refresh after the session ended sends the page to sign-in instead of swapping a form in.
    let refresh = web.get_with("/console/jobs/board", &[("HX-Request", "true")]).await?;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh.headers.get("hx-redirect").and_then(|v| v.to_str().ok()), Some("/login"));
    Ok(())
}

async fn a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webcsrf").await?;
    let job = offered_job(&app, &f, "webcsrf").await?;
    let mut web = WebClient::new(&app);
    web.sign_in(&f.dispatcher_email).await?;

    // Act
    let path = format!("/console/jobs/{job}/accept");
    let without = web.post(&path, &[("technician_id", &f.technician)], false).await?;
    let wrong = web.post(&path, &[("technician_id", &f.technician), ("csrf", "x".repeat(43).as_str())], false).await?;

    // Assert
    assert_eq!(without.status, StatusCode::FORBIDDEN, "{}", without.body);
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let still = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(still.body["status"], "offered", "nothing changed: {}", still.body);
    // The same post with the token goes through.
    let with = web.post(&path, &[("technician_id", &f.technician)], true).await?;
    assert_eq!(with.status, StatusCode::SEE_OTHER, "{}", with.body);
    let done = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(done.body["status"], "scheduled");
    assert_eq!(done.body["technician_id"], f.technician.as_str());
    Ok(())
}

async fn a_dispatcher_gets_404_for_a_job_of_another_subtree_and_sees_its_own(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webscope").await?;
    let job = offered_job(&app, &f, "webscope").await?;
    let mut own = WebClient::new(&app);
    own.sign_in(&f.dispatcher_email).await?;
    let mut sibling = WebClient::new(&app);
    sibling.sign_in("dispatcher@ural.demo.sortie").await?;

    // Act
    let mine = own.get(&format!("/console/jobs/{job}")).await?;
    let theirs = sibling.get(&format!("/console/jobs/{job}")).await?;
    let their_board = sibling.get("/console/jobs").await?;
    let their_accept = sibling.post(&format!("/console/jobs/{job}/accept"), &[], true).await?;

    // Assert
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("Olga Webova"), "the picker offers the fixture's technician");
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(!theirs.body.contains("Tverskaya"), "nothing of the job leaks");
    assert!(!their_board.body.contains(&job), "not on the sibling's board");
    assert_eq!(their_accept.status, StatusCode::NOT_FOUND);
    let board = own.get("/console/jobs").await?;
    assert!(board.body.contains(&format!("data-job=\"{job}\"")), "on its own board");
    assert!(board.body.contains("(UTC+07:00)"), "times in its organisation's zone (Krasnoyarsk)");
    Ok(())
}

async fn pages_send_security_headers_and_speak_the_browsers_language(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let mut web = WebClient::new(&app);

    // Act
    let ru = web.get_with("/login", &[("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.5")]).await?;
    let en = web.get_with("/login", &[("Accept-Language", "en-GB,en;q=0.9")]).await?;
    let switched = web.get("/lang/ru?next=/login").await?;
    let after_switch = web.get_with("/login", &[("Accept-Language", "en")]).await?;

    // Assert
    let csp = ru.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(ru.headers.get("x-content-type-options").map(|v| v.to_str().unwrap_or("")), Some("nosniff"));
    assert!(!ru.body.contains("<script>") && !ru.body.contains("onclick="), "no inline scripts");
    assert!(ru.body.contains("lang=\"ru\"") && ru.body.contains("Пароль"), "Russian labels");
    assert!(en.body.contains("lang=\"en\"") && en.body.contains("Password"));
    assert_eq!(switched.location.as_deref(), Some("/login"));
    assert!(after_switch.body.contains("Пароль"), "the switch wins over the header");
    // Every input has a label.
    for id in ["email", "password"] {
        assert!(ru.body.contains(&format!("for=\"{id}\"")), "label for {id}");
    }
    // Assets come from the binary, cached for a year.
    let css =
        ru.body.split("href=\"").find(|s| s.starts_with("/assets/")).and_then(|s| s.split('"').next()).unwrap_or("");
    let asset = web.get(css).await?;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.headers["cache-control"].to_str()?.contains("immutable"));
    assert!(web.get("/lang/en?next=//evil.example").await?.location.as_deref() == Some("/"), "no open redirect");
    Ok(())
}

async fn a_customer_books_on_the_form_lands_on_tracking_and_can_cancel_there(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let mut web = WebClient::new(&app);
    web.sign_in("customer@demo.sortie").await?;
    let form = web.get("/book").await?;
    let (start, end) = (form.hidden("window_start"), form.hidden("window_end"));
    let start = form
        .body
        .split("name=\"window_start\" required value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or(&start)
        .to_owned();
    let end = form
        .body
        .split("name=\"window_end\" required value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or(&end)
        .to_owned();
    let idem = form.hidden("idem");
    let fields = [
        ("idem", idem.as_str()),
        ("kind", "home_visit"),
        ("address", "Москва, Тверская улица 7"),
        ("lat", ""),
        ("lon", ""),
        ("problem", "The laptop does not start"),
        ("window_start", start.as_str()),
        ("window_end", end.as_str()),
        ("tz_offset", "180"),
        ("contact_name", "Anna"),
        ("contact_phone", "+7 916 000-11-22"),
        ("consent", "on"),
    ];

    // Act
    let booked = web.post("/book", &fields, true).await?;
    let again = web.post("/book", &fields, true).await?;
    let missing = web
        .post(
            "/book",
            &[
                ("kind", "home_visit"),
                ("address", "Nowhere street"),
                ("problem", "x"),
                ("consent", "on"),
                ("window_start", start.as_str()),
                ("window_end", end.as_str()),
            ],
            true,
        )
        .await?;

    let unticked: Vec<(&str, &str)> = fields.iter().copied().filter(|(k, _)| *k != "consent" && *k != "idem").collect();
    let no_consent = web.post("/book", &unticked, true).await?;

    // Assert
    assert_eq!(no_consent.status, StatusCode::UNPROCESSABLE_ENTITY, "a customer must tick the consent");
    assert!(no_consent.body.contains("согласие") || no_consent.body.contains("consent"), "says why");
    assert_eq!(booked.status, StatusCode::SEE_OTHER, "{}", booked.body);
    let token = app.login("customer@demo.sortie").await?;
    let export = app.get("/v1/customers/me/export?limit=1", &token).await?;
    let consents = export.body["consents"].as_array().cloned().unwrap_or_default();
    assert_eq!(consents.len(), 1, "the ticked box is recorded once: {}", export.body["consents"]);
    assert_eq!(consents[0]["personal_data"], true);
    let track = booked.location.clone().unwrap_or_default();
    assert!(track.starts_with("/track/"), "{track}");
    assert_eq!(again.location.as_deref(), Some(track.as_str()), "a double submit is one request");
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.body.contains("location"), "names the missing point");
    let page = web.get(&track).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Москва, Тверская улица 7") && page.body.contains("id=\"stage\""));
    assert!(page.body.contains("55.75"), "the city in the address placed the point: {}", page.body.len());
    let live = web.get(&format!("{track}/live")).await?;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.body.contains("id=\"stage\"") && !live.body.contains("<html"), "the live part alone");
    // A stranger with the link sees the stage but no buttons.
    let mut stranger = WebClient::new(&app);
    let public = stranger.get(&track).await?;
    assert_eq!(public.status, StatusCode::OK);
    assert!(!public.body.contains("/cancel\""), "no cancel form for a stranger");
    let refused = stranger.post(&format!("{track}/cancel"), &[], true).await?;
    assert!(refused.location.as_deref().is_some_and(|l| l.starts_with("/login")), "changes need the customer");
    // The customer moves the window from the page (one hour later).
    let later = |v: &str| {
        chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
            .map(|t| (t + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    let (new_start, new_end) = (later(&start), later(&end));
    let moved = web
        .post(
            &format!("{track}/reschedule"),
            &[("window_start", new_start.as_str()), ("window_end", new_end.as_str()), ("tz_offset", "180")],
            true,
        )
        .await?;
    assert_eq!(moved.location.as_deref(), Some(track.as_str()), "{}", moved.body);
    let page = web.get(&track).await?;
    assert!(page.body.contains(&new_start[11..]), "the new window shows: {new_start}");
    // The customer cancels from the page.
    let cancelled = web.post(&format!("{track}/cancel"), &[("reason", "solved it myself")], true).await?;
    assert_eq!(cancelled.location.as_deref(), Some(track.as_str()), "{}", cancelled.body);
    let page = web.get(&track).await?;
    assert!(page.body.contains("data-stage=\"cancelled\""), "cancelled on the page");
    Ok(())
}

async fn a_dispatcher_declines_with_a_reason_and_subcontracts_from_the_job_page(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: the fixture's organisation with a child organisation of its own.
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webdecline").await?;
    let child = app
        .post("/v1/orgs", &f.admin, &json!({"parent_id": f.org, "name": "Web Child", "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    let child = child.str("id");
    let declined = offered_job(&app, &f, "webdecline").await?;
    let passed = offered_job(&app, &f, "webdecline").await?;
    let mut web = WebClient::new(&app);
    web.sign_in(&f.dispatcher_email).await?;

    // Act
    let page = web.get(&format!("/console/jobs/{passed}")).await?;
    let blank = web.post(&format!("/console/jobs/{declined}/decline"), &[("reason", "  ")], true).await?;
    let decline =
        web.post(&format!("/console/jobs/{declined}/decline"), &[("reason", "No one free today")], true).await?;
    let sub = web.post(&format!("/console/jobs/{passed}/subcontract"), &[("org_id", child.as_str())], true).await?;

    // Assert
    assert!(page.body.contains("Web Child"), "the child organisation is offered for subcontracting");
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY, "a decline needs a reason");
    assert_eq!(decline.status, StatusCode::SEE_OTHER, "{}", decline.body);
    let events = app.get(&format!("/v1/jobs/{declined}/events?limit=200"), &f.admin).await?;
    let reasons: Vec<&serde_json::Value> =
        events.body["items"].as_array().into_iter().flatten().filter(|e| e["type"] == "declined").collect();
    assert_eq!(reasons.len(), 1, "{}", events.body);
    assert!(reasons[0]["data"].to_string().contains("No one free today"), "{}", reasons[0]);
    assert_eq!(sub.status, StatusCode::SEE_OTHER, "{}", sub.body);
    let job = app.get(&format!("/v1/jobs/{passed}"), &f.admin).await?;
    assert_eq!(job.body["offer"]["org_id"], child.as_str(), "offered to the child now: {}", job.body);
    let board = web.get("/console/jobs").await?;
    assert!(
        !board.body.contains(&format!("article class=\"card offer\" data-job=\"{passed}\"")),
        "not our offer any more"
    );
    Ok(())
}

async fn an_admin_sets_an_agreement_on_the_organisation_page_and_a_dispatcher_may_only_read_it(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webagree").await?;
    let mut admin = WebClient::new(&app);
    admin.sign_in("admin@demo.sortie").await?;
    let mut dispatcher = WebClient::new(&app);
    dispatcher.sign_in(&f.dispatcher_email).await?;
    let form = [
        ("accept_low", "240"),
        ("accept_normal", "90"),
        ("accept_high", "30"),
        ("accept_urgent", "10"),
        ("arrive_low", "2880"),
        ("arrive_normal", "1440"),
        ("arrive_high", "480"),
        ("arrive_urgent", "120"),
        ("first_time_fix_target", "0.85"),
    ];
    let path = format!("/console/orgs/{}/agreement", f.org);

    // Act
    let before = admin.get(&format!("/console/orgs/{}", f.org)).await?;
    let refused = dispatcher.post(&path, &form, true).await?;
    let saved = admin.post(&path, &form, true).await?;
    let mut bad = form;
    bad[8] = ("first_time_fix_target", "1.5");
    let invalid = admin.post(&path, &bad, true).await?;

    // Assert
    assert!(before.body.contains("id=\"inherited\""), "a new organisation inherits its agreement");
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = app.get(&format!("/v1/orgs/{}/agreement", f.org), &f.admin).await?;
    assert_eq!(a.body["accept_within_min"]["normal"], 90, "{}", a.body);
    assert_eq!(a.body["arrive_within_min"]["urgent"], 120);
    assert_eq!(a.body["first_time_fix_target"], 0.85);
    let page = dispatcher.get(&format!("/console/orgs/{}", f.org)).await?;
    assert!(!page.body.contains("id=\"inherited\"") && page.body.contains("value=\"90\""), "its own now, readable");
    assert!(!page.body.contains("save-agreement"), "no save button for a dispatcher");
    Ok(())
}

async fn deactivating_a_user_on_the_users_page_ends_its_web_session_at_once(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = offer_fixture(&app, "webusers").await?;
    let mut admin = WebClient::new(&app);
    admin.sign_in("admin@demo.sortie").await?;
    let mut dispatcher = WebClient::new(&app);
    dispatcher.sign_in(&f.dispatcher_email).await?;
    let list = admin.get("/console/users").await?;
    let id = list
        .body
        .split("data-user=\"")
        .skip(1)
        .find(|row| row.contains(&f.dispatcher_email))
        .and_then(|row| row.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let admin_id = list
        .body
        .split("data-user=\"")
        .skip(1)
        .find(|row| row.contains("admin@demo.sortie"))
        .and_then(|row| row.split('"').next())
        .unwrap_or_default()
        .to_owned();

    // Act
    let theirs = dispatcher.get("/console/users").await?;
    let upward = dispatcher.post(&format!("/console/users/{admin_id}/active"), &[("active", "false")], true).await?;
    let off = admin.post(&format!("/console/users/{id}/active"), &[("active", "false")], true).await?;
    let after = dispatcher.get("/console/jobs").await?;

    // Assert
    assert!(!id.is_empty() && !admin_id.is_empty(), "both listed for the admin");
    assert!(
        theirs.body.contains(&f.dispatcher_email) && !theirs.body.contains("admin@demo.sortie"),
        "its subtree only"
    );
    assert_eq!(upward.status, StatusCode::NOT_FOUND, "a dispatcher cannot touch the admin");
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    assert_eq!(after.location.as_deref(), Some("/login?next=/console/jobs"), "the session ended at once");
    assert!(admin.get("/console/users").await?.body.contains("Activate"));
    Ok(())
}
