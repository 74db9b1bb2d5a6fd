// The live chat with a moderator's actions per message: Delete, Time out, Ban.
import { busy, h, testid } from "./dom.js";
import { guard, inputError } from "./errors.js";
import { clock } from "./format.js";

const KEEP = 300; // messages kept on screen

export class Chat {
  constructor(root, minutesInput, ctx) {
    this.root = root;
    this.minutes = minutesInput;
    this.ctx = ctx; // {room}
    this.banned = new Set();
    this.timedOut = new Map(); // subject -> until_ms
    const room = ctx.room;
    room.on("snapshot", (snapshot) => {
      this.root.replaceChildren();
      snapshot.chat.forEach((message) => this.add(message, false));
      this.scrollDown();
    });
    room.on("chat", (event) => this.add(event.message, true));
    room.on("chat.deleted", (event) => this.item(event.id)?.remove());
    room.on("user.timed_out", (event) => this.mark(event.subject, "timeout", event.until_ms));
    room.on("user.banned", (event) => this.mark(event.subject, "ban"));
  }

  item(messageId) {
    return this.root.querySelector(`[data-message-id="${Number(messageId)}"]`);
  }

  atBottom() {
    return this.root.scrollHeight - this.root.scrollTop - this.root.clientHeight < 40;
  }

  scrollDown() {
    this.root.scrollTop = this.root.scrollHeight;
  }

  add(message, follow) {
    if (this.item(message.id)) return;
    const stick = follow && this.atBottom();
    this.root.append(this.render(message));
    while (this.root.children.length > KEEP) this.root.firstElementChild.remove();
    if (stick) this.scrollDown();
  }

  render(message) {
    const user = message.user;
    const li = h("li", {
      class: "message",
      "data-testid": "console-message",
      "data-message-id": message.id,
      "data-subject": user.subject,
    });
    const del = h("button", { type: "button", "data-testid": "delete-message",
      "aria-label": `Delete message from ${user.name}` }, "Delete");
    del.addEventListener("click", guard(() => busy(del, () =>
      this.ctx.room.send("chat.delete", { message_id: message.id }))));
    const actions = h("div", { class: "actions" }, del);
    // Staff cannot be timed out or banned, nor can you moderate yourself.
    const moderatable = !user.role && user.subject !== this.ctx.room.you?.subject;
    if (moderatable) {
      const timeout = h("button", { type: "button", "data-testid": "timeout-user",
        "aria-label": `Time out ${user.name}` }, "Time out");
      const ban = h("button", { type: "button", class: "danger", "data-testid": "ban-user",
        "aria-label": `Ban ${user.name} from this show` }, "Ban");
      timeout.addEventListener("click", guard(() => busy(timeout, () => this.timeout(user.subject))));
      ban.addEventListener("click", guard(() => busy(ban, () => this.ban(user.subject))));
      actions.append(timeout, ban);
    }
    li.append(
      h("div", { class: "message-head" },
        h("strong", {}, user.name),
        user.role ? h("span", { class: "badge staff" }, user.role) : null,
        h("span", { class: "tag" }),
        h("time", { class: "muted", datetime: new Date(message.ts).toISOString() }, clock(message.ts))),
      h("p", { class: "message-text" }, message.text),
      actions);
    this.decorate(li, user.subject);
    return li;
  }

  async timeout(subject) {
    const minutes = Number(this.minutes.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 10080) {
      throw inputError("Time-out length: a whole number of minutes from 1 to 10080");
    }
    const answer = await this.ctx.room.send("user.timeout", { subject, minutes });
    this.mark(subject, "timeout", answer.until_ms);
  }

  async ban(subject) {
    await this.ctx.room.send("user.ban", { subject });
    this.mark(subject, "ban");
  }

  mark(subject, kind, untilMs) {
    if (kind === "ban") this.banned.add(subject);
    else this.timedOut.set(subject, untilMs);
    const stick = this.atBottom();
    for (const li of this.root.querySelectorAll(".message")) {
      if (li.dataset.subject === subject) this.decorate(li, subject);
    }
    if (stick) this.scrollDown();
  }

  decorate(li, subject) {
    const tag = li.querySelector(".tag");
    const until = this.timedOut.get(subject);
    if (this.banned.has(subject)) {
      tag.textContent = "banned";
      tag.className = "tag badge ended";
      testid(li, "ban-user")?.remove();
      testid(li, "timeout-user")?.remove();
    } else if (until && until > this.ctx.room.now()) {
      tag.textContent = `timed out until ${clock(until)}`;
      tag.className = "tag badge scheduled";
    }
  }
}
