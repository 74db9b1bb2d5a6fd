// The card form, framed by the shop's player on another origin. The shop's page (the parent)
// sends the client secret by postMessage; the form answers only to the origin that message
// came from (event.origin, set by the browser, so it cannot be forged). Card data goes only
// to this origin.
"use strict";

const intentId = document.body.dataset.intent;
const $ = (id) => document.getElementById(id);
let secret = null;
let parentOrigin = null;
let state = null;
let polling = null;

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function tell(extra) {
  if (parentOrigin === null) return;
  const message = { type: "payproc", intent: intentId, status: state && state.status };
  if (state && state.next_action) message.next_action = state.next_action;
  if (state && state.last_error) message.error = state.last_error;
  window.parent.postMessage(Object.assign(message, extra || {}), parentOrigin);
}

function say(text, kind) {
  const el = $("message");
  el.textContent = text;
  el.className = kind || "";
}

function money(amount, currency) {
  const fmt = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format(amount / 10 ** digits);
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (method === "POST") headers["Idempotency-Key"] = randomKey();
  else headers["Payproc-Client-Secret"] = secret;
  const init = { method, headers, cache: "no-store" };
  if (body) init.body = JSON.stringify(Object.assign({ client_secret: secret }, body));
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    // A lost answer: the same key again gets the processor's stored answer, never a second
    // charge.
    response = await fetch(path, init);
  }
  const answer = await response.json();
  if (!response.ok) throw answer.error || { code: "error", message: "Payment failed." };
  return answer;
}

function show(next) {
  state = next;
  $("amount").textContent = "Pay " + money(state.amount, state.currency);
  const open = state.status === "requires_payment_method";
  $("card-form").hidden = !(open && state.methods.includes("card"));
  $("others").hidden = !open;
  $("bank").hidden = !state.methods.includes("bank_redirect");
  $("app").hidden = !state.methods.includes("app");
  $("action").hidden = true;
  $("challenge").hidden = true;
  $("action-link").hidden = true;
  for (const b of document.querySelectorAll("button")) b.disabled = false;
  const action = state.next_action;
  if (state.status === "succeeded") say("Payment succeeded.", "ok");
  else if (state.status === "canceled") say("This payment was canceled.", "error");
  else if (state.last_error) say(state.last_error.message, "error");
  else if (state.status === "processing" && action && action.type === "app") {
    say("Approve the payment in your app.");
    showLink(action.url, "Open the app", "_blank");
  } else if (state.status === "processing") say("Payment processing…");
  else if (action && action.type === "challenge") {
    say("Your bank asks you to confirm this payment.");
    $("action").hidden = false;
    $("challenge").hidden = false;
    if ($("challenge").getAttribute("src") !== action.url) $("challenge").src = action.url;
  } else if (action && action.type === "redirect") {
    say("Continue at your bank.");
    showLink(action.url, "Continue to your bank", "_top");
  } else say("");
  if (state.status === "processing") poll();
}

function showLink(url, text, target) {
  const link = $("action-link");
  link.href = url;
  link.textContent = text;
  link.target = target;
  link.rel = "noopener";
  link.hidden = false;
  $("action").hidden = false;
}

function poll() {
  if (polling !== null) return;
  polling = setInterval(async () => {
    try {
      const next = await call("GET", `/pay/${intentId}/state`);
      if (next.status === "processing") return;
      clearInterval(polling);
      polling = null;
      show(next);
      tell();
    } catch (err) {
      /* try again at the next tick */
    }
  }, 1000);
}

async function act(path, body) {
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  say("Working…");
  try {
    show(await call("POST", path, body));
    tell();
  } catch (err) {
    for (const b of document.querySelectorAll("button")) b.disabled = false;
    say(err.message || "Payment failed.", "error");
    tell({ error: { code: err.code, message: err.message } });
  }
}

function card() {
  const [month, year] = $("expiry").value.split("/").map((s) => parseInt(s.trim(), 10));
  return {
    number: $("number").value,
    exp_month: month || 0,
    exp_year: year || 0,
    cvc: $("cvc").value,
  };
}

$("card-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(`/pay/${intentId}/confirm`, { method: "card", card: card() });
});
$("bank").addEventListener("click", () =>
  act(`/pay/${intentId}/confirm`, { method: "bank_redirect" }),
);
$("app").addEventListener("click", () => act(`/pay/${intentId}/confirm`, { method: "app" }));

window.addEventListener("message", async (ev) => {
  const data = ev.data || {};
  const challenge = $("challenge");
  if (ev.origin === location.origin && ev.source === challenge.contentWindow) {
    if (data.type === "payproc:challenge") {
      await act(`/pay/${intentId}/challenge`, { decision: data.decision });
    }
    return;
  }
  // The secret is taken once, and only from the window that framed this form.
  if (ev.source !== window.parent || secret !== null) return;
  if (data.type !== "payproc:init" || typeof data.client_secret !== "string") return;
  secret = data.client_secret;
  parentOrigin = ev.origin;
  try {
    show(await call("GET", `/pay/${intentId}/state`));
    tell({ ready: true });
  } catch (err) {
    say(err.message || "This payment cannot be loaded.", "error");
    tell({ error: { code: err.code, message: err.message } });
  }
});

// Nothing secret in this one: it tells the parent the form can take the secret now.
window.parent.postMessage({ type: "payproc:ready", intent: intentId }, "*");
