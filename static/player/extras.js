// The announcement bar and the short "… bought …" notes over the video.
import { $, el } from "./dom.js";
import { t } from "./i18n.js";

export function createAnnouncement() {
  const bar = $("announcement");
  const text = $("announcement-text");
  return {
    /** {text, at_ms, by} or null (removed). */
    set(announcement) {
      text.textContent = announcement?.text ?? "";
      bar.hidden = !announcement?.text;
    },
  };
}

const PURCHASE_MS = 4000;

export function createPurchases() {
  const box = $("purchases");
  return {
    /** A `purchases` event: up to 3 {display_name, product_id, title}, and `more`. */
    show(event) {
      const items = event.items ?? [];
      if (!items.length) return;
      const lines = items.map((item) =>
        el("li", { text: t("bought", { name: item.display_name, title: item.title }) }),
      );
      if (event.more > 0) lines.push(el("li", { text: t("boughtMore", { n: event.more }) }));
      const note = el("ul", { class: "purchase-note" }, ...lines);
      box.replaceChildren(note);
      setTimeout(() => note.remove(), PURCHASE_MS);
    },
  };
}
