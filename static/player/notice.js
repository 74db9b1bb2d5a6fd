// The one notice under chat and Q&A: banned, show ended, muted (with the time left), a wait
// (retry_after), a passing error, or slow mode. Also locks the composers while sending is
// impossible.
import { $ } from "./dom.js";
import { span } from "./format.js";
import { t } from "./i18n.js";

const FLASH_MS = 6000;

export function createNotice({ store, now, onLock }) {
  const node = $("chat-notice");
  let retryUntil = 0; // server ms
  let flash = null; // {text, until} in local ms
  let locked = null;

  function current() {
    const s = store.state;
    const time = now();
    if (s.banned) return ["banned", t("banned")];
    if (s.status === "ended") return ["ended", t("chatClosed")];
    if (s.mutedUntil > time) return ["muted", t("muted", { time: span((s.mutedUntil - time) / 1000) })];
    if (retryUntil > time) return ["wait", t("waitRetry", { time: span((retryUntil - time) / 1000) })];
    if (flash && flash.until > Date.now()) return ["error", flash.text];
    if (s.slowMode > 0) return ["slow", t("slowMode", { time: span(s.slowMode) })];
    return [null, ""];
  }

  function render() {
    const [kind, text] = current();
    if (node.textContent !== text) node.textContent = text;
    node.hidden = !text;
    if (kind) node.dataset.kind = kind;
    else delete node.dataset.kind;
    const s = store.state;
    const lock = Boolean(s.banned || s.status === "ended" || s.mutedUntil > now());
    if (lock !== locked) {
      locked = lock;
      onLock(lock);
    }
  }

  store.subscribe((_state, changed) => {
    if (changed.some((k) => ["banned", "status", "mutedUntil", "slowMode"].includes(k))) render();
  });

  return {
    tick: render,
    /** Render and apply the lock again, whatever it was. */
    sync() {
      locked = null;
      render();
    },
    /** An error ack of chat, ask, vote or react. */
    fromError(error) {
      switch (error.code) {
        case "banned":
          store.set({ banned: true });
          break;
        case "timed_out":
          store.set({ mutedUntil: error.details?.until_ms ?? now() + (error.retry_after ?? 0) * 1000 });
          break;
        case "slow_mode":
        case "rate_limited":
          retryUntil = now() + (error.retry_after ?? 1) * 1000;
          break;
        case "show_closed":
          store.set({ status: "ended" });
          break;
        default:
          flash = { text: error.message, until: Date.now() + FLASH_MS };
      }
      render();
    },
    clearFlash() {
      flash = null;
      retryUntil = 0;
      render();
    },
  };
}
