/**
 * @module
 * How a stored result is shown in the task object: parsed JSON for `application/json` and `*+json`, text for `text/*`,
 * base64 for anything else (API.md "result").
 */

import { toBase64 } from "./encoding";

export interface ResultView {
  result: unknown;
  resultEncoding?: "text" | "base64";
  resultContentType: string;
}

export function isJsonType(contentType: string): boolean {
  const essence = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return essence === "application/json" || essence.endsWith("+json");
}

export function viewResult(bytes: Uint8Array, contentType: string): ResultView {
  const essence = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (isJsonType(contentType)) {
    const text = new TextDecoder().decode(bytes);
    try {
      return { result: text.length === 0 ? null : JSON.parse(text), resultContentType: contentType };
    } catch {
      return { result: text, resultEncoding: "text", resultContentType: contentType };
    }
  }
  if (essence.startsWith("text/")) {
    return { result: new TextDecoder().decode(bytes), resultEncoding: "text", resultContentType: contentType };
  }
  return { result: toBase64(bytes), resultEncoding: "base64", resultContentType: contentType };
}
