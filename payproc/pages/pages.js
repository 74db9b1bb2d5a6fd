// The challenge, the test bank and the payment app: one decision each.
"use strict";

const page = document.body.dataset.page;
const intentId = document.body.dataset.intent;
const message = document.getElementById("message");

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function decide(decision) {
  const path = page === "bank" ? `/bank/${intentId}` : `/app/${intentId}`;
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": randomKey() },
    body: JSON.stringify({ decision }),
  });
  const answer = await response.json();
  if (!response.ok) {
    message.textContent = (answer.error && answer.error.message) || "Failed.";
    message.className = "error";
    return;
  }
  if (page === "bank") {
    // Back to the shop, where the player resumes with ?intent=<id>.
    window.top.location.href = answer.return_to;
    return;
  }
  message.textContent =
    answer.status === "succeeded" ? "Approved. You can go back to the shop." : "Declined.";
  message.className = answer.status === "succeeded" ? "ok" : "error";
}

for (const button of document.querySelectorAll("button[data-decision]")) {
  button.addEventListener("click", () => {
    for (const b of document.querySelectorAll("button")) b.disabled = true;
    const decision = button.dataset.decision;
    if (page === "challenge") {
      // The card form holds the client secret and sends the answer itself.
      if (window.parent === window) {
        message.textContent = "Open this inside the card form.";
        return;
      }
      window.parent.postMessage({ type: "payproc:challenge", decision }, location.origin);
      return;
    }
    decide(decision).catch(() => {
      message.textContent = "Network error.";
      message.className = "error";
      for (const b of document.querySelectorAll("button")) b.disabled = false;
    });
  });
}
