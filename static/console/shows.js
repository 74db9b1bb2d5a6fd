// The shop's shows in the sidebar: live first, then upcoming by time, then ended (newest first).
import { listAll } from "./api.js";
import { h } from "./dom.js";
import { dateTime } from "./format.js";

const ORDER = { live: 0, scheduled: 1, ended: 2 };

function compare(a, b) {
  if (a.status !== b.status) return ORDER[a.status] - ORDER[b.status];
  const ta = Date.parse(a.status === "ended" ? a.ended_at : a.scheduled_at) || 0;
  const tb = Date.parse(b.status === "ended" ? b.ended_at : b.scheduled_at) || 0;
  return a.status === "ended" ? tb - ta : ta - tb;
}

export const STATUS_LABEL = { scheduled: "Scheduled", live: "Live", ended: "Ended" };

export class ShowList {
  constructor(root, { onOpen }) {
    this.root = root;
    this.onOpen = onOpen;
    this.shows = new Map();
    this.activeId = null;
  }

  async load(shopId) {
    const shows = await listAll(`/api/shops/${shopId}/shows`, "shows");
    this.shows = new Map(shows.map((show) => [show.id, show]));
    this.render();
  }

  get(id) {
    return this.shows.get(id);
  }

  upsert(show) {
    this.shows.set(show.id, { ...this.shows.get(show.id), ...show });
    this.render();
  }

  remove(id) {
    this.shows.delete(id);
    if (this.activeId === id) this.activeId = null;
    this.render();
  }

  setActive(id) {
    this.activeId = id;
    for (const button of this.root.querySelectorAll("[data-show-id]")) {
      const active = Number(button.dataset.showId) === id;
      button.classList.toggle("active", active);
      if (active) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  render() {
    const shows = [...this.shows.values()].sort(compare);
    if (!shows.length) {
      this.root.replaceChildren(h("li", { class: "muted" }, "No shows yet."));
      return;
    }
    this.root.replaceChildren(...shows.map((show) => this.item(show)));
    this.setActive(this.activeId);
  }

  item(show) {
    const when = show.status === "live"
      ? `since ${dateTime(show.started_at)}`
      : show.status === "ended" ? `ended ${dateTime(show.ended_at)}` : dateTime(show.scheduled_at);
    const button = h(
      "button",
      {
        type: "button",
        class: "show-item",
        "data-testid": "show-item",
        "data-show-id": show.id,
        "data-status": show.status,
        onclick: () => this.onOpen(show.id),
      },
      h("span", { class: "show-item-title" }, show.title),
      h("span", { class: "show-item-meta" },
        h("span", { class: `badge ${show.status}` }, STATUS_LABEL[show.status] || show.status),
        " ",
        when),
    );
    return h("li", {}, button);
  }
}
