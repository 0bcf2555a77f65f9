//! The technicians' offline web app (`/app/`, issue #13) in headless Chromium, its network switched by a
//! TCP proxy (`proxy.rs`): installability, a visit done offline that survives a reload and reaches the
//! server once (also when the answer to the push is lost), and a rejection shown after a reassignment.

use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, MouseActions, PointerAction};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::driver::{Browser, ONE_BROWSER, WAIT};
use super::proxy::{Mode, Proxy};
use crate::helpers::{Backend, Phone, TestApp};
use crate::web::{OfferFixture, WEB_PASSWORD, offer_fixture, offered_job};

/// Books a job for the fixture's organisation and has its dispatcher accept it for the fixture's technician.
async fn scheduled_job(app: &TestApp, f: &OfferFixture, skill: &str) -> anyhow::Result<String> {
    let job = offered_job(app, f, skill).await?;
    accept_for_technician(app, f, job).await
}

/// The fixture's dispatcher accepts the offered `job` for the fixture's technician.
async fn accept_for_technician(app: &TestApp, f: &OfferFixture, job: String) -> anyhow::Result<String> {
    let dispatcher = app.login_with(&f.dispatcher_email, WEB_PASSWORD).await?;
    let r = app.post(&format!("/v1/jobs/{job}/accept"), &dispatcher, &json!({"technician_id": f.technician})).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(job)
}

/// Books a job for the fixture's organisation `from_h`…`to_h` hours from now, accepted for its technician.
async fn job_in(app: &TestApp, f: &OfferFixture, skill: &str, from_h: i64, to_h: i64) -> anyhow::Result<String> {
    let customer = app.login("customer@demo.sortie").await?;
    let mut body = crate::helpers::booking();
    body["window"] = crate::helpers::soon(api::clock::Clock::now(app.clock.as_ref()), from_h, to_h);
    body["location"] = json!({"lat": crate::web::LAT, "lon": crate::web::LON});
    body["required_skills"] = json!([skill]);
    body["problem"] = json!("The receipt printer jams");
    let r = app.book(&customer, &body, None).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    accept_for_technician(app, f, r.str("id")).await
}

