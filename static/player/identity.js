// Who is watching: a signed-in account (its token in localStorage "liveshop.token") or a
// guest, asked for a display name once; the guest's name and token are kept and reused.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";

const ACCOUNT_KEY = "liveshop.token";
const GUEST_KEY = "liveshop.viewer";

// localStorage can be missing or refused (private modes, third-party iframes): then memory.
const memory = new Map();
const storage = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return memory.get(key) ?? null;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      memory.set(key, value);
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      memory.delete(key);
    }
  },
};

function accountToken() {
  const raw = storage.get(ACCOUNT_KEY);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw);
    if (typeof parsed === "string") return parsed;
    if (parsed && typeof parsed.token === "string") return parsed.token;
  } catch {
    // a bare token
  }
  return raw;
}

function storedGuest() {
  try {
    const guest = JSON.parse(storage.get(GUEST_KEY) ?? "null");
    return guest && typeof guest.token === "string" ? guest : null;
  } catch {
    return null;
  }
}

let skipAccount = false;

/**
 * The identity to connect with: {kind, token, name?}. Asks for a name when there is none (or
 * it expired); `refused` (the last identity was refused on connect) moves on to the next one.
 */
export async function identify(refused = null) {
  if (refused?.kind === "account") skipAccount = true;
  const guestRefused = refused?.kind === "guest";
  const guest = storedGuest();
  if (guestRefused) storage.remove(GUEST_KEY);
  const account = skipAccount ? null : accountToken();
  if (account) return { kind: "account", token: account };
  if (guest && !guestRefused && !(guest.expires_at < Date.now())) return { kind: "guest", ...guest };
  // Asked again (prefilled) when the kept guest was refused or expired.
  return askName(guest?.name ?? "", Boolean(guest));
}

function askName(prefill, again) {
  const dialog = $("identity");
  const form = $("identity-form");
  const input = $("name-input");
  const submit = $("name-submit");
  const error = $("identity-error");
  $("identity-intro").textContent = again ? t("joinAgain") : t("joinIntro");
  input.value = prefill;
  error.textContent = "";
  // A name is needed to go on: Escape does not close this dialog.
  dialog.addEventListener("cancel", (ev) => ev.preventDefault());
  if (!dialog.open) dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    async function onSubmit(ev) {
      ev.preventDefault();
      const name = input.value.trim();
      if (!name) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = t("joining");
      error.textContent = "";
      try {
        const answer = await api("/api/viewers", { method: "POST", body: { display_name: name } });
        const guest = {
          token: answer.token,
          name: answer.identity.display_name,
          expires_at: Date.now() + answer.expires_in * 1000,
        };
        storage.set(GUEST_KEY, JSON.stringify(guest));
        form.removeEventListener("submit", onSubmit);
        input.removeAttribute("aria-invalid");
        dialog.close();
        resolve({ kind: "guest", ...guest });
      } catch (err) {
        error.textContent = err.message;
        input.setAttribute("aria-invalid", "true");
        input.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = t("join");
      }
    }
    form.addEventListener("submit", onSubmit);
  });
}
