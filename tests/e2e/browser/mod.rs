//! The web pages in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver (fantoccini) against the real
//! server on SQLite. Without a browser the tests are skipped loudly, except
//! under `CI=true`, where they fail. Each page is checked for basic
//! accessibility and saved as a screenshot under `target/web-screenshots/`.

mod bench;
mod driver;
mod proxy;
mod tech_app;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, Phone, TestApp, set_status};
use crate::web::{WEB_PASSWORD, offer_fixture, offered_job};
use driver::{Browser, ONE_BROWSER, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_books_on_the_map_and_lands_on_the_tracking_page() -> anyhow::Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;

    b.client.goto(&format!("{}/login", app.base)).await?;
    b.wait_for("#email").await?;
    b.screenshot("login").await?;
    b.sign_in(&app.base, "customer@demo.sortie", PASSWORD).await?;
    b.wait_for_path("/book").await?;
    b.map_drawn().await?;
    b.fill("#address", "Tverskaya 1, Moscow").await?;
    // A tap on the map sets the point (the map opens over Moscow).
    b.click("div.map").await?;
    let lat = b.wait_for("#lat").await?;
    let started = Instant::now();
    while lat.prop("value").await?.unwrap_or_default().is_empty() {
        anyhow::ensure!(started.elapsed() < WAIT, "the map never set the point");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.fill("#problem", "The cash register does not print receipts").await?;
    b.fill("#contact_name", "Ivan Petrov").await?;
    b.fill("#contact_phone", "+7 916 123-45-67").await?;
    b.click("#consent").await?;
    b.screenshot("book").await?;
    b.click("#submit-book").await?;

    let path = b.wait_for_path("/track/").await?;
    let stage = b.wait_for("#stage").await?.text().await?;
    b.map_drawn().await?;
    b.screenshot("track").await?;
    assert!(!stage.is_empty());
    let token = path.trim_start_matches("/track/");
    let tracked = app.call(reqwest::Method::GET, &format!("/v1/track/{token}"), None, None).await?;
    assert_eq!(tracked.status, StatusCode::OK, "the page's link is the API's tracking token");
    let history = b.client.find_all(Locator::Css("ol.history li")).await?;
    assert!(!history.is_empty(), "the history shows the booking");
    b.client.clone().close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_sees_the_offer_accepts_it_with_a_picked_technician_and_it_leaves_the_offers() -> anyhow::Result<()>
{
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "webaccept").await?;
    let job = offered_job(&app, &f, "webaccept").await?;

    b.sign_in(&app.base, &f.dispatcher_email, WEB_PASSWORD).await?;
    b.wait_for_path("/console/jobs").await?;
    let card = format!("#offers article[data-job='{job}']");
    b.wait_for(&format!("{card} .countdown")).await?;
    b.screenshot("board").await?;
    // A new offer appears on its own: htmx swaps the board, the page is never reloaded.
    b.client.execute("window.sortieStay = 42; return null;", vec![]).await?;
    let second = offered_job(&app, &f, "webaccept").await?;
    b.wait_for(&format!("#offers article[data-job='{second}'] .countdown")).await?;
    assert_eq!(b.client.execute("return window.sortieStay;", vec![]).await?, json!(42), "no full reload");
    b.click(&format!("{card} h3 a")).await?;
    b.wait_for_path(&format!("/console/jobs/{job}")).await?;
    let picker = b.wait_for("#technician_id").await?;
    picker.select_by_value(&f.technician).await?;
    b.map_drawn().await?;
    b.screenshot("job").await?;
    b.click("#offer-actions button.accept").await?;
    b.wait_gone("#offer-actions").await?;
    let status = b.wait_for("#job-status").await?.attr("data-status").await?;
    assert_eq!(status.as_deref(), Some("scheduled"));

    b.client.goto(&format!("{}/console/jobs", app.base)).await?;
    b.wait_for("#board").await?;
    assert!(b.client.find_all(Locator::Css(&card)).await?.is_empty(), "the offer left the offers column");
    let view = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(view.body["technician_id"], f.technician.as_str());
    // Its technicians on the map: one organisation, one technician, one point.
    b.client.goto(&format!("{}/console/technicians", app.base)).await?;
    b.map_drawn().await?;
    b.wait_for("#tech-map path.leaflet-interactive").await?;
    assert_eq!(b.client.find_all(Locator::Css("#tech-map path.leaflet-interactive")).await?.len(), 1);
    b.screenshot("technicians").await?;
    // The technician's day: the accepted visit on the route, with its planned times (Krasnoyarsk is UTC+7).
    let start = view.body["window"]["start"].as_str().unwrap_or_default().to_owned();
    let day = chrono::DateTime::parse_from_rfc3339(&start)?
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).expect("offset"));
    b.click(&format!("a[href='/console/technicians/{}']", f.technician)).await?;
    b.wait_for_path(&format!("/console/technicians/{}", f.technician)).await?;
    b.client.goto(&format!("{}/console/technicians/{}?date={}", app.base, f.technician, day.date_naive())).await?;
    b.wait_for(&format!("#route tr.stop[data-job='{job}']")).await?;
    b.map_drawn().await?;
    b.screenshot("route").await?;
    // A sibling partner's dispatcher gets the not-found page on the job's URL.
    b.sign_out().await?;
    b.sign_in(&app.base, "dispatcher@ural.demo.sortie", PASSWORD).await?;
    b.client.goto(&format!("{}/console/jobs/{job}", app.base)).await?;
    let h1 = b.wait_for("main h1").await?.text().await?;
    assert_eq!(h1, "Not found");
    b.screenshot("not-found").await?;
    b.client.clone().close().await?;
    Ok(())
}

