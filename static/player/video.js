// The stage: the video (HLS through hls.js wherever it runs, natively otherwise), the status
// badge (scheduled / live / ended), the viewer count, the message over the video, and the host
// time of the frame on screen (how far behind the host this viewer is; see sync.js).
import { $ } from "./dom.js";
import { dateTime, number } from "./format.js";
import { t } from "./i18n.js";
import { fragmentStartMs } from "./sync.js";

const HLS_TYPE = "application/vnd.apple.mpegurl";

/** onDetach(): the stream went away (ended, no playback URL, failed). */
export function createStage(show, { onDetach = () => {} } = {}) {
  const video = $("video");
  const badge = $("status");
  const viewersPill = $("viewers-pill");
  const viewers = $("viewers");
  const viewersLabel = $("viewers-label");
  const message = $("stage-message");
  const headline = $("stage-headline");
  const detail = $("stage-detail");
  let status = null;
  let url = null;
  let hls = null;
  let playing = null; // the fragment on screen: { startMs (from its name) | null, start (s) }

  function showMessage(head, more = "") {
    headline.textContent = head;
    detail.textContent = more;
    detail.hidden = !more;
    message.hidden = !head;
  }

  function setStatus(next) {
    if (next === status) return;
    status = next;
    badge.dataset.status = next;
    badge.textContent = t(
      { scheduled: "statusScheduled", live: "statusLive", ended: "statusEnded" }[next],
    );
    viewersPill.hidden = next !== "live";
    refreshMessage();
    if (next === "ended") detach();
  }

  function refreshMessage() {
    if (status === "scheduled") {
      showMessage(t("statusScheduled"), t("startsAt", { time: dateTime(show.scheduled_at) }));
    } else if (status === "ended") showMessage(t("showEnded"));
    else if (!url) showMessage(t("waitingForVideo"));
    else showMessage("");
  }

  function setViewers(n) {
    if (typeof n !== "number") return;
    viewers.textContent = number(n);
    viewersLabel.textContent = t("watching", { n });
  }

  function detach() {
    hls?.destroy();
    hls = null;
    playing = null;
    if (video.hasAttribute("src")) {
      video.removeAttribute("src");
      video.load();
    }
    onDetach();
  }

  function playNatively(src, retries = 0) {
    video.src = src;
    video.play().catch(() => {}); // muted autoplay; the controls are there if refused
    // The playlist may not be there yet (a stream that just went live): try again later.
    video.addEventListener(
      "error",
      () => {
        if (src !== url || hls || status === "ended") return;
        setTimeout(() => src === url && !hls && playNatively(src, retries + 1),
          Math.min(1000 * 2 ** retries, 8000));
      },
      { once: true },
    );
  }

  async function attach(src, retries = 0) {
    detach();
    let Hls = null;
    try {
      ({ default: Hls } = await import("/static/vendor/hls.mjs"));
    } catch (err) {
      if (!video.canPlayType(HLS_TYPE)) console.warn("hls.js did not load", err);
    }
    if (src !== url || status === "ended") return; // changed while loading
    // hls.js wherever it runs (MSE or ManagedMediaSource): it tells which fragment is on
    // screen, hence the sync of pins with the video. The browser's own HLS otherwise.
    if (!Hls?.isSupported()) {
      playNatively(src); // plays HLS natively, or let the browser try
      return;
    }
    // hls.js's default live sync (3 target durations behind the edge) is what the server
    // assumes a viewer plays at; keep it.
    const player = new Hls({ lowLatencyMode: true });
    hls = player;
    player.on(Hls.Events.FRAG_CHANGED, (_event, data) => {
      if (hls !== player) return;
      const frag = data.frag;
      playing = { startMs: fragmentStartMs(frag.url || frag.relurl), start: frag.start };
    });
    let mediaRetries = 0;
    player.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || hls !== player) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        // No playlist yet (a stream that just started writes its first one a second or two
        // after going live; hls.js does not retry a 404): load it again, a little later each
        // time. Otherwise the stream was playing: resume loading.
        const waiting = !player.levels?.length;
        const retry = waiting ? () => attach(src, retries + 1) : () => player.startLoad();
        setTimeout(() => hls === player && retry(), waiting ? Math.min(1000 * 2 ** retries, 8000) : 3000);
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRetries++ < 3) {
        player.recoverMediaError();
      } else {
        console.warn("video failed", data.details);
        detach();
      }
    });
    player.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    player.loadSource(src);
    player.attachMedia(video);
  }

  /** The stream's URL, from the show, the join snapshot or a `playback` event; null: none. */
  function setPlayback(next) {
    next = next || null;
    if (next === url) return;
    url = next;
    refreshMessage();
    if (!url) detach();
    else if (status !== "ended") attach(url);
  }

  /**
   * The host-side Unix ms of the frame on screen, or null: not playing (paused, stalled, no
   * stream) or the stream carries no time (no time in fragment names, no PROGRAM-DATE-TIME).
   */
  function hostTimeMs() {
    if (!url || video.paused || video.ended || video.readyState < 2) return null;
    if (hls) {
      if (playing?.startMs != null && Number.isFinite(playing.start)) {
        return playing.startMs + (video.currentTime - playing.start) * 1000;
      }
      const date = hls.playingDate; // EXT-X-PROGRAM-DATE-TIME
      return date && Number.isFinite(date.getTime()) ? date.getTime() : null;
    }
    // Native HLS (Safari) with EXT-X-PROGRAM-DATE-TIME: the date of media time 0.
    const start = video.getStartDate?.().getTime();
    return Number.isFinite(start) && start > 0 ? start + video.currentTime * 1000 : null;
  }

  return { setStatus, setViewers, setPlayback, hostTimeMs };
}
