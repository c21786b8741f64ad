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

// Sends a request; resolves with the Response when it is 2xx, rejects
// with ApiError (the problem+json detail) otherwise. key overrides the
// session key (sign-in checks a new one); accept is the wanted type.
export async function request(method, path, body, key = session.get(), accept = 'application/json') {
  const headers = { Accept: accept };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'The admin API cannot be reached; check your connection and try again.');
  }
  if (res.ok) return res;
  let json = null;
  try { json = JSON.parse(await res.text()); } catch { /* not JSON */ }
  const detail = json?.detail || json?.title || `The API answered ${res.status}.`;
  throw new ApiError(res.status, detail, json?.field);
}

// Calls the API; resolves with the parsed JSON (null for 204).
export async function call(method, path, body, key = session.get()) {
  const res = await request(method, path, body, key);
  const text = await res.text();
  try { return text ? JSON.parse(text) : null; } catch {
    throw new ApiError(res.status, 'The API answered with something that is not JSON.');
  }
}

// Saves the answer to GET path (an export: CSV, ndjson) as a file named
// name: the key goes in a header, so a plain link cannot do it.
export async function download(path, accept, name) {
  const res = await request('GET', path, undefined, session.get(), accept);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, v);
  const t = s.toString();
  return t ? `?${t}` : '';
};
