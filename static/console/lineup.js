// The show's lineup: one-click Pin / Unpin (at most 3 pinned) and a flash-deal form per product.
// Deal end times are on the server's clock (room.now()); units left follow units / sold_out.
import { busy, h, testid } from "./dom.js";
import { guard, inputError } from "./errors.js";
import { countdown, minorStep, money, toMinor } from "./format.js";

const MAX_PINS = 3;

export class Lineup {
  constructor(root, countEl, ctx) {
    this.root = root;
    this.countEl = countEl;
    this.ctx = ctx; // {room, currency, isOpen()}
    this.rows = new Map(); // product id -> li
    this.products = new Map();
    this.pins = new Map(); // product id -> pin
    const room = ctx.room;
    room.on("snapshot", (snapshot) => {
      this.pins = new Map(snapshot.pins.map((pin) => [pin.product.id, pin]));
      this.refresh();
    });
    room.on("pin", (event) => {
      this.pins.set(event.pin.product.id, event.pin);
      this.refresh();
    });
    room.on("unpin", (event) => {
      this.pins.delete(event.product_id);
      this.refresh();
    });
    room.on("units", (event) => this.setUnits(event.product_id, event.units_left));
    room.on("sold_out", (event) => this.setUnits(event.product_id, 0));
    this.timer = setInterval(() => this.tick(), 1000);
  }

  setProducts(products) {
    this.products = new Map(products.map((p) => [p.id, p]));
    this.rows = new Map(products.map((p) => [p.id, this.row(p)]));
    this.root.replaceChildren(...this.rows.values());
    if (!products.length) this.root.append(h("li", { class: "muted" }, "This show's lineup is empty."));
    this.refresh();
  }

  title(productId) {
    return this.products.get(productId)?.title
      ?? this.pins.get(productId)?.product.title ?? `Product #${productId}`;
  }

  setUnits(productId, unitsLeft) {
    const deal = this.pins.get(productId)?.deal;
    if (!deal) return;
    deal.units_left = unitsLeft;
    this.update(productId);
  }

  row(product) {
    const currency = this.ctx.currency;
    const li = h("li", { class: "lineup-item", "data-testid": "lineup-item", "data-product-id": product.id });
    const pin = h("button", { type: "button", "data-testid": "pin", "aria-label": `Pin ${product.title}` }, "Pin");
    const unpin = h("button", { type: "button", "data-testid": "unpin", "aria-label": `Unpin ${product.title}` }, "Unpin");
    pin.addEventListener("click", guard(() => busy(pin, () => this.pin(product.id, null))));
    unpin.addEventListener("click", guard(() => busy(unpin, () =>
      this.ctx.room.send("unpin", { product_id: product.id }))));
    const field = (label, name, attrs) => h("label", {},
      label, h("input", { name, type: "number", required: true, "data-testid": name, ...attrs }));
    const form = h("form", { class: "deal-form", "aria-label": `Flash deal for ${product.title}` },
      h("div", { class: "deal-fields" },
        field(`Deal price (${currency})`, "deal-price", { min: "0", step: minorStep(currency) }),
        field("Units", "deal-units", { min: "1", step: "1", value: "20" }),
        field("Per buyer", "deal-per-buyer", { min: "1", step: "1", value: "1" }),
        field("Seconds", "deal-seconds", { min: "1", max: "86400", step: "1", value: "300" })),
      h("div", { class: "deal-foot" },
        h("p", { class: "pin-state" }),
        h("button", { type: "submit", "data-testid": "pin-deal" }, "Pin with deal")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = testid(form, "pin-deal");
      guard(() => busy(button, () => this.pin(product.id, this.deal(form, product))))();
    });
    li.append(
      h("div", { class: "lineup-head" },
        product.image_url ? h("img", { src: product.image_url, alt: "", width: 40, height: 40 }) : null,
        h("div", { class: "grow" },
          h("strong", {}, product.title),
          h("div", { class: "muted" }, money(product.price, currency))),
        pin, unpin),
      form);
    return li;
  }

  deal(form, product) {
    const currency = this.ctx.currency;
    const value = (name) => testid(form, name).value;
    const price = toMinor(value("deal-price"), currency);
    if (price === null) throw inputError("Deal price: enter an amount like 29.90");
    if (price >= product.price) {
      throw inputError(`Deal price must be below the price (${money(product.price, currency)})`);
    }
    const units = Number(value("deal-units"));
    const perBuyer = Number(value("deal-per-buyer"));
    const seconds = Number(value("deal-seconds"));
    for (const [label, n] of [["Units", units], ["Per buyer", perBuyer], ["Seconds", seconds]]) {
      if (!Number.isInteger(n) || n < 1) throw inputError(`${label}: enter a whole number of at least 1`);
    }
    if (perBuyer > units) throw inputError("Per buyer cannot be more than the units on offer");
    if (seconds > 86400) throw inputError("A deal lasts at most 24 hours (86400 seconds)");
    return { price, units, per_buyer: perBuyer, ends_at_ms: Math.round(this.ctx.room.now() + seconds * 1000) };
  }

  async pin(productId, deal) {
    await this.ctx.room.send("pin", { product_id: productId, deal });
  }

  refresh() {
    for (const id of this.rows.keys()) this.update(id);
    const n = this.pins.size;
    this.countEl.textContent = `· ${n} of ${MAX_PINS} pinned`;
  }

  update(productId) {
    const li = this.rows.get(productId);
    if (!li) return;
    const pin = this.pins.get(productId);
    const open = this.ctx.isOpen();
    const full = this.pins.size >= MAX_PINS;
    li.dataset.pinned = String(Boolean(pin));
    li.classList.toggle("pinned", Boolean(pin));
    testid(li, "pin").hidden = Boolean(pin);
    testid(li, "pin").disabled = !open || full;
    testid(li, "pin").title = full && !pin ? "Three products are pinned: unpin one first" : "";
    testid(li, "unpin").hidden = !pin;
    testid(li, "unpin").disabled = !open;
    testid(li, "pin-deal").disabled = !open || (full && !pin);
    const state = li.querySelector(".pin-state");
    if (!pin) {
      state.replaceChildren(full ? "Not pinned (3 pinned already)" : "Not pinned");
      return;
    }
    if (!pin.deal) {
      state.replaceChildren(h("span", { class: "badge live" }, "Pinned"), " no deal");
      return;
    }
    const deal = pin.deal;
    const soldOut = deal.units_left <= 0;
    state.replaceChildren(
      h("span", { class: "badge live" }, "Pinned"),
      ` deal ${money(deal.price, this.ctx.currency)} · `,
      h("span", { "data-testid": "units-left", "data-product-id": productId, "data-sold-out": String(soldOut) },
        String(deal.units_left)),
      ` of ${deal.units} left · `,
      soldOut ? h("strong", { class: "sold-out" }, "Sold out") : h("span", { class: "ends" }, ""),
    );
    this.tick();
  }

  tick() {
    const now = this.ctx.room.now();
    for (const [id, pin] of this.pins) {
      const ends = this.rows.get(id)?.querySelector(".ends");
      if (!ends || !pin.deal) continue;
      const left = pin.deal.ends_at_ms - now;
      ends.textContent = !this.ctx.isOpen() ? "show ended"
        : left > 0 ? `ends in ${countdown(left)}` : "deal ended";
    }
  }

  destroy() {
    clearInterval(this.timer);
  }
}
