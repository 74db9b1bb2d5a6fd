// Live figures: viewers now and peak (stats), messages and questions (snapshot + frames since
// the join), add-to-carts, orders and revenue (the show's orders summary).
import { byId } from "./dom.js";
import { money, number } from "./format.js";

function set(name, text, value) {
  const el = byId("figures").querySelector(`[data-testid="${name}"]`);
  el.textContent = text;
  if (value !== undefined) el.dataset.value = String(value);
}

export class Figures {
  constructor(ctx) {
    this.ctx = ctx; // {room, currency}
    this.messages = 0;
    this.questions = 0;
    for (const name of ["viewers", "peak", "messages", "questions", "carts", "orders", "revenue"]) {
      set(`stat-${name}`, "–");
    }
    const room = ctx.room;
    room.on("snapshot", (snapshot, answer) => {
      // A stale re-join's snapshot holds only the last 50 messages: never count down.
      const fresh = !answer.stale;
      this.messages = fresh ? snapshot.chat.length : Math.max(this.messages, snapshot.chat.length);
      this.questions = fresh ? snapshot.questions.length : Math.max(this.questions, snapshot.questions.length);
      this.viewers(snapshot.viewers, snapshot.peak_viewers);
      this.counts();
    });
    room.on("stats", (event) => this.viewers(event.viewers, event.peak));
    room.on("chat", () => {
      this.messages += 1;
      this.counts();
    });
    room.on("question", () => {
      this.questions += 1;
      this.counts();
    });
    room.on("status", (event) => {
      if (event.final) this.viewers(null, event.final.peak_viewers);
    });
  }

  viewers(now, peak) {
    if (now !== null && now !== undefined) set("stat-viewers", number(now), now);
    if (peak !== null && peak !== undefined) set("stat-peak", number(peak), peak);
  }

  counts() {
    set("stat-messages", number(this.messages), this.messages);
    set("stat-questions", number(this.questions), this.questions);
  }

  // summary: {orders: {status: count}, revenue, refunded, items_sold, add_to_carts?}, or null.
  setSummary(summary) {
    if (!summary) {
      for (const name of ["carts", "orders", "revenue"]) set(`stat-${name}`, "–");
      return;
    }
    const counts = summary.orders || {};
    const orders = (counts.paid || 0) + (counts.fulfilled || 0);
    set("stat-orders", number(orders), orders);
    set("stat-revenue", money(summary.revenue, this.ctx.currency), summary.revenue);
    if (summary.add_to_carts !== undefined) set("stat-carts", number(summary.add_to_carts), summary.add_to_carts);
  }
}
