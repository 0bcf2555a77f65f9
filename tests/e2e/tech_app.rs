//! The technicians' web app is served as an installable app should be (issue #13): the shell, manifest and
//! service worker revalidated on every start, the versioned files cached for a year, each with its content
//! type and a CSP without inline scripts. (The app itself is driven in `browser/tech_app.rs`.)

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_and_its_files_are_served_with_content_types_csp_and_caching_headers() -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.get(url).send().await }
    };

    // Act: the shell.
    let bare = get("/app".into()).await?;
    let shell = get("/app/".into()).await?;

    // Assert
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers()["location"], "/app/");
    assert_eq!(shell.status(), StatusCode::OK);
    assert_eq!(shell.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(shell.headers()["cache-control"], "no-cache");
    let csp = shell.headers()["content-security-policy"].to_str()?.to_owned();
    for directive in [
        "script-src 'self';",
        "style-src 'self';",
        "worker-src 'self';",
        "manifest-src 'self';",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(shell.headers()["x-content-type-options"], "nosniff");
    let html = shell.text().await?;
    assert!(html.contains(r#"<link rel="manifest" href="/app/manifest.webmanifest">"#), "{html}");
    assert!(!html.contains("<script>") && !html.contains(" style="), "no inline script or style: {html}");
    // Every file the shell names is a versioned URL.
    let files: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/app/") && s.matches('/').count() == 3)
        .map(str::to_owned)
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("/main.js")) && files.iter().any(|f| f.ends_with("/app.css")),
        "{files:?}"
    );

    let manifest = get("/app/manifest.webmanifest".into()).await?;
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(manifest.headers()["content-type"], "application/manifest+json");
    assert_eq!(manifest.headers()["cache-control"], "no-cache");

    let sw = get("/app/sw.js".into()).await?;
    assert_eq!(sw.status(), StatusCode::OK);
    assert_eq!(sw.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(sw.headers()["cache-control"], "no-cache", "a new build's service worker is found at once");
    let sw = sw.text().await?;
    assert!(!sw.contains("__SORTIE_"), "the version and the shell's files are written in");
    for f in &files {
        assert!(sw.contains(&format!("\"{f}\"")), "the service worker keeps {f} for offline starts");
    }

    // The shell's modules import their siblings: each is served, typed and immutable under this version.
    let main = &files.iter().find(|f| f.ends_with("/main.js")).cloned().unwrap_or_default();
    let version = main.split('/').nth(2).unwrap_or_default().to_owned();
    for (name, ctype) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("store.js", "text/javascript; charset=utf-8"),
        ("sync.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon-512.png", "image/png"),
    ] {
        let r = get(format!("/app/{version}/{name}")).await?;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(r.headers()["content-type"], ctype, "{name}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{name}");
        assert!(r.headers().contains_key("content-security-policy"), "{name}");
    }
    // An old build's URL is served, but never cached for good; an unknown file is 404.
    let old = get("/app/000000000000/main.js".into()).await?;
    assert_eq!(old.headers()["cache-control"], "no-cache");
    assert_eq!(get(format!("/app/{version}/nothing.js")).await?.status(), StatusCode::NOT_FOUND);
    Ok(())
}
