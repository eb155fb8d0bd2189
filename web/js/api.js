// api.js: the REST API of htgad (docs/http.md), as small async functions.
// Names in paths are percent-encoded whole, so a group "layer/1.weight"
// stays one path segment. Every call rejects with an Error whose message is
// the server's {"error": ...} text (or the HTTP status) on a non-2xx answer.

const BASE = 'api/v1';

const enc = encodeURIComponent;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, opts = {}) {
  const res = await fetch(path, { cache: 'no-store', ...opts });
  let body = null;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const msg = body && body.error ? body.error : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body;
}

// /health answers 503 with its reasons while htgad is not ready (a full
// disk, a lock, data being shed): that is an answer to show, not a failure.
export async function health() {
  const res = await fetch(`${BASE}/health`, { cache: 'no-store' });
  const body = await res.json().catch(() => null);
  if (!body || (res.status !== 200 && res.status !== 503)) throw new ApiError(res.status, `HTTP ${res.status}`);
  return body;
}
export const runs = () => call(`${BASE}/runs`).then((b) => b.runs);
export const run = (r) => call(`${BASE}/runs/${enc(r)}`);
export const latest = (r) => call(`${BASE}/runs/${enc(r)}/latest`).then((b) => b.groups);
export const stats = () => call(`${BASE}/stats`);
export const policy = (r) => call(`${BASE}/runs/${enc(r)}/policy`).then((b) => b.policy);
export const hill = (r, g) => call(`${BASE}/runs/${enc(r)}/groups/${enc(g)}/hill`);

// Columnar series of one group. fields: array of names; maxPoints: 0 for
// every block (asked as max_points=ALL_CAP: the server refuses a series of
// more than 200000 blocks without max_points, and a longer one is then
// min/max-downsampled to that many buckets rather than refused), else the
// server's min/max downsampling (the answer says "downsampled" and keeps
// F_min / F_max per bucket).
const ALL_CAP = 200000;

export function series(r, g, fields, { maxPoints = 0, fromStep = null, toStep = null } = {}) {
  const q = new URLSearchParams({ fields: fields.join(',') });
  q.set('max_points', String(maxPoints > 0 ? maxPoints : ALL_CAP));
  if (fromStep !== null) q.set('from_step', String(fromStep));
  if (toStep !== null) q.set('to_step', String(toStep));
  return call(`${BASE}/runs/${enc(r)}/groups/${enc(g)}/series?${q}`);
}

// PUT a policy change; token may be empty (loopback daemons without one).
export function putPolicy(r, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return call(`${BASE}/runs/${enc(r)}/policy`, {
    method: 'PUT',
    headers,
    body: JSON.stringify(body),
  });
}
