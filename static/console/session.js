// Logging in and out. The token lives in sessionStorage (this tab only) until it expires.
import { api, tokenStore } from "./api.js";

export async function logIn(email, password) {
  const body = await api("/api/auth/login", { method: "POST", body: { email, password } });
  tokenStore.set(body.token, body.expires_in);
  return body.identity;
}

// The protocol has no log-out route: tokens expire. Forgetting it ends this tab's session.
export function logOut() {
  tokenStore.clear();
  sessionStorage.removeItem("console.shop");
  sessionStorage.removeItem("console.show");
}

export function hasSession() {
  return tokenStore.get() !== null;
}

export function token() {
  return tokenStore.get();
}

export async function whoAmI() {
  return api("/api/me");
}
