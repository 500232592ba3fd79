// The viewer's shell: sign-in, the header, and which page the address shows.
// Pages are addresses after '#', so the back button and bookmarks work and the
// server serves one page.

import { api, ApiError, token } from "./api.js";
import { h, replace } from "./dom.js";
import { listPage } from "./list.js";
import { sessionPage } from "./session.js";

const main = document.getElementById("main");
const status = document.getElementById("status");
const who = document.getElementById("who");
const signOut = document.getElementById("sign-out");
let leave = new AbortController();
let carried = "";
let shown = 0; // pages shown so far: a sign-in shows one only if none came meanwhile

/** Say something to the reader (announced by screen readers too). */
export function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
}

/** Say something on the next page the reader goes to. */
function carry(text) {
  carried = text;
}

/** What the address asks for: a page name, its path parts and its query. */
function route() {
  const [path, search = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search) };
}

async function show() {
  shown += 1;
  leave.abort();
  leave = new AbortController();
  say(carried);
  carried = "";
  if (!token.get()) return signInPage();
  const { parts, query } = route();
  const context = { main, query, signal: leave.signal, say, carry, failed };
  try {
    if (parts[0] === "sessions" && parts[1]) await sessionPage(parts[1], context);
    else await listPage(context);
  } catch (error) {
    failed(error);
  }
}

/** A failed call shown as a page: sign in again on 401, "not found" on 404. */
function failed(error) {
  if (error.name === "AbortError") return;
  if (error instanceof ApiError && error.status === 401) {
    token.clear();
    return signInPage("That token was not accepted. Check it and sign in again.");
  }
  if (error instanceof ApiError && error.status === 404) return notFound(error.message);
  say(error.message || String(error), "error");
}

function notFound(detail) {
  document.title = "Not found · sessiontrail";
  replace(
    main,
    h("h1", {}, "Session not found"),
    h("p", {}, "There is no session here that you may see. ", detail),
    h("p", {}, h("a", { href: "#/" }, "Back to the session list")),
  );
  main.focus();
}

function signInPage(problem = "") {
  document.title = "Sign in · sessiontrail";
  who.textContent = "";
  signOut.hidden = true;
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help",
  });
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert" }, problem);
  const form = h(
    "form",
    { class: "sign-in", onsubmit: (event) => submit(event, input, error) },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Access token"),
    input,
    h("p", { id: "token-help", class: "hint" },
      "A token from `sessiontrail token USER`. It is kept in this tab only."),
    error,
    h("button", { type: "submit" }, "Sign in"),
  );
  replace(main, form);
  input.focus();
}

async function submit(event, input, error) {
  event.preventDefault();
  token.set(input.value.trim());
  const before = shown;
  try {
    await whoAmI();
  } catch (problem) {
    token.clear();
    error.textContent = problem instanceof ApiError && problem.status === 401
      ? "That token was not accepted. Check it and try again."
      : problem.message;
    input.focus();
    return;
  }
  // The address may have changed while the token was checked: that page is
  // already showing (the token was set), and showing it again would drop what
  // the reader has done there since.
  if (shown === before) show();
}

async function whoAmI() {
  const me = await api("/v1/me");
  who.textContent = me.admin ? `${me.actor} (admin)` : me.user_id ?? "";
  signOut.hidden = false;
  return me;
}

signOut.addEventListener("click", () => {
  token.clear();
  location.hash = "#/";
  show();
});
window.addEventListener("hashchange", show);
if (token.get()) whoAmI().catch(failed);
show();
