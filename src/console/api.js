// Every data call goes through the REST API with the signed-in user's token, so isolation and read-only
// tokens hold in the console exactly as they do for the SDKs.
const TOKEN_KEY = "sluice.console.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  // sessionStorage, not localStorage: the token leaves with the tab instead of staying on the machine.
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** The query string of `params`: empty values are left out (the API refuses an empty filter), arrays repeat. */
export function queryString(params = {}) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined && v !== null && String(v).trim() !== "") q.append(name, String(v).trim());
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Calls the API; a non-2xx answer throws an ApiError carrying the server's own `error` text. */
export async function api(method, path, { query, json, body, headers = {}, token = session.token } = {}) {
  const res = await fetch(path + queryString(query), {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(json !== undefined ? { "Content-Type": "application/json" } : {}),
      ...headers,
    },
    body: json !== undefined ? JSON.stringify(json) : body,
  });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: text };
  }
  if (!res.ok) throw new ApiError(res.status, data?.error ?? `HTTP ${res.status}`);
  return data;
}
