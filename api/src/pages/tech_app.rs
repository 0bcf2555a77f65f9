//! The technicians' offline web app at `/app/` (issue #13): an installable progressive web app, plain ES
//! modules with no build step, a client of the public sync API only (`/v1/auth/*`, `/v1/devices`,
//! `/v1/sync/*`, `/v1/photos/*`). This module only serves it: the shell page, the web manifest, the service
//! worker and the versioned files under `/app/{version}/…` (immutable, a new build is a new URL). The app's
//! logic, its Russian and English labels and its IndexedDB store live in `api/assets/app/`.

use std::sync::OnceLock;

use actix_web::{HttpResponse, HttpResponseBuilder, get, web};
use maud::{DOCTYPE, html};
use sha2::Digest as _;

use super::assets;
use super::page::{not_found_plain, tile_origin};
use crate::state::AppState;

/// (path under `/app/{version}/`, content type, bytes). Every one is cached by the service worker.
const FILES: &[(&str, &str, &[u8])] = &[
    ("main.js", JS, include_bytes!("../../assets/app/main.js")),
    ("store.js", JS, include_bytes!("../../assets/app/store.js")),
    ("api.js", JS, include_bytes!("../../assets/app/api.js")),
    ("sync.js", JS, include_bytes!("../../assets/app/sync.js")),
    ("view.js", JS, include_bytes!("../../assets/app/view.js")),
    ("media.js", JS, include_bytes!("../../assets/app/media.js")),
    ("i18n.js", JS, include_bytes!("../../assets/app/i18n.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app/app.css")),
    ("icon-192.png", "image/png", include_bytes!("../../assets/app/icon-192.png")),
    ("icon-512.png", "image/png", include_bytes!("../../assets/app/icon-512.png")),
    ("icon-maskable-512.png", "image/png", include_bytes!("../../assets/app/icon-maskable-512.png")),
];
const JS: &str = "text/javascript; charset=utf-8";
const SERVICE_WORKER: &str = include_str!("../../assets/app/sw.js");

/// A short hash of the app's files and the shared assets (Leaflet's URL is part of the app).
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = sha2::Sha256::new();
        h.update(assets::version().as_bytes());
        h.update(SERVICE_WORKER.as_bytes());
        for (path, _, bytes) in FILES {
            h.update(path.as_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

fn url(path: &str) -> String {
    format!("/app/{}/{path}", version())
}

/// The app's CSP: the pages' one, plus `blob:` images (photos shown from the device before upload), the
/// camera's stream, its own service worker and manifest.
fn app_headers(b: &mut HttpResponseBuilder, tiles: Option<&str>) {
    let tiles = tiles.and_then(tile_origin).map(|o| format!(" {o}")).unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{tiles}; \
         media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    b.insert_header(("Content-Security-Policy", csp))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "same-origin"));
}

/// `/app` → `/app/` (the service worker's scope ends with a slash).
#[get("/app")]
pub async fn bare() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/app/")).finish()
}

/// The app's shell: one page, the same for everybody (the service worker keeps it for offline starts);
/// the labels come from `i18n.js` in the device's language.
#[get("/app/")]
pub async fn shell(state: web::Data<AppState>) -> HttpResponse {
    let tiles = state.config.map_tiles.clone();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover";
                meta name="theme-color" content="#0b3d6b";
                title { "Sortie" }
                link rel="manifest" href="/app/manifest.webmanifest";
                link rel="icon" type="image/png" href=(url("icon-192.png"));
                link rel="apple-touch-icon" href=(url("icon-192.png"));
                link rel="stylesheet" href=(url("app.css"));
                script type="module" src=(url("main.js")) {}
            }
            body data-version=(version()) data-tiles=(tiles.clone().unwrap_or_default())
                data-leaflet-js=(assets::url("leaflet.js")) data-leaflet-css=(assets::url("leaflet.css")) {
                header.top {
                    span.brand { "Sortie" }
                    div #status role="status" aria-live="polite" {
                        span #net.badge data-online="unknown" { "…" }
                        span #queue.badge data-count="0" { "0" }
                        span #last-sync {}
                    }
                }
                main #app { noscript { p { "Sortie needs JavaScript. / Для Sortie нужен JavaScript." } } }
            }
        }
    };
    let mut b = HttpResponse::Ok();
    app_headers(&mut b, tiles.as_deref());
    b.insert_header(("Cache-Control", "no-cache")).content_type("text/html; charset=utf-8").body(page.into_string())
}

/// The web manifest (what "install to the home screen" reads).
#[get("/app/manifest.webmanifest")]
pub async fn manifest() -> HttpResponse {
    let body = serde_json::json!({
        "id": "/app/",
        "name": "Sortie — technician",
        "short_name": "Sortie",
        "description": "My day, visits and work reports, also offline",
        "lang": "en",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#0b3d6b",
        "icons": [
            {"src": url("icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": url("icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": url("icon-maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    });
    let mut b = HttpResponse::Ok();
    app_headers(&mut b, None);
    b.insert_header(("Cache-Control", "no-cache")).content_type("application/manifest+json").body(body.to_string())
}

/// The service worker, with this build's version and file list written in: a new build changes its bytes,
/// so browsers install the new shell. Never cached by HTTP (`no-cache`; browsers also cap it at a day).
#[get("/app/sw.js")]
pub async fn service_worker() -> HttpResponse {
    let mut files: Vec<String> = vec!["/app/".into(), "/app/manifest.webmanifest".into()];
    files.extend(FILES.iter().map(|(p, _, _)| url(p)));
    let body = SERVICE_WORKER
        .replace("__SORTIE_VERSION__", version())
        .replace("\"__SORTIE_SHELL__\"", &serde_json::to_string(&files).unwrap_or_else(|_| "[]".into()));
    let mut b = HttpResponse::Ok();
    app_headers(&mut b, None);
    b.insert_header(("Cache-Control", "no-cache")).content_type(JS).body(body)
}

/// `GET /app/{version}/{path}`: immutable when the version is this build's.
#[get("/app/{version}/{path:.*}")]
pub async fn file(path: web::Path<(String, String)>) -> HttpResponse {
    let (v, path) = path.into_inner();
    let Some((_, ctype, bytes)) = FILES.iter().find(|(p, _, _)| *p == path) else {
        return not_found_plain();
    };
    let cache = if v == version() { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut b = HttpResponse::Ok();
    app_headers(&mut b, None);
    b.content_type(*ctype).insert_header(("Cache-Control", cache)).body(*bytes)
}
