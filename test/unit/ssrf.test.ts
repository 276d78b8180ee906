import { describe, expect, it } from "vitest";
import { outboundUrlProblem } from "../../src/ssrf";

const LOCAL_HOST = "must not point at a local or internal host";
const PRIVATE_IP = "must not point at a private or loopback address";
const IP_LITERAL = "must not be an IP literal";
const HTTPS_ONLY = "must use https:// (set ALLOW_PRIVATE_TARGETS=true for local http targets)";
const CREDENTIALS = "must not contain credentials";

describe("outboundUrlProblem (production: allowPrivate=false)", () => {
  it.each([
    "https://fn.example.com/run",
    "https://hooks.example.com/done?x=1#frag",
    "https://example.com:8443/path",
    "https://EXAMPLE.com/",
    "https://api.example.com./run",
    "https://xn--bcher-kva.example/",
    "https://localhost.example.com/",
    "https://my-localhost.example.com/",
  ])("allows the public https URL %s", (url) => {
    expect(outboundUrlProblem(url, false)).toBeUndefined();
  });

  it.each([
    "http://fn.example.com/run",
    "ftp://fn.example.com/",
    "ws://fn.example.com/",
    "file:///etc/passwd",
    "data:text/plain,hi",
    "javascript:alert(1)",
  ])("refuses the non-https URL %s", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(HTTPS_ONLY);
  });

  it.each(["", "not a url", "https://", "//example.com/x", "/relative/path", "https://exa mple.com/", "https://[::1/"])(
    "refuses the invalid URL %j",
    (url) => {
      expect(outboundUrlProblem(url, false)).toBe("is not a valid URL");
    },
  );

  it.each([
    "https://localhost/",
    "https://localhost:8787/x",
    "https://LOCALHOST/",
    "https://localhost./",
    "https://foo.localhost/",
    "https://a.b.localhost/",
    "https://printer.local/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://router.lan/",
    "https://nas.home.arpa/",
    "https://localhost.localdomain/",
    "https://LOCALHOST.LOCALDOMAIN./x",
    "https://localhost6.localdomain6/",
    "https://db.intranet/",
  ])("refuses the local or internal host %s", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(LOCAL_HOST);
  });

  it.each([
    "https://vm:8961/",
    "https://vm./",
    "https://wiki/run",
    "https://my-localhost/",
    "https://ip6-localhost/",
    "https://printer/",
  ])("refuses the single-label host %s (resolved through /etc/hosts or a search domain)", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(
      "must be a fully qualified host name (single-label names are not allowed)",
    );
  });

  it.each(["https://0177.0.0.1/", "https://0x7f.1/", "https://2130706433/", "https://127.1/"])(
    "refuses %s, another spelling of loopback",
    (url) => {
      expect(outboundUrlProblem(url, false)).toBe(PRIVATE_IP);
    },
  );

  it.each([
    "https://127.0.0.1/",
    "https://127.255.255.254:8443/",
    "https://0.0.0.0/",
    "https://10.0.0.1/",
    "https://10.255.255.255/",
    "https://172.16.0.1/",
    "https://172.20.10.5/",
    "https://172.31.255.255/",
    "https://192.168.0.1/",
    "https://192.168.255.255/",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/",
    "https://100.127.255.255/",
    "https://198.18.0.1/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    "https://10.0.0.1./",
  ])("refuses the private or loopback address %s", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(PRIVATE_IP);
  });

  it.each([
    ["decimal", "https://2130706433/"],
    ["hex", "https://0x7f000001/"],
    ["dotted hex", "https://0x7f.0x0.0x0.0x1/"],
    ["short hex", "https://0x7f.1/"],
    ["octal", "https://017700000001/"],
    ["dotted octal", "https://0177.0.0.01/"],
    ["short form", "https://127.1/"],
    ["percent-encoded", "https://%31%32%37.0.0.1/"],
    ["decimal 10.x", "https://167772161/"],
    ["hex 192.168.x", "https://0xc0a80001/"],
    ["decimal 169.254.169.254", "https://2852039166/"],
  ])("refuses the %s form of a private IPv4 (%s)", (_form, url) => {
    expect(outboundUrlProblem(url, false)).toBe(PRIVATE_IP);
  });

  it.each([
    "https://[::1]/",
    "https://[::1]:8443/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "https://[2606:4700:4700::1111]/",
  ])("refuses the IPv6 literal %s", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(IP_LITERAL);
  });

  it.each([
    "https://8.8.8.8/",
    "https://1.1.1.1/dns",
    "https://172.15.0.1/",
    "https://172.32.0.1/",
    "https://100.63.0.1/",
    "https://100.128.0.1/",
    "https://134744072/",
  ])("refuses the public IP literal %s (Workers refuse IP literals in production)", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(IP_LITERAL);
  });

  it.each([
    "https://user:pass@fn.example.com/",
    "https://user@fn.example.com/",
    "https://:secret@fn.example.com/",
    "https://fn.example.com@127.0.0.1/",
  ])("refuses credentials in %s", (url) => {
    expect(outboundUrlProblem(url, false)).toBe(CREDENTIALS);
  });
});

describe("outboundUrlProblem (local development: allowPrivate=true)", () => {
  it.each([
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8080/run",
    "http://localhost:8787/",
    "http://10.0.0.5/",
    "http://[::1]:9000/",
    "https://192.168.1.10/",
    "https://fn.example.com/run",
    "http://fn.example.com/run",
  ])("allows %s", (url) => {
    expect(outboundUrlProblem(url, true)).toBeUndefined();
  });

  it("still refuses credentials", () => {
    expect(outboundUrlProblem("http://user:pass@127.0.0.1:8080/", true)).toBe(CREDENTIALS);
  });

  it("still refuses schemes other than http(s)", () => {
    expect(outboundUrlProblem("ftp://127.0.0.1/", true)).toBe("must be http(s)");
    expect(outboundUrlProblem("file:///etc/passwd", true)).toBe("must be http(s)");
  });

  it("still refuses an invalid URL", () => {
    expect(outboundUrlProblem("nope", true)).toBe("is not a valid URL");
  });
});
