// One pinned product: image, title, price, the flash deal (price, countdown, units left, sold
// out), a variant picker and the Buy button. `now` is the viewer's delayed clock (the server's
// clock minus how far the video is behind, see sync.js), so the countdown to the host's
// deal.ends_at_ms ends when this viewer's video reaches the host's deadline; the server keeps
// taking orders until deal.closes_at_ms (ends_at_ms + grace_ms).
import { el, srOnly } from "./dom.js";
import { countdown, money } from "./format.js";
import { t } from "./i18n.js";

function variantName(variant) {
  const values = Object.values(variant.options ?? {});
  return values.length ? values.join(" / ") : variant.sku;
}

/** Make `nodes` the children of `parent`, touching the page only when they differ. */
function place(parent, nodes) {
  const now = parent.childNodes;
  if (now.length === nodes.length && nodes.every((node, i) => now[i] === node)) return;
  parent.replaceChildren(...nodes);
}

/**
 * now(): the delayed clock (Unix ms); serverNow(): the server's clock, for when the server stops
 * taking the deal price (closes_at_ms); onBuy(variantId, button) answers the cart.add ack.
 */
export function createCard(pin, { currency, now, serverNow = now, onBuy }) {
  const product = pin.product;
  const variants = product.variants ?? [];
  const idBase = `pin-${product.id}`;
  let deal = pin.deal ? { ...pin.deal } : null;
  let locked = false;
  let busy = false;

  const title = el("h3", { class: "pin-title", id: `${idBase}-title`, text: product.title });
  const image = product.image_url
    ? el("img", { class: "pin-image", src: product.image_url, alt: "", width: 72, height: 72 })
    : el("div", { class: "pin-image pin-image-empty", "aria-hidden": "true" });
  const dealPrice = el("strong", { class: "deal-price", "data-testid": "deal-price" });
  const wasLabel = srOnly(t("wasPrice"));
  const price = el("span", { class: "price" });
  const space = document.createTextNode(" ");
  const prices = el("p", { class: "pin-prices" });
  const timer = el("time", { class: "countdown", "data-testid": "countdown" });
  const timerLabel = el("span", { class: "countdown-label", text: t("dealEndsIn") });
  const timerBox = el("span", { class: "deal-timer" }, timerLabel, " ", timer);
  const unitsLeft = el("span", { class: "units-left", "data-testid": "units-left" });
  const soldOut = el("span", { class: "sold-out", "data-testid": "sold-out", text: t("soldOut") });
  const ended = el("span", { class: "deal-ended", text: t("dealEnded") });
  const dealInfo = el("p", { class: "deal-info" });
  const outOfStock = el("p", { class: "out-of-stock", text: t("outOfStock") });

  let select = null;
  const controls = el("div", { class: "pin-controls" });
  if (variants.length > 1) {
    select = el("select", { id: `${idBase}-variant`, "data-testid": "variant" });
    for (const v of variants) {
      const name = variantName(v);
      const label = v.price !== product.price ? `${name}, ${money(v.price, currency)}` : name;
      select.append(
        el("option", {
          value: v.id,
          disabled: !v.in_stock,
          text: v.in_stock ? label : t("variantOutOfStock", { name: label }),
        }),
      );
    }
    const firstInStock = variants.find((v) => v.in_stock);
    if (firstInStock) select.value = String(firstInStock.id);
    select.addEventListener("change", render);
    const label = el("label", { class: "variant-label", for: select.id, text: t("variant") });
    controls.append(el("span", { class: "variant-field" }, label, select));
  }
  const buy = el("button", {
    type: "button",
    class: "buy",
    "data-testid": "buy",
    "aria-describedby": `${idBase}-title`,
    text: t("buy"),
  });
  const error = el("p", { class: "pin-error", role: "status" });
  controls.append(buy);

  const root = el(
    "article",
    { class: "pin", "data-testid": "pin", "data-product-id": product.id, "aria-labelledby": title.id },
    image,
    el("div", { class: "pin-body" }, title, prices, dealInfo, outOfStock),
    controls,
    error,
  );

  const selected = () =>
    select ? variants.find((v) => String(v.id) === select.value) : variants[0];
  const inStock = () => variants.some((v) => v.in_stock);

  function render() {
    const variant = selected();
    const left = deal?.units_left ?? 0;
    // The host's end on this viewer's video, but never past the server's last order.
    const remaining = deal
      ? Math.min(deal.ends_at_ms - now(), (deal.closes_at_ms ?? deal.ends_at_ms) - serverNow())
      : 0;
    const state = !deal ? "none" : left <= 0 ? "sold-out" : remaining > 0 ? "active" : "ended";
    const active = state === "active";
    // Only what applies is in the page (no hidden deal price, countdown or sold-out badge).
    price.textContent = money(variant?.price ?? product.price, currency);
    price.classList.toggle("was", active);
    if (active) dealPrice.textContent = money(deal.price, currency);
    place(prices, active ? [dealPrice, space, wasLabel, price] : [price]);
    timer.textContent = active ? countdown(remaining) : "";
    timer.dateTime = `PT${Math.max(0, Math.ceil(remaining / 1000))}S`;
    unitsLeft.textContent = active ? t("onlyLeft", { n: left }) : "";
    const info = { none: [], active: [timerBox, unitsLeft], ended: [ended], "sold-out": [soldOut] };
    place(dealInfo, info[state]);
    dealInfo.hidden = state === "none";
    outOfStock.hidden = inStock();
    buy.disabled = locked || busy || !variant?.in_stock;
    root.dataset.deal = state;
  }

  buy.addEventListener("click", async () => {
    const variant = selected();
    if (!variant || busy) return;
    busy = true;
    error.textContent = "";
    buy.textContent = t("adding");
    buy.setAttribute("aria-busy", "true");
    render();
    const answer = await onBuy(variant.id, buy);
    busy = false;
    buy.textContent = t("buy");
    buy.removeAttribute("aria-busy");
    if (!answer.ok) error.textContent = answer.error.message;
    render();
  });

  render();
  return {
    root,
    product,
    pinnedAt: pin.pinned_at_ms ?? 0,
    selectedId: () => select?.value,
    select: (id) => {
      if (select && id && variants.some((v) => String(v.id) === id)) select.value = id;
      render();
    },
    setUnits(n) {
      if (!deal) return;
      deal.units_left = n;
      render();
    },
    setLocked(value) {
      locked = value;
      render();
    },
    tick: render,
  };
}
