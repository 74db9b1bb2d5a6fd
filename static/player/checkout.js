// Checkout inside the cart drawer: email, shipping address and card, Pay (the `checkout`
// event), and the confirmation with the order number. The page and the video stay as they are.
//
// One idempotency key per purchase attempt: a retry or a double tap before an answer arrives
// sends the same key (so at most one order), and so does a retry after no answer, or after
// `busy`. Any other answer ends the attempt; the next Pay makes a new key.
import { $ } from "./dom.js";
import { money } from "./format.js";
import { lang, t } from "./i18n.js";

const SAME_ATTEMPT = new Set(["timeout", "offline", "busy"]);

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function createCheckout({ cart, emit, currency }) {
  const form = $("checkout-form");
  const pay = $("pay-button");
  const error = $("checkout-error");
  const summary = $("checkout-summary");
  const inputs = {
    email: $("buyer-email"),
    "shipping_address.name": $("addr-name"),
    "shipping_address.line1": $("addr-line1"),
    "shipping_address.city": $("addr-city"),
    "shipping_address.postal_code": $("addr-postal"),
    "shipping_address.country": $("addr-country"),
    "card.number": $("card-number"),
    "card.exp_month": $("card-exp-month"),
    "card.exp_year": $("card-exp-year"),
    "card.cvc": $("card-cvc"),
  };
  let key = null; // the attempt's idempotency key
  let inFlight = false;

  function renderSummary() {
    const c = cart.get();
    const total = money(c?.total ?? 0, c?.currency ?? currency);
    summary.textContent = t("summary", { n: c?.items ?? 0, total });
    if (!inFlight) pay.textContent = t("pay", { total });
  }

  function markInvalid(fields) {
    for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
    let first = null;
    for (const field of fields) {
      const input = inputs[field];
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    }
    first?.focus();
  }

  function body(c) {
    const value = (field) => inputs[field].value.trim();
    const int = (field) => {
      const n = Number.parseInt(value(field), 10);
      return Number.isNaN(n) ? value(field) : n;
    };
    let year = int("card.exp_year");
    if (typeof year === "number" && year < 100) year += 2000;
    return {
      idempotency_key: key,
      cart_version: c.version,
      quote: c.quote,
      shipping_address: {
        name: value("shipping_address.name"),
        line1: value("shipping_address.line1"),
        city: value("shipping_address.city"),
        postal_code: value("shipping_address.postal_code"),
        country: value("shipping_address.country").toUpperCase(),
      },
      // The confirmation email goes here, in the player's language.
      email: value("email"),
      language: lang,
      card: {
        number: value("card.number").replace(/[\s-]/g, ""),
        exp_month: int("card.exp_month"),
        exp_year: year,
        cvc: value("card.cvc"),
      },
    };
  }

  function confirm(order) {
    $("order-number").textContent = order.number;
    $("order-paid").textContent = t("paid", {
      total: money(order.total, order.currency),
      brand: order.payment?.brand ?? "",
      last4: order.payment?.last4 ?? "",
    });
    cart.show("done-view");
    $("done-title").focus();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (inFlight) return; // a double tap: the attempt is already on its way
    const c = cart.get();
    if (!c?.items) return;
    key ??= newKey();
    inFlight = true;
    error.textContent = "";
    pay.disabled = true;
    pay.setAttribute("aria-busy", "true");
    pay.textContent = t("paying");
    const answer = await emit("checkout", body(c), 30000);
    inFlight = false;
    pay.disabled = false;
    pay.removeAttribute("aria-busy");
    if (answer.ok) {
      key = null;
      markInvalid([]);
      confirm(answer.order);
      cart.refresh(); // a paid order takes what it bought out of the cart
      renderSummary();
      return;
    }
    const err = answer.error ?? { code: "internal_error", message: t("noAnswer") };
    if (!SAME_ATTEMPT.has(err.code)) key = null;
    if (err.details?.cart) cart.set(err.details.cart); // cart_changed, price_changed, sold_out...
    else if (err.code === "cart_changed" || err.code === "price_changed") cart.refresh();
    error.textContent = err.message;
    const fields = Array.isArray(err.details)
      ? err.details.map((d) => d.field)
      : [err.field].filter(Boolean);
    markInvalid(fields);
    renderSummary();
  });

  cart.onCheckout(() => {
    error.textContent = "";
    renderSummary();
    cart.show("checkout-view");
    inputs.email.focus();
  });
  cart.onChange(renderSummary);
  $("checkout-back").addEventListener("click", () => {
    cart.show("cart-view");
    $("checkout-button").focus();
  });
  $("keep-watching").addEventListener("click", () => cart.close());
  renderSummary();
}
