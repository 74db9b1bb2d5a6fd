// Going live from OBS (owners and hosts): the ingest URL ("Server") and the stream key ("Stream
// Key", masked unless shown), copy buttons, key rotation, and whether an encoder is connected
// (`stream_online` in the snapshot, `stream` frame events). The key is never logged and never
// put in a URL; moderators get no panel and no request for it.
import { api } from "./api.js";
import { busy, byId } from "./dom.js";
import { guard } from "./errors.js";

const COPIED_MS = 1500;

export class Stream {
  constructor(ctx, { hosts }) {
    this.ctx = ctx; // {room, shopId, showId}
    this.hosts = hosts;
    this.panel = byId("stream-panel");
    this.url = byId("ingest-url");
    this.key = byId("stream-key");
    this.toggle = byId("stream-key-toggle");
    this.copyUrl = byId("copy-ingest-url");
    this.copyKey = byId("copy-stream-key");
    this.rotateButton = byId("rotate-key");
    this.state = byId("stream-state");
    this.note = byId("stream-note");
    this.base = `/api/shops/${ctx.shopId}/shows/${ctx.showId}/stream`;
    this.timers = new Set();
    this.fromRoom = false; // the room has said whether an encoder is connected
    this.alive = true;
    this.clear();
    this.panel.hidden = true;
    if (!hosts) return; // moderators: 403 for the route, so no panel and no request

    this.abort = new AbortController();
    const { signal } = this.abort;
    this.toggle.addEventListener("click", () => this.setMasked(this.key.type !== "password"), { signal });
    this.copyUrl.addEventListener("click", () => this.copy(this.url, this.copyUrl), { signal });
    this.copyKey.addEventListener("click", () => this.copy(this.key, this.copyKey), { signal });
    this.rotateButton.addEventListener("click", guard(() => this.rotate()), { signal });
    ctx.room.on("snapshot", (snapshot) => this.setOnline(Boolean(snapshot.stream_online), true));
    ctx.room.on("stream", (event) => this.setOnline(Boolean(event.online), true));
  }

  // Fetch the credentials; resolves once they are shown (or the panel stays hidden).
  async load() {
    if (!this.hosts || !this.ctx.isOpen()) return;
    const creds = await api(this.base);
    if (!this.alive || !this.ctx.isOpen()) return; // another show opened, or this one ended
    this.fill(creds);
    if (!this.fromRoom) this.setOnline(Boolean(creds.publishing), false);
    this.panel.hidden = false;
  }

  fill(creds) {
    this.url.value = creds.ingest_url || "";
    this.key.value = creds.stream_key || "";
  }

  clear() {
    this.url.value = "";
    this.key.value = "";
    this.note.textContent = "";
    this.setMasked(true);
    this.setOnline(false, false);
    this.fromRoom = false;
  }

  setMasked(masked) {
    this.key.type = masked ? "password" : "text";
    this.toggle.textContent = masked ? "Show" : "Hide";
    this.toggle.setAttribute("aria-pressed", String(!masked));
    this.toggle.setAttribute("aria-label", masked ? "Show the stream key" : "Hide the stream key");
  }

  setOnline(online, fromRoom) {
    if (fromRoom) this.fromRoom = true;
    this.state.textContent = online ? "Encoder connected" : "No encoder connected";
    this.state.dataset.online = String(online);
  }

  // The show ended: it takes no stream any more.
  setStatus(status) {
    if (status === "ended") this.panel.hidden = true;
  }

  async copy(input, button) {
    const text = input.value;
    if (!text) return;
    try {
      if (!navigator.clipboard?.writeText) throw new Error("no clipboard");
      await navigator.clipboard.writeText(text);
      this.flash(button, "Copied");
    } catch {
      // No clipboard (not a secure context, or refused): select the text to copy by hand.
      // A password field cannot be copied from, so the key is shown first.
      if (input === this.key) this.setMasked(false);
      input.focus();
      input.select();
      this.flash(button, "Press Ctrl+C");
    }
  }

  flash(button, text) {
    button.textContent = text;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      button.textContent = "Copy";
    }, COPIED_MS);
    this.timers.add(timer);
  }

  async rotate() {
    if (!window.confirm("Make a new stream key? A stream using the current key will be cut off, "
      + "and OBS needs the new key.")) return;
    const creds = await busy(this.rotateButton, () => api(`${this.base}/rotate`, { method: "POST" }));
    if (!this.alive) return;
    this.fill(creds);
    this.note.textContent = creds.publishing
      ? "New key made. The stream running with the old key will be cut off: "
        + "paste the new Stream Key in OBS and start streaming again."
      : "New key made. Paste the new Stream Key in OBS before you start streaming.";
  }

  destroy() {
    this.alive = false;
    this.abort?.abort();
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers.clear();
    this.copyUrl.textContent = "Copy";
    this.copyKey.textContent = "Copy";
    this.clear();
    this.panel.hidden = true;
  }
}
