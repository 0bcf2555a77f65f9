//! Static assets compiled into the binary (no CDN, no Node toolchain):
//! vendored htmx and Leaflet (with their licences) and our own CSS and JS.
//! URLs carry a hash of the contents, so they are cached for a year.

use std::sync::OnceLock;

use actix_web::{HttpResponse, get, web};
use sha2::Digest as _;

/// (path under `/assets/{version}/`, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/app.js")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/vendor/htmx/htmx.min.js")),
    ("leaflet.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/vendor/leaflet/leaflet.js")),
    ("leaflet.css", "text/css; charset=utf-8", include_bytes!("../../assets/vendor/leaflet/leaflet.css")),
    ("images/marker-icon.png", "image/png", include_bytes!("../../assets/vendor/leaflet/images/marker-icon.png")),
    ("images/marker-icon-2x.png", "image/png", include_bytes!("../../assets/vendor/leaflet/images/marker-icon-2x.png")),
    ("images/marker-shadow.png", "image/png", include_bytes!("../../assets/vendor/leaflet/images/marker-shadow.png")),
    ("images/layers.png", "image/png", include_bytes!("../../assets/vendor/leaflet/images/layers.png")),
    ("images/layers-2x.png", "image/png", include_bytes!("../../assets/vendor/leaflet/images/layers-2x.png")),
];

/// A short hash of every asset: part of their URLs, so a new build is a new URL.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = sha2::Sha256::new();
        for (path, _, bytes) in FILES {
            h.update(path.as_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

/// The URL of an asset.
pub fn url(path: &str) -> String {
    format!("/assets/{}/{path}", version())
}

/// `GET /assets/{version}/{path}`: immutable when the version is this build's.
#[get("/assets/{version}/{path:.*}")]
pub async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (v, path) = path.into_inner();
    let Some((_, ctype, bytes)) = FILES.iter().find(|(p, _, _)| *p == path) else {
        return super::page::not_found_plain();
    };
    let cache = if v == version() { "public, max-age=31536000, immutable" } else { "no-cache" };
    HttpResponse::Ok()
        .content_type(*ctype)
        .insert_header(("Cache-Control", cache))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(*bytes)
}
