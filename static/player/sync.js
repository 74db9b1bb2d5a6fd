// Pins in sync with the video: pure rules, no DOM and no page imports (tested with node --test).
//
// Method. The server sends pin, unpin, units and sold_out events the moment they happen, in
// frames stamped with the server's clock (`frame.t`, Unix ms). The viewer's video is seconds
// behind the host. We measure by how much and hold those events back by exactly that much, with
// ONE offset for all of them, so what the product cards say matches what the video shows.
//
//   host time of the frame on screen
//     = fragStartMs(F) + (video.currentTime - F.start) * 1000
//   where F is the fragment playing (hls.js FRAG_CHANGED: frag.url, frag.start on the media
//   timeline) and fragStartMs(F) is the Unix ms at the end of nginx-rtmp's fragment name
//   (`show-7-1796159388721.ts`: when the fragment's first frame reached the media server).
//   With EXT-X-PROGRAM-DATE-TIME instead, hls.playingDate gives the host time directly.
//
//   delay = room.now() - host time          (room.now(): the server's clock)
//
// The page samples the delay every 250 ms into a DelayEstimate (median of the last 9 samples,
// clamped to [0, 60 s]; null without samples, then events are shown at once) and, on the same
// timer, releases from a Delayed queue every event whose frame time + delay has come. The queue
// releases strictly in arrival order and stops at the first event not yet due, so a later event
// (sold out) can never overtake an earlier one (the pin) even if its own time is earlier or the
// estimate changes in between.
//
// Error (what the estimate does not see or gets wrong):
// - the host's encoder + upload latency is not seen: the fragment time is when nginx received
//   the first frame, not when the camera took it, so events show that much (typically 0.2-2 s)
//   too early relative to the picture;
// - the clock difference between the media server (fragment names) and the app server
//   (room.now()): zero on the same host, a few ms with NTP; room.now() itself carries the
//   join's network latency (its offset is taken from the join answer), typically < 100 ms;
// - sampling every 250 ms plus the release on the same timer: events show up to ~250 ms late;
// - hls.js's frag.start is accurate to about one video frame (40 ms at 25 fps);
// - the median of 9 samples (about 2 s) follows a changing delay (a stall, a catch-up) with
//   that lag; a paused video keeps the last estimate.

const FRAGMENT_TIME = /-(\d{13})\.ts(?:[?#].*)?$/;
export const MAX_DELAY_MS = 60000;

/** The Unix ms in a fragment's name (`...-1796159388721.ts`, maybe with ?query); or null. */
export function fragmentStartMs(url) {
  if (typeof url !== "string") return null;
  const match = FRAGMENT_TIME.exec(url);
  return match ? Number(match[1]) : null;
}

/** The delay behind the host: median of the last `size` samples, clamped to [0, 60000] ms. */
export class DelayEstimate {
  constructor(size = 9) {
    this.size = size;
    this.samples = [];
  }

  add(sampleMs) {
    if (!Number.isFinite(sampleMs)) return;
    this.samples.push(sampleMs);
    if (this.samples.length > this.size) this.samples.shift();
  }

  /** Integer ms, or null without samples. */
  get value() {
    const n = this.samples.length;
    if (n === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const mid = n >> 1;
    const median = n % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return Math.round(Math.min(MAX_DELAY_MS, Math.max(0, median)));
  }

  reset() {
    this.samples = [];
  }
}

/** Functions held until their time + the delay has come; released in push order. */
export class Delayed {
  constructor() {
    this.queue = [];
  }

  get size() {
    return this.queue.length;
  }

  /** atMs: when it happened (server Unix ms); not a number: due at once (still in order). */
  push(atMs, fn) {
    this.queue.push({ at: Number.isFinite(atMs) ? atMs : -Infinity, fn });
  }

  /** Run, in push order, every entry with at + delay <= now, up to the first not yet due. */
  release(nowMs, delayMs) {
    const delay = delayMs ?? 0;
    while (this.queue.length && this.queue[0].at + delay <= nowMs) {
      this.runFirst();
    }
  }

  /** Run everything still held, in order. */
  flush() {
    while (this.queue.length) this.runFirst();
  }

  /** Drop everything still held (a newer snapshot replaces it). */
  clear() {
    this.queue = [];
  }

  runFirst() {
    const { fn } = this.queue.shift();
    try {
      fn();
    } catch (err) {
      console.error("delayed event failed", err);
    }
  }
}
