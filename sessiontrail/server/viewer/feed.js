// The live change feed (/v1/events/stream) read with fetch, not EventSource:
// EventSource cannot send the Authorization header, and a token in the URL
// would end up in logs. A dropped connection resumes after the last event seen.

import { token } from "./api.js";

const RETRY_MS = [500, 1000, 2000, 5000];

/** Call `onEvent(entry)` for each event after `after` the caller may see
 * (optionally only `sessionId`'s), until `signal` aborts; reconnects by itself. */
export async function follow({ after = 0, sessionId, onEvent, onState, signal }) {
  let position = after;
  let failures = 0;
  while (!signal.aborted) {
    try {
      onState?.("connecting");
      const params = new URLSearchParams({ after: String(position) });
      const response = await fetch(`/v1/events/stream?${params}`, {
        headers: { Authorization: `Bearer ${token.get() ?? ""}`, Accept: "text/event-stream" },
        signal,
      });
      if (!response.ok) throw new Error(`feed answered ${response.status}`);
      onState?.("live");
      failures = 0;
      for await (const message of messages(response.body, signal)) {
        if (message.id) position = Number(message.id);
        const entry = message.data ? JSON.parse(message.data) : null;
        if (entry && (!sessionId || entry.session_id === sessionId)) onEvent(entry);
      }
    } catch (error) {
      if (signal.aborted) return;
      onState?.("offline");
    }
    const wait = RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)];
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Server-sent messages ({id, event, data}) as they arrive on `body`. */
async function* messages(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const message = parse(block);
      if (message) yield message;
    }
  }
}

function parse(block) {
  const message = { id: "", event: "message", data: "" };
  let seen = false;
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") message.data += (message.data ? "\n" : "") + value;
    else if (field === "id" || field === "event") message[field] = value;
    seen = true;
  }
  return seen ? message : null;
}
