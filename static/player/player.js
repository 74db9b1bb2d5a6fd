// The show page before the live room exists: the show's public data and its lineup.
// Text only: nothing from the server is ever inserted as HTML.
const showId = location.pathname.split("/").filter(Boolean).pop();
const lang = navigator.language || "en";

function money(minor, currency) {
  const digits = new Intl.NumberFormat(lang, { style: "currency", currency })
    .resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat(lang, { style: "currency", currency }).format(minor / 10 ** digits);
}

function productItem(product, currency) {
  const li = document.createElement("li");
  if (product.image_url) {
    const img = document.createElement("img");
    img.src = product.image_url;
    img.alt = "";
    li.append(img);
  }
  const text = document.createElement("div");
  const title = document.createElement("div");
  title.textContent = product.title;
  const price = document.createElement("div");
  price.className = "price";
  price.textContent = money(product.price, currency);
  text.append(title, price);
  li.append(text);
  return li;
}

async function main() {
  const resp = await fetch(`/api/shows/${encodeURIComponent(showId)}`);
  const body = await resp.json();
  if (!resp.ok) {
    document.getElementById("title").textContent = body.error?.message ?? "Show not found";
    return;
  }
  document.title = body.title;
  document.getElementById("title").textContent = body.title;
  document.getElementById("description").textContent = body.description;
  const status = document.getElementById("status");
  const starts = new Date(body.scheduled_at).toLocaleString(lang);
  status.textContent = { scheduled: `Starts ${starts}`, live: "LIVE", ended: "Ended" }[body.status];
  status.classList.toggle("live", body.status === "live");
  const list = document.getElementById("lineup");
  list.replaceChildren(...body.lineup.map((p) => productItem(p, body.currency)));
}

main();
