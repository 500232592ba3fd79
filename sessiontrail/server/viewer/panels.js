// The session page's other views: the audit timeline, a diff between two
// versions, Q&A entries with the graph context, and the agent's trace steps.

import { h, replace, when } from "./dom.js";
import { json } from "./transcript.js";

/** Every event: version, time, actor, what happened; a version jumps there. */
export function timeline(entries, goTo) {
  return h("table", { class: "timeline" },
    h("caption", {}, "Every change to this session, oldest first"),
    h("thead", {}, h("tr", {}, ["Version", "Time", "Actor", "Event", "Details"].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, entries.map((entry) => h("tr", {},
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => goTo(entry.version),
        "aria-label": `Show version ${entry.version}` }, `v${entry.version}`)),
      h("td", {}, when(entry.timestamp)),
      h("td", {}, entry.actor),
      h("td", {}, entry.event),
      h("td", {}, h("details", { class: "fold" }, h("summary", {}, summary(entry)), json(entry.payload)))))));
}

function summary(entry) {
  const payload = entry.payload ?? {};
  const message = payload.message;
  if (message) return `${message.role}: ${clip(message.content ?? "")}`;
  if ("title" in payload) return `title: ${clip(String(payload.title))}`;
  if ("source_id" in payload) return `forked from ${payload.source_id} at v${payload.source_version}`;
  return Object.keys(payload).slice(0, 4).join(", ") || "—";
}

function clip(text, length = 80) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** What changed from one version to another: messages added and removed, fields. */
export function difference(change, from, to) {
  const { added, removed, fields } = change;
  const names = Object.keys(fields);
  if (!added.length && !removed.length && !names.length) {
    return h("p", { class: "hint" }, `No changes from v${from} to v${to}.`);
  }
  const line = (sign, kind, message) => h("li", { class: kind },
    h("span", { class: "sign", "aria-label": kind }, sign), h("span", { class: "role" }, message.role), " ",
    message.content || (message.tool_calls ?? []).map((call) => `tool call ${call.name}`).join(", "));
  return h("div", { class: "diff" },
    h("h3", {}, `From v${from} to v${to}`),
    added.length ? [h("h4", {}, `${added.length} added`), h("ul", {}, added.map((m) => line("+", "added", m)))] : null,
    removed.length ? [h("h4", {}, `${removed.length} removed`), h("ul", {}, removed.map((m) => line("−", "removed", m)))] : null,
    names.length ? [h("h4", {}, "Fields"), h("dl", {}, names.map((name) => [
      h("dt", {}, name),
      h("dd", {}, h("del", {}, JSON.stringify(fields[name][0])), " → ", h("ins", {}, JSON.stringify(fields[name][1]))),
    ]))] : null);
}

/** Q&A entries, oldest first, with feedback, and the graph context. */
export function questions(entries, context) {
  return [
    entries.length === 0 ? h("p", { class: "hint" }, "No Q&A entries.") : h("ol", { class: "qa" },
      entries.map((entry) => h("li", {},
        h("p", {}, h("strong", {}, "Q: "), entry.question),
        h("p", {}, h("strong", {}, "A: "), entry.answer),
        entry.feedback_score !== null || entry.feedback_text
          ? h("p", { class: "hint" }, `feedback: ${entry.feedback_score ?? "–"} ${entry.feedback_text ?? ""}`) : null,
        entry.context ? h("details", { class: "fold" }, h("summary", {}, "Context"), h("p", { class: "text" }, entry.context)) : null,
        h("p", { class: "hint" }, when(entry.created_at))))),
    context ? h("details", { class: "fold" }, h("summary", {}, "Graph context"), h("pre", { class: "json" }, context)) : null,
  ];
}

/** The agent's trace steps, oldest first. */
export function steps(traceSteps) {
  if (traceSteps.length === 0) return h("p", { class: "hint" }, "No trace steps.");
  return h("ol", { class: "steps" }, traceSteps.map((step) => h("li", { class: step.error_message ? "failed" : "" },
    h("p", {}, h("strong", {}, step.origin_function || step.trace_id), " ", h("span", { class: "badge" }, step.status || "—")),
    step.memory_query ? h("p", {}, "memory query: ", step.memory_query) : null,
    step.error_message ? h("p", { class: "error" }, step.error_message) : null,
    h("details", { class: "fold" }, h("summary", {}, "Parameters and result"),
      json({ method_params: step.method_params, method_return_value: step.method_return_value,
        memory_context: step.memory_context, session_feedback: step.session_feedback })))));
}

/** A purged session's page: nothing of it is left to show but its purge records. */
export function tombstone(main, id, purges) {
  document.title = `Purged: ${id} · sessiontrail`;
  replace(main,
    h("nav", { "aria-label": "Breadcrumb", class: "crumbs" }, h("a", { href: "#/" }, "Sessions"), " / ", h("span", {}, id)),
    h("h1", {}, "Session purged"),
    h("p", {}, "This session was deleted for good. Only the record of its purge stays in the log."),
    h("table", { class: "timeline tombstone" },
      h("caption", {}, "Its audit timeline"),
      h("thead", {}, h("tr", {}, ["Time", "Actor", "Event", "What went"].map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, purges.map((entry) => h("tr", {},
        h("td", {}, when(entry.timestamp)),
        h("td", {}, entry.actor),
        h("td", {}, entry.event),
        h("td", {}, entry.summary))))));
  main.focus();
}
