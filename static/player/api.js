// fetch helpers for the REST API. Errors arrive as {"error": {"code", "message", ...}}.
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.details = error.details;
  }
}

/** Call the API; answers the JSON body, or throws an ApiError with the server's code. */
export async function api(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, { code: "network_error", message: t("offline") });
  }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const error = data?.error ?? { code: `http_${resp.status}`, message: resp.statusText };
    throw new ApiError(resp.status, error);
  }
  return data;
}
