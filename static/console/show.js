// One show: its header (status, go live, end, edit, delete), the live room and its panels
// (the OBS stream panel for owners and hosts).
import { api } from "./api.js";
import { Chat } from "./chat.js";
import { busy, byId } from "./dom.js";
import { guard, showError } from "./errors.js";
import { Figures } from "./figures.js";
import { dateTime } from "./format.js";
import { Lineup } from "./lineup.js";
import { Moderation } from "./moderation.js";
import { Orders } from "./orders.js";
import { Questions } from "./questions.js";
import { Room } from "./room.js";
import { token } from "./session.js";
import { STATUS_LABEL } from "./shows.js";
import { Stream } from "./stream.js";

const ROOM_STATE = { connecting: "Connecting to the live room…", connected: "Live room connected",
  reconnecting: "Reconnecting to the live room…", refused: "Live room refused" };

export class ShowView {
  constructor({ onChanged, onDeleted, onEdit }) {
    this.section = byId("show-view");
    this.callbacks = { onChanged, onDeleted, onEdit };
    this.buttons = {
      edit: byId("edit-show"), remove: byId("delete-show"), live: byId("go-live"), end: byId("end-show"),
    };
    this.panels = [];
    this.room = null;
  }

  async open(shop, show) {
    this.close();
    this.shop = shop;
    this.show = { ...show };
    this.hosts = shop.role !== "moderator";
    this.section.hidden = false;
    this.abort = new AbortController();
    const room = new Room(show.id, token());
    this.room = room;
    let lineup = null;
    const ctx = {
      room, shopId: shop.id, showId: show.id, currency: show.currency,
      isOpen: () => this.show.status !== "ended",
      productTitle: (id) => lineup?.title(id) ?? `Product #${id}`,
    };
    const figures = new Figures(ctx);
    lineup = new Lineup(byId("lineup"), byId("pin-count"), ctx);
    const questions = new Questions(byId("console-questions"), byId("questions-open"), ctx);
    const chat = new Chat(byId("console-chat"), byId("timeout-minutes"), ctx);
    const moderation = new Moderation(ctx);
    const orders = new Orders(ctx, { onSummary: (summary) => figures.setSummary(summary) });
    const stream = new Stream(ctx, { hosts: this.hosts });
    this.panels = [figures, lineup, questions, chat, moderation, orders, stream];
    this.orders = orders;
    this.stream = stream;
    this.lineup = lineup;
    this.moderation = moderation;

    room.on("state", (state, message) => {
      byId("room-state").textContent = `· ${ROOM_STATE[state]}${state === "refused" && message ? `: ${message}` : ""}`;
      if (state === "refused") showError(`Live room: ${message || "refused"}`);
    });
    room.on("snapshot", (snapshot) => this.setStatus(snapshot.status, snapshot.started_at_ms, snapshot.ended_at_ms));
    room.on("status", (event) => this.setStatus(event.status, event.started_at_ms, event.ended_at_ms));
    this.wireButtons();
    this.render();
    this.setStatus(show.status);

    const preview = byId("preview");
    preview.src = `/watch/${show.id}`;
    byId("watch-link").href = `/watch/${show.id}`;

    room.connect();
    if (this.hosts) orders.refresh();
    else orders.forbid();
    stream.load().catch((err) => this.room === room && showError(err));
    const details = await api(`/api/shows/${show.id}`);
    if (this.room !== room) return; // another show was opened meanwhile
    lineup.setProducts(details.lineup);
    questions.retitle();
  }

  wireButtons() {
    const { signal } = this.abort;
    const { edit, remove, live, end } = this.buttons;
    const base = () => `/api/shops/${this.shop.id}/shows/${this.show.id}`;
    const transition = (button, action) => guard(() => busy(button, async () => {
      const show = await api(`${base()}/${action}`, { method: "POST" });
      this.update(show);
    }));
    live.addEventListener("click", transition(live, "start"), { signal });
    end.addEventListener("click", transition(end, "end"), { signal });
    edit.addEventListener("click", () => this.callbacks.onEdit(this.show), { signal });
    remove.addEventListener("click", guard(async () => {
      if (!window.confirm(`Delete the show “${this.show.title}”? This cannot be undone.`)) return;
      await busy(remove, () => api(base(), { method: "DELETE" }));
      const id = this.show.id;
      this.close();
      this.callbacks.onDeleted(id);
    }), { signal });
  }

  update(show) {
    this.show = { ...this.show, ...show };
    this.render();
    this.setStatus(show.status);
  }

  render() {
    const show = this.show;
    byId("show-heading").textContent = show.title;
    const when = show.status === "live" ? `Live since ${dateTime(show.started_at)}`
      : show.status === "ended" ? `Ended ${dateTime(show.ended_at)}`
        : `Scheduled for ${dateTime(show.scheduled_at)}`;
    byId("show-when").textContent = when;
  }

  setStatus(status, startedMs, endedMs) {
    if (!this.show) return;
    const changed = status !== this.show.status;
    this.show.status = status;
    if (startedMs) this.show.started_at = new Date(startedMs).toISOString();
    if (endedMs) this.show.ended_at = new Date(endedMs).toISOString();
    const badge = byId("show-status");
    badge.textContent = STATUS_LABEL[status] || status;
    badge.dataset.status = status;
    badge.className = `badge ${status}`;
    const { edit, remove, live, end } = this.buttons;
    edit.hidden = !this.hosts || status === "ended";
    remove.hidden = !this.hosts || status !== "scheduled";
    live.hidden = !this.hosts || status !== "scheduled";
    end.hidden = !this.hosts || status !== "live";
    this.section.dataset.status = status;
    this.orders?.setStatus(status);
    this.stream?.setStatus(status);
    this.lineup?.refresh();
    this.moderation?.setOpen(status !== "ended");
    if (changed) {
      this.render();
      byId("preview").src = `/watch/${this.show.id}`; // the viewer page as it is now
      if (status !== "scheduled") this.orders?.refresh();
      this.callbacks.onChanged({ ...this.show });
    }
  }

  close() {
    this.room?.close();
    this.room = null;
    this.panels.forEach((panel) => panel.destroy?.());
    this.panels = [];
    this.orders = null;
    this.stream = null;
    this.lineup = null;
    this.moderation = null;
    this.abort?.abort();
    this.show = null;
    this.section.hidden = true;
    byId("preview").src = "about:blank"; // unload the old viewer page and its connection
    byId("console-chat").replaceChildren();
    byId("console-questions").replaceChildren();
    byId("lineup").replaceChildren();
  }
}
