// The one place errors are shown (data-testid="console-error").
import { byId } from "./dom.js";

const bar = byId("error-bar");
const text = byId("console-error");

byId("error-dismiss").addEventListener("click", clearError);

export function showError(err) {
  const message = typeof err === "string" ? err : err?.message || "Something went wrong";
  text.textContent = message;
  bar.hidden = false;
  if (typeof err !== "string" && !err?.code) console.error(err);
}

export function clearError() {
  text.textContent = "";
  bar.hidden = true;
}

// Wrap a user action: clear the last error, run it, show what went wrong.
export function guard(fn) {
  return async (...args) => {
    clearError();
    try {
      return await fn(...args);
    } catch (err) {
      showError(err);
      return undefined;
    }
  };
}

// An error in what the user typed: shown, not logged as a bug.
export function inputError(message) {
  return Object.assign(new Error(message), { code: "input" });
}
