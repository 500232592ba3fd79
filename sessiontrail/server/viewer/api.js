// The HTTP API under /v1, called with the signed-in bearer token. The token
// lives in this tab's session storage only: closing the tab signs out.

const TOKEN_KEY = "sessiontrail.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** A failed call: the HTTP status and the server's words for it. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** The query string of `params`: empty values left out, lists repeated. */
export function query(params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") search.append(name, String(one));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Call the API; the parsed JSON answer, or ApiError naming what went wrong. */
export async function api(path, { method = "GET", params, body, signal } = {}) {
  const headers = { Authorization: `Bearer ${token.get() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`${path}${query(params)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the server cannot be reached");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch((error) => {
    if (error.name === "AbortError") throw error; // the page was left mid-read
    return null;
  });
  if (!response.ok) throw new ApiError(response.status, detailOf(data, response));
  return data;
}

function detailOf(data, response) {
  const detail = data?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => `${(item.loc ?? []).slice(1).join(".")}: ${item.msg}`).join("; ");
  }
  return `${response.status} ${response.statusText}`;
}
