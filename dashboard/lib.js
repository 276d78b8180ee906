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

export async function api(method, path) {
  const key = apiKey();
  if (!key) throw new ApiError(401, "No API key.");
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${key}` },
    credentials: "omit",
    cache: "no-store",
  });
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(response.status, body?.detail ?? body?.title ?? `HTTP ${response.status}`);
  return body;
}

export const fnPath = (name) => `/v1/functions/${encodeURIComponent(name)}`;
export const taskPath = (id) => `/v1/tasks/${encodeURIComponent(id)}`;

export const fmt = (n) => (n === null || n === undefined ? "–" : Number.isInteger(n) ? String(n) : n.toFixed(1));
export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–");
