// The viewer's player: loads the show, finds out who is watching, connects to the live room
// and hands every snapshot and frame event to the component that shows it. Pin, unpin, units
// and sold_out wait until the viewer's video reaches the moment they happened (sync.js).
import { api } from "./api.js";
import { createCart } from "./cart.js";
import { createChat } from "./chat.js";
import { createCheckout } from "./checkout.js";
import { $ } from "./dom.js";
import { createAnnouncement, createPurchases } from "./extras.js";
import { createHearts } from "./hearts.js";
import { t, translatePage } from "./i18n.js";
import { identify } from "./identity.js";
import { createNotice } from "./notice.js";
import { createPins } from "./pins.js";
import { createQA } from "./qa.js";
import { Room } from "./room.js";
import { createStore } from "./store.js";
import { Delayed, DelayEstimate } from "./sync.js";
import { setupTabs } from "./tabs.js";
import { createStage } from "./video.js";

const showId = Number(location.pathname.split("/").filter(Boolean).pop());
const SYNC_EVERY_MS = 250;
const IN_VIDEO_TIME = new Set(["pin", "unpin", "units", "sold_out"]);
let room = null;

const now = () => (room ? room.now() : Date.now());
// How far this viewer's video is behind the host, and the events waiting for it.
const delay = new DelayEstimate();
const held = new Delayed();
const delayMs = () => delay.value ?? 0;
const videoNow = () => now() - delayMs(); // the host's clock as the video shows it
const emit = (name, payload, timeoutMs) =>
  room
    ? room.emit(name, payload, timeoutMs)
    : Promise.resolve({ ok: false, error: { code: "offline", message: t("offline") } });

function fatal(message) {
  $("title").textContent = message;
  $("app").dataset.failed = "true";
}

function showConnection(state) {
  const node = $("connection");
  node.dataset.state = state;
  const text = { connecting: "connecting", connected: "connected", reconnecting: "reconnecting" };
  $("connection-text").textContent = text[state] ? t(text[state]) : "";
  node.hidden = !text[state];
}

async function main() {
  translatePage();
  let show;
  try {
    show = await api(`/api/shows/${showId}`);
  } catch (err) {
    fatal(t("loadFailed", { message: err.message }));
    return;
  }
  document.title = `${show.title} – ${t("pageTitle")}`;
  $("title").textContent = show.title;
  const currency = show.currency;

  const store = createStore({
    status: show.status,
    you: null,
    banned: false,
    mutedUntil: 0,
    slowMode: 0,
  });
  const app = $("app");
  const showDelay = () => {
    const value = String(delayMs());
    if (app.dataset.streamDelayMs !== value) app.dataset.streamDelayMs = value;
  };
  // The stream went away: no estimate, and nothing is held for a video that is not there.
  const stage = createStage(show, {
    onDetach: () => {
      delay.reset();
      held.flush();
      showDelay();
    },
  });
  showDelay();
  let lock = () => {}; // set once the composers exist
  const notice = createNotice({ store, now, onLock: (locked) => lock(locked) });
  const cart = createCart({ currency, emit, isLive: () => store.state.status === "live" });
  createCheckout({ cart, emit, currency });
  const pins = createPins({
    currency,
    now: videoNow, // deal countdowns on the video's clock
    serverNow: now, // ...never past the server's last order at the deal price
    onBuy: (variantId, from) => cart.add(variantId, from),
  });
  const chat = createChat({ emit, notice, you: () => store.state.you });
  const qa = createQA({ emit, notice, productTitle: (id) => pins.title(id) });
  const hearts = createHearts({ emit, notice });
  const announcement = createAnnouncement();
  const purchases = createPurchases();
  setupTabs($("tabs"));

  lock = (locked) => {
    chat.setLocked(locked);
    qa.setLocked(locked);
    hearts.setLocked(locked);
  };
  notice.sync();

  store.subscribe((state, changed) => {
    if (changed.includes("status")) {
      stage.setStatus(state.status);
      cart.render();
      if (state.status === "ended") {
        room?.close(); // the room sends nothing more
        held.flush();
        pins.snapshot([]); // nothing is on offer any more
      }
    }
    if (changed.includes("banned") && state.banned) {
      room?.banned();
      pins.setLocked(true);
    }
  });
  stage.setPlayback(show.playback_url);

  const mine = (subject) => subject && subject === store.state.you?.subject;

  function onSnapshot(snap) {
    held.clear(); // the snapshot is newer than anything still waiting
    store.set({
      status: snap.status,
      you: snap.you ?? null,
      slowMode: snap.slow_mode_seconds ?? 0,
      mutedUntil: snap.you?.timed_out_until_ms ?? 0,
    });
    stage.setViewers(snap.viewers);
    stage.setPlayback(snap.playback_url ?? show.playback_url);
    pins.snapshot(snap.status === "ended" ? [] : snap.pins);
    chat.snapshot(snap.chat);
    qa.snapshot(snap.questions);
    hearts.set(snap.hearts, true);
    announcement.set(snap.announcement);
    if (snap.status === "ended") room.close(); // an ended room sends nothing more
    else cart.refresh();
  }

  function onEvent(ev, frame) {
    if (IN_VIDEO_TIME.has(ev.type)) {
      held.push(frame?.t, () => apply(ev));
      // No estimate: at once (nothing else is held then, the queue empties when it resets).
      if (delay.value === null) held.flush();
      else held.release(now(), delayMs());
      return;
    }
    apply(ev);
  }

  function apply(ev) {
    switch (ev.type) {
      case "chat": return chat.add(ev.message);
      case "chat.deleted": return chat.remove(ev.id);
      case "question": return qa.add(ev.question);
      case "question.votes": return qa.votes(ev.id, ev.votes);
      case "question.closed": return qa.close(ev.id);
      case "reactions": return hearts.set(ev.hearts);
      case "stats":
        stage.setViewers(ev.viewers);
        return hearts.set(ev.hearts);
      case "pin": return pins.pin(ev.pin);
      case "unpin": return pins.unpin(ev.product_id);
      case "units": return pins.units(ev.product_id, ev.units_left);
      case "sold_out": return pins.units(ev.product_id, 0);
      case "purchases": return purchases.show(ev);
      case "announcement": return announcement.set(ev.announcement);
      case "slow_mode": return store.set({ slowMode: ev.seconds });
      case "user.timed_out":
        if (mine(ev.subject)) store.set({ mutedUntil: ev.until_ms });
        return;
      case "user.banned":
        if (mine(ev.subject)) store.set({ banned: true });
        return;
      case "status": return store.set({ status: ev.status });
      case "playback": return stage.setPlayback(ev.playback_url);
      default: // a type this version does not know
    }
  }

  async function connect(refused = null) {
    const identity = await identify(refused);
    room = new Room(showId, identity.token, {
      onSnapshot,
      onEvent,
      onState: showConnection,
      onRefused: () => connect(identity),
      onBanned: () => store.set({ banned: true }),
      onFatal: (error) => fatal(error.message),
    });
    room.start();
  }

  setInterval(() => {
    const hostTime = stage.hostTimeMs();
    if (hostTime !== null) delay.add(now() - hostTime);
    held.release(now(), delayMs());
    showDelay();
  }, SYNC_EVERY_MS);
  setInterval(() => {
    pins.tick();
    notice.tick();
  }, 500);
  await connect();
}

main();
