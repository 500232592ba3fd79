// One session's transcript as a reader wants it: who said what, reasoning,
// tool calls and their results folded away until asked for, the question the
// agent waits on, and the token usage.

import { h, when } from "./dom.js";

const PAGE = 500;

/** Every message of the live session, oldest first (paged, newest page first). */
export async function latestMessages(api, id, signal) {
  const path = `/v1/sessions/${encodeURIComponent(id)}/messages`;
  let page = await api(path, { params: { last_n: PAGE }, signal });
  const pages = [page.items];
  while (page.before) {
    page = await api(path, { params: { before: page.before, limit: PAGE }, signal });
    pages.unshift(page.items);
  }
  return pages.flat();
}

/** The transcript as a list of articles, one per message. */
export function transcript(messages, { highlight = new Set() } = {}) {
  if (messages.length === 0) return h("p", { class: "hint" }, "No messages at this version.");
  return h("ol", { class: "transcript", "aria-label": "Transcript" },
    messages.map((message, index) => messageItem(message, index + 1, highlight.has(message.id))));
}

function messageItem(message, number, matched) {
  return h(
    "li", { class: `message role-${message.role}${matched ? " matched" : ""}`, id: `m-${message.id}` },
    h("div", { class: "message-head" },
      h("span", { class: "role" }, message.role), h("span", { class: "number" }, `#${number}`),
      when(message.created_at)),
    message.role === "tool" ? toolResult(message) : body(message),
  );
}

function body(message) {
  return [
    message.reasoning ? folded("Reasoning", h("p", { class: "text" }, message.reasoning)) : null,
    message.content ? h("p", { class: "text" }, message.content) : null,
    (message.content_parts ?? []).length
      ? folded(`${message.content_parts.length} content parts`, json(message.content_parts))
      : null,
    (message.tool_calls ?? []).map((call) =>
      folded(`Tool call: ${call.name}`, h("p", { class: "hint" }, `call ${call.id}`), json(call.arguments))),
  ];
}

function toolResult(message) {
  const outcome = message.tool_success === false ? " (failed)" : "";
  return folded(`Result of ${message.tool_call_id}${outcome}`, h("p", { class: "text" }, message.content));
}

function folded(label, ...content) {
  return h("details", { class: "fold" }, h("summary", {}, label), ...content);
}

export function json(value) {
  return h("pre", { class: "json" }, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

/** The question the agent waits on, if any. */
export function pendingQuestion(question) {
  if (!question) return null;
  return h("aside", { class: "pending", "aria-label": "Pending question" },
    h("h2", {}, "Waiting for an answer"),
    h("p", {}, question.question),
    question.options.length ? h("ul", {}, question.options.map((option) => h("li", {}, option))) : null,
    h("p", { class: "hint" }, `asked by ${question.tool_name} (${question.tool_call_id})`));
}

/** Token usage totals, one line per counted field. */
export function usage(totals) {
  const entries = Object.entries(totals ?? {});
  if (entries.length === 0) return null;
  return h("aside", { class: "usage", "aria-label": "Token usage" },
    h("h2", {}, "Usage"),
    h("dl", {}, entries.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))])));
}
