// Calls to the Energiblik API with the signed-in token (kept in sessionStorage for this browser tab only).
const TOKEN_KEY = "energiblik.token";

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(v) { if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY); }

function url(path, params) {
  const u = new URL(`/api/v1${path}`, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === "") continue;
    for (const x of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(x));
  }
  return u;
}

async function request(method, path, params, tok = token()) {
  const r = await fetch(url(path, params), { method, headers: { Authorization: `Bearer ${tok}` } });
  if (!r.ok) {
    let msg = `${r.status}`;
    try { const body = await r.json(); msg = body.detail || body.message || msg; } catch { /* not JSON */ }
    throw new ApiError(r.status, typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  return r;
}

export async function get(path, params, tok) { return (await request("GET", path, params, tok)).json(); }
export async function post(path) { return (await request("POST", path)).json(); }

/** Fetch a file with the token and hand it to the browser: opened in a tab (HTML) or downloaded (CSV). */
export async function fetchFile(path, params, filename) {
  const r = await request("GET", path, params);
  const blob = await r.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  if (filename) a.download = filename; else a.target = "_blank";
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
