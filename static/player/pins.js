// The pinned products (up to 3), newest first, kept up to date by pin, unpin, units and
// sold_out events.
import { $, el } from "./dom.js";
import { createCard } from "./pin-card.js";

export function createPins({ currency, now, serverNow, onBuy }) {
  const section = $("pins-section");
  const list = $("pins");
  const cards = new Map(); // product id -> card
  let locked = false;

  function layout() {
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const ordered = [...cards.values()].sort((a, b) => b.pinnedAt - a.pinnedAt);
    list.replaceChildren(...ordered.map((card) => el("li", {}, card.root)));
    if (focused?.isConnected) focused.focus();
    section.hidden = cards.size === 0;
  }

  function put(pin) {
    const previous = cards.get(pin.product.id);
    const card = createCard(pin, { currency, now, serverNow, onBuy });
    if (previous) card.select(previous.selectedId());
    card.setLocked(locked);
    cards.set(pin.product.id, card);
  }

  return {
    snapshot(pins) {
      cards.clear();
      for (const pin of pins ?? []) put(pin);
      layout();
    },
    pin(pin) {
      put(pin);
      layout();
    },
    unpin(productId) {
      if (cards.delete(productId)) layout();
    },
    units(productId, unitsLeft) {
      cards.get(productId)?.setUnits(unitsLeft);
    },
    title(productId) {
      return cards.get(productId)?.product.title ?? null;
    },
    setLocked(value) {
      locked = value;
      for (const card of cards.values()) card.setLocked(value);
    },
    tick() {
      for (const card of cards.values()) card.tick();
    },
  };
}
