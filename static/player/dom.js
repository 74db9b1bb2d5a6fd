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
