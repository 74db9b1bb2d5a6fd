// Small DOM helpers. Children given as strings become text nodes: server text is never HTML.

/** document.getElementById */
export const $ = (id) => document.getElementById(id);

/**
 * el("button", {class: "x", text: "Buy", onclick: fn, "data-testid": "buy"}, child, "text")
 * Attributes whose value is null, undefined or false are left out; true sets an empty one.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** A visually hidden text for screen readers. */
export function srOnly(text) {
  return el("span", { class: "sr-only", text });
}

/** Is the list scrolled (nearly) to its end? Then new items should keep it there. */
export function atBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
}

/**
 * A one-line form that sends its text as a room event (chat, ask): the button is off while the
 * answer is awaited; the text is cleared when accepted, the refusal shown in `notice`.
 */
export function sendsText(form, input, send, emit, event, notice) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text || send.disabled) return;
    send.disabled = true;
    const answer = await emit(event, { text });
    send.disabled = input.disabled;
    if (answer.ok) {
      input.value = "";
      notice.clearFlash();
    } else notice.fromError(answer.error);
    input.focus();
  });
}
