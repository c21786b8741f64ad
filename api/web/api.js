// The admin API from the browser: the workspace API key lives in
// sessionStorage only (gone when the tab closes) and goes out as
// Authorization: Bearer on same-origin fetch calls. Errors come back as
// ApiError carrying the problem+json detail and field.
const KEY = 'jsmcp.apiKey';

export const session = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, detail, field) {
    super(detail);
    this.status = status;
    this.field = field || null;
  }
}

// Calls the API; resolves with the parsed JSON (null for 204), rejects
// with ApiError. key overrides the session key (sign-in checks a new one).
export async function call(method, path, body, key = session.get()) {
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'The admin API cannot be reached; check your connection and try again.');
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const detail = json?.detail || json?.title || `The API answered ${res.status}.`;
    throw new ApiError(res.status, detail, json?.field);
  }
  return json;
}

export const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, v);
  const t = s.toString();
  return t ? `?${t}` : '';
};
