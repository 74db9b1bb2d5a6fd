// The chat: recent messages (chat frames), deleted ones removed, and the message composer.
import { $, atBottom, el, sendsText, srOnly } from "./dom.js";
import { t } from "./i18n.js";

const KEEP = 200; // messages kept on the page

export function createChat({ emit, notice, you }) {
  const list = $("chat-list");
  const form = $("chat-form");
  const input = $("chat-input");
  const send = $("chat-send");
  const ids = new Set();

  function item(message) {
    const user = message.user ?? {};
    const mine = you()?.subject && user.subject === you().subject;
    const name = el("span", { class: "chat-name", text: user.name ?? "" });
    const role = user.role
      ? el("span", { class: "role-badge", text: t(`role_${user.role}`) })
      : null;
    // The separators are for screen readers and copied text; the layout spaces them itself.
    return el(
      "li",
      {
        class: mine ? "chat-message mine" : "chat-message",
        "data-testid": "chat-message",
        "data-message-id": message.id,
        "data-staff": user.role ? "true" : null,
      },
      name,
      role,
      srOnly(": "),
      el("span", { class: "chat-text", text: message.text }),
    );
  }

  function trim() {
    while (list.children.length > KEEP) {
      ids.delete(Number(list.firstElementChild.dataset.messageId));
      list.firstElementChild.remove();
    }
  }

  function add(message) {
    if (ids.has(message.id)) return;
    const stick = atBottom(list);
    ids.add(message.id);
    list.append(item(message));
    trim();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  sendsText(form, input, send, emit, "chat", notice);

  return {
    snapshot(messages) {
      ids.clear();
      list.replaceChildren();
      for (const message of messages ?? []) add(message);
      list.scrollTop = list.scrollHeight;
    },
    add,
    remove(id) {
      ids.delete(id);
      list.querySelector(`[data-message-id="${Number(id)}"]`)?.remove();
    },
    setLocked(locked) {
      input.disabled = locked;
      send.disabled = locked;
    },
  };
}