const PNG_HEX: &str = "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc0000001149444154789c63e00e9e8215310c2d090081e13c81d00ee2470000000049454e44ae426082";

/// Books a job needing `skill`, has the fixture's dispatcher accept it for its technician and the technician
/// complete it with a note (through the API and the phone protocol): the job waits in review.
async fn job_in_review(app: &TestApp, f: &super::web::OfferFixture, skill: &str, note: &str) -> anyhow::Result<String> {
    let job = offered_job(app, f, skill).await?;
    let dispatcher = app.login_with(&f.dispatcher_email, WEB_PASSWORD).await?;
    let r = app.post(&format!("/v1/jobs/{job}/accept"), &dispatcher, &json!({"technician_id": f.technician})).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    let tech = app.login_with(&f.technician_email, WEB_PASSWORD).await?;
    // An 8×8 blue PNG: the photo, and the signature image.
    let png: Vec<u8> =
        (0..PNG_HEX.len()).step_by(2).map(|i| u8::from_str_radix(&PNG_HEX[i..i + 2], 16)).collect::<Result<_, _>>()?;
    let sha = api::app::sync::sha256_hex(&png);
    let put = app.client.put(format!("{}/v1/photos/{sha}", app.base)).bearer_auth(&tech).body(png).send().await?;
    anyhow::ensure!(put.status().is_success(), "photo upload: {}", put.status());
    let mut phone = Phone::register(app, &tech).await?;
    phone.pull().await?;
    phone
        .push(&[
            set_status(&job, "en_route"),
            set_status(&job, "on_site"),
            ("job.add_note", json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": note})),
            (
                "job.attach_photo",
                json!({"job_id": job, "photo_id": uuid::Uuid::new_v4(), "sha256": sha, "taken_at": chrono::Utc::now().to_rfc3339()}),
            ),
            ("job.sign", json!({"job_id": job, "signer_name": "Ivan Petrov", "image_sha256": sha})),
            set_status(&job, "completed"),
        ])
        .await?;
    Ok(job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_returns_one_job_with_a_reason_and_approves_another_whose_customer_then_rates_it()
-> anyhow::Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "webreview").await?;
    let approved = job_in_review(&app, &f, "webreview", "Replaced the print head").await?;
    let returned = job_in_review(&app, &f, "webreview", "Cleaned the contacts").await?;

    b.sign_in(&app.base, "reviewer@demo.sortie", PASSWORD).await?;
    b.wait_for_path("/console/reviews").await?;
    let card = |job: &str| format!("article.review[data-job='{job}']");
    let text = b.wait_for(&card(&approved)).await?.text().await?;
    assert!(text.contains("Replaced the print head"), "the work report is shown: {text}");
    b.wait_for(&card(&returned)).await?;
    // The photo and the signature load through the session (`/console/photos/{sha256}`).
    let started = Instant::now();
    loop {
        let loaded = b
            .client
            .execute(
                &format!(
                    "return [...document.querySelectorAll(\"article.review[data-job='{approved}'] .photos img\")]\
                     .map(i => i.complete && i.naturalWidth === 8);"
                ),
                vec![],
            )
            .await?;
        if loaded == json!([true, true]) {
            break;
        }
        anyhow::ensure!(started.elapsed() < WAIT, "photo and signature never loaded: {loaded}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.screenshot("reviews").await?;
    b.fill(&format!("{} input.return-reason", card(&returned)), "The receipt is still blank").await?;
    b.click(&format!("{} button.return", card(&returned))).await?;
    b.wait_gone(&card(&returned)).await?;
    b.click(&format!("{} button.approve", card(&approved))).await?;
    b.wait_gone(&card(&approved)).await?;

    let view = app.get(&format!("/v1/jobs/{approved}"), &f.admin).await?;
    assert_eq!(view.body["status"], "approved");
    let back = app.get(&format!("/v1/jobs/{returned}/events?limit=200"), &f.admin).await?;
    let reasons: Vec<&serde_json::Value> =
        back.body["items"].as_array().into_iter().flatten().filter(|e| e["type"] == "review_returned").collect();
    assert_eq!(reasons.len(), 1, "{}", back.body);
    assert_eq!(reasons[0]["data"]["reason"], "The receipt is still blank");

    // The approved job's customer finds the survey on the tracking page and answers it.
    let customer = app.login("customer@demo.sortie").await?;
    let request = app.get(&format!("/v1/requests/{approved}"), &customer).await?;
    let track = format!("{}/track/{}", app.base, request.str("tracking_token"));
    b.sign_out().await?;
    b.client.goto(&track).await?;
    b.click("a.badge[href^='/survey/']").await?;
    b.wait_for_path("/survey/").await?;
    b.wait_for("#nps").await?.select_by_value("9").await?;
    b.wait_for("#csat").await?.select_by_value("5").await?;
    b.wait_for("#ces").await?.select_by_value("2").await?;
    b.fill("#comment", "Quick and tidy").await?;
    b.screenshot("survey").await?;
    b.click("form.stack button[type=submit]").await?;
    b.wait_for("#thanks").await?;

    // The partner's Service section shows the answer: NPS 100 from one promoter, and the comment.
    b.sign_in(&app.base, &f.dispatcher_email, WEB_PASSWORD).await?;
    b.client.goto(&format!("{}/console/service", app.base)).await?;
    let comments = b.wait_for("ul.comments").await?.text().await?;
    assert!(comments.contains("Quick and tidy"), "{comments}");
    let total = b.wait_for("#service-figures tr.total").await?.text().await?;
    assert!(total.contains("100"), "NPS 100 with one promoter: {total}");
    assert_eq!(b.client.find_all(Locator::Css("figure.chart svg")).await?.len(), 3);
    b.screenshot("service").await?;
    b.client.clone().close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_draws_a_territory_on_the_map() -> anyhow::Result<()> {
    use fantoccini::actions::{InputSource as _, MouseActions, PointerAction};
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "webadmin").await?;

    b.sign_in(&app.base, "admin@demo.sortie", PASSWORD).await?;
    b.client.goto(&format!("{}/console/users", app.base)).await?;
    b.wait_for("#users tr[data-user]").await?;
    b.screenshot("users").await?;
    b.client.goto(&format!("{}/console/orgs", app.base)).await?;
    b.wait_for("ul.tree").await?;
    b.screenshot("orgs").await?;
    b.click(&format!("a[href='/console/orgs/{}']", f.org)).await?;
    b.wait_for_path(&format!("/console/orgs/{}", f.org)).await?;
    b.map_drawn().await?;
    assert_eq!(b.wait_for("#territory-count").await?.text().await?, "0");
    // Three taps on the map, apart in time and place, are the corners.
    let map = b.wait_for("#org-map").await?;
    let mut taps = MouseActions::new("mouse".into());
    for (x, y) in [(-60.0, -40.0), (60.0, -40.0), (0.0, 60.0)] {
        taps = taps
            .then(PointerAction::MoveToElement { element: map.clone(), duration: None, x, y })
            .then(PointerAction::Down { button: 0 })
            .then(PointerAction::Up { button: 0 })
            .pause(Duration::from_millis(400));
    }
    b.client.perform_actions(taps).await?;
    let input = b.wait_for("#polygon").await?;
    let started = Instant::now();
    let corners = loop {
        let value = input.prop("value").await?.unwrap_or_default();
        let corners: Vec<[f64; 2]> = serde_json::from_str(&value).unwrap_or_default();
        if corners.len() >= 3 || started.elapsed() > WAIT {
            break corners;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(corners.len(), 3, "three taps, three corners: {corners:?}");
    b.screenshot("territory").await?;
    b.click("#save-territory").await?;
    b.wait_text("#territory-count", "1").await?;
    b.wait_for("#org-map path.leaflet-interactive").await?;

    let stored = app.get(&format!("/v1/orgs/{}/territories", f.org), &f.admin).await?;
    let list = stored.body.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{}", stored.body);
    assert_eq!(
        list[0]["exclusive"], false,
        "shared: the map opens over Moscow, whose exclusive territory it may overlap"
    );
    assert_eq!(list[0]["geometry"]["type"], "Polygon");
    assert_eq!(
        list[0]["geometry"]["coordinates"][0].as_array().map(Vec::len),
        Some(4),
        "a closed ring of three corners"
    );
    b.client.clone().close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_a_technician_by_tapping_its_home_on_the_map() -> anyhow::Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "webmapnew").await?;

    b.sign_in(&app.base, "admin@demo.sortie", PASSWORD).await?;
    b.client.goto(&format!("{}/console/technicians", app.base)).await?;
    b.click("#new-technician").await?;
    b.wait_for_path("/console/technicians/new").await?;
    b.map_drawn().await?;
    b.wait_for("#org_id").await?.select_by_value(&f.org).await?;
    // Sent without a name or a point: the form comes back with each message beside its field.
    b.fill("#skills", "webmapnew").await?;
    b.click("#save-technician").await?;
    b.wait_for("#name-error").await?;
    b.wait_for("span.field-error[role=alert]").await?;
    assert_eq!(b.wait_for("#skills").await?.prop("value").await?.as_deref(), Some("webmapnew"), "input kept");
    b.map_drawn().await?;
    b.screenshot("technician-invalid").await?;
    b.fill("#name", "Marta Mapova").await?;
    b.fill("#skills", "webmapnew, printers").await?;
    // A tap on the map sets the home base (the map opens over Moscow).
    b.click("div.map").await?;
    let (lat, lon) = (b.wait_for("#lat").await?, b.wait_for("#lon").await?);
    let started = Instant::now();
    while lat.prop("value").await?.unwrap_or_default().is_empty() {
        anyhow::ensure!(started.elapsed() < WAIT, "the map never set the point");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let picked: (f64, f64) =
        (lat.prop("value").await?.unwrap_or_default().parse()?, lon.prop("value").await?.unwrap_or_default().parse()?);
    b.screenshot("technician-new").await?;
    b.click("#save-technician").await?;
    // The saved technician's page says so (the form page itself is also under `/console/technicians/`).
    b.wait_for("p.ok").await?;
    let path = b.client.current_url().await?.path().to_owned();
    b.map_drawn().await?;
    b.wait_for("div.map path.leaflet-interactive").await?;
    b.screenshot("technician-edit").await?;

    let list = app.get(&format!("/v1/technicians?org_id={}", f.org), &f.admin).await?;
    let marta = list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "Marta Mapova")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("not listed: {}", list.body))?;
    assert_eq!(marta["skills"], json!(["webmapnew", "printers"]));
    let home = (marta["home_base"]["lat"].as_f64().unwrap_or(0.0), marta["home_base"]["lon"].as_f64().unwrap_or(0.0));
    assert!((home.0 - picked.0).abs() < 1e-6 && (home.1 - picked.1).abs() < 1e-6, "{home:?} vs {picked:?}");
    assert!((50.0..65.0).contains(&home.0) && (30.0..45.0).contains(&home.1), "where the map opened: {home:?}");
    assert_eq!(path, format!("/console/technicians/{}/edit", marta["id"].as_str().unwrap_or_default()));

    // Its login, from the link on its page: the role and the technician are chosen already.
    b.click("a[href^='/console/users/new?technician_id=']").await?;
    b.fill("#email", "marta@web.example").await?;
    b.screenshot("user-new").await?;
    b.click("#create-user").await?;
    let password = b.wait_for("#new-password").await?.text().await?;
    b.screenshot("user-created").await?;
    let token = app.login_with("marta@web.example", &password).await?;
    assert_eq!(app.get("/v1/users/me", &token).await?.body["technician_id"], marta["id"]);
    b.click("#created + p + p a").await?;
    b.wait_for("#user-edit").await?;
    b.screenshot("user-edit").await?;
    b.client.clone().close().await?;
    Ok(())
}
