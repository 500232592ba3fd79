// One session: its transcript at any version (the slider is time travel), its
// audit timeline, a diff of two versions, Q&A and trace steps, "fork here",
// and live updates from the change feed while someone writes to it.

import { api, ApiError } from "./api.js";
import { h, replace, when } from "./dom.js";
import { follow } from "./feed.js";
import { difference, questions, steps, timeline, tombstone } from "./panels.js";
import { latestMessages, pendingQuestion, transcript, usage } from "./transcript.js";
import { tabs } from "./tabs.js";

const TABS = [
  ["transcript", "Transcript"], ["timeline", "Timeline"], ["diff", "Diff"], ["qa", "Q&A"], ["trace", "Trace"],
];

export async function sessionPage(id, { main, query, signal, say, carry, failed }) {
  const path = `/v1/sessions/${encodeURIComponent(id)}`;
  const call = (suffix, options = {}) => api(`${path}${suffix}`, { signal, ...options });
  const latest = await call("").catch(async (error) => {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    const purges = await purgesOf(id, signal);
    if (!purges.length) throw error;
    return null;
  });
  if (latest === null) return tombstone(main, id, await purgesOf(id, signal));
  const state = { latest, version: null, tab: query.get("tab") ?? "transcript" };
  state.version = clampVersion(Number(query.get("v")) || state.latest.version, state.latest.version);

  const heading = h("h1", {});
  const facts = h("p", { class: "facts" });
  const slider = h("input", { id: "version", type: "range", min: 1, step: 1, "aria-describedby": "version-shown" });
  const shown = h("output", { id: "version-shown", for: "version" });
  const latestButton = h("button", { type: "button", onclick: () => goTo(state.latest.version) }, "Latest");
  const forkButton = h("button", { type: "button", onclick: () => forkHere() }, "Fork here");
  const live = h("span", { class: "live", "aria-live": "polite" });
  const aside = h("div", { class: "side" });
  const panel = h("div", { class: "panel" });
  const tabBar = tabs(TABS, state.tab, panel, (tab) => { state.tab = tab; remember(); render(); });

  replace(main,
    h("nav", { "aria-label": "Breadcrumb", class: "crumbs" }, h("a", { href: "#/" }, "Sessions"), " / ", h("span", {}, id)),
    heading, facts,
    h("section", { class: "versions", "aria-label": "Time travel" },
      h("label", { for: "version" }, "Version"), slider, shown, latestButton, forkButton, live),
    h("div", { class: "layout" }, h("div", { class: "content" }, tabBar, panel), aside));
  slider.addEventListener("input", () => showVersionLabel(Number(slider.value)));
  slider.addEventListener("change", () => goTo(Number(slider.value)));

  const matched = new Set(query.getAll("m"));
  let loading = new AbortController();
  /** Show the session; `live` (a change another writer made) keeps the diff
   * form as it is, with the versions the reader typed and their result, and
   * only lets its versions reach the new latest one. */
  async function render({ live = false } = {}) {
    loading.abort();
    loading = new AbortController();
    const local = AbortSignal.any([signal, loading.signal]);
    const header = state.latest;
    document.title = `${header.title || id} · sessiontrail`;
    replace(heading, header.title || id);
    replace(facts, h("code", {}, header.session_id), " · ", header.model || "no model", " · ",
      `${header.message_count} messages · v${header.version}`, " · updated ", when(header.updated_at));
    slider.max = String(header.version);
    slider.value = String(state.version);
    showVersionLabel(state.version);
    try {
      for (const input of panel.querySelectorAll(".diff-form input")) input.max = String(header.version);
      if (!(live && state.tab === "diff")) {
        replace(panel, h("p", { class: "hint" }, "Loading…"));
        replace(panel, await view(state.tab, local));
        panel.querySelector(".matched")?.scrollIntoView({ block: "center" });
      }
      replace(aside, pendingQuestion(header.pending_question), usage((await call("/usage", { signal: local })).totals));
    } catch (error) {
      failed(error);
    }
  }

  async function view(tab, local) {
    const get = (suffix, params) => call(suffix, { params, signal: local });
    if (tab === "timeline") return timeline(await get("/history"), goTo);
    if (tab === "diff") return diffForm((suffix, params) => call(suffix, { params })); // outlives live renders
    if (tab === "qa") return questions(await get("/qa"), (await get("/graph-context")).context);
    if (tab === "trace") return steps(await get("/traces"));
    if (state.version === state.latest.version) {
      return transcript(await latestMessages(api, id, local), { highlight: matched });
    }
    const then = await get("/at", { version: state.version });
    return [
      h("p", { class: "notice" }, `As it was at version ${state.version}, `, when(then.session.updated_at),
        then.session.title !== state.latest.title ? ` (titled “${then.session.title}”)` : "", "."),
      pendingQuestion(then.session.pending_question),
      transcript(then.messages),
    ];
  }

  function diffForm(get) {
    const from = h("input", { id: "diff-from", type: "number", min: 1, max: state.latest.version, required: true,
      value: String(Math.max(1, state.version - 1)) });
    const to = h("input", { id: "diff-to", type: "number", min: 1, max: state.latest.version, required: true,
      value: String(state.version) });
    const result = h("div", { "aria-live": "polite" });
    const compare = async (event) => {
      event?.preventDefault();
      const [first, second] = [Number(from.value), Number(to.value)];
      try {
        replace(result, difference(await get("/diff", { from: first, to: second }), first, second));
      } catch (error) {
        say(error.message, "error");
      }
    };
    return [h("form", { class: "diff-form", onsubmit: compare },
      h("label", { for: "diff-from" }, "From version"), from,
      h("label", { for: "diff-to" }, "To version"), to,
      h("button", { type: "submit" }, "Compare")), result];
  }

  function showVersionLabel(version) {
    shown.value = `v${version} of ${state.latest.version}${version === state.latest.version ? " (latest)" : ""}`;
    forkButton.textContent = `Fork at v${version}`;
  }

  function goTo(version) {
    state.version = clampVersion(version, state.latest.version);
    if (state.tab !== "transcript" && state.tab !== "diff") state.tab = "transcript";
    tabBar.select(state.tab);
    remember();
    render();
  }

  function remember() {
    const params = new URLSearchParams();
    if (state.version !== state.latest.version) params.set("v", String(state.version));
    if (state.tab !== "transcript") params.set("tab", state.tab);
    const text = params.toString();
    history.replaceState(null, "", `#/sessions/${encodeURIComponent(id)}${text ? `?${text}` : ""}`);
  }

  async function forkHere() {
    try {
      const fork = await call("/fork", { method: "POST", body: { at_version: state.version } });
      carry(`Forked ${id} at v${state.version} as ${fork.session_id}.`);
      location.hash = `#/sessions/${encodeURIComponent(fork.session_id)}`;
    } catch (error) {
      failed(error);
    }
  }

  let refresh = null;
  follow({
    sessionId: id, signal,
    onState: (now) => { live.textContent = now === "live" ? "● live" : now === "offline" ? "reconnecting…" : ""; },
    onEvent: (entry) => {
      if (entry.version <= state.latest.version) return;
      const following = state.version === state.latest.version;
      state.latest = { ...state.latest, version: entry.version };
      if (following) state.version = entry.version;
      clearTimeout(refresh);
      refresh = setTimeout(async () => {
        try {
          const fresh = await call(""); // may lag the feed: never step back
          state.latest = { ...fresh, version: Math.max(fresh.version, state.latest.version) };
          if (following) state.version = state.latest.version;
          render({ live: true });
        } catch (error) {
          failed(error);
        }
      }, 150);
    },
  });
  await render();
}

function clampVersion(version, latest) {
  return Math.min(Math.max(1, Math.trunc(version)), latest);
}

/** The purge records of a session id the caller may see (the audit timeline keeps them). */
async function purgesOf(id, signal) {
  const page = await api("/v1/events", { params: { session_id: id, limit: 1000 }, signal });
  return page.items.filter((entry) => entry.event === "SessionPurged");
}
