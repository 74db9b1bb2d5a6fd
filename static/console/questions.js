// The Q&A queue: open questions by votes (then oldest first), with Answered and Dismiss.
import { busy, h, testid } from "./dom.js";
import { guard } from "./errors.js";
import { clock, number } from "./format.js";

export class Questions {
  constructor(root, countEl, ctx) {
    this.root = root;
    this.countEl = countEl;
    this.ctx = ctx; // {room, productTitle(id)}
    this.questions = new Map(); // id -> question
    this.items = new Map(); // id -> li
    const room = ctx.room;
    room.on("snapshot", (snapshot) => {
      this.questions = new Map(snapshot.questions.map((q) => [q.id, { ...q }]));
      this.items = new Map();
      this.root.replaceChildren();
      this.render();
    });
    room.on("question", (event) => {
      this.questions.set(event.question.id, { ...event.question });
      this.render();
    });
    room.on("question.votes", (event) => {
      const question = this.questions.get(event.id);
      if (!question) return;
      question.votes = event.votes;
      testid(this.items.get(event.id), "question-votes").textContent = number(event.votes);
      this.render();
    });
    room.on("question.closed", (event) => {
      this.questions.delete(event.id);
      this.items.get(event.id)?.remove();
      this.items.delete(event.id);
      this.render();
    });
  }

  get openCount() {
    return this.questions.size;
  }

  sorted() {
    return [...this.questions.values()].sort((a, b) => b.votes - a.votes || a.ts - b.ts || a.id - b.id);
  }

  render() {
    const order = this.sorted();
    for (const q of order) if (!this.items.has(q.id)) this.items.set(q.id, this.item(q));
    const current = [...this.root.children].map((li) => Number(li.dataset.questionId));
    const wanted = order.map((q) => q.id);
    // Move nodes only when the order changed, so a focused button keeps its focus.
    if (current.join() !== wanted.join()) {
      this.root.replaceChildren(...wanted.map((id) => this.items.get(id)));
    }
    if (!order.length) this.root.replaceChildren(h("li", { class: "muted" }, "No open questions."));
    this.countEl.textContent = `· ${order.length} open`;
  }

  // Refresh the product titles (the lineup arrived after the questions).
  retitle() {
    for (const [id, li] of this.items) {
      const q = this.questions.get(id);
      if (q) testid(li, "question-product").textContent = this.productLabel(q.product_id);
    }
  }

  productLabel(productId) {
    return productId ? this.ctx.productTitle(productId) : "nothing pinned";
  }

  item(q) {
    const answer = h("button", { type: "button", "data-testid": "answer-question" }, "Answered");
    const dismiss = h("button", { type: "button", "data-testid": "dismiss-question" }, "Dismiss");
    const close = (button, status) => guard(() => busy(button, () =>
      this.ctx.room.send("question.close", { question_id: q.id, status })));
    answer.addEventListener("click", close(answer, "answered"));
    dismiss.addEventListener("click", close(dismiss, "dismissed"));
    return h("li", { class: "question", "data-testid": "console-question", "data-question-id": q.id },
      h("div", { class: "votes" },
        h("span", { "data-testid": "question-votes" }, number(q.votes)),
        h("span", { class: "muted" }, "votes")),
      h("div", { class: "grow" },
        h("p", { class: "question-text" }, q.text),
        h("p", { class: "muted" },
          `${q.user.name} · ${clock(q.ts)} · about: `,
          h("span", { "data-testid": "question-product" }, this.productLabel(q.product_id))),
        h("div", { class: "actions" }, answer, dismiss)));
  }
}
