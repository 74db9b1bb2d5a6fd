// The live room: one Socket.IO connection, join, frames applied in seq order, recovery with
// `since` (and its epoch) after a gap or a reconnect, the server clock offset, and acked events.
// A frame of another epoch means the server's numbering started again (its Redis restarted and
// may have lost the last frames): the room joins again and takes a fresh snapshot.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { t } from "./i18n.js";

const JOIN_TIMEOUT_MS = 10000;

export class Room {
  /**
   * handlers: onSnapshot(snapshot, answer), onEvent(event, frame), onState("connected" |
   * "reconnecting" | "closed"), onRefused(error) (the token), onBanned(), onFatal(error).
   */
  constructor(showId, token, handlers) {
    this.showId = showId;
    this.token = token;
    this.h = handlers;
    this.lastSeq = null; // the seq of the last frame applied
    this.epoch = null; // the epoch lastSeq belongs to
    this.held = null; // frames arriving while a join is under way
    this.joinId = 0;
    this.joined = false;
    this.closed = false;
    this.offset = 0; // server_time_ms - Date.now()
    this.retryDelay = 1000;
    this.retryTimer = null;
  }

  /** The server's clock now (Unix ms). */
  now() {
    return Date.now() + this.offset;
  }

  start() {
    // WebSocket only; the token travels in the auth payload, never in the URL.
    const socket = io({
      transports: ["websocket"],
      auth: { token: this.token },
      forceNew: true, // a new identity gets a connection of its own
    });
    this.socket = socket;
    socket.on("connect", () => {
      this.retryDelay = 1000;
      this.h.onState("connected");
      this.join();
    });
    socket.on("disconnect", (reason) => {
      this.joined = false;
      if (this.closed) return;
      this.h.onState("reconnecting");
      // The server ended it (slow consumer; a ban is told apart by the join that follows).
      if (reason === "io server disconnect") this.retry();
    });
    socket.on("connect_error", (err) => {
      if (this.closed) return;
      this.h.onState("reconnecting");
      if (socket.active) return; // the client retries by itself
      if (err.data?.code === "unauthenticated") {
        this.close();
        this.h.onRefused(err.data);
      } else this.retry();
    });
    socket.on("frame", (frame) => this.receive(frame));
  }

  retry() {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryDelay * (0.75 + Math.random() / 2);
    this.retryDelay = Math.min(this.retryDelay * 2, 15000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed && !this.socket.connected) this.socket.connect();
    }, delay);
  }

  /** Join (or join again with since: lastSeq); holds frames until the answer is applied. */
  async join() {
    const id = ++this.joinId;
    this.held = [];
    let answer;
    try {
      answer = await this.socket
        .timeout(JOIN_TIMEOUT_MS)
        .emitWithAck("join", { show_id: this.showId, since: this.lastSeq, epoch: this.epoch });
    } catch {
      answer = { ok: false, error: { code: "timeout", message: t("noAnswer") } };
    }
    if (id !== this.joinId || this.closed) return; // a later join took over
    const later = this.held;
    this.held = null;
    if (!answer.ok) {
      const code = answer.error?.code;
      if (code === "banned") {
        this.close();
        this.h.onBanned();
      } else if (code === "not_found" || code === "validation_error") {
        this.close();
        this.h.onFatal(answer.error);
      } else {
        setTimeout(() => this.socket.connected && !this.closed && this.join(), 2000);
      }
      return;
    }
    this.offset = answer.server_time_ms - Date.now();
    this.joined = true;
    if (answer.replay) {
      for (const frame of answer.replay) this.apply(frame); // exactly the frames missed
    } else {
      this.h.onSnapshot(answer.snapshot, answer); // first join or stale: replace everything
    }
    this.lastSeq = answer.seq;
    this.epoch = answer.epoch;
    for (const frame of later) this.receive(frame);
  }

  receive(frame) {
    if (frame.show_id !== undefined && frame.show_id !== this.showId) return;
    if (this.held) this.held.push(frame);
    else this.apply(frame);
  }

  apply(frame) {
    if (this.lastSeq === null) return; // no join answer yet: its snapshot comes first
    if (frame.epoch !== this.epoch) {
      this.join(); // numbered anew: a snapshot (a since of another epoch gets one)
      return;
    }
    if (frame.seq <= this.lastSeq) return; // already applied
    if (frame.seq > this.lastSeq + 1) {
      this.join(); // missed some: catch up with since
      return;
    }
    this.lastSeq = frame.seq;
    for (const event of frame.events ?? []) {
      try {
        this.h.onEvent(event, frame);
      } catch (err) {
        console.error("frame event failed", event.type, err);
      }
    }
  }

  /** Send an event and answer its ack; never throws. No payload for events that take none. */
  async emit(name, payload, timeoutMs = 8000) {
    const socket = this.socket;
    if (!socket?.connected || !this.joined) {
      return { ok: false, error: { code: "offline", message: t("offline") } };
    }
    try {
      const timed = socket.timeout(timeoutMs);
      return await (payload === undefined
        ? timed.emitWithAck(name)
        : timed.emitWithAck(name, payload));
    } catch {
      return { ok: false, error: { code: "timeout", message: t("noAnswer") } };
    }
  }

  /** This viewer was banned: the server's disconnect that follows is not retried. */
  banned() {
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.joined = false;
    clearTimeout(this.retryTimer);
    this.socket?.disconnect();
    this.h.onState("closed");
  }
}
