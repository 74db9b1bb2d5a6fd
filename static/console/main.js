// The console's entry point: log in, pick the shop, list its shows, open one or the show form.
import { api } from "./api.js";
import { busy, byId, h } from "./dom.js";
import { clearError, guard, showError } from "./errors.js";
import { hasSession, logIn, logOut, whoAmI } from "./session.js";
import { ShowView } from "./show.js";
import { ShowForm } from "./showform.js";
import { ShowList } from "./shows.js";

const loginView = byId("login-view");
const loginForm = byId("login-form");
const app = byId("app");
const account = byId("account");
const emptyView = byId("empty-view");
const formView = byId("form-view");
const shopSelect = byId("shop-select");
const newShow = byId("new-show");

let shops = [];
let shop = null;

const list = new ShowList(byId("show-list"), { onOpen: (id) => openShow(id) });
const view = new ShowView({
  onChanged: (show) => list.upsert(show),
  onDeleted: (id) => {
    list.remove(id);
    showEmpty();
  },
  onEdit: (show) => openForm(show),
});
const form = new ShowForm({
  onSaved: (show) => {
    list.upsert(show);
    openShow(show.id);
  },
  onCancel: (show) => (show ? openShow(show.id) : showEmpty()),
});

function showEmpty() {
  view.close();
  formView.hidden = true;
  emptyView.hidden = false;
  list.setActive(null);
  sessionStorage.removeItem("console.show");
}

async function openShow(id) {
  clearError();
  formView.hidden = true;
  emptyView.hidden = true;
  list.setActive(id);
  sessionStorage.setItem("console.show", String(id));
  try {
    const show = await api(`/api/shops/${shop.id}/shows/${id}`); // fresh, not the list's copy
    list.upsert(show);
    await view.open(shop, show);
  } catch (err) {
    showError(err);
    if (err.code === "not_found") {
      list.remove(id);
      showEmpty();
    }
  }
}

async function openForm(show = null) {
  clearError();
  view.close();
  emptyView.hidden = true;
  formView.hidden = false;
  list.setActive(show?.id ?? null);
  try {
    await form.open(shop, show);
  } catch (err) {
    showError(err);
  }
}

async function selectShop(chosen) {
  shop = chosen;
  sessionStorage.setItem("console.shop", String(shop.id));
  view.close();
  byId("shop-name").textContent = `${shop.name} · ${shop.role}`;
  newShow.hidden = shop.role === "moderator";
  await list.load(shop.id);
  const last = Number(sessionStorage.getItem("console.show"));
  if (last && list.get(last)) await openShow(last);
  else showEmpty();
}

async function start() {
  const me = await whoAmI();
  shops = me.shops || [];
  if (!shops.length) {
    logOut();
    throw new Error("This account is not a member of any shop.");
  }
  byId("whoami").textContent = me.display_name;
  shopSelect.replaceChildren(...shops.map((s) => h("option", { value: String(s.id) }, s.name)));
  byId("shop-picker").hidden = shops.length < 2;
  const stored = Number(sessionStorage.getItem("console.shop"));
  const chosen = shops.find((s) => s.id === stored) || shops[0];
  shopSelect.value = String(chosen.id);
  loginView.hidden = true;
  app.hidden = false;
  account.hidden = false;
  await selectShop(chosen);
}

function signedOut(message) {
  view.close();
  logOut();
  app.hidden = true;
  account.hidden = true;
  loginView.hidden = false;
  byId("show-list").replaceChildren();
  clearError();
  if (message) showError(message);
  loginForm.elements.email.focus();
}

loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const button = loginForm.querySelector("button[type=submit]");
  guard(() => busy(button, async () => {
    const f = loginForm.elements;
    await logIn(f.email.value.trim(), f.password.value);
    f.password.value = "";
    await start();
  }))();
});

byId("logout").addEventListener("click", () => signedOut());
window.addEventListener("session-expired", (event) => {
  if (!app.hidden) signedOut(`Your session has ended (${event.detail}). Log in again.`);
});
shopSelect.addEventListener("change", guard(() => selectShop(shops.find((s) => String(s.id) === shopSelect.value))));
newShow.addEventListener("click", () => openForm());

if (hasSession()) {
  start().catch((err) => signedOut(err.message));
}
