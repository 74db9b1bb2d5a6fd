// Log in and list the shops' shows. The token stays in memory (sessionStorage), never in a URL.
const form = document.getElementById("login");

async function api(path, options = {}) {
  const token = sessionStorage.getItem("token");
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(path, { ...options, headers });
  const body = resp.status === 204 ? null : await resp.json();
  if (!resp.ok) throw new Error(body?.error?.message ?? `HTTP ${resp.status}`);
  return body;
}

async function showShows() {
  const me = await api("/api/me");
  const list = document.getElementById("show-list");
  const items = [];
  for (const shop of me.shops) {
    const { shows } = await api(`/api/shops/${shop.id}/shows`);
    for (const show of shows) {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/watch/${show.id}`;
      link.textContent = `${show.title} (${shop.name}, ${show.status})`;
      li.append(link);
      items.push(li);
    }
  }
  list.replaceChildren(...items);
  form.hidden = true;
  document.getElementById("shows").hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  try {
    const body = await api("/api/auth/login", {
      method: "POST",
      body: JSON.stringify({ email: data.get("email"), password: data.get("password") }),
    });
    sessionStorage.setItem("token", body.token);
    await showShows();
  } catch (err) {
    document.getElementById("login-error").textContent = err.message;
  }
});

if (sessionStorage.getItem("token")) showShows().catch(() => sessionStorage.removeItem("token"));
