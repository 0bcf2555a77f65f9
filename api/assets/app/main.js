// Sortie technician app: start-up, screens and actions. Every action goes to the queue in IndexedDB first
// (store.enqueue), is shown at once (view.effective), and is sent by the sync loop when the network allows.
// Without push, the app syncs on start, on focus, when the browser says it is online, after each action and
// every few minutes.

import * as api from "./api.js";
import * as i18n from "./i18n.js";
import * as media from "./media.js";
import * as store from "./store.js";
import * as sync from "./sync.js";
import { dayView, h, jobView, loginView } from "./view.js";

const t = i18n.t;
const PERIODIC_MS = 3 * 60 * 1000;
const PING_EVERY_MS = 2 * 60 * 1000;
const main = document.getElementById("app");
const urls = new Map();
let loginMessage = "";
let pad = null;

async function load() {
  const [auth, technician, route, jobs, queue, blobs, rejections] = await Promise.all([
    store.get("auth"), store.get("technician"), store.get("route"), store.all("jobs"), store.all("queue"),
    store.all("blobs"), store.all("rejections"),
  ]);
  return {
    auth, technician, route, jobs, queue: queue.sort((a, b) => a.seq - b.seq),
    blobs: new Map(blobs.map((b) => [b.sha256, b])), rejections: rejections.sort((a, b) => a.seq - b.seq),
  };
}

function blobUrl(b) {
  if (!urls.has(b.sha256)) urls.set(b.sha256, URL.createObjectURL(b.bytes));
  return urls.get(b.sha256);
}

/** Something typed but not saved yet: a background sync must not re-render it away. */
let typed = false;
let lastKey = null;
main.addEventListener("input", () => { typed = true; });
function busy() {
  return typed || (pad && !pad.empty()) || main.querySelector("video#scanner:not([hidden])");
}

async function statusBar(model) {
  const net = document.getElementById("net");
  const offline = sync.status.online === false || navigator.onLine === false;
  net.dataset.online = offline ? "false" : sync.status.online ? "true" : "unknown";
  net.textContent = offline ? t("offline") : t("online");
  const q = document.getElementById("queue");
  q.dataset.count = String(model.queue.length);
  q.textContent = `${model.queue.length} ${t("waiting")}`;
  const last = sync.status.lastSync || (await store.get("last_sync"));
  const ls = document.getElementById("last-sync");
  ls.dataset.at = last || "";
  ls.textContent = `${t("last_sync")}: ${last ? new Date(last).toLocaleTimeString(i18n.current() === "ru" ? "ru-RU" : "en-GB", { hour: "2-digit", minute: "2-digit" }) : t("never")}`;
}

function toolbar(model) {
  return h("nav.tools", { "aria-label": "app" },
    h("button.secondary#sync-now", { type: "button", onclick: () => sync.syncNow() }, t("sync_now")),
    h("button.secondary#lang", { type: "button", lang: i18n.current() === "ru" ? "en" : "ru", onclick: switchLang }, t("language")),
    h("button.secondary#sign-out", { type: "button", disabled: model.queue.length > 0, title: model.queue.length ? t("sign_out_waiting") : null, onclick: signOut }, t("sign_out")));
}

// Renders one after another, so an older model never replaces a newer one on screen.
let rendering = Promise.resolve();
function render(force) {
  rendering = rendering.then(async () => {
    const model = await load();
    show(model, force);
    // The status bar last: once it says a sync ended, the screen already shows what it brought.
    await statusBar(model);
  }).catch((e) => console.error("render failed", e));
  return rendering;
}

function show(model, force) {
  // A background sync that changed nothing leaves the screen (and what the technician is doing) alone.
  const key = JSON.stringify([model.auth && model.auth.dead, model.technician, model.route, model.jobs, model.queue.map((m) => m.seq),
    model.rejections.map((r) => r.id), [...model.blobs.values()].map((b) => b.uploaded), location.hash]);
  if (!force && (key === lastKey || busy())) return;
  lastKey = key;
  const signedIn = model.auth && !model.auth.dead;
  let view;
  if (!signedIn) {
    view = loginView(model.auth && model.auth.dead ? t("signed_out") : loginMessage, onLogin);
  } else {
    const m = /^#\/job\/([\w-]+)$/.exec(location.hash);
    const handlers = { act, dismiss, mapToggled, blobUrl, uuid: store.uuid, photo, sign, scan, canScan: media.canScan };
    view = m ? jobView(model, m[1], handlers) : dayView(model, handlers);
  }
  main.replaceChildren(view, ...(signedIn ? [toolbar(model)] : []));
  typed = false;
  pad = null;
  const canvas = main.querySelector("#sig-pad");
  if (canvas) {
    pad = media.signaturePad(canvas);
    main.querySelector("#sig-clear").addEventListener("click", () => pad.clear());
  }
  watchPosition(model);
}

async function act(name, args, blob) {
  await store.enqueue(name, args, blob);
  await render(true);
  sync.syncNow();
}

async function dismiss(id) {
  await store.tx(["rejections"], "readwrite", (s) => { s.rejections.delete(id); });
  render(true);
}

async function photo(jobId, input) {
  const file = input.files && input.files[0];
  if (!file) return;
  const bytes = await media.compress(file);
  const sha256 = await media.sha256(bytes);
  await act("job.attach_photo", { job_id: jobId, photo_id: store.uuid(), sha256, taken_at: new Date().toISOString() },
    { sha256, bytes, uploaded: false });
}

async function sign(jobId, form) {
  if (!pad || pad.empty()) return;
  const bytes = await pad.png();
  const sha256 = await media.sha256(bytes);
  const signer = form.elements.signer.value.trim();
  pad = null;
  await act("job.sign", { job_id: jobId, signer_name: signer, image_sha256: sha256 }, { sha256, bytes, uploaded: false });
}

