// The cart drawer: the cart button with its item count, lines with quantity -/+ and remove,
// the total, and the way to checkout. A non-modal drawer: the video keeps playing above it.
import { $, el } from "./dom.js";
import { money } from "./format.js";
import { t } from "./i18n.js";

const MAX_QUANTITY = 10;

export function createCart({ currency, emit, isLive }) {
  const button = $("cart-button");
  const count = $("cart-count");
  const drawer = $("cart");
  const heading = $("cart-title");
  const lines = $("cart-lines");
  const empty = $("cart-empty");
  const total = $("cart-total");
  const error = $("cart-error");
  const checkoutButton = $("checkout-button");
  const hint = $("checkout-hint");
  let cart = null;
  let opener = null;
  let onCheckout = () => {};
  const listeners = new Set();
  const views = ["cart-view", "checkout-view", "done-view"].map($);
  let current = "cart-view";

  function show(view) {
    current = view;
    for (const v of views) v.hidden = v.id !== view;
  }

  function line(item, unavailable) {
    const name = [item.title, ...Object.values(item.options ?? {})].join(" – ");
    const qty = el("span", {
      class: "qty",
      "aria-label": t("quantityOf", { title: name }),
      text: String(item.quantity),
    });
    const minus = el("button", {
      type: "button",
      class: "qty-button",
      "data-action": "minus",
      "aria-label": item.quantity > 1 ? t("decrease", { title: name }) : t("remove", { title: name }),
      text: "−",
      onclick: () =>
        item.quantity > 1
          ? change("cart.update", { variant_id: item.variant_id, quantity: item.quantity - 1 })
          : change("cart.remove", { variant_id: item.variant_id }),
    });
    const plus = el("button", {
      type: "button",
      class: "qty-button",
      "data-action": "plus",
      "aria-label": t("increase", { title: name }),
      disabled: item.quantity >= MAX_QUANTITY || unavailable,
      text: "+",
      onclick: () =>
        change("cart.update", { variant_id: item.variant_id, quantity: item.quantity + 1 }),
    });
    const remove = el("button", {
      type: "button",
      class: "link-button",
      "data-action": "remove",
      "aria-label": t("remove", { title: name }),
      text: t("removeShort"),
      onclick: () => change("cart.remove", { variant_id: item.variant_id }),
    });
    const notes = [];
    if (unavailable) notes.push(el("span", { class: "line-note warn", text: t("unavailable") }));
    else if (item.deal_quantity > 0) {
      notes.push(
        el("span", {
          class: "line-note deal",
          text: `${t("dealLine", { n: item.deal_quantity })}: ${money(item.deal_price, currency)}`,
        }),
      );
    }
    return el(
      "li",
      {
        class: "cart-line",
        "data-testid": "cart-line",
        "data-variant-id": item.variant_id,
        "data-unavailable": unavailable || null,
      },
      el("div", { class: "line-main" }, el("span", { class: "line-title", text: name }), ...notes),
      el("div", { class: "line-qty" }, minus, qty, plus),
      el("span", { class: "line-total", text: money(item.total, currency) }),
      remove,
    );
  }

  function render() {
    const items = cart?.items ?? 0;
    count.textContent = String(items);
    button.setAttribute("aria-label", t("cartItems", { n: items }));
    const unavailable = new Set(cart?.unavailable ?? []);
    // Keep keyboard focus on the same control of the same line across the re-render.
    const focused = document.activeElement;
    const lineOf = lines.contains(focused) ? focused.closest(".cart-line") : null;
    const again = lineOf && [lineOf.dataset.variantId, focused.dataset.action];
    lines.replaceChildren(
      ...(cart?.lines ?? []).map((item) => line(item, unavailable.has(item.variant_id))),
    );
    if (again) {
      const row = lines.querySelector(`[data-variant-id="${again[0]}"]`);
      const target = row?.querySelector(`[data-action="${again[1]}"]:not(:disabled)`);
      (target ?? heading).focus();
    }
    empty.hidden = Boolean(cart?.lines?.length);
    total.textContent = money(cart?.total ?? 0, cart?.currency ?? currency);
    const live = isLive();
    checkoutButton.disabled = !items || !live;
    hint.hidden = live || !items;
  }

  async function change(event, payload, quiet = false) {
    if (!quiet) error.textContent = "";
    const answer = await emit(event, payload);
    if (answer.ok) set(answer.cart);
    else {
      if (!quiet) error.textContent = answer.error.message;
      if (answer.error.details?.cart) set(answer.error.details.cart);
    }
    return answer;
  }

  function set(next) {
    if (!next) return;
    cart = next; // a connection's acks come in the order its events were sent
    render();
    for (const fn of listeners) fn(cart);
  }

  function open(from = document.activeElement) {
    if (drawer.hidden) opener = from;
    // A checkout under way stays in view; otherwise the drawer opens on the cart.
    if (drawer.hidden || current !== "checkout-view") show("cart-view");
    drawer.hidden = false;
    button.setAttribute("aria-expanded", "true");
    heading.focus();
  }

  function close() {
    drawer.hidden = true;
    button.setAttribute("aria-expanded", "false");
    error.textContent = "";
    (opener?.isConnected ? opener : button).focus();
  }

  button.addEventListener("click", () => open(button));
  $("cart-close").addEventListener("click", close);
  drawer.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") close();
  });
  checkoutButton.addEventListener("click", () => onCheckout());
  render();

  return {
    get: () => cart,
    set,
    /** cart.add of one unit; opens the drawer on success. */
    async add(variantId, from) {
      const answer = await change("cart.add", { variant_id: variantId, quantity: 1 });
      if (answer.ok) open(from);
      return answer;
    },
    refresh: () => change("cart.view", undefined, true),
    open,
    close,
    show,
    render,
    onCheckout(fn) {
      onCheckout = fn;
    },
    /** fn(cart) after every change. */
    onChange(fn) {
      listeners.add(fn);
    },
  };
}
