// The device's store (IndexedDB): tokens and settings (`kv`), the copy of the server's data (`jobs`, and
// `technician`, `route`, `cursor` in `kv`), the queue of mutations not yet answered (`queue`, by `seq`),
// photo and signature bytes (`blobs`, by SHA-256) and the server's rejections to show (`rejections`).
// The queue is never dropped by a reset: only an answer from the server takes a mutation out of it.

const DB_NAME = "sortie";
let opened = null;

function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, 1);
      r.onupgradeneeded = () => {
        const d = r.result;
        d.createObjectStore("kv");
        d.createObjectStore("jobs", { keyPath: "id" });
        d.createObjectStore("queue", { keyPath: "seq" });
        d.createObjectStore("blobs", { keyPath: "sha256" });
        d.createObjectStore("rejections", { keyPath: "id" });
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }
  return opened;
}

/** The value of an IndexedDB request. */
export function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Runs `body(stores)` in one transaction over `names`; resolves with its result once the transaction commits. */
export async function tx(names, mode, body) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(names, mode);
    const stores = {};
    for (const n of names) stores[n] = t.objectStore(n);
    let out;
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
    Promise.resolve(body(stores)).then((v) => { out = v; }, (e) => { try { t.abort(); } catch (_) { /* done */ } reject(e); });
  });
}

export const get = (key) => tx(["kv"], "readonly", (s) => req(s.kv.get(key)));
export const set = (key, value) => tx(["kv"], "readwrite", (s) => { s.kv.put(value, key); });
export const all = (store) => tx([store], "readonly", (s) => req(s[store].getAll()));

/** A random UUID (v4), also outside secure contexts. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Writes an action to the queue before anything else happens: the next `seq`, a new mutation id, and (for a
 * photo or a signature) its bytes, in one transaction. Returns the queued mutation.
 */
export function enqueue(name, args, blob) {
  return tx(["kv", "queue", "blobs"], "readwrite", async (s) => {
    const seq = (await req(s.kv.get("next_seq"))) || 1;
    const m = { seq, id: uuid(), name, args, queued_at: new Date().toISOString() };
    s.queue.put(m);
    s.kv.put(seq + 1, "next_seq");
    if (blob) s.blobs.put(blob);
    return m;
  });
}

/** Gives the waiting mutations new `seq` numbers from `from` on, in their order (a new device, or a lost tail). */
export function renumber(from) {
  return tx(["kv", "queue"], "readwrite", async (s) => {
    const items = await req(s.queue.getAll());
    s.queue.clear();
    let seq = from;
    for (const m of items) s.queue.put({ ...m, seq: seq++ });
    s.kv.put(seq, "next_seq");
  });
}

/** Forgets everything on the device (sign-out with an empty queue). */
export function wipe() {
  return tx(["kv", "jobs", "queue", "blobs", "rejections"], "readwrite", (s) => {
    for (const n of Object.keys(s)) s[n].clear();
  });
}
