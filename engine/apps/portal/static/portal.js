// Partial updates without a build step: a form with data-partial="#target" is sent with fetch and
// the server's HTML fragment replaces the target's content. Without JavaScript the same forms
// still work as ordinary posts.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  const selector = form.getAttribute("data-partial");
  if (!selector) return;
  const target = document.querySelector(selector);
  if (!target) return;
  event.preventDefault();
  const data = new FormData(form);
  if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
  const reply = await fetch(form.action, {
    method: "POST", body: new URLSearchParams(data), credentials: "same-origin",
    headers: {"X-Requested-With": "portal-fetch"},
  });
  const html = await reply.text();
  if (form.id === "quiz-form") { form.hidden = true; target.innerHTML = html; }
  else { target.innerHTML = html; }
  target.setAttribute("data-status", String(reply.status));
});
