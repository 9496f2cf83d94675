// Calls the JSON API with the user's token and unwraps the envelope. Errors carry the API's own message.
import { session } from "./session.js";

export class ApiError extends Error {
  constructor(status, message, rowErrors = null) {
    super(message);
    this.status = status;
    this.rowErrors = rowErrors;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.token() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  let json = null;
  try { json = await response.json(); } catch { /* not JSON */ }
  if (response.status === 401) {
    onUnauthorized(json?.error ?? "Your token is missing, invalid or expired.");
    throw new ApiError(401, json?.error ?? "unauthorized");
  }
  if (!json || json.success !== true) {
    throw new ApiError(response.status, json?.error ?? `The server answered ${response.status}.`);
  }
  return json;
}

export const get = (path) => api("GET", path).then(json => json.data);
export const getPage = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {}).then(json => json.data);
export const put = (path, body) => api("PUT", path, body).then(json => json.data);
export const del = (path) => api("DELETE", path).then(json => json.data);

/// Every page of a list endpoint (the API caps `limit` at 500).
export async function getAll(path) {
  const separator = path.includes("?") ? "&" : "?";
  let offset = 0, items = [];
  for (;;) {
    const page = await getPage(`${path}${separator}limit=500&offset=${offset}`);
    items = items.concat(page.data);
    offset += page.data.length;
    if (page.data.length === 0 || offset >= page.meta.total) return items;
  }
}

/// Sends a CSV file to a bulk route. A refused file throws an ApiError carrying every bad row (`rowErrors`).
export async function uploadCSV(path, text) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST", body: text,
      headers: { Authorization: `Bearer ${session.token() ?? ""}`, "Content-Type": "text/csv; charset=utf-8" },
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  let json = null;
  try { json = await response.json(); } catch { /* not JSON */ }
  if (response.status === 401) onUnauthorized(json?.error ?? "Your token is missing, invalid or expired.");
  if (!json || json.success !== true) {
    throw new ApiError(response.status, json?.error ?? `The server answered ${response.status}.`, json?.row_errors ?? null);
  }
  return json.data;
}

/// Saves an export (CSV) as a file: fetched with the token (a plain link could not send it), then handed to the
/// browser as a download. Resolves to the size in bytes.
export async function download(path, filename) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${session.token() ?? ""}`, Accept: "text/csv" } });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try { message = (await response.json()).error ?? message; } catch { /* not JSON */ }
    if (response.status === 401) onUnauthorized(message);
    throw new ApiError(response.status, message);
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}
