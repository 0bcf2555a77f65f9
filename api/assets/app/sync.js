// The sync loop (docs/sync-protocol.md, from the phone's side): register the device once, upload photo bytes,
// push the queue in `seq` order and apply the answers, then pull the change log into the local copy.
// One run at a time across tabs (a Web Lock), so the queue goes up in order.

import * as api from "./api.js";
import * as store from "./store.js";

const APP_VERSION = "web-1";
const BATCH = 100;

/** What the status bar shows; `listeners` re-render on change. */
export const status = { online: null, syncing: false, lastSync: null, signedOut: false };
const listeners = new Set();
export function onChange(f) { listeners.add(f); }
function changed() { listeners.forEach((f) => f()); }

async function device() {
  let id = await store.get("device_id");
  if (id) return id;
  const r = await api.call("POST", "/v1/devices", { platform: "web", push_token: await pushToken(), app_version: APP_VERSION });
  if (r.status !== 201) throw new Error("device registration: " + r.status);
  id = r.body.device_id;
  await store.set("device_id", id);
  // A new device numbers its mutations from 1.
  await store.renumber(1);
  return id;
}

/**
 * The FCM registration token, when this browser has one. The Firebase JS SDK is not vendored (no CDN, no
 * Node toolchain), so this hook answers null and the app pulls on focus and every few minutes instead; a
 * deployment that adds the SDK sets `window.sortiePushToken` to a function returning the token.
 */
async function pushToken() {
  try { return typeof window.sortiePushToken === "function" ? (await window.sortiePushToken()) || null : null; } catch (_) { return null; }
}

async function uploadBlobs() {
  const blobs = await store.all("blobs");
  for (const b of blobs.filter((x) => !x.uploaded)) {
    const r = await api.call("PUT", "/v1/photos/" + b.sha256, undefined, b.bytes);
    if (r.status === 200 || r.status === 201) {
      await store.tx(["blobs"], "readwrite", (s) => { s.blobs.put({ ...b, uploaded: true }); });
    }
  }
}

async function rejected(m, res) {
  const job = m.args && m.args.job_id ? await store.tx(["jobs"], "readonly", (s) => store.req(s.jobs.get(m.args.job_id))) : null;
  await store.tx(["rejections"], "readwrite", (s) => {
    s.rejections.put({
      id: m.id, seq: m.seq, name: m.name, args: m.args, reason: res.reason || "invalid_args",
      message: res.message || "", current: res.current || null,
      job_title: job ? job.problem : null, job_address: job ? job.address : null, at: new Date().toISOString(),
    });
  });
}

async function push(deviceId) {
  for (let round = 0; round < 1000; round++) {
    const batch = await store.tx(["queue"], "readonly", (s) => store.req(s.queue.getAll(null, BATCH)));
    if (!batch.length) return;
    const r = await api.call("POST", "/v1/sync/push", {
      device_id: deviceId,
      sent_at: new Date().toISOString(),
      mutations: batch.map(({ seq, id, name, args }) => ({ seq, id, name, args })),
    });
    if (r.status === 409 && r.body && r.body.error && r.body.error.code === "seq_gap") {
      // The server has everything before `expected_seq`: resend from it. If the queue starts later (a tail
      // lost on the device), the waiting mutations take the missing numbers; none of them was ever processed.
      const expected = r.body.error.expected_seq;
      if (batch[0].seq > expected) await store.renumber(expected);
      else if (round > 3) throw new Error("seq_gap persists at " + expected);
      continue;
    }
    if (r.status === 404) {
      // The server forgot the device: register again, the queue starts at 1 there.
      await store.set("device_id", null);
      deviceId = await device();
      continue;
    }
    if (r.status !== 200) throw new Error("push answered " + r.status);
    const bySeq = new Map(batch.map((m) => [m.seq, m]));
    for (const res of r.body.results) {
      const m = bySeq.get(res.seq);
      if (!m || m.id !== res.id) continue;
      if (res.status === "rejected") await rejected(m, res);
      // applied, duplicate (processed before: a retry after a lost answer) and rejected all leave the queue.
      await store.tx(["queue"], "readwrite", (s) => { s.queue.delete(m.seq); });
    }
  }
}

function applyChanges(s, changes) {
  for (const c of changes) {
    if (c.entity === "job") {
      if (c.op === "delete") s.jobs.delete(c.id);
      else s.jobs.put(c.data);
    } else if (c.entity === "technician") {
      s.kv.put(c.op === "delete" ? null : c.data, "technician");
    } else if (c.entity === "route") {
      s.kv.put(c.data || { stops: [] }, "route");
    }
  }
}

async function pull(deviceId) {
  for (let round = 0; round < 100; round++) {
    const cursor = await store.get("cursor");
    const r = await api.call("POST", "/v1/sync/pull", { device_id: deviceId, cursor: cursor || null, limit: 200 });
    if (r.status === 404) {
      await store.set("device_id", null);
      deviceId = await device();
      continue;
    }
    if (r.status !== 200) throw new Error("pull answered " + r.status);
    const a = r.body;
    if (a.reset_required) {
      // Drop the copy of server data, never the queue; pull everything again.
      await store.tx(["kv", "jobs"], "readwrite", (s) => {
        s.jobs.clear();
        s.kv.delete("cursor");
        s.kv.delete("route");
      });
      continue;
    }
    await store.tx(["kv", "jobs"], "readwrite", (s) => {
      if (!cursor) s.jobs.clear(); // a full pull replaces the copy
      applyChanges(s, a.changes);
      s.kv.put(a.cursor, "cursor");
    });
    if (!a.has_more) return;
  }
}

/** Forgets photo and signature bytes that are uploaded and that neither the copy nor the queue names any more. */
async function forgetBlobs() {
  await store.tx(["jobs", "queue", "blobs"], "readwrite", async (s) => {
    const [jobs, queue, blobs] = await Promise.all([store.req(s.jobs.getAll()), store.req(s.queue.getAll()), store.req(s.blobs.getAll())]);
    const named = new Set();
    for (const j of jobs) {
      j.report.photos.forEach((p) => named.add(p.sha256));
      if (j.report.signature) named.add(j.report.signature.image_sha256);
    }
    for (const m of queue) [m.args.sha256, m.args.image_sha256].forEach((h) => h && named.add(h));
    for (const b of blobs) if (b.uploaded && !named.has(b.sha256)) s.blobs.delete(b.sha256);
  });
}

async function run() {
  const auth = await store.get("auth");
  if (!auth || auth.dead) return;
  status.syncing = true;
  changed();
  try {
    const deviceId = await device();
    await uploadBlobs();
    await push(deviceId);
    await pull(deviceId);
    await forgetBlobs();
    status.lastSync = new Date().toISOString();
    await store.set("last_sync", status.lastSync);
    status.online = true;
    status.signedOut = false;
  } catch (e) {
    if (e instanceof api.Offline) status.online = false;
    else if (e instanceof api.SignedOut) status.signedOut = true;
    else console.error("sync failed", e);
  } finally {
    status.syncing = false;
    changed();
  }
}

let again = false;
/** Syncs now; a call during a run schedules one more run after it (an action queued meanwhile goes up too). */
export async function syncNow() {
  if (status.syncing) { again = true; return; }
  const go = () => run();
  do {
    again = false;
    if (navigator.locks) await navigator.locks.request("sortie-sync", go);
    else await go();
  } while (again);
}
