//! The dispatcher board's benchmark in headless Chromium (ignored: it prints figures and asserts none).

use std::time::Instant;

use super::driver::{Browser, ONE_BROWSER};
use crate::helpers::{Backend, TestApp};
use crate::web::{WEB_PASSWORD, offer_fixture};
use api::clock::Clock as _;

/// Seeds `technicians` technicians into the fixture's organisation and `open_jobs` jobs offered to it.
async fn seed_board(
    app: &TestApp,
    org: &str,
    template_id: &str,
    technicians: usize,
    open_jobs: usize,
) -> anyhow::Result<()> {
    use api::domain::{ChainRole, JobKind, JobStatus, Priority};
    use api::storage::{db_time, jobs, new_id, offers, technicians as techs, users};
    let (db, org, template_id, now) = (app.db.clone(), org.to_owned(), template_id.to_owned(), app.clock.now());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = db.get()?;
        let (template, _) =
            techs::find_with_org_path(&mut conn, &template_id)?.ok_or_else(|| anyhow::anyhow!("no template"))?;
        let user =
            users::find_by_email(&mut conn, "customer@demo.sortie")?.ok_or_else(|| anyhow::anyhow!("no customer"))?;
        let customer = user.customer_id.clone().ok_or_else(|| anyhow::anyhow!("no demo customer card"))?;
        let vendor =
            api::storage::orgs::find_by_slug(&mut conn, "vendor")?.ok_or_else(|| anyhow::anyhow!("no vendor"))?;
        let now_db = db_time(now);
        api::db::write_tx(&mut conn, |conn| {
            for i in 1..technicians {
                let mut t = template.clone();
                t.id = new_id();
                t.name = format!("Bench Tech {i}");
                t.home_lat += (i % 40) as f64 * 0.01;
                t.home_lon += (i / 40) as f64 * 0.01;
                techs::insert_many(conn, std::slice::from_ref(&t))?;
            }
            for k in 0..open_jobs {
                let id = new_id();
                let start = now_db + chrono::Duration::minutes(60 + (k % 600) as i64);
                let created = now_db - chrono::Duration::seconds(k as i64);
                jobs::insert(
                    conn,
                    &jobs::NewJob {
                        id: id.clone(),
                        kind: JobKind::HomeVisit,
                        status: JobStatus::Offered,
                        priority: Priority::Normal,
                        customer_id: customer.clone(),
                        created_by: user.id.clone(),
                        contractor_org_id: vendor.id.clone(),
                        lat: template.home_lat,
                        lon: template.home_lon,
                        address: format!("Bench street {k}"),
                        problem: "The cash register does not print receipts".into(),
                        required_skills: "[]".into(),
                        parts: "[]".into(),
                        window_start: start,
                        window_end: start + chrono::Duration::hours(2),
                        contact_name: "Ivan Petrov".into(),
                        contact_phone: "+79161234567".into(),
                        contact_email: None,
                        tracking_token: new_id(),
                        created_at: created,
                        updated_at: created,
                    },
                )?;
                jobs::add_to_chain(conn, &id, &org, ChainRole::Offeree, created)?;
                offers::insert(conn, &id, &org, Some(&template.id), now_db + chrono::Duration::hours(2), created)?;
            }
            Ok(())
        })?;
        api::db::analyze(&mut conn)?;
        Ok(())
    })
    .await?
}

/// `sortie`'s board benchmark: the dispatcher board with 1,000 technicians and 5,000 open offers, loaded
/// in headless Chromium; prints first contentful paint and time to interactive (median of 5 loads).
/// Run: `cargo test --release -p tests --test e2e -- --ignored --nocapture board_benchmark`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures, asserts none"]
async fn board_benchmark() -> anyhow::Result<()> {
    let _one = ONE_BROWSER.lock().await;
    let Some(b) = Browser::start().await? else { return Ok(()) };
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let f = offer_fixture(&app, "webbench").await?;
    let started = Instant::now();
    seed_board(&app, &f.org, &f.technician, 1_000, 5_000).await?;
    println!("seeded 1,000 technicians and 5,000 open offers in {:.1} s", started.elapsed().as_secs_f64());
    b.sign_in(&app.base, &f.dispatcher_email, WEB_PASSWORD).await?;
    let (mut paint, mut interactive, mut server) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..6 {
        b.client.goto(&format!("{}/console/jobs", app.base)).await?;
        b.wait_for("#offers article").await?;
        let t = b
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0];
                 const p = performance.getEntriesByName('first-contentful-paint')[0];
                 return [n.responseStart, p ? p.startTime : -1, n.domContentLoadedEventEnd];",
                vec![],
            )
            .await?;
        let v: Vec<f64> = t.as_array().into_iter().flatten().filter_map(serde_json::Value::as_f64).collect();
        server.push(v[0]);
        paint.push(v[1]);
        interactive.push(v[2]);
    }
    let median = |v: &mut Vec<f64>| {
        v.remove(0); // the first load warms caches
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "dispatcher board, 1,000 technicians, 5,000 open offers (median of 5): first byte {:.0} ms, \
         first contentful paint {:.0} ms, interactive (DOMContentLoaded, htmx ready) {:.0} ms",
        median(&mut server),
        median(&mut paint),
        median(&mut interactive)
    );
    b.client.clone().close().await?;
    Ok(())
}