/// Runs `script` (which returns a value) until it returns `expected`.
async fn wait_js(b: &Browser, script: &str, expected: Value) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let got = b.client.execute(script, vec![]).await?;
        if got == expected {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < WAIT, "{script} gave {got}, never {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the element matching `css`, read again if a re-render replaced it meanwhile.
async fn text_of(b: &Browser, css: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        match b.wait_for(css).await?.text().await {
            Ok(text) => return Ok(text),
            Err(e) => anyhow::ensure!(started.elapsed() < WAIT, "{css}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in_to_app(b: &Browser, base: &str, email: &str) -> anyhow::Result<()> {
    b.client.goto(&format!("{base}/app/")).await?;
    b.fill("#email", email).await?;
    b.fill("#password", WEB_PASSWORD).await?;
    b.click("#sign-in").await?;
    Ok(())
}

/// The PNG's width and height from its header.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let w = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    bytes.starts_with(b"\x89PNG").then_some((w, h))
}

async fn installable(app: &TestApp, b: &Browser) -> anyhow::Result<()> {
    // The page links its manifest; the manifest names the app, its scope and icons of 192 and 512 pixels.
    let link =
        b.client.execute("return document.querySelector('link[rel=manifest]').getAttribute('href');", vec![]).await?;
    assert_eq!(link, json!("/app/manifest.webmanifest"));
    let manifest: Value = app.client.get(format!("{}/app/manifest.webmanifest", app.base)).send().await?.json().await?;
    assert_eq!(manifest["start_url"], "/app/");
    assert_eq!(manifest["scope"], "/app/");
    assert_eq!(manifest["display"], "standalone");
    assert!(manifest["name"].as_str().is_some_and(|n| !n.is_empty()) && manifest["short_name"] == "Sortie");
    let mut sizes = vec![];
    for icon in manifest["icons"].as_array().into_iter().flatten() {
        let r = app.client.get(format!("{}{}", app.base, icon["src"].as_str().unwrap_or_default())).send().await?;
        assert_eq!(r.headers()["content-type"], "image/png");
        let (w, h) = png_size(&r.bytes().await?).ok_or_else(|| anyhow::anyhow!("icon is not a PNG"))?;
        assert_eq!(icon["sizes"], format!("{w}x{h}"), "the icon is the size the manifest says");
        sizes.push((w, icon["purpose"].as_str().unwrap_or("any").to_owned()));
    }
    assert!(sizes.contains(&(192, "any".into())) && sizes.contains(&(512, "any".into())), "{sizes:?}");
    assert!(sizes.iter().any(|(_, p)| p == "maskable"), "{sizes:?}");
    // A service worker is registered for /app/ and controls the page.
    wait_js(
        b,
        "return !!navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL.endsWith('/app/sw.js');",
        json!(true),
    )
    .await?;
    // The first load's JavaScript, as the page fetched it (uncompressed sizes): at most 200 KB.
    let js = b
        .client
        .execute(
            "const js = performance.getEntriesByType('resource').filter(e => new URL(e.name).pathname.endsWith('.js'));\
             return [js.length, js.reduce((s, e) => s + e.decodedBodySize, 0)];",
            vec![],
        )
        .await?;
    let (files, bytes) = (js[0].as_u64().unwrap_or(0), js[1].as_u64().unwrap_or(u64::MAX));
    assert!(files >= 7, "every module was loaded: {js}");
    assert!(bytes > 0 && bytes <= 200 * 1024, "first-load JavaScript is {bytes} bytes");
    eprintln!("technician app: first load {files} JavaScript files, {bytes} bytes");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_completes_a_visit_offline_reloads_and_the_server_gets_the_report_once() -> anyhow::Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "pwa").await?;
    let job = scheduled_job(&app, &f, "pwa").await?;
    // Krasnoyarsk has one offset all year: a day from now is tomorrow there.
    let tomorrow = job_in(&app, &f, "pwa", 25, 27).await?;
    let net = Proxy::start(&app.base).await?;

    // Installs: manifest, icons, a service worker controlling the page, a small first load.
    b.client.goto(&format!("{}/app/", net.base)).await?;
    b.wait_for("#login-form").await?;
    installable(&app, &b).await?;
    b.screenshot("app-sign-in").await?;

    // Signs in once; the day shows the visit with the customer's first name and a number to call.
    sign_in_to_app(&b, &net.base, &f.technician_email).await?;
    let card = format!("li.visit[data-job='{job}']");
    b.wait_for(&card).await?;
    b.wait_for("#net[data-online='true']").await?;
    let text = text_of(&b, &card).await?;
    assert!(text.contains("Ivan") && !text.contains("Petrov"), "first name only: {text}");
    b.wait_for(&format!("{card} a.tel[href^='tel:']")).await?;
    b.wait_for(&format!("#today {card} dd.arrival")).await?;
    b.wait_for(&format!("#today {card} a.address")).await?;
    b.wait_for(&format!("#tomorrow li.visit[data-job='{tomorrow}']")).await?;
    b.screenshot("app-day").await?;
    // The route on the map, online: Leaflet is fetched only now (it is not part of the first load).
    b.click("#route-map summary").await?;
    b.wait_for("#map.leaflet-container .leaflet-map-pane").await?;
    b.wait_for("#map path.leaflet-interactive").await?;

    // Offline: the whole visit.
    net.set(Mode::Offline);
    b.click(&format!("{card} h3 a")).await?;
    b.click("#set-off").await?;
    b.wait_for("#job-status[data-status='en_route']").await?;
    b.click("#arrived").await?;
    b.wait_for("#job-status[data-status='on_site']").await?;
    b.fill("#note-text", "Print head clogged; cleaned it").await?;
    b.click("#note-form button[type=submit]").await?;
    b.wait_for("#notes li.note-item").await?;
    let item = b.wait_for("ul.checks input[type=checkbox]").await?.attr("data-item").await?.unwrap_or_default();
    b.click(&format!("#chk-{item}")).await?;
    // Shown as queued once the app re-rendered (the box itself ticks before that).
    b.wait_for(&format!("#checklist li:has(#chk-{item}:checked) .pending")).await?;
    let dir = tempfile::tempdir()?;
    let photo = dir.path().join("photo.png");
    let png: Vec<u8> = (0..super::PNG_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&super::PNG_HEX[i..i + 2], 16))
        .collect::<Result<_, _>>()?;
    std::fs::write(&photo, png)?;
    b.wait_for("#photo-input").await?.send_keys(&photo.display().to_string()).await?;
    b.wait_for("#photos figure.photo img").await?;
    let pad = b.wait_for("#sig-pad").await?;
    let stroke = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: pad.clone(), duration: None, x: -100.0, y: 10.0 })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveToElement {
            element: pad.clone(),
            duration: Some(Duration::from_millis(200)),
            x: 0.0,
            y: -20.0,
        })
        .then(PointerAction::MoveToElement {
            element: pad,
            duration: Some(Duration::from_millis(200)),
            x: 100.0,
            y: 15.0,
        })
        .then(PointerAction::Up { button: 0 });
    b.client.perform_actions(stroke).await?;
    b.click("#sig-save").await?;
    b.wait_for("#signed").await?;
    b.click("#complete").await?;
    b.wait_for("#job-status[data-status='completed']").await?;
    b.wait_for("#queue[data-count='7']").await?;
    b.screenshot("app-visit-offline").await?;
    let seen = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(seen.body["status"], "scheduled", "nothing reached the server while offline");

    // A reload while still offline: the shell comes from the service worker, the work from IndexedDB.
    b.client.refresh().await?;
    b.wait_for("#job-status[data-status='completed']").await?;
    b.wait_for("#queue[data-count='7']").await?;
    b.wait_for("#net[data-online='false']").await?;
    let notes = text_of(&b, "#notes").await?;
    assert!(notes.contains("Print head clogged"), "{notes}");
    b.wait_for(&format!("#chk-{item}:checked")).await?;
    b.wait_for("#photos figure.photo img").await?;
    b.wait_for("#signed").await?;

    // Back online, but the answer to the first push is lost on the way back: the app sends again.
    net.set(Mode::LoseNextPushAnswer);
    b.click("#sync-now").await?;
    let started = Instant::now();
    while net.lost() == 0 {
        anyhow::ensure!(started.elapsed() < WAIT, "no push came through");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    loop {
        if b.client.find(fantoccini::Locator::Css("#queue[data-count='0']")).await.is_ok() {
            break;
        }
        anyhow::ensure!(started.elapsed() < WAIT, "the queue never emptied");
        // The next sync (on focus, every few minutes, or the button) resends the same mutations.
        drop(b.client.find(fantoccini::Locator::Css("#sync-now")).await?.click().await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(net.pushes() >= 2, "the lost push was sent again ({} pushes)", net.pushes());
    b.wait_for("#job-status[data-status='in_review']").await?;
    assert!(
        b.client.find_all(fantoccini::Locator::Css("article.rejection")).await?.is_empty(),
        "duplicates are success"
    );

    // The server has the whole report, exactly once.
    let tech = app.login_with(&f.technician_email, WEB_PASSWORD).await?;
    let mut phone = Phone::register(&app, &tech).await?;
    let jobs = phone.pull().await?;
    let view = &jobs[&job];
    assert_eq!(view["status"], "in_review");
    let report = &view["report"];
    assert_eq!(report["notes"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["notes"][0]["text"], "Print head clogged; cleaned it");
    let answer = view["checklist"].as_array().into_iter().flatten().find(|c| c["item"] == item.as_str()).cloned();
    assert_eq!(answer.map(|c| c["value"].clone()), Some(json!(true)));
    assert_eq!(report["photos"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["photos"][0]["uploaded"], true, "the compressed photo's bytes were uploaded by hash");
    assert_eq!(report["signature"]["signer_name"], "Ivan Petrov");
    assert_eq!(report["visits"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["visits"][0]["outcome"], "completed");
    let events = app.get(&format!("/v1/jobs/{job}/events?limit=200"), &f.admin).await?;
    let completed = events.body["items"].as_array().into_iter().flatten().filter(|e| e["type"] == "completed").count();
    assert_eq!(completed, 1, "{}", events.body);
    b.screenshot("app-synced").await?;
    b.client.clone().close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reassigned_while_the_phone_was_offline_shows_the_rejection_with_its_reason_after_a_seq_gap_is_resent()
-> anyhow::Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "pwamove").await?;
    let job = scheduled_job(&app, &f, "pwamove").await?;
    let other = app
        .post(
            "/v1/technicians",
            &f.admin,
            &json!({"org_id": f.org, "name": "Pavel Drugov", "skills": ["pwamove"],
                "home_base": {"lat": crate::web::LAT, "lon": crate::web::LON}, "shift": {"start": "00:00", "end": "23:59"},
                "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
        )
        .await?;
    anyhow::ensure!(other.status == StatusCode::CREATED, "{}", other.body);
    let net = Proxy::start(&app.base).await?;

    sign_in_to_app(&b, &net.base, &f.technician_email).await?;
    let card = format!("li.visit[data-job='{job}']");
    b.wait_for(&card).await?;
    b.wait_for("#net[data-online='true']").await?;
    // The device lost the tail of its numbering (say, restored from a backup): the next action is queued as
    // seq 5 while the server expects 1; its `409 seq_gap` makes the app send it again as 1.
    let bumped = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; const r = indexedDB.open('sortie');\
             r.onsuccess = () => { const t = r.result.transaction('kv', 'readwrite'); t.objectStore('kv').put(5, 'next_seq');\
             t.oncomplete = () => { r.result.close(); done(true); }; };",
            vec![],
        )
        .await?;
    assert_eq!(bumped, json!(true));
    net.set(Mode::Offline);
    b.click(&format!("{card} h3 a")).await?;
    b.click("#set-off").await?;
    b.wait_for("#job-status[data-status='en_route']").await?;
    let queued = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; const r = indexedDB.open('sortie');\
             r.onsuccess = () => { const q = r.result.transaction('queue').objectStore('queue').getAllKeys();\
             q.onsuccess = () => { r.result.close(); done(q.result); }; };",
            vec![],
        )
        .await?;
    assert_eq!(queued, json!([5]));
    // Meanwhile the office gives the visit to someone else.
    let dispatcher = app.login_with(&f.dispatcher_email, WEB_PASSWORD).await?;
    let r =
        app.post(&format!("/v1/jobs/{job}/reassign"), &dispatcher, &json!({"technician_id": other.str("id")})).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);

    net.set(Mode::Online);
    b.click("a.back").await?;
    b.wait_for("section#today").await?;
    b.click("#sync-now").await?;
    let text = text_of(&b, &format!("article.rejection[data-reason='not_assigned'][data-job='{job}']")).await?;
    assert!(text.contains("reassigned"), "the reason in words: {text}");
    b.wait_gone(&card).await?;
    b.wait_for("#queue[data-count='0']").await?;
    assert!(net.pushes() >= 2, "sent again from expected_seq after the gap ({} pushes)", net.pushes());
    b.screenshot("app-rejected").await?;
    b.click("article.rejection button.dismiss").await?;
    b.wait_gone("article.rejection").await?;
    // Russian at a tap (kept on the device).
    b.click("#lang").await?;
    b.wait_text("main h1", "Мой день").await?;
    b.wait_text("#net", "В сети").await?;
    b.screenshot("app-ru").await?;
    let view = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(view.body["status"], "scheduled", "the old technician's step was not applied");
    b.client.clone().close().await?;
    Ok(())
}
