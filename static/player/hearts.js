// The heart button (`react` {}), the show's heart count, and hearts floating up: yours on
// each tap, and a few for everyone else's as the count grows.
import { $, el } from "./dom.js";
import { number } from "./format.js";
import { t } from "./i18n.js";

const MAX_FLOATING = 24;
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

export function createHearts({ emit, notice }) {
  const button = $("heart");
  const count = $("hearts-count");
  const label = $("hearts-label");
  const layer = $("hearts-layer");
  let hearts = 0;
  let mine = 0; // own hearts the count has not shown yet

  function float(own) {
    if (reducedMotion.matches || layer.childElementCount >= MAX_FLOATING) return;
    const heart = el("span", { class: own ? "float-heart own" : "float-heart", text: "♥" });
    heart.style.setProperty("--drift", `${Math.round(Math.random() * 48 - 24)}px`);
    heart.style.setProperty("--delay", `${own ? 0 : Math.round(Math.random() * 400)}ms`);
    heart.addEventListener("animationend", () => heart.remove());
    layer.append(heart);
  }

  function paint() {
    count.textContent = number(hearts);
    label.textContent = t("hearts", { n: hearts });
  }

  /** An absolute count from the server (snapshot: replace; otherwise counts only grow). */
  function set(n, replace = false) {
    if (typeof n !== "number") return;
    if (replace) {
      hearts = n;
      mine = 0;
      paint();
      return;
    }
    if (n <= hearts) return;
    const gained = n - hearts;
    const others = Math.max(0, gained - mine);
    mine = Math.max(0, mine - gained);
    hearts = n;
    for (let i = 0; i < Math.min(others, 4); i++) float(false);
    paint();
  }

  button.addEventListener("click", async () => {
    float(true);
    mine += 1;
    const answer = await emit("react", {});
    if (answer.ok) set(answer.hearts);
    else {
      mine = Math.max(0, mine - 1);
      if (answer.error.code !== "rate_limited") notice.fromError(answer.error);
    }
  });

  paint();
  return {
    set,
    setLocked(locked) {
      button.disabled = locked;
    },
  };
}
