// The session list: a search box and filters, one page at a time (keyset
// cursors), each row a link to the session. The filters live in the address,
// so a search can be bookmarked and the back button returns to it.

import { api } from "./api.js";
import { h, replace, when } from "./dom.js";

const FILTERS = ["search", "model", "pinned", "since", "until", "meta"];

export async function listPage({ main, query, signal }) {
  document.title = "Sessions · sessiontrail";
  const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name) ?? ""]));
  const results = h("ol", { class: "sessions", "aria-label": "Sessions" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "More sessions");
  const summary = h("p", { class: "hint", "aria-live": "polite" });
  replace(main, h("h1", {}, "Sessions"), filterForm(filters), summary, results, more);

  let cursor = null;
  let shown = 0;
  const loadPage = async () => {
    more.disabled = true;
    const page = await fetchPage(filters, cursor, signal);
    for (const item of page.items) results.append(row(item));
    shown += page.items.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    summary.textContent = shown === 0
      ? "No session matches."
      : `${shown} session${shown === 1 ? "" : "s"} shown${cursor ? ", more below" : ""}.`;
  };
  more.addEventListener("click", () => loadPage().catch(() => {}));
  await loadPage();
}

/** One page: words alone are a ranked search (hits with snippets); any other
 * filter makes it the filtered list, newest first, a page at a time. */
async function fetchPage(filters, cursor, signal) {
  const params = {
    search: filters.search, model: filters.model, pinned: filters.pinned,
    since: isoOf(filters.since), until: isoOf(filters.until), meta: filters.meta,
    cursor, limit: 25,
  };
  const others = FILTERS.some((name) => name !== "search" && filters[name]);
  if (filters.search && !others) {
    const hits = await api("/v1/search", { params: { text: filters.search, limit: 50 }, signal });
    return { items: hits, next_cursor: null };
  }
  return api("/v1/sessions", { params, signal });
}

function isoOf(local) {
  return local ? new Date(local).toISOString() : "";
}

function filterForm(filters) {
  const field = (name, label, input) => h("div", { class: "field" }, h("label", { for: `f-${name}` }, label), input);
  const text = (name, type = "text", extra = {}) =>
    h("input", { id: `f-${name}`, name, type, value: filters[name], ...extra });
  const pinned = h(
    "select", { id: "f-pinned", name: "pinned" },
    h("option", { value: "" }, "Any"),
    h("option", { value: "true", selected: filters.pinned === "true" }, "Pinned"),
    h("option", { value: "false", selected: filters.pinned === "false" }, "Not pinned"),
  );
  const form = h(
    "form", { role: "search", class: "filters", onsubmit: (event) => apply(event, form) },
    field("search", "Words", text("search", "search", { placeholder: "words in a title or message" })),
    field("model", "Model", text("model")),
    field("pinned", "Pinned", pinned),
    field("since", "Updated since", text("since", "datetime-local")),
    field("until", "Updated before", text("until", "datetime-local")),
    field("meta", "Metadata", text("meta", "text", { placeholder: "key=value" })),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Search"),
      h("a", { href: "#/", class: "button-like" }, "Clear")),
  );
  return form;
}

function apply(event, form) {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (value) params.set(name, value);
  const text = params.toString();
  location.hash = text ? `#/?${text}` : "#/";
}

/** One session in the list: a search hit carries `session` and a snippet. */
function row(item) {
  const session = item.session ?? item;
  const match = item.message_ids?.length ? `?m=${encodeURIComponent(item.message_ids[0])}` : "";
  const link = h("a", { href: `#/sessions/${encodeURIComponent(session.session_id)}${match}` },
    session.title || session.session_id);
  return h(
    "li", { class: "session" },
    h("div", { class: "line" }, link, session.pinned ? h("span", { class: "badge", title: "pinned" }, "pinned") : null),
    h("div", { class: "meta" },
      h("code", {}, session.session_id), " · ", session.model || "no model", " · ",
      `${session.message_count} messages`, " · updated ", when(session.updated_at)),
    item.snippet !== undefined
      ? h("p", { class: "snippet" }, ...highlight(item.snippet))
      : session.preview ? h("p", { class: "preview" }, session.preview) : null,
  );
}

/** A snippet with its matching words marked: the server puts each between
 * `**`, so every other piece of the split is a match. */
function highlight(snippet) {
  return snippet.split("**").map((piece, index) => (index % 2 ? h("mark", {}, piece) : piece));
}
