// Sortie technician app: the service worker. It keeps the app shell (this build's files) so the app starts
// and reloads offline; the API (/v1/…) always goes to the network: the app's own queue in IndexedDB is what
// survives being offline, not cached answers. The server writes the version and the file list in.
"use strict";
const VERSION = "__SORTIE_VERSION__";
const SHELL = "__SORTIE_SHELL__";
const CACHE = "sortie-app-" + VERSION;
const RUNTIME = "sortie-assets";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("sortie-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/v1/")) return;
  if (req.mode === "navigate" && url.pathname.startsWith("/app/")) {
    // Every screen of the app is the one shell page (screens are in the fragment).
    event.respondWith(caches.match("/app/", { cacheName: CACHE }).then((hit) => hit || fetch(req)));
    return;
  }
  if (url.pathname.startsWith("/app/")) {
    event.respondWith(caches.match(req, { cacheName: CACHE }).then((hit) => hit || fetch(req)));
    return;
  }
  if (url.pathname.startsWith("/assets/")) {
    // Leaflet (loaded when the map is opened online): immutable, versioned URLs, kept once fetched.
    event.respondWith(
      caches.open(RUNTIME).then((c) =>
        c.match(req).then((hit) => hit || fetch(req).then((res) => {
          if (res.ok) c.put(req, res.clone());
          return res;
        })),
      ),
    );
  }
});

// FCM web push would arrive here (see README: the Firebase JS SDK is not vendored, so the app registers no
// token today). A poke of kind `sync` asks every open window to sync now.
self.addEventListener("push", (event) => {
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((all) => all.forEach((c) => c.postMessage({ type: "sync" }))),
  );
});
