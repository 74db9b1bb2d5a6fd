// Q&A: open questions sorted by votes (then oldest first), ask, upvote; closed ones leave.
import { $, el, sendsText, srOnly } from "./dom.js";
import { number } from "./format.js";
import { t } from "./i18n.js";

export function createQA({ emit, notice, productTitle }) {
  const list = $("questions");
  const empty = $("no-questions");
  const badge = $("qa-count");
  const form = $("ask-form");
  const input = $("ask-input");
  const send = $("ask-send");
  const questions = new Map(); // id -> {question, node, votes, button}
  const voted = new Set();
  let locked = false;

  function entry(question) {
    const votes = el("span", { class: "votes", "data-testid": "votes" });
    const button = el("button", {
      type: "button",
      class: "upvote",
      "data-testid": "upvote",
      "aria-label": t("upvote", { text: question.text }),
      "aria-pressed": "false",
      text: "▲",
    });
    button.addEventListener("click", () => vote(question.id));
    const product = question.product_id ? productTitle(question.product_id) : null;
    const meta = el("span", {
      class: "question-meta",
      text: [question.user?.name, product].filter(Boolean).join(" · "),
    });
    const votesLabel = srOnly("");
    const node = el(
      "li",
      { class: "question", "data-testid": "question", "data-question-id": question.id },
      el("div", { class: "vote-box" }, button, votes, votesLabel),
      el(
        "div",
        { class: "question-body" },
        el("p", { class: "question-text", text: question.text }),
        meta,
      ),
    );
    return { question, node, votes, votesLabel, button };
  }

  function paint(item) {
    const n = item.question.votes ?? 0;
    item.votes.textContent = number(n);
    item.votesLabel.textContent = ` ${t("votes", { n })}`;
    const pressed = voted.has(item.question.id);
    item.button.setAttribute("aria-pressed", String(pressed));
    item.button.disabled = locked || pressed;
  }

  function layout() {
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const sorted = [...questions.values()].sort(
      (a, b) =>
        (b.question.votes ?? 0) - (a.question.votes ?? 0) ||
        a.question.ts - b.question.ts ||
        a.question.id - b.question.id,
    );
    list.replaceChildren(...sorted.map((item) => item.node));
    if (focused?.isConnected) focused.focus();
    empty.hidden = questions.size > 0;
    badge.textContent = questions.size ? number(questions.size) : "";
  }

  function add(question) {
    const item = questions.get(question.id) ?? entry(question);
    item.question = { ...item.question, ...question };
    questions.set(question.id, item);
    paint(item);
  }

  function setVotes(id, votes) {
    const item = questions.get(id);
    if (!item) return;
    item.question.votes = Math.max(votes, item.question.votes ?? 0); // counts only grow
    paint(item);
    layout();
  }

  async function vote(id) {
    const item = questions.get(id);
    if (!item || voted.has(id)) return;
    item.button.disabled = true;
    const answer = await emit("vote", { question_id: id });
    if (answer.ok) {
      voted.add(id);
      setVotes(id, answer.votes);
    } else {
      notice.fromError(answer.error);
      if (answer.error.code === "conflict") close(id); // closed meanwhile
      else paint(item);
    }
  }

  function close(id) {
    if (questions.delete(id)) layout();
  }

  sendsText(form, input, send, emit, "ask", notice);

  return {
    snapshot(open) {
      questions.clear();
      for (const q of open ?? []) add(q);
      layout();
    },
    add(question) {
      add(question);
      layout();
    },
    votes: setVotes,
    close,
    setLocked(value) {
      locked = value;
      input.disabled = value;
      send.disabled = value;
      for (const item of questions.values()) paint(item);
    },
  };
}
