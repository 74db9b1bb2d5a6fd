// The show's orders, newest first, with Fulfil and Refund; the orders and chat CSV downloads.
// Refreshed on `purchases` frames and every few seconds while the show is live.
import { api, download } from "./api.js";
import { busy, byId, h } from "./dom.js";
import { guard, showError } from "./errors.js";
import { clock, dateTime, money } from "./format.js";

const PAGE = 50;
const POLL_MS = 5000;
const STATUS = { pending_payment: "Awaiting payment", paid: "Paid", fulfilled: "Fulfilled",
  cancelled: "Cancelled", refunded: "Refunded" };

export class Orders {
  constructor(ctx, { onSummary }) {
    this.ctx = ctx; // {room, shopId, showId, currency}
    this.onSummary = onSummary;
    this.body = byId("orders-body");
    this.empty = byId("orders-empty");
    this.more = byId("orders-more");
    this.note = byId("orders-note");
    this.rows = new Map(); // order id -> tr
    this.orders = new Map();
    this.allowed = true;
    this.timer = null;
    this.pending = null;
    this.body.replaceChildren();
    this.empty.hidden = false;
    this.more.hidden = true;
    this.note.textContent = "";
    this.base = `/api/shops/${ctx.shopId}/shows/${ctx.showId}`;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.exportButton = byId("export-csv");
    this.chatButton = byId("chat-csv");
    this.exportButton.addEventListener("click", guard(() => busy(this.exportButton, () =>
      download(`${this.base}/orders.csv`, `show-${ctx.showId}-orders.csv`))), { signal });
    this.chatButton.addEventListener("click", guard(() => busy(this.chatButton, () =>
      download(`${this.base}/chat.csv`, `show-${ctx.showId}-chat.csv`))), { signal });
    this.more.addEventListener("click", guard(() => busy(this.more, () => this.loadOlder())), { signal });
    ctx.room.on("purchases", () => this.soon());
    ctx.room.on("units", () => this.soon());
  }

  // Moderators do not see orders.
  forbid() {
    this.allowed = false;
    this.note.textContent = "· owners and hosts only";
    this.exportButton.disabled = true;
    this.empty.textContent = "Orders are shown to the shop's owners and hosts.";
    this.onSummary(null);
  }

  setStatus(status) {
    this.chatButton.disabled = status !== "ended";
    this.chatButton.title = status === "ended" ? "" : "The chat archive is ready once the show has ended";
    clearInterval(this.timer);
    this.timer = status === "live" && this.allowed ? setInterval(() => this.refresh(), POLL_MS) : null;
  }

  soon() {
    if (this.pending || !this.allowed) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.refresh();
    }, 400);
  }

  async refresh() {
    if (!this.allowed) return;
    try {
      const page = await api(`${this.base}/orders?limit=${PAGE}`);
      page.orders.forEach((order) => this.upsert(order));
      if (this.orders.size >= PAGE && page.orders.length === PAGE) this.more.hidden = false;
      this.onSummary(page.summary);
    } catch (err) {
      if (err.code === "forbidden") this.forbid();
      else showError(`Orders: ${err.message}`);
    }
  }

  async loadOlder() {
    const oldest = Math.min(...this.orders.keys());
    const page = await api(`${this.base}/orders?limit=${PAGE}&before=${oldest}`);
    page.orders.forEach((order) => this.upsert(order));
    this.more.hidden = page.orders.length < PAGE;
  }

  upsert(order) {
    this.orders.set(order.id, order);
    const old = this.rows.get(order.id);
    if (old && old.dataset.status === order.status) return; // unchanged: keep focus where it is
    const tr = this.row(order);
    this.rows.set(order.id, tr);
    if (old) {
      old.replaceWith(tr);
    } else {
      const next = [...this.body.children].find((row) => Number(row.dataset.orderId) < order.id);
      this.body.insertBefore(tr, next || null);
    }
    this.empty.hidden = this.rows.size > 0;
  }

  row(order) {
    const cur = order.currency;
    const lines = order.lines.map((l) => `${l.quantity}× ${l.title}` +
      (Object.keys(l.options || {}).length ? ` (${Object.values(l.options).join(", ")})` : "")).join("; ");
    const actions = h("td", { class: "actions" });
    if (order.status === "paid") actions.append(this.action(order, "fulfil", "Fulfil"));
    if (order.status === "paid" || order.status === "fulfilled") {
      actions.append(this.action(order, "refund", "Refund"));
    }
    return h("tr", { "data-testid": "order-row", "data-order-id": order.id, "data-status": order.status },
      h("td", {}, order.number),
      h("td", { title: dateTime(order.created_at) }, clock(order.created_at)),
      h("td", {}, order.buyer?.display_name ?? ""),
      h("td", { title: lines }, lines),
      h("td", { class: "num" }, money(order.total, cur)),
      h("td", {}, h("span", { class: `badge ${order.status}` }, STATUS[order.status] || order.status)),
      actions);
  }

  action(order, kind, label) {
    const button = h("button", { type: "button", "data-testid": kind,
      class: kind === "refund" ? "danger" : null, "aria-label": `${label} order ${order.number}` }, label);
    button.addEventListener("click", guard(() => busy(button, async () => {
      const updated = await api(`/api/shops/${this.ctx.shopId}/orders/${order.id}/${kind}`, { method: "POST" });
      this.upsert({ ...order, ...updated });
      await this.refresh();
    })));
    return button;
  }

  destroy() {
    clearInterval(this.timer);
    clearTimeout(this.pending);
    this.abort.abort();
    this.exportButton.disabled = false;
  }
}
