// Create or edit a show: title, description, time, currency, lineup from the catalog, and an
// optional playback URL. Edits send only the fields that changed.
import { api, listAll } from "./api.js";
import { byId, h } from "./dom.js";
import { clearError, inputError, showError } from "./errors.js";
import { fromLocalInput, money, toLocalInput } from "./format.js";

export class ShowForm {
  constructor({ onSaved, onCancel }) {
    this.form = byId("show-form");
    this.heading = byId("form-heading");
    this.submit = byId("show-create");
    this.options = byId("lineup-options");
    this.hint = byId("lineup-hint");
    this.error = byId("show-form-error");
    this.onSaved = onSaved;
    this.products = [];
    this.show = null;
    this.lineupTouched = false;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    byId("show-form-cancel").addEventListener("click", () => onCancel(this.show));
    this.form.elements.currency.addEventListener("input", () => this.markCurrency());
    this.options.addEventListener("change", () => {
      this.lineupTouched = true;
    });
  }

  // shop: {id}; show: null for a new one, else the show to edit.
  async open(shop, show = null) {
    this.shop = shop;
    this.show = show;
    this.lineupTouched = false;
    this.error.textContent = "";
    const f = this.form.elements;
    this.heading.textContent = show ? `Edit “${show.title}”` : "New show";
    this.submit.textContent = show ? "Save changes" : "Create show";
    f.title.value = show?.title ?? "";
    f.description.value = show?.description ?? "";
    const when = show ? new Date(show.scheduled_at) : new Date(Date.now() + 3600_000);
    if (!show) when.setMinutes(Math.ceil(when.getMinutes() / 5) * 5, 0, 0);
    f.scheduled.value = toLocalInput(when);
    f.scheduled.disabled = Boolean(show && show.status !== "scheduled");
    f.currency.disabled = Boolean(show); // a show's currency never changes
    f.playback_url.value = show?.playback_url ?? "";
    this.options.replaceChildren(h("p", { class: "muted" }, "Loading the catalog…"));
    this.products = await listAll(`/api/shops/${shop.id}/products`, "products");
    const currencies = [...new Set(this.products.map((p) => p.currency))];
    byId("currency-list").replaceChildren(...currencies.map((c) => h("option", { value: c })));
    f.currency.value = show?.currency ?? mostCommon(this.products.map((p) => p.currency)) ?? "EUR";
    this.renderChoices(new Set(show?.lineup ?? []));
    f.title.focus();
  }

  renderChoices(chosen) {
    if (!this.products.length) {
      this.options.replaceChildren(h("p", { class: "muted" }, "The catalog has no products yet."));
      return;
    }
    this.options.replaceChildren(...this.products.map((product) => h(
      "label",
      { class: "choice" },
      h("input", {
        type: "checkbox",
        value: String(product.id),
        checked: chosen.has(product.id),
        "data-testid": "lineup-choice",
        "data-product-id": product.id,
        "data-currency": product.currency,
      }),
      h("span", {}, product.title),
      h("span", { class: "muted" }, money(product.price, product.currency)),
    )));
    this.markCurrency();
  }

  // Only products priced in the show's currency can join its lineup.
  markCurrency() {
    const currency = this.form.elements.currency.value.trim().toUpperCase();
    let other = 0;
    for (const box of this.options.querySelectorAll("input[type=checkbox]")) {
      const wrong = box.dataset.currency !== currency;
      box.disabled = wrong;
      if (wrong) {
        box.checked = false;
        other += 1;
      }
    }
    this.hint.textContent = other
      ? `${other} product(s) priced in another currency cannot join this show.`
      : "Tick the products to present, in catalog order.";
  }

  body() {
    const f = this.form.elements;
    const scheduled = fromLocalInput(f.scheduled.value);
    if (!scheduled) throw inputError("Pick a date and time for the show");
    const lineup = [...this.options.querySelectorAll("input:checked")].map((b) => Number(b.value));
    const body = {
      title: f.title.value.trim(),
      description: f.description.value,
      scheduled_at: scheduled,
      currency: f.currency.value.trim().toUpperCase(),
      lineup,
    };
    const playback = f.playback_url.value.trim();
    if (playback) body.playback_url = playback;
    return body;
  }

  changes(body) {
    const show = this.show;
    const patch = {};
    if (body.title !== show.title) patch.title = body.title;
    if (body.description !== show.description) patch.description = body.description;
    if (show.status === "scheduled" && Date.parse(body.scheduled_at) !== Date.parse(show.scheduled_at)) {
      patch.scheduled_at = body.scheduled_at;
    }
    if (this.lineupTouched && body.lineup.join() !== show.lineup.join()) {
      // Keep the order of what was already in the lineup; new products go last.
      const kept = show.lineup.filter((id) => body.lineup.includes(id));
      patch.lineup = [...kept, ...body.lineup.filter((id) => !kept.includes(id))];
    }
    const playback = body.playback_url ?? null;
    if (playback !== (show.playback_url ?? null)) patch.playback_url = playback;
    return patch;
  }

  async save() {
    clearError();
    this.error.textContent = "";
    this.submit.disabled = true;
    try {
      const body = this.body();
      let saved;
      if (!this.show) {
        saved = await api(`/api/shops/${this.shop.id}/shows`, { method: "POST", body });
      } else {
        const patch = this.changes(body);
        saved = Object.keys(patch).length
          ? await api(`/api/shops/${this.shop.id}/shows/${this.show.id}`, { method: "PATCH", body: patch })
          : this.show;
      }
      this.onSaved(saved);
    } catch (err) {
      this.error.textContent = err.message;
      showError(err);
    } finally {
      this.submit.disabled = false;
    }
  }
}

function mostCommon(values) {
  const counts = new Map();
  for (const v of values) counts.set(v, (counts.get(v) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}
