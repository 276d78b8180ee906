// Shared by the dashboard's modules: DOM building (text only, never HTML), the API call with the tenant's key, and
// formatting.

export const KEY_SLOT = "sluice.apiKey";

export const $ = (id) => document.getElementById(id);

/** An element with attributes (or properties for `on*`) and children; strings become text nodes, never HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

export function apiKey() {
  return sessionStorage.getItem(KEY_SLOT);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** The problem's detail, and the first field it names (`cron: …`) for a validation error. */
function problemText(status, body) {
  const detail = body?.detail ?? body?.title ?? `HTTP ${status}`;
  const field = Array.isArray(body?.errors) ? body.errors[0] : undefined;
  return field ? `${detail} ${field.path}: ${field.message}` : detail;
}

/** A call to this origin's API with the tab's key; `json` is sent as the request body. */
export async function api(method, path, json) {
  const key = apiKey();
  if (!key) throw new ApiError(401, "No API key.");
  const headers = { authorization: `Bearer ${key}` };
  if (json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(response.status, problemText(response.status, body));
  return body;
}

export const fnPath = (name) => `/v1/functions/${encodeURIComponent(name)}`;
export const taskPath = (id) => `/v1/tasks/${encodeURIComponent(id)}`;

export const fmt = (n) => (n === null || n === undefined ? "–" : Number.isInteger(n) ? String(n) : n.toFixed(1));
export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–");
