// REST calls: JSON in and out, the token as a Bearer header (never in a URL).

const TOKEN_KEY = "console.token";
const EXPIRY_KEY = "console.token_expires_at";

export const tokenStore = {
  get() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const expires = Number(sessionStorage.getItem(EXPIRY_KEY) || 0);
    if (token && expires && Date.now() > expires) {
      this.clear();
      return null;
    }
    return token;
  },
  set(token, expiresIn) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(EXPIRY_KEY, String(Date.now() + expiresIn * 1000));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(EXPIRY_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || `http_${status}`;
    this.field = error?.field;
    this.details = error?.details;
  }
}

function headers(extra = {}) {
  const result = { Accept: "application/json", ...extra };
  const token = tokenStore.get();
  if (token) result.Authorization = `Bearer ${token}`;
  return result;
}

async function send(path, init) {
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new ApiError(0, { code: "network", message: "The server could not be reached" });
  }
  if (resp.ok) return resp;
  let error = null;
  try {
    error = (await resp.json())?.error;
  } catch {
    error = null;
  }
  const err = new ApiError(resp.status, error);
  if (resp.status === 401 && init.headers.Authorization) {
    window.dispatchEvent(new CustomEvent("session-expired", { detail: err.message }));
  }
  throw err;
}

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await send(path, init);
  if (resp.status === 204) return null;
  return resp.json();
}

// Every page of a list route that pages with `after` / `next_after`.
export async function listAll(path, key) {
  const items = [];
  let after = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=100${after === null ? "" : `&after=${after}`}`);
    items.push(...page[key]);
    after = page.next_after;
  } while (after !== null && after !== undefined);
  return items;
}

// Fetch a file with the token and save it through a Blob link.
export async function download(path, fallbackName) {
  const resp = await send(path, { method: "GET", headers: headers({ Accept: "text/csv" }) });
  const disposition = resp.headers.get("Content-Disposition") || "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] || fallbackName;
  const url = URL.createObjectURL(await resp.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
  return name;
}
