// Room settings: slow mode, the announcement, the blocked-words list.
import { busy, byId, testid } from "./dom.js";
import { guard, inputError } from "./errors.js";

export class Moderation {
  constructor(ctx) {
    this.ctx = ctx; // {room, showId}
    this.slowForm = byId("slow-mode-form");
    this.slowNow = byId("slow-mode-now");
    this.announceForm = byId("announce-form");
    this.announceNow = byId("announce-now");
    this.clearButton = byId("announce-clear");
    this.blockedForm = byId("blocked-form");
    this.blockedNote = byId("blocked-note");
    this.wordsKey = `console.blocked_words.${ctx.showId}`;
    const room = ctx.room;
    room.on("snapshot", (snapshot) => {
      this.slowForm.elements.seconds.value = String(snapshot.slow_mode_seconds);
      this.setSlow(snapshot.slow_mode_seconds);
      this.setAnnouncement(snapshot.announcement);
    });
    room.on("slow_mode", (event) => this.setSlow(event.seconds));
    room.on("announcement", (event) => this.setAnnouncement(event.announcement));

    this.announceForm.elements.text.value = "";
    // The protocol has no way to read the list back; show what this tab saved last.
    const saved = sessionStorage.getItem(this.wordsKey);
    this.blockedForm.elements.words.value = saved ? JSON.parse(saved).join("\n") : "";
    this.blockedNote.textContent = saved
      ? "The list as saved from this tab. Saving replaces the show's whole list."
      : "Saving replaces the show's whole list (the server does not show the current one).";

    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.slowForm.addEventListener("submit", this.submit(this.slowForm, () => this.saveSlow()), { signal });
    this.announceForm.addEventListener("submit", this.submit(this.announceForm, () => this.announce()), { signal });
    this.blockedForm.addEventListener("submit", this.submit(this.blockedForm, () => this.saveWords()), { signal });
    this.clearButton.addEventListener("click", guard(() => busy(this.clearButton, () =>
      this.ctx.room.send("announce", { text: null }))), { signal });
  }

  submit(form, fn) {
    return (event) => {
      event.preventDefault();
      guard(() => busy(form.querySelector("button[type=submit]"), fn))();
    };
  }

  // After the end, slow mode and announcements answer show_closed.
  setOpen(open) {
    for (const form of [this.slowForm, this.announceForm]) {
      for (const control of form.elements) control.disabled = !open;
    }
    if (open) this.clearButton.disabled = !this.announcement;
  }

  setSlow(seconds) {
    this.slowNow.textContent = seconds ? `On: one message per ${seconds} s` : "Off";
  }

  setAnnouncement(announcement) {
    this.announcement = announcement;
    this.announceNow.textContent = announcement
      ? `“${announcement.text}” (by ${announcement.by?.name ?? "staff"})`
      : "none";
    this.clearButton.disabled = !announcement;
  }

  async saveSlow() {
    const seconds = Number(testid(this.slowForm, "slow-mode-seconds").value);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 3600) {
      throw inputError("Slow mode: a whole number of seconds from 0 to 3600");
    }
    await this.ctx.room.send("slow_mode", { seconds });
    this.setSlow(seconds);
  }

  async announce() {
    const input = testid(this.announceForm, "announce-text");
    const text = input.value.trim();
    if (!text) throw inputError("Write the announcement first (Clear removes it)");
    await this.ctx.room.send("announce", { text });
    input.value = "";
  }

  async saveWords() {
    const input = testid(this.blockedForm, "blocked-words");
    const words = [...new Set(input.value.split(/[\s,;]+/).filter(Boolean))];
    const answer = await this.ctx.room.send("blocked_words", { words });
    input.value = answer.words.join("\n");
    sessionStorage.setItem(this.wordsKey, JSON.stringify(answer.words));
    this.blockedNote.textContent = answer.words.length
      ? `Saved: ${answer.words.length} blocked word(s).`
      : "Saved: no words are blocked.";
  }

  destroy() {
    this.setOpen(true);
    this.abort.abort();
  }
}
