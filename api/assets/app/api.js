// HTTP to the public API with the technician's tokens. Access tokens are refreshed before they expire and
// after a 401; a refresh runs under a Web Lock so two tabs never rotate the same refresh token (a reuse would
// revoke the whole family). A network failure is `Offline`: the caller keeps its queue and tries later.

import * as store from "./store.js";

/** The network is unreachable (or the server did not answer). */
export class Offline extends Error {}
/** The tokens are no longer accepted: the technician must sign in again (the queue stays). */
export class SignedOut extends Error {}

async function send(method, path, body, token, raw) {
  const headers = {};
  if (token) headers.authorization = "Bearer " + token;
  let payload;
  if (raw) {
    payload = raw;
    headers["content-type"] = raw.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  } catch (e) {
    throw new Offline(String(e));
  }
  if (res.status >= 500 || res.status === 429) throw new Offline("server answered " + res.status);
  let json = null;
  try { json = await res.json(); } catch (_) { json = null; }
  return { status: res.status, body: json };
}

function keep(pair) {
  return store.set("auth", {
    access: pair.access_token,
    refresh: pair.refresh_token,
    expires_at: Date.now() + (pair.expires_in || 900) * 1000,
    user_id: pair.user_id,
    role: pair.role,
  });
}

/** Signs in; returns the error object's message on a refusal. */
export async function login(email, password) {
  const r = await send("POST", "/v1/auth/login", { email, password });
  if (r.status !== 200) return { error: r.body && r.body.error ? r.body.error : { code: "unauthorized" } };
  return { pair: r.body };
}

export async function remember(pair) {
  await keep(pair);
}

async function refresh(stale) {
  const run = async () => {
    const auth = await store.get("auth");
    if (!auth) throw new SignedOut("no tokens");
    if (auth.access !== stale && auth.expires_at - Date.now() > 30000) return auth; // another tab refreshed
    const r = await send("POST", "/v1/auth/refresh", { refresh_token: auth.refresh });
    if (r.status !== 200) {
      await store.set("auth", { ...auth, dead: true });
      throw new SignedOut("refresh refused");
    }
    await keep(r.body);
    return store.get("auth");
  };
  return navigator.locks ? navigator.locks.request("sortie-auth", run) : run();
}

async function token() {
  const auth = await store.get("auth");
  if (!auth || auth.dead) throw new SignedOut("no tokens");
  if (auth.expires_at - Date.now() < 30000) return (await refresh(auth.access)).access;
  return auth.access;
}

/** An authorised call; refreshes once after a 401. */
export async function call(method, path, body, raw) {
  let t = await token();
  let r = await send(method, path, body, t, raw);
  if (r.status === 401) {
    t = (await refresh(t)).access;
    r = await send(method, path, body, t, raw);
    if (r.status === 401) throw new SignedOut("unauthorized");
  }
  return r;
}

/** Signs out on the server (best effort) and forgets the tokens. */
export async function logout() {
  const auth = await store.get("auth");
  if (auth) {
    try { await send("POST", "/v1/auth/logout", { refresh_token: auth.refresh }); } catch (_) { /* offline */ }
  }
}
