/**
 * @module
 * Outbound URL safety. Production Workers refuse `fetch` to IP literals, but the local runtime reaches loopback and
 * private networks, so our own code refuses them unless `ALLOW_PRIVATE_TARGETS=true` (local development and tests).
 */

const BLOCKED_HOST_SUFFIXES = [
  ".localhost",
  ".localdomain",
  ".localdomain6",
  ".local",
  ".internal",
  ".intranet",
  ".corp",
  ".private",
  ".lan",
  ".home",
  ".home.arpa",
];

function ipv4Octets(host: string): number[] | undefined {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

function isPrivateIpv4([a, b]: number[]): boolean {
  if (a === undefined || b === undefined) return true;
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  );
}

/** Why `rawUrl` may not be called, or undefined when it may. */
export function outboundUrlProblem(rawUrl: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return "is not a valid URL";
  }
  if (url.username || url.password) return "must not contain credentials";
  if (allowPrivate) return url.protocol === "https:" || url.protocol === "http:" ? undefined : "must be http(s)";
  if (url.protocol !== "https:") return "must use https:// (set ALLOW_PRIVATE_TARGETS=true for local http targets)";
  // The URL parser has already turned every IPv4 spelling (octal, hex, short forms) into a dotted quad.
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[")) return "must not be an IP literal";
  if (host === "localhost" || BLOCKED_HOST_SUFFIXES.some((s) => host.endsWith(s) || host === s.slice(1))) {
    return "must not point at a local or internal host";
  }
  const octets = ipv4Octets(host);
  if (octets)
    return isPrivateIpv4(octets) ? "must not point at a private or loopback address" : "must not be an IP literal";
  if (/^\d+$/.test(host) || /^0x[0-9a-f]+$/i.test(host)) return "must not be an IP literal";
  // A single label (`vm`, `intranet`) is resolved through /etc/hosts or a search domain: never a public name.
  if (!host.includes(".")) return "must be a fully qualified host name (single-label names are not allowed)";
  return undefined;
}
