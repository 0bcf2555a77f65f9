// What the technician sees: the server's copy with the waiting mutations laid over it (so an action shows at
// once, a rejected one disappears with its effect, and a pull never hides what is still waiting), rendered
// as DOM nodes (never HTML strings: every text from the server or the technician is text).

import { t, statusName, reason, current as lang } from "./i18n.js";

/** `h("p.note#x", {attr: v, onclick: f}, children…)`. */
export function h(sel, attrs, ...children) {
  const parts = sel.match(/[.#]?[^.#]+/g);
  const el = document.createElement(parts[0][0] === "." || parts[0][0] === "#" ? "div" : parts[0]);
  const classes = [];
  for (const p of parts) {
    if (p[0] === "#") el.id = p.slice(1);
    else if (p[0] === ".") classes.push(p.slice(1));
  }
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const OPEN = ["scheduled", "en_route", "on_site"];

/** The job as it is once every waiting mutation about it is applied. */
export function effective(job, queue) {
  const j = structuredClone(job);
  j.pending = 0;
  for (const m of queue) {
    const a = m.args || {};
    if (a.job_id !== j.id) continue;
    j.pending++;
    const r = j.report;
    if (m.name === "job.set_status") {
      j.status = a.status;
      if (a.status === "completed" || a.status === "incomplete") r.locked = true;
      j.pending_status = true;
    } else if (m.name === "job.add_note" && !r.notes.some((n) => n.note_id === a.note_id)) {
      r.notes.push({ note_id: a.note_id, text: a.text, at: m.queued_at, pending: true });
    } else if (m.name === "job.set_checklist") {
      const item = j.checklist.find((c) => c.item === a.item);
      if (item) { item.value = a.value; item.pending = true; }
    } else if (m.name === "job.add_part" && !r.parts.some((p) => p.part_use_id === a.part_use_id)) {
      r.parts.push({ part_use_id: a.part_use_id, sku: a.sku, qty: a.qty, serial: a.serial || null, pending: true });
    } else if (m.name === "job.attach_photo" && !r.photos.some((p) => p.photo_id === a.photo_id)) {
      r.photos.push({ photo_id: a.photo_id, sha256: a.sha256, taken_at: a.taken_at, uploaded: false, pending: true });
    } else if (m.name === "job.sign") {
      r.signature = { signer_name: a.signer_name, image_sha256: a.image_sha256, pending: true };
    }
  }
  j.editable = OPEN.includes(j.status) && !j.report.locked;
  return j;
}

function zoneOf(model) {
  return (model.technician && model.technician.timezone) || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function fmt(model, iso, opts) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang() === "ru" ? "ru-RU" : "en-GB", { timeZone: zoneOf(model), ...opts }).format(new Date(iso));
}
const hm = (model, iso) => fmt(model, iso, { hour: "2-digit", minute: "2-digit" });
const day = (model, iso) => fmt(model, iso, { year: "numeric", month: "2-digit", day: "2-digit" });

function windowText(model, w) {
  return `${day(model, w.start)} ${hm(model, w.start)}–${hm(model, w.end)}`;
}

/** A link that opens the phone's maps app at the address. */
export function mapsLink(job) {
  const { lat, lon } = job.location;
  const ua = navigator.userAgent;
  const q = encodeURIComponent(job.address);
  let href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`;
  if (/Android/i.test(ua)) href = `geo:${lat},${lon}?q=${lat},${lon}(${q})`;
  else if (/iPhone|iPad/i.test(ua)) href = `https://maps.apple.com/?ll=${lat},${lon}&q=${q}`;
  return h("a.address", { href, target: "_blank", rel: "noopener" }, job.address);
}

function customer(job) {
  const first = (job.contact.name || "").trim().split(/\s+/)[0];
  return h("span.customer", {}, first, " · ", h("a.tel", { href: "tel:" + job.contact.phone }, job.contact.phone));
}

function statusBadge(j) {
  return h("span.badge.status", { dataset: { status: j.status } }, statusName(j.status), j.pending_status ? " · " + t("pending") : "");
}

function rejectionCard(r, dismiss) {
  const cur = r.current || {};
  const what = r.job_title || (r.args && r.args.job_id) || r.name;
  const now = cur.assigned === false ? null : cur.status;
  return h("article.rejection", { role: "alert", dataset: { reason: r.reason, job: (r.args && r.args.job_id) || "" } },
    h("p", {}, h("strong", {}, t("rejected"), ": "), what, " — ", reason(r.reason),
      now ? ` (${t("now_status")}: ${statusName(now)})` : ""),
    h("button.secondary.dismiss", { type: "button", onclick: () => dismiss(r.id) }, t("dismiss")));
}

/** The day: today in the planner's order, tomorrow, later, and the finished ones. */
export function dayView(model, handlers) {
  const zone = zoneOf(model);
  const dateIn = (iso) => new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date(iso));
  const today = dateIn(new Date().toISOString());
  const tomorrow = dateIn(new Date(Date.now() + 86400000).toISOString());
  const stops = (model.route && model.route.stops) || [];
  const order = new Map(stops.map((s, i) => [s.job_id, i]));
  const stopOf = new Map(stops.map((s) => [s.job_id, s]));
  const jobs = model.jobs.map((j) => effective(j, model.queue));
  const byPlan = (a, b) => (order.has(a.id) ? order.get(a.id) : 1e9) - (order.has(b.id) ? order.get(b.id) : 1e9)
    || a.window.start.localeCompare(b.window.start);
  const groups = { today: [], tomorrow: [], later: [], finished: [] };
  for (const j of jobs) {
    if (!OPEN.includes(j.status)) groups.finished.push(j);
    else if (j.status !== "scheduled" || dateIn(j.window.start) <= today) groups.today.push(j);
    else if (dateIn(j.window.start) === tomorrow) groups.tomorrow.push(j);
    else groups.later.push(j);
  }
  const card = (j, i) => {
    const stop = stopOf.get(j.id);
    return h("li.visit", { dataset: { job: j.id } },
      h("h3", {}, h("a", { href: "#/job/" + j.id }, `${i + 1}. ${j.problem}`)),
      h("p", {}, statusBadge(j), j.pending ? h("span.badge.pending", {}, ` ${j.pending} ${t("waiting")}`) : ""),
      h("dl.facts", {},
        stop && stop.planned_arrival ? [h("dt", {}, t("planned_arrival")), h("dd.arrival", {}, hm(model, stop.planned_arrival))] : [],
        h("dt", {}, t("window")), h("dd", {}, windowText(model, j.window)),
        h("dt", {}, t("customer")), h("dd", {}, customer(j)),
        h("dt", {}, t("address")), h("dd", {}, mapsLink(j))));
  };
  const section = (key, list) => h("section.day#" + key, {}, h("h2", {}, t(key)),
    list.length ? h("ol.visits", {}, list.sort(byPlan).map(card)) : h("p.note", {}, t("no_visits")));
  return h("div", {},
    h("h1", {}, t("app_title")),
    model.rejections.length ? h("section#rejections", {}, model.rejections.map((r) => rejectionCard(r, handlers.dismiss))) : "",
    section("today", groups.today),
    h("details#route-map", { ontoggle: handlers.mapToggled }, h("summary", {}, t("map")), h("div.map#map", {})),
    section("tomorrow", groups.tomorrow),
    groups.later.length ? section("later", groups.later) : "",
    groups.finished.length ? section("finished", groups.finished) : "");
}

/** One visit: facts, the status steps, and the work report's parts. */
export function jobView(model, id, handlers) {
  const raw = model.jobs.find((j) => j.id === id);
  if (!raw) return h("div", {}, h("p", {}, h("a.back", { href: "#/" }, "← ", t("back"))), h("h1", {}, t("not_found")));
  const j = effective(raw, model.queue);
  const r = j.report;
  const stop = ((model.route && model.route.stops) || []).find((s) => s.job_id === id);
  const act = handlers.act;
  const steps = [];
  if (j.status === "scheduled") steps.push(h("button#set-off", { type: "button", onclick: () => act("job.set_status", { job_id: id, status: "en_route" }) }, t("set_off")));
  if (j.status === "en_route") steps.push(h("button#arrived", { type: "button", onclick: () => act("job.set_status", { job_id: id, status: "on_site" }) }, t("arrived")));
  if (j.status === "on_site") {
    steps.push(h("button#complete", { type: "button", onclick: () => act("job.set_status", { job_id: id, status: "completed" }) }, t("complete")));
    steps.push(h("form.row#incomplete-form", { onsubmit: (e) => { e.preventDefault(); act("job.set_status", { job_id: id, status: "incomplete", reason: e.target.elements.reason.value }); } },
      h("label", { for: "incomplete-reason" }, t("reason")),
      h("select#incomplete-reason", { name: "reason" }, ["customer_absent", "part_missing", "second_visit_needed"].map((c) => h("option", { value: c }, t(c)))),
      h("button.danger", { type: "submit" }, t("incomplete"))));
  }
  const photo = (p) => {
    const blob = model.blobs.get(p.sha256);
    const state = p.uploaded || (blob && blob.uploaded) ? t("uploaded") : t("not_uploaded");
    return h("figure.photo", { dataset: { sha: p.sha256 } },
      blob ? h("img", { src: handlers.blobUrl(blob), alt: t("photo") }) : "",
      h("figcaption", {}, state));
  };
  const sigBlob = r.signature && model.blobs.get(r.signature.image_sha256);
  return h("div", {},
    h("p", {}, h("a.back", { href: "#/" }, "← ", t("back"))),
    h("h1", {}, j.problem),
    j.rework ? h("p.error", { role: "alert" }, t("rework"), ": ", j.rework.reason) : "",
    h("dl.facts", {},
      h("dt", {}, t("status")), h("dd#job-status", { dataset: { status: j.status } }, statusBadge(j)),
      stop && stop.planned_arrival ? [h("dt", {}, t("planned_arrival")), h("dd", {}, hm(model, stop.planned_arrival))] : [],
      h("dt", {}, t("window")), h("dd", {}, windowText(model, j.window)),
      h("dt", {}, t("customer")), h("dd", {}, customer(j)),
      h("dt", {}, t("address")), h("dd", {}, mapsLink(j)),
      j.parts.length ? [h("dt", {}, t("parts_needed")), h("dd", {}, j.parts.map((p) => `${p.sku} × ${p.qty}`).join(", "))] : []),
    steps.length ? h("section#steps.row", {}, steps) : "",
    !j.editable && (r.locked || !OPEN.includes(j.status)) ? h("p.note#locked", {}, t("report_locked")) : "",
    h("section#notes", {}, h("h2", {}, t("notes")),
      h("ul", {}, r.notes.map((n) => h("li.note-item", {}, n.text, n.pending ? h("span.pending", {}, " · ", t("pending")) : ""))),
      j.editable ? h("form.stack#note-form", { onsubmit: (e) => {
        e.preventDefault();
        const text = e.target.elements.text.value.trim();
        if (text) act("job.add_note", { job_id: id, note_id: handlers.uuid(), text });
      } }, h("label", { for: "note-text" }, t("note")), h("textarea#note-text", { name: "text", maxlength: 4000 }),
      h("button", { type: "submit" }, t("add_note"))) : ""),
    h("section#checklist", {}, h("h2", {}, t("checklist")),
      h("ul.checks", {}, j.checklist.map((c) => h("li", {},
        typeof c.value === "boolean" || c.value === null
          ? h("label", {}, h("input", { type: "checkbox", id: "chk-" + c.item, dataset: { item: c.item }, checked: c.value === true,
            disabled: !j.editable, onchange: (e) => act("job.set_checklist", { job_id: id, item: c.item, value: e.target.checked }) }), " ", c.label)
          : h("span", {}, c.label, ": ", String(c.value)),
        c.pending ? h("span.pending", {}, " · ", t("pending")) : "")))),
    h("section#parts", {}, h("h2", {}, t("parts_used")),
      h("ul", {}, r.parts.map((p) => h("li.part", {}, `${p.sku} × ${p.qty}`, p.serial ? ` · ${p.serial}` : "", p.pending ? h("span.pending", {}, " · ", t("pending")) : ""))),
      j.editable ? h("form.stack#part-form", { onsubmit: (e) => {
        e.preventDefault();
        const f = e.target.elements;
        const args = { job_id: id, part_use_id: handlers.uuid(), sku: f.sku.value.trim(), qty: Number(f.qty.value) || 1 };
        if (f.serial.value.trim()) args.serial = f.serial.value.trim();
        if (args.sku) act("job.add_part", args);
      } },
      h("label", { for: "part-sku" }, t("sku")), h("input#part-sku", { name: "sku", required: true, maxlength: 64, autocapitalize: "none" }),
      h("label", { for: "part-qty" }, t("qty")), h("input#part-qty", { name: "qty", type: "number", min: 1, max: 1000, value: 1 }),
      h("label", { for: "part-serial" }, t("serial")), h("input#part-serial", { name: "serial", maxlength: 200 }),
      handlers.canScan() ? [h("button.secondary#scan", { type: "button", onclick: handlers.scan }, t("scan")), h("video#scanner", { muted: true, playsinline: true, hidden: true })] : "",
      h("button", { type: "submit" }, t("add_part"))) : ""),
    h("section#photos", {}, h("h2", {}, t("photos")),
      h("div.photos", {}, r.photos.map(photo)),
      j.editable ? [h("label.button#photo-label", { for: "photo-input" }, t("take_photo")),
        h("input#photo-input.visually-hidden", { type: "file", accept: "image/*", capture: "environment", onchange: (e) => handlers.photo(id, e.target) })] : ""),
    h("section#signature", {}, h("h2", {}, t("signature")),
      r.signature ? h("p#signed", {}, t("signed_by"), ": ", r.signature.signer_name, r.signature.pending ? h("span.pending", {}, " · ", t("pending")) : "",
        sigBlob ? h("img.sig", { src: handlers.blobUrl(sigBlob), alt: t("signature") }) : "") : "",
      j.editable ? h("form.stack#sign-form", { onsubmit: (e) => { e.preventDefault(); handlers.sign(id, e.target); } },
        h("label", { for: "sig-pad" }, t("sign_here")),
        h("canvas#sig-pad", { width: 600, height: 240, role: "img", "aria-label": t("sign_here") }),
        h("label", { for: "signer" }, t("signer")), h("input#signer", { name: "signer", required: true, maxlength: 200, value: (j.contact.name || "") }),
        h("div.row", {}, h("button.secondary#sig-clear", { type: "button" }, t("clear")), h("button#sig-save", { type: "submit" }, t("save_signature")))) : ""));
}

/** The sign-in form. */
export function loginView(message, onsubmit) {
  return h("div", {}, h("h1", {}, t("sign_in")),
    message ? h("p.error#login-error", { role: "alert" }, message) : "",
    h("form.stack#login-form", { onsubmit },
      h("label", { for: "email" }, t("email")), h("input#email", { type: "email", name: "email", autocomplete: "username", required: true }),
      h("label", { for: "password" }, t("password")), h("input#password", { type: "password", name: "password", autocomplete: "current-password", required: true }),
      h("button#sign-in", { type: "submit" }, t("sign_in"))));
}
