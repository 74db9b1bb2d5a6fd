// The show's live room over Socket.IO, as staff: join, frames in seq order, recovery with
// `since` and its epoch (a frame of another epoch: join again for a snapshot), acks as promises. Panels subscribe with room.on(type, fn):
//   any frame event type ("chat", "pin", ...) -> fn(event, frame)
//   "snapshot" -> fn(snapshot, answer)   (first join, or a stale re-join: replace all state)
//   "state" -> fn("connecting" | "connected" | "reconnecting" | "refused", message?)
import { io } from "/static/vendor/socket.io.esm.min.js";

export class RoomError extends Error {
  constructor(error) {
    super(error?.message || "The live room refused that");
    this.code = error?.code || "error";
    this.field = error?.field;
    this.retryAfter = error?.retry_after;
    this.details = error?.details;
  }
}

export class Room {
  constructor(showId, token) {
    this.showId = showId;
    this.token = token;
    this.handlers = new Map();
    this.lastSeq = null; // seq of the last frame applied
    this.epoch = null; // the epoch lastSeq belongs to
    this.held = null; // frames that arrive while a join is under way
    this.rejoin = false;
    this.offset = 0; // server clock - Date.now()
    this.you = null;
    this.closed = false;
    this.socket = null;
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
  }

  emitLocal(type, ...args) {
    for (const fn of this.handlers.get(type) || []) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`room handler for ${type} failed`, err);
      }
    }
  }

  connect() {
    this.emitLocal("state", "connecting");
    const socket = io({ transports: ["websocket"], auth: { token: this.token }, forceNew: true });
    this.socket = socket;
    socket.on("connect", () => {
      this.emitLocal("state", "connected");
      this.join();
    });
    socket.on("frame", (frame) => {
      if (this.held) this.held.push(frame);
      else this.apply(frame);
    });
    socket.on("disconnect", (reason) => {
      if (this.closed) return;
      this.emitLocal("state", "reconnecting", reason);
      // A disconnect by the server (slow consumer) is not retried by the client itself.
      if (reason === "io server disconnect") {
        setTimeout(() => this.closed || socket.connect(), 2000);
      }
    });
    socket.on("connect_error", (err) => {
      if (this.closed) return;
      if (socket.active) this.emitLocal("state", "reconnecting", err.message);
      else this.emitLocal("state", "refused", err.data?.message || err.message);
    });
  }

  async join() {
    if (this.held) {
      this.rejoin = true; // a join is under way: join once more when it is done
      return;
    }
    this.held = [];
    let answer;
    try {
      answer = await this.socket.timeout(10000)
        .emitWithAck("join", { show_id: this.showId, since: this.lastSeq, epoch: this.epoch });
    } catch {
      answer = { ok: false, error: { code: "timeout", message: "The live room did not answer" } };
    }
    const later = this.held;
    this.held = null;
    if (this.closed) return;
    if (!answer.ok) {
      this.emitLocal("state", "refused", answer.error?.message);
      if (answer.error?.code === "timeout") setTimeout(() => this.closed || this.join(), 3000);
      return;
    }
    this.offset = answer.server_time_ms - Date.now();
    if (answer.replay) {
      answer.replay.forEach((frame) => this.apply(frame)); // exactly the frames missed
    } else {
      this.you = answer.snapshot.you;
      this.emitLocal("snapshot", answer.snapshot, answer);
    }
    this.lastSeq = answer.seq;
    this.epoch = answer.epoch;
    later.forEach((frame) => this.apply(frame));
    if (this.rejoin) {
      this.rejoin = false;
      this.join();
    }
  }

  apply(frame) {
    if (this.closed || frame.show_id !== this.showId) return;
    if (this.lastSeq !== null && frame.epoch !== this.epoch) {
      this.join(); // numbered anew (Redis restarted): a snapshot
      return;
    }
    if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // applied already
    if (this.lastSeq !== null && frame.seq > this.lastSeq + 1) {
      this.join(); // missed some frames: catch up with `since`
      return;
    }
    this.lastSeq = frame.seq;
    for (const event of frame.events) this.emitLocal(event.type, event, frame);
  }

  // Send a client event; resolves with the ack, throws RoomError when refused.
  async send(event, payload) {
    if (!this.socket?.connected) {
      throw new RoomError({ code: "offline", message: "Not connected to the live room; try again" });
    }
    let answer;
    try {
      const timed = this.socket.timeout(8000);
      answer = payload === undefined
        ? await timed.emitWithAck(event)
        : await timed.emitWithAck(event, payload);
    } catch {
      throw new RoomError({ code: "timeout", message: "The live room did not answer; try again" });
    }
    if (!answer?.ok) throw new RoomError(answer?.error);
    return answer;
  }

  // The server's clock now, for deal end times and countdowns.
  now() {
    return Date.now() + this.offset;
  }

  close() {
    this.closed = true;
    this.handlers.clear();
    this.socket?.disconnect();
  }
}
