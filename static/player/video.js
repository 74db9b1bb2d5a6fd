// The stage: the video (HLS through hls.js, or natively where the browser plays HLS), the
// status badge (scheduled / live / ended), the viewer count and the message over the video.
import { $ } from "./dom.js";
import { dateTime, number } from "./format.js";
import { t } from "./i18n.js";

const HLS_TYPE = "application/vnd.apple.mpegurl";

export function createStage(show) {
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
    if (video.hasAttribute("src")) {
      video.removeAttribute("src");
      video.load();
    }
  }

  async function attach(src) {
    detach();
    if (video.canPlayType(HLS_TYPE)) {
      video.src = src;
      video.play().catch(() => {}); // muted autoplay; the controls are there if refused
      return;
    }
    let Hls;
    try {
      ({ default: Hls } = await import("/static/vendor/hls.mjs"));
    } catch (err) {
      console.warn("hls.js did not load", err);
      return;
    }
    if (src !== url || status === "ended") return; // changed while loading
    if (!Hls.isSupported()) {
      video.src = src; // let the browser try
      return;
    }
    const player = new Hls({ lowLatencyMode: true });
    hls = player;
    let mediaRetries = 0;
    player.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || hls !== player) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        setTimeout(() => hls === player && player.startLoad(), 3000);
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

  return { setStatus, setViewers, setPlayback };
}