const scanning = { stopped: true };
async function scan() {
  const video = main.querySelector("#scanner");
  const button = main.querySelector("#scan");
  if (!scanning.stopped) { scanning.stopped = true; return; }
  scanning.stopped = false;
  video.hidden = false;
  button.textContent = t("stop_scan");
  try {
    const code = await media.scan(video, scanning);
    if (code) main.querySelector("#part-serial").value = code;
  } catch (e) {
    console.warn("scan failed", e);
  } finally {
    scanning.stopped = true;
    video.hidden = true;
    button.textContent = t("scan");
  }
}

async function mapToggled(e) {
  const box = e.target;
  if (!box.open) return;
  const el = box.querySelector("#map");
  if (el.dataset.ready) return;
  const body = document.body.dataset;
  try {
    if (!window.L) {
      await new Promise((resolve, reject) => {
        document.head.append(h("link", { rel: "stylesheet", href: body.leafletCss }));
        document.head.append(h("script", { src: body.leafletJs, onload: resolve, onerror: reject }));
      });
    }
  } catch (_) {
    el.replaceChildren(h("p.note", {}, t("map_offline")));
    return;
  }
  el.dataset.ready = "1";
  const model = await load();
  const L = window.L;
  const map = L.map(el, { attributionControl: !!body.tiles });
  if (body.tiles) L.tileLayer(body.tiles, { maxZoom: 19 }).addTo(map);
  const jobs = new Map(model.jobs.map((j) => [j.id, j]));
  const points = [];
  const pos = model.technician && model.technician.position;
  if (pos) { points.push([pos.lat, pos.lon]); L.circleMarker([pos.lat, pos.lon], { radius: 6, color: "#0f5a1f" }).addTo(map); }
  ((model.route && model.route.stops) || []).forEach((s, i) => {
    const j = jobs.get(s.job_id);
    if (!j) return;
    points.push([j.location.lat, j.location.lon]);
    L.circleMarker([j.location.lat, j.location.lon], { radius: 8, color: "#0b5394" }).addTo(map).bindTooltip(`${i + 1}. ${j.address}`);
  });
  if (points.length > 1) { L.polyline(points, { color: "#8a4b00", weight: 3 }).addTo(map); map.fitBounds(points, { padding: [20, 20] }); }
  else if (points.length === 1) map.setView(points[0], 13);
  else map.setView([55.75, 37.62], 4);
}

// Position pings while a visit is en route, with the browser's permission, at most every two minutes.
let watchId = null;
let lastPing = 0;
function watchPosition(model) {
  const enRoute = model.jobs.some((j) => {
    const last = [...model.queue].reverse().find((m) => m.name === "job.set_status" && m.args.job_id === j.id);
    return (last ? last.args.status : j.status) === "en_route";
  });
  if (enRoute && watchId === null && navigator.geolocation) {
    watchId = navigator.geolocation.watchPosition((p) => {
      if (Date.now() - lastPing < PING_EVERY_MS) return;
      lastPing = Date.now();
      act("position.ping", { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: Math.min(p.coords.accuracy || 0, 100000), at: new Date(p.timestamp).toISOString() });
    }, () => {}, { enableHighAccuracy: true, maximumAge: 60000 });
  } else if (!enRoute && watchId !== null) {
    navigator.geolocation.clearWatch(watchId);
    watchId = null;
  }
}

async function onLogin(e) {
  e.preventDefault();
  const f = e.target.elements;
  let r;
  try {
    r = await api.login(f.email.value.trim(), f.password.value);
  } catch (_) {
    loginMessage = t("need_network");
    return render(true);
  }
  if (r.error) {
    loginMessage = r.error.code === "unauthorized" ? t("bad_login") : r.error.message;
    return render(true);
  }
  if (r.pair.role !== "technician") {
    loginMessage = t("not_technician");
    return render(true);
  }
  const queue = await store.all("queue");
  const before = await store.get("user_id");
  if (queue.length && before && before !== r.pair.user_id) {
    loginMessage = t("other_user");
    return render(true);
  }
  if (before !== r.pair.user_id) {
    // Another technician on this device: nothing of the previous one stays (its queue was empty).
    await store.wipe();
    await store.set("user_id", r.pair.user_id);
    await store.set("lang", i18n.current());
  }
  await api.remember(r.pair);
  loginMessage = "";
  await render(true);
  sync.syncNow();
}

async function signOut() {
  const queue = await store.all("queue");
  if (queue.length) return;
  await api.logout();
  await store.wipe();
  await store.set("lang", i18n.current());
  render(true);
}

async function switchLang() {
  const next = i18n.current() === "ru" ? "en" : "ru";
  await store.set("lang", next);
  i18n.choose(next);
  render(true);
}

async function start() {
  i18n.choose(await store.get("lang"));
  sync.onChange(() => render(false));
  window.addEventListener("hashchange", () => render(true).then(() => window.scrollTo(0, 0)));
  window.addEventListener("online", () => sync.syncNow());
  window.addEventListener("offline", () => render(false));
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") sync.syncNow(); });
  window.addEventListener("focus", () => sync.syncNow());
  setInterval(() => sync.syncNow(), PERIODIC_MS);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch((e) => console.warn("service worker", e));
    navigator.serviceWorker.addEventListener("message", (e) => { if (e.data && e.data.type === "sync") sync.syncNow(); });
  }
  await render(true);
  const auth = await store.get("auth");
  if (auth && !auth.dead) sync.syncNow();
}

start();
